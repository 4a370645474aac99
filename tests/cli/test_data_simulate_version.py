"""`lsec data simulate --version`: simulator v3 by name, v2 by default, a bad version refused before any write."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from lsec.cli import app

runner = CliRunner()


def test_version_3_is_written_and_recorded(tmp_path) -> None:
    out = tmp_path / "v3"
    args = ["data", "simulate", "--scale", "0.01", "--no-progress", "--version", "v3", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "meta.json").read_text())
    assert meta["provenance"]["version"] == "3"  # the default (2) is checked in tests/data/simulate
    assert meta["simulation"]["model"]["organic_primary"] == 0.95


def test_unknown_version_exits_2_without_traceback_or_folder(tmp_path) -> None:
    out = tmp_path / "never"
    result = runner.invoke(app, ["data", "simulate", "--scale", "0.01", "--version", "4", "--out", str(out)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "'version'" in result.output and "'4'" in result.output
    assert not out.exists()
