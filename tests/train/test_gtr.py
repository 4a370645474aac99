"""The GTR objective (MMBee's SIM / MMoE, with and without GIE) on a tiny simulated gifting dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lsec.config import load_config
from lsec.data.events import read_events
from lsec.errors import LsecDataError
from lsec.metrics.grouped import auc
from lsec.serve.expansion_store import ExpansionStore
from lsec.train.gtr import DAY, gtr_objective, histories, time_folds
from lsec.train.loop import Loop
from lsec.train.trainer import train_run
from tests.conftest import cli

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "mmbee"
FAST = ("train.num_threads=1", "train.min_steps=0", "train.device=cpu")


@pytest.fixture(scope="module")
def dataset(mmbee_dataset):
    return mmbee_dataset


@pytest.fixture(scope="module")
def store(dataset, tmp_path_factory):
    """A store of every gift (--until all): what serving uses, and what leaks validation gifts into training."""
    path = tmp_path_factory.mktemp("store") / "store"
    args = ("--k", 5, "--epochs", 1, "--dim", 8, "--seed", 0, "--device", "cpu", "--until", "all")
    assert cli("mmbee", "build-store", "--data", dataset, "--out", path, *args) == 0
    return path


def test_default_store_holds_the_training_days_gifts_only(dataset, tmp_path):
    path = tmp_path / "train-store"
    args = ("--k", 5, "--epochs", 1, "--dim", 8, "--seed", 0, "--device", "cpu")
    assert cli("mmbee", "build-store", "--data", dataset, "--out", path, *args) == 0
    _, extra = gtr_objective(config("sim-gie", dataset, f"model.hparams.store={path}"), torch.device("cpu"))
    assert "leak" not in extra["gie_store"]
    assert extra["gie_store"]["gift_pairs"] == extra["gie_store"]["training_gift_pairs"]


def config(name: str, dataset: Path, *overrides: str):
    return load_config(CONFIGS / f"{name}.yaml", [f"data.dataset={dataset}", *FAST, *overrides])


def evals(run: Path) -> list[dict]:
    lines = (run / "log.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["event"] == "eval"]


def test_time_folds_split_days_80_10_10():
    origin = 1_000 * DAY
    ts = origin + DAY * np.arange(8) + 5
    fold, days = time_folds(ts, origin)
    assert fold.tolist() == [0, 0, 0, 0, 0, 0, 1, 2] and days == {"train": [0, 6], "valid": [6, 7], "test": [7, 8]}
    fold, _ = time_folds(origin + DAY * np.arange(21), origin)
    assert np.bincount(fold).tolist() == [16, 2, 3]
    assert time_folds(origin + DAY * np.arange(3), origin)[0].tolist() == [0, 1, 2]
    with pytest.raises(LsecDataError, match="too few days"):
        time_folds(origin + DAY * np.arange(2), origin)


def test_behaviour_sequences_are_the_users_earlier_gifts_only(dataset):
    objective, _ = gtr_objective(config("sim", dataset), torch.device("cpu"))
    data = objective.data
    events = read_events(dataset, "impressions")
    gifts = events["label"] > 0
    rows = np.r_[np.flatnonzero(gifts)[:40], np.arange(0, len(gifts), 37)]  # gift impressions included
    length = 4
    got = histories(data, data.users[rows], data.ts[rows], length, 16)
    for b, row in enumerate(rows):
        user, t = events["user"][row], events["ts"][row]
        earlier = np.flatnonzero(gifts & (events["user"] == user) & (events["ts"] < t))
        earlier = earlier[np.argsort(-events["ts"][earlier], kind="stable")][:length]  # most recent first
        n = len(earlier)
        assert got["history_valid"][b].tolist() == [True] * n + [False] * (length - n)
        assert sorted(got["history_streamers"][b, :n].tolist()) == sorted(events["streamer"][earlier].tolist())
        assert (got["history_streamers"][b, n:] == 0).all()
    assert got["history_valid"].any()  # some impressions do have a history
    # the label of an impression never enters its own sequence: a first gift sees an empty history
    first_gift = np.flatnonzero(gifts)[0]
    own = histories(data, data.users[[first_gift]], data.ts[[first_gift]], length, 16)
    earlier_any = (
        gifts & (events["user"] == events["user"][first_gift]) & (events["ts"] < events["ts"][first_gift])
    ).any()
    assert own["history_valid"].any() == earlier_any
    # big_gift: a gift of at least the median training amount, never a non-gift
    assert ((data.labels["big_gift"] > 0) <= (data.labels["gift"] > 0)).all()
    train_gifts = events["amount"][gifts & (data.fold == 0)]
    assert data.big_gift_threshold == float(np.median(train_gifts))


def test_lsec_train_sim_runs_through_the_loop_and_beats_random(dataset, tmp_path):
    out = tmp_path / "sim"
    code = cli(
        "train", "-q", "--config", CONFIGS / "sim.yaml", "--data", dataset, "--out", out, *FAST, "train.epochs=5"
    )
    assert code == 0
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "completed" and info["engine"] == "gtr" and info["tasks"] == ["gift"]
    events = evals(out)
    assert len(events) == 5 and {"auc", "uauc", "gauc"} <= set(events[0]["metrics"])
    assert events[0]["tasks"]["gift"]["num_positives"] > 10
    best = torch.load(out / "checkpoints" / "best.pt", weights_only=True)
    assert "backbone.attention.query.weight" in best and "user.weight" in best
    # gift history and identities predict gifts in this data: the model ranks validation gifts well above chance
    random = info["baselines"]["random"]["auc"]
    assert info["best_metric"] > max(0.65, random + 0.1), (info["best_metric"], info["baselines"])


def test_resume_after_interruption_equals_uninterrupted(dataset, tmp_path, monkeypatch):
    cfg = config("sim", dataset, "train.epochs=3", "model.hparams.search=soft")
    train_run(cfg, tmp_path / "full")
    original = Loop.run_epoch

    def interrupted(self, epoch: int, **kwargs) -> float:  # type: ignore[no-untyped-def]
        if epoch == 2:
            raise KeyboardInterrupt
        return original(self, epoch, **kwargs)

    monkeypatch.setattr(Loop, "run_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, tmp_path / "cut")
    monkeypatch.setattr(Loop, "run_epoch", original)
    train_run(cfg, tmp_path / "cut", resume=True)
    assert [e["metrics"] for e in evals(tmp_path / "cut")] == [e["metrics"] for e in evals(tmp_path / "full")]
    full = torch.load(tmp_path / "full" / "checkpoints" / "last.pt", weights_only=True)["model"]
    cut = torch.load(tmp_path / "cut" / "checkpoints" / "last.pt", weights_only=True)["model"]
    for key in full:
        assert torch.equal(cut[key], full[key]), key


def test_mmoe_reports_each_task_from_its_own_labels(dataset, tmp_path):
    result = train_run(config("mmoe", dataset, "train.epochs=2"), tmp_path / "mmoe")
    assert {"auc", "big_gift_auc", "big_gift_uauc", "big_gift_gauc"} <= set(result.best_metrics)
    objective, _ = gtr_objective(config("mmoe", dataset), torch.device("cpu"))
    objective.model.load_state_dict(torch.load(tmp_path / "mmoe" / "checkpoints" / "best.pt", weights_only=True))
    report = objective.report("valid")
    rows = objective.data.indices("valid")
    scores = objective.scores(rows)
    for task in ("gift", "big_gift"):
        labels = objective.data.labels[task][rows]
        assert report[task]["num_positives"] == labels.sum()
        assert report[task]["auc"] == pytest.approx(auc(labels, scores[task]))
    assert report["gift"]["auc"] == pytest.approx(result.best_metrics["auc"])
    assert report["big_gift"]["auc"] == pytest.approx(result.best_metrics["big_gift_auc"])
    assert report["gift"]["num_positives"] > report["big_gift"]["num_positives"] > 0


@pytest.mark.parametrize("name", ["sim-gie", "mmoe-gie"])
def test_gie_starts_from_the_store_and_is_fine_tuned(dataset, store, tmp_path, name):
    cfg = config(name, dataset, f"model.hparams.store={store}", "train.epochs=1")
    objective, extra = gtr_objective(cfg, torch.device("cpu"))
    opened = ExpansionStore.open(store)
    assert extra["gie_store"]["gift_pairs"] == opened.manifest["counts"]["gift_edges"]
    assert "leak" in extra["gie_store"]  # a store of all gifts sees validation gifts
    users, streamers = np.arange(opened.num_users), np.arange(opened.num_streamers)
    looked = opened.lookup(users=users, streamers=streamers)
    gie = objective.model.gie
    assert gie is not None
    h_u, h_a = gie(torch.from_numpy(users), torch.from_numpy(streamers))
    expected_u = np.concatenate([looked[m].pooled for m in ("u2a2u", "u2a2u2a", "u2a2a")], axis=1)
    expected_a = np.concatenate([looked[m].pooled for m in ("a2a", "a2u2a")], axis=1)
    np.testing.assert_allclose(h_u.detach().numpy(), expected_u, rtol=1e-5, atol=1e-6)  # eq. 12 = the store's rows
    np.testing.assert_allclose(h_a.detach().numpy(), expected_a, rtol=1e-5, atol=1e-6)
    train_run(cfg, tmp_path / name)
    trained = torch.load(tmp_path / name / "checkpoints" / "best.pt", weights_only=True)
    assert not torch.equal(trained["gie.theta_user"], torch.from_numpy(np.array(opened.embeddings("user"))))
    assert torch.equal(trained["gie.user_indices"], gie.user_indices.cpu())  # the neighbour lists stay as built


def _tiny_gifts(extra_gift: int | None = None):
    """8 days of impressions of 3 users on 4 streamers (6 / 1 / 1 days); ``extra_gift``: that row turned into a
    gift."""
    from lsec.train.gtr import gift_data

    origin = 100 * DAY
    rng = np.random.default_rng(0)
    n = 240
    ts = np.sort(origin + rng.integers(0, 8 * DAY, n))
    users, streamers = rng.integers(0, 3, n), rng.integers(0, 4, n)
    label = (rng.random(n) < 0.3).astype(np.int8)
    if extra_gift is not None:
        label[extra_gift] = 1
    return gift_data(
        users=users, streamers=streamers, ts=ts, label=label, amount=label * 10.0,
        streamer_category=np.array([0, 1, 0, 1]), num_users=3, time_origin=origin,
    )  # fmt: skip


def test_held_out_impressions_see_the_training_days_gifts_only():
    """A gift planted inside the test (or validation) day changes no feature of any held-out impression: their
    sequences are frozen at the end of the training days (lsec.train.gtr docstring); training rows stay causal."""
    from lsec.nn.models.mmbee.gtr import GtrModel
    from lsec.train.gtr import GtrObjective

    base = _tiny_gifts()
    assert base.train_end == 100 * DAY + 6 * DAY
    features = {}
    for fold in ("test", "valid"):
        rows = base.indices(fold)
        # a non-gift held-out impression with a later held-out impression of the same user after it
        planted = next(
            r for r in rows if base.labels["gift"][r] == 0 and (base.users[rows] == base.users[r])[rows > r].any()
        )
        planted_data = _tiny_gifts(extra_gift=int(planted))
        for data in (base, planted_data):
            model = GtrModel(3, 4, 2, embedding_dim=4, k=2, num_heads=1, hidden=(4,))
            objective = GtrObjective(model, data, lr=0.01, batch_size=16, seed=0, max_history=64)
            features[data is base] = {k: v.numpy() for k, v in objective.inputs(base.indices(fold)).items()}
        assert features[True].keys() == features[False].keys()
        for name in features[True]:
            assert np.array_equal(features[True][name], features[False][name]), (fold, name)
        # and no held-out sequence holds a gift at or after the end of the training days
        seq = histories(base, base.users[rows], base.ts[rows], 64, 16, base.history_until(rows))
        assert seq["history_valid"].any()
    # training impressions keep the causal sequence: a later training gift is seen by the next training row
    train = base.indices("train")
    causal = histories(base, base.users[train], base.ts[train], 64, 16, base.history_until(train))
    online = histories(base, base.users[train], base.ts[train], 64, 16)
    assert all(np.array_equal(causal[k], online[k]) for k in causal)
    test = base.indices("test")
    online = histories(base, base.users[test], base.ts[test], 64, 16)
    frozen = histories(base, base.users[test], base.ts[test], 64, 16, base.history_until(test))
    assert online["history_valid"].sum() > frozen["history_valid"].sum()  # the online sequence saw test gifts
