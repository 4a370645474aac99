from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from lsec.errors import LsecConfigError
from lsec.evaluate.experiments import METRICS, run_table, summarise, to_markdown


def fake_run(row: str, seed: int, auc: float) -> dict:
    metrics = {m: auc for m in METRICS}
    return {"row": row, "seed": seed, "train_seconds": 1.0, "test": {"all": metrics, "warm": metrics, "cold": {}}}


def test_summary_mean_std_and_gaps() -> None:
    raw = [fake_run("LightGCN", s, a) for s, a in enumerate([0.80, 0.82, 0.81])]
    raw += [fake_run("LSEC-LightGCN", s, a) for s, a in enumerate([0.90, 0.91, 0.92])]
    summary = summarise("table3", raw, ["LightGCN", "LSEC-LightGCN"])
    row = summary["rows"]["LightGCN"]["all"]["auc"]
    assert row["mean"] == pytest.approx(0.81) and row["std"] == pytest.approx(np.std([0.80, 0.82, 0.81], ddof=1))
    gap = next(g for g in summary["gaps"] if g["metric"] == "auc")
    assert gap["mean_diff"] == pytest.approx(0.10) and gap["beyond_two_std"] is True
    text = to_markdown(summary)
    assert "| LightGCN | 3 | 0.8100 ± 0.0100 |" in text and "+0.1000" in text


def test_unknown_table_or_row_is_named(tmp_path: Path) -> None:
    with pytest.raises(LsecConfigError, match="Valid: table3, table5"):
        run_table("table4", tmp_path, tmp_path)
    with pytest.raises(LsecConfigError, match="Unknown rows"):
        run_table("table3", tmp_path, tmp_path, rows=["BERT4Rec"])


def test_run_table_end_to_end_and_reuse(board_dataset: Path, tmp_path: Path) -> None:
    pytest.importorskip("lsec.nn.models.registry")
    overrides = ["train.epochs=2", "train.batch_size=64", "train.num_threads=1", "model.hparams.embedding_dim=8"]
    messages: list[str] = []
    summary = run_table(
        "table5", board_dataset, tmp_path, repeats=2, rows=["0 / 0"], overrides=overrides, echo=messages.append
    )
    assert len(messages) == 2 and messages[0].startswith("[1/2] 0 / 0 seed 0: test auc")
    assert summary["rows"]["0 / 0"]["seeds"] == 2
    raw = json.loads((tmp_path / "table5.json").read_text())["runs"]
    assert [r["seed"] for r in raw] == [0, 1]
    assert raw[0]["test"]["all"]["auc"] != raw[1]["test"]["all"]["auc"]  # seeds differ
    with open(tmp_path / "table5.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["group"] for r in rows} == {"all", "warm", "cold"}
    mean = np.mean([r["test"]["all"]["auc"] for r in raw])
    assert float(next(r for r in rows if r["group"] == "all")["auc_mean"]) == pytest.approx(mean)
    # a second call reuses the finished runs (same numbers, no retraining)
    again = run_table("table5", board_dataset, tmp_path, repeats=2, rows=["0 / 0"], overrides=overrides)
    assert again["rows"] == summary["rows"]
    # tabulate-only mode: a missing seed is reported and left out, nothing is trained
    notes: list[str] = []
    partial = run_table(
        "table5",
        board_dataset,
        tmp_path,
        repeats=3,
        rows=["0 / 0"],
        overrides=overrides,
        echo=notes.append,
        train_missing=False,
    )
    assert partial["rows"]["0 / 0"]["seeds"] == 2 and notes[-1].endswith("not finished, left out")
    assert not (tmp_path / "runs" / "ablation-r0-t0" / "seed2").exists()
