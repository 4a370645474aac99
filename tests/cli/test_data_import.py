"""`lsec data import csv|rechub`, `lsec data validate`, `lsec data info`: exit codes and messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lsec.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def files(tmp_path) -> Path:
    (tmp_path / "buys.csv").write_text(
        "uid,iid,time,qty\nu1,i1,2020-12-01,1\nu2,i2,2020-12-02,2\nu2,i2,2020-12-02,2\nu3,,2020-12-02,1\n"
    )
    (tmp_path / "follows.tsv").write_text("user\tstreamer\nu1\ts1\n")
    (tmp_path / "sells.csv").write_text("streamer,item,sales\ns1,i1,25\n")
    return tmp_path


def test_import_csv_then_validate_and_info(files):
    out = files / "ds"
    result = invoke(
        "data", "import", "csv", "--buy", files / "buys.csv", "--follow", files / "follows.tsv",
        "--sell", files / "sells.csv", "--columns", "buy:src=uid,dst=iid,ts=time,weight=qty", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "buys.csv: 4 rows read = 2 kept + 1 merged + 1 rejected" in result.output
    assert "empty item id in column 'iid'" in result.output
    assert "wrote " in result.output and "2 users" in result.output

    result = invoke("data", "validate", out)
    assert result.exit_code == 0, result.output
    assert "ok: " in result.output

    result = invoke("data", "info", out)
    assert result.exit_code == 0
    assert "buy       user -> item" in result.output
    assert "ingestion: 6 rows read = 4 kept + 1 merged + 1 rejected" in result.output

    result = invoke("data", "info", out, "--json")
    stats = json.loads(result.output)
    assert stats["nodes"] == {"user": 2, "item": 2, "streamer": 1}
    assert [r["edges"] for r in stats["relations"]] == [2, 1, 1]


def test_validate_reports_problems_with_exit_2(files):
    out = files / "ds"
    assert invoke("data", "import", "csv", "--buy", files / "sells.csv", "--user-col", "streamer",
                  "--item-col", "item", "--out", out).exit_code == 0  # fmt: skip
    meta = json.loads((out / "meta.json").read_text())
    meta["relations"][0]["edges"] = 5
    (out / "meta.json").write_text(json.dumps(meta))
    result = invoke("data", "validate", out)
    assert result.exit_code == 2
    assert "problem: meta.json: relation 'buy' lists 5 edges" in result.output
    assert "is not a valid dataset (1 problem(s))" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--buy", "{d}/missing.csv"], "missing.csv: file not found"),
        (["--buy", "{d}/follows.tsv"], "missing required column"),
        (["--buy", "{d}/buys.csv", "--delimiter", ";"], "wrong delimiter; the file seems to use comma"),
        (["--buy", "{d}/buys.csv", "--columns", "buy:uid"], "--columns"),
        (["--buy", "{d}/buys.csv", "--ts-format", "weekly"], "--ts-format"),
        (["--edges", "gift"], "--edges"),
        (["--edges", "dance={d}/buys.csv"], "Unknown relation 'dance'; expected one of: buy, follow, gift"),
        ([], "nothing to import"),
    ],
)
def test_bad_input_exits_2_with_one_message(files, args, message):
    result = invoke("data", "import", "csv", *[a.format(d=files) for a in args], "--out", files / "ds")
    assert result.exit_code == 2
    assert message in result.output
    assert result.output.count("error: ") == 1
    assert "Traceback" not in result.output


def test_refuses_non_empty_output_without_force(files):
    out = files / "ds"
    args = ["data", "import", "csv", "--buy", files / "sells.csv", "--user-col", "streamer", "--out", out]
    assert invoke(*args).exit_code == 0
    (out / "splits" / "old").mkdir(parents=True)
    result = invoke(*args)
    assert result.exit_code == 2 and "output folder is not empty" in result.output
    assert invoke(*args, "--force").exit_code == 0
    assert not (out / "splits").exists()  # stale splits of the old data are removed


def test_import_rechub(tmp_path):
    root = tmp_path / "lsec"
    for fold, day in (("train", 1), ("val", 35), ("test", 45)):
        (root / fold).mkdir(parents=True)
        ts = 1_606_780_800 + day * 86_400
        (root / fold / "user-item-buy.tsv").write_text(f"u1\ti1\t{ts}\nu2\ti2\t{ts}\nu1\ti3\t{ts}\n")
    result = invoke("data", "import", "rechub", root, "--out", tmp_path / "ds", "--num-candidates", "3")
    assert result.exit_code == 0, result.output
    assert "split 'given' written" in result.output
    assert (tmp_path / "ds" / "splits" / "given" / "split.json").is_file()
    assert invoke("data", "validate", tmp_path / "ds").exit_code == 0


def test_validate_missing_folder_and_help():
    result = invoke("data", "validate", "/nonexistent/ds")
    assert result.exit_code == 2 and "dataset folder not found" in result.output
    for command in (["data", "import", "csv"], ["data", "import", "rechub"], ["data", "validate"], ["data", "info"]):
        help_result = invoke(*command, "--help")
        assert help_result.exit_code == 0 and "Usage" in help_result.output


def test_console_script_has_no_traceback(tmp_path):
    (tmp_path / "b.csv").write_bytes(b"")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lsec",
            "data",
            "import",
            "csv",
            "--buy",
            str(tmp_path / "b.csv"),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == f"error: {tmp_path / 'b.csv'}: empty file (expected a header line and data rows, found '0 bytes')."
    )
    assert "Traceback" not in done.stdout + done.stderr
