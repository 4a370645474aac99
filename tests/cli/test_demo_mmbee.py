"""The MMBee part of ``lsec demo``: its rows, its table and its output folders (the run itself is timed by make demo)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lsec.cli.demo import _check_outputs
from lsec.cli.demo_mmbee import COLUMNS, DEMO_ROWS, mmbee_folders, mmbee_table
from lsec.errors import LsecDataError
from lsec.evaluate.mmbee_tables import TABLE1


def test_demo_rows_are_rows_of_table_1_with_existing_recipes() -> None:
    configs = Path(__file__).resolve().parents[2] / "configs"
    recipes = dict(TABLE1)
    assert set(DEMO_ROWS) <= set(recipes)
    for row in DEMO_ROWS:
        assert (configs / f"{recipes[row]}.yaml").is_file()


def test_table_has_one_line_per_row_and_dashes_for_a_missing_metric() -> None:
    summary = {
        "rows": {
            "SIM": {"all": {m: {"mean": 0.6 + i / 100, "std": 0.0} for i, m in enumerate(COLUMNS)}},
            "popularity": {"all": {"auc": {"mean": 0.55557, "std": 0.0}}},
        }
    }
    lines = mmbee_table(summary).splitlines()
    assert len(lines) == 3 and lines[0].split()[3:] == list(COLUMNS)
    assert lines[1].split() == ["SIM", "0.6000", "0.6100", "0.6200"]
    assert lines[2].split() == ["popularity", "0.5556", "-", "-"]


def test_foreign_folders_where_the_mmbee_part_writes_are_refused(tmp_path: Path) -> None:
    out, runs = tmp_path / "demo-data", tmp_path / "demo-runs"
    data_dir, exp_dir = mmbee_folders(out, runs)
    assert data_dir == tmp_path / "demo-data-mmbee" and exp_dir == runs / "mmbee"
    exp_dir.mkdir(parents=True)
    (exp_dir / "notes.txt").write_text("mine")
    with pytest.raises(LsecDataError, match="not empty"):
        _check_outputs(out, runs)
    (exp_dir / "mmbee-table1.json").write_text("{}")  # an earlier demo's experiment folder: replaced
    _check_outputs(out, runs)
