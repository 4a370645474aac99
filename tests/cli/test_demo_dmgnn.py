"""The DM-GNN part of ``lsec demo``: its table; the output folders of the DM-GNN and MMBee parts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lsec.cli.demo import _check_outputs
from lsec.cli.demo_dmgnn import COLUMNS, dmgnn_folders, dmgnn_table
from lsec.cli.demo_mmbee import mmbee_folders
from lsec.errors import LsecDataError


def test_table_has_one_line_per_row_and_dashes_for_a_missing_task() -> None:
    summary = {
        "rows": {
            "DM-GNN": {"all": {m: {"mean": 0.5 + i / 100, "std": 0.0} for i, m in enumerate(COLUMNS)}},
            "link task alone": {"all": {"link_auc_random": {"mean": 0.61234, "std": 0.0}}},
        }
    }
    lines = dmgnn_table(summary).splitlines()
    assert len(lines) == 3 and lines[0].split()[3:] == list(COLUMNS)
    assert lines[1].split()[1:] == ["0.5000", "0.5100", "0.5200", "0.5300"]
    assert lines[2].split()[3:] == ["0.6123", "-", "-", "-"]


@pytest.mark.parametrize(
    ("folders", "suffix", "marker"),
    [(dmgnn_folders, "dmgnn", "dmgnn.json"), (mmbee_folders, "mmbee", "mmbee-table1.json")],
)
def test_foreign_folders_where_a_demo_part_writes_are_refused(
    tmp_path: Path, folders: Callable[[Path, Path], tuple[Path, Path]], suffix: str, marker: str
) -> None:
    out, runs = tmp_path / "demo-data", tmp_path / "demo-runs"
    data_dir, exp_dir = folders(out, runs)
    assert data_dir == tmp_path / f"demo-data-{suffix}" and exp_dir == runs / suffix
    exp_dir.mkdir(parents=True)
    (exp_dir / "notes.txt").write_text("mine")
    with pytest.raises(LsecDataError, match="not empty"):
        _check_outputs(out, runs)
    (exp_dir / marker).write_text("{}")  # an earlier demo's experiment folder: replaced
    _check_outputs(out, runs)
