"""``lsec evaluate`` on GTR runs: per-task AUC / UAUC / GAUC on the test day, each from its own labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from lsec.train.runs import load_run
from tests.conftest import cli

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "mmbee"
FAST = ("train.num_threads=1", "train.min_steps=0", "train.device=cpu", "train.epochs=1")


@pytest.fixture(scope="module")
def dataset(mmbee_dataset):
    return mmbee_dataset


@pytest.fixture(scope="module")
def mmoe_run(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "mmoe"
    assert cli("train", "-q", "--config", CONFIGS / "mmoe.yaml", "--data", dataset, "--out", out, *FAST) == 0
    return out


def naive_grouped(users: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Eq. 13 by a loop over users with scikit-learn's AUC per user; one-class users skipped and counted."""
    per_user, weights, skipped = [], [], 0
    for user in np.unique(users):
        mine = users == user
        if labels[mine].min() == labels[mine].max():
            skipped += 1
            continue
        per_user.append(roc_auc_score(labels[mine], scores[mine]))
        weights.append(mine.sum())
    return {
        "uauc": float(np.mean(per_user)),
        "gauc": float(np.average(per_user, weights=weights)),
        "num_users": len(per_user),
        "skipped_users": skipped,
    }


def test_evaluate_reports_each_task_from_its_own_labels(mmoe_run, dataset, tmp_path):
    scores_out = tmp_path / "scores.parquet"
    assert cli("evaluate", mmoe_run, "--split", "test", "--scores-out", scores_out) == 0
    results = json.loads((mmoe_run / "results" / "test.json").read_text())
    assert results["engine"] == "gtr" and set(results["tasks"]) == {"gift", "big_gift"}
    assert results["days"] == [7, 8]  # the mmbee preset's 8 days: 6 train, 1 valid, 1 test
    objective = load_run(mmoe_run).split
    test = objective.data.indices("test")
    users = objective.data.users[test]
    for task in ("gift", "big_gift"):
        frame = pl.read_parquet(scores_out.with_name(f"scores.{task}.parquet"))
        assert frame.height == len(test)
        labels = objective.data.labels[task][test]
        scores = frame["score"].to_numpy().astype(np.float64)
        assert frame["label"].to_numpy().tolist() == labels.astype(int).tolist()  # this task's labels, not gift's
        report = results["tasks"][task]
        assert report["num_samples"] == len(test) and report["num_positives"] == int(labels.sum())
        assert report["auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-6)
        naive = naive_grouped(users, labels, scores)
        assert report["uauc"] == pytest.approx(naive["uauc"], abs=1e-6)
        assert report["gauc"] == pytest.approx(naive["gauc"], abs=1e-6)
        assert report["skipped_users"] == naive["skipped_users"]  # users with one class only, counted
        assert report["num_users"] == naive["num_users"] + naive["skipped_users"] == len(np.unique(users))
        assert report["skipped_users"] > 0  # most users of the test day hold one class only: counted, not used
    gift, big = results["tasks"]["gift"], results["tasks"]["big_gift"]
    assert gift["num_positives"] > big["num_positives"] > 0 and gift["auc"] != big["auc"]
    assert set(results["baselines"]) == {"popularity", "random"}


def test_evaluate_one_task_and_text_table(mmoe_run, capsys):
    assert cli("evaluate", mmoe_run, "--split", "valid", "--task", "big_gift", "--json") == 0
    results = json.loads(capsys.readouterr().out)
    assert list(results["tasks"]) == ["big_gift"] and results["days"] == [6, 7]
    assert cli("evaluate", mmoe_run, "--split", "test") == 0
    text = capsys.readouterr().out
    assert "task gift" in text and "task big_gift" in text and "skipped" in text
    assert cli("evaluate", mmoe_run, "--task", "click") == 2  # not a task of the model: one error, no traceback
    assert "click" in capsys.readouterr().err


def test_evaluate_gie_run_equals_the_trained_objective(dataset, tmp_path):
    store = tmp_path / "store"
    args = ("--k", 5, "--epochs", 1, "--dim", 8, "--seed", 0, "--device", "cpu")
    assert cli("mmbee", "build-store", "--data", dataset, "--out", store, *args) == 0
    out = tmp_path / "sim-gie"
    assert cli("train", "-q", "--config", CONFIGS / "sim-gie.yaml", "--data", dataset, "--out", out, *FAST,
               f"model.hparams.store={store}") == 0  # fmt: skip
    assert cli("evaluate", out, "--split", "valid") == 0
    results = json.loads((out / "results" / "valid.json").read_text())
    info = json.loads((out / "run.json").read_text())
    assert results["tasks"]["gift"]["auc"] == pytest.approx(info["best_metrics"]["auc"], abs=1e-6)
    assert results["tasks"]["gift"]["uauc"] == pytest.approx(info["best_metrics"]["uauc"], abs=1e-6)
    assert "big_gift" not in results["tasks"]  # the SIM recipe is a one-task model
    assert load_run(out).model.gie is not None  # the fine-tuned tables and neighbour lists come back
