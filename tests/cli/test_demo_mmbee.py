"""The MMBee part of ``lsec demo``: its rows and its table (its folders: test_demo_dmgnn.py)."""

from __future__ import annotations

from pathlib import Path

from lsec.cli.demo_mmbee import COLUMNS, DEMO_ROWS, mmbee_table
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
