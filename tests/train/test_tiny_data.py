"""Defaults at any size: the default LSEC-LightGCN recipe on a simulated dataset of about 1,500 training buys.

With one optimizer step per epoch, a patience counted in epochs used to stop the run after 6 steps at a
validation AUC below 0.5 without a word. Now the recipe takes at least ``train.min_steps`` steps, and the run
compares its best validation result with a popularity ranking of the same lists and warns when it does not
beat it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lsec.config import load_config
from lsec.data.simulate.lsec import simulate_lsec
from lsec.data.split import split_by_time, write_split
from lsec.data.store import save
from lsec.train.trainer import FitResult, train_run

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[FitResult, dict, Path]:
    data = tmp_path_factory.mktemp("tiny") / "data"
    graph = simulate_lsec("lsec-small", scale=0.03, influence=0.5, seed=0)
    save(graph, data)
    folds = split_by_time(graph, train_days=30, valid_days=10, test_days=10)
    write_split(data, folds, tasks=("buy", "follow"), num_candidates=500, seed=0, graph=graph)
    run = data.parent / "run"
    cfg = load_config(CONFIGS / "lsec-lightgcn.yaml", [f"data.dataset={data}", "train.num_threads=1"])
    result = train_run(cfg, run)
    return result, json.loads((run / "run.json").read_text()), run


def test_tiny_dataset_trains_at_least_min_steps_and_learns(tiny_run) -> None:
    result, info, _ = tiny_run
    assert info["steps_per_epoch"] == 1  # the case the defaults must handle
    assert result.steps >= 200  # train.min_steps of the recipe: no early stop after a handful of steps
    assert result.best_metric > 0.6  # learned (it was 0.49 after the 6 steps the old patience allowed)
    assert 0.5 < info["baselines"]["popularity"]["auc"] < 1.0


def test_tiny_dataset_run_says_whether_it_beats_popularity(tiny_run) -> None:
    result, info, _ = tiny_run
    floor = info["baselines"]["popularity"]["auc"]
    below = [w for w in info["warnings"] if "popularity" in w]
    assert bool(below) == (result.best_metric <= floor)


@pytest.mark.xfail(
    strict=True,
    reason="issue 11 point 4 / issue 12 point 4: on the current simulator the default LSEC-LightGCN recipe peaks "
    "at validation AUC 0.637 at scale 0.03 while popularity gives 0.646 (lr, dropout, weight decay and seed-edge "
    "exclusion variants peak at 0.620-0.641); the simulator must become as learnable as the real data first",
)
def test_tiny_dataset_default_recipe_beats_popularity(tiny_run) -> None:
    result, info, _ = tiny_run
    assert result.best_metric > info["baselines"]["popularity"]["auc"]
