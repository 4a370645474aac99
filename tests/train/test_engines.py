"""The bpr and closed_form engines through ``train_run`` on a LightGCN-layout dataset without a validation fold."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lsec.config import load_config
from lsec.data.formats.lightgcn_txt import import_lightgcn_txt
from lsec.errors import LsecError
from lsec.evaluate.full_sort import dot_scores, full_sort_metrics, with_popularity_prior
from lsec.evaluate.protocols import evaluate_run
from lsec.graph.adjacency import bipartite_adjacency
from lsec.nn.models.gfcf import GFCF
from lsec.nn.models.lightgcn import LightGCN
from lsec.train.bpr import BPRConfig, train_bpr
from lsec.train.engines import carve_validation, csr, distinct_pairs
from lsec.train.loop import Loop
from lsec.train.runs import load_run, read_log
from lsec.train.trainer import train_run

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
FAST = ["train.hard_candidates=2", "train.min_steps=0", "train.batch_size=2048", "train.lr=0.02"]


def write_clustered(folder: Path, seed: int = 0, users: int = 240, items: int = 160, clusters: int = 8) -> None:
    """Users like the items of their cluster (index mod clusters), plus a little noise; 3 test items each."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    train_lines, test_lines = [], []
    for u in range(users):
        own = np.arange(u % clusters, items, clusters)
        chosen = rng.choice(own, 12, replace=False).tolist() + rng.integers(0, items, 2).tolist()
        chosen = list(dict.fromkeys(chosen))
        train_lines.append(" ".join(map(str, [u, *chosen[3:]])))
        test_lines.append(" ".join(map(str, [u, *chosen[:3]])))
    (folder / "train.txt").write_text("\n".join(train_lines) + "\n")
    (folder / "test.txt").write_text("\n".join(test_lines) + "\n")


@pytest.fixture(scope="module")
def given(tmp_path_factory: pytest.TempPathFactory) -> Path:
    raw = tmp_path_factory.mktemp("raw")
    write_clustered(raw)
    out = tmp_path_factory.mktemp("data") / "ds"
    import_lightgcn_txt(raw / "train.txt", raw / "test.txt", out)
    return out


def cfg(name: str, data: Path, *overrides: str):  # type: ignore[no-untyped-def]
    return load_config(CONFIGS / f"{name}.yaml", [f"data.dataset={data}", "data.split=given", *overrides])


def test_carve_validation_holds_out_floor_fraction_per_user_and_is_seeded() -> None:
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(50), rng.integers(1, 40, 50))
    items = rng.integers(0, 1000, len(users))
    keep, held = carve_validation(users, items, 0.1, seed=3)
    assert not (keep & held).any() and (keep | held).all()
    counts = np.bincount(users, minlength=50)
    assert np.array_equal(np.bincount(users[held], minlength=50), np.floor(0.1 * counts).astype(int))
    assert np.array_equal(carve_validation(users, items, 0.1, seed=3)[1], held)
    assert not np.array_equal(carve_validation(users, items, 0.1, seed=4)[1], held)


def test_bpr_engine_without_validation_equals_train_bpr(given: Path, tmp_path: Path) -> None:
    """train.validate=false trains every training pair: the same weights as calling the engine directly."""
    config = cfg("lightgcn-dot", given, *FAST, "train.epochs=3", "train.validate=false", "train.num_threads=1")
    train_run(config, tmp_path / "run")
    state = torch.load(tmp_path / "run" / "checkpoints" / "best.pt", weights_only=True)

    run = load_run(tmp_path / "run")
    users, items = distinct_pairs(run.split.edges("buy", "train"), run.graph.num_nodes["item"])
    torch.manual_seed(0)
    model = LightGCN(run.graph.num_nodes["user"], run.graph.num_nodes["item"], embedding_dim=64, num_layers=3)
    adjacency = bipartite_adjacency(users, items, model.num_users, model.num_items)
    direct = BPRConfig(epochs=3, batch_size=2048, lr=0.02, reg=3e-3, negatives=4, hard_candidates=2, lr_decay_to=0.1)
    train_bpr(model, adjacency, users, items, direct)
    torch.testing.assert_close(state["embedding"], model.embedding.detach(), rtol=0, atol=0)
    assert json.loads((tmp_path / "run" / "run.json").read_text())["validation"].startswith("none")


def test_bpr_engine_carves_validation_learns_and_evaluates_full_sort(given: Path, tmp_path: Path) -> None:
    result = train_run(cfg("lightgcn-dot", given, *FAST, "train.epochs=30", "train.num_threads=1"), tmp_path / "r")
    info = json.loads((tmp_path / "r" / "run.json").read_text())
    assert info["validation"].startswith("carved from training")
    assert result.best_metrics["recall@20"] > 2 * info["baselines"]["popularity"]["recall@20"]
    assert info["warnings"] == []
    assert all("recall@20" in e["metrics"] for e in read_log(tmp_path / "r") if e["event"] == "eval")

    run = load_run(tmp_path / "r")
    results, _ = evaluate_run(run, "test")
    assert results["protocol"] == {"buy": "full_sort"}
    got = results["tasks"]["buy"]["all"]
    num_items = run.graph.num_nodes["item"]
    shape = (run.graph.num_nodes["user"], num_items)
    train = csr(*distinct_pairs(run.split.edges("buy", "train"), num_items), shape)
    test = csr(*distinct_pairs(run.split.edges("buy", "test"), num_items), shape)
    enc = run.encode()
    want = full_sort_metrics(dot_scores(enc["buy.user"], enc["buy.item"]), train, test, ks=(20,))
    assert got["recall@20"] == pytest.approx(want["recall@20"], abs=1e-12)
    assert got["ndcg@20"] == pytest.approx(want["ndcg@20"], abs=1e-12)
    popular = np.asarray(train.sum(axis=0)).ravel()
    floor = full_sort_metrics(lambda u: torch.from_numpy(np.tile(popular, (len(u), 1))).float(), train, test, ks=(20,))
    assert got["recall@20"] > 2 * floor["recall@20"]


def test_bpr_engine_resume_is_bit_identical(given: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = cfg("mf-bpr", given, *FAST, "train.epochs=4", "train.eval_every=1", "train.num_threads=1")
    train_run(config, tmp_path / "full")
    original = Loop.run_epoch

    def interrupted(self, epoch: int, **kwargs) -> float:  # type: ignore[no-untyped-def]
        if epoch == 3:
            raise KeyboardInterrupt
        return original(self, epoch, **kwargs)

    monkeypatch.setattr(Loop, "run_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_run(config, tmp_path / "cut")
    monkeypatch.setattr(Loop, "run_epoch", original)
    train_run(config, tmp_path / "cut", resume=True)
    full = torch.load(tmp_path / "full" / "checkpoints" / "last.pt", weights_only=True)
    cut = torch.load(tmp_path / "cut" / "checkpoints" / "last.pt", weights_only=True)
    for key in full["model"]:
        torch.testing.assert_close(cut["model"][key], full["model"][key], rtol=0, atol=0)
    losses = [[e["train_loss"] for e in read_log(tmp_path / r) if e["event"] == "epoch"] for r in ("full", "cut")]
    assert losses[0] == losses[1][:2] + losses[1][2:] and len(losses[0]) == 4


def test_gfcf_closed_form_run_evaluates_like_the_fitted_model(given: Path, tmp_path: Path) -> None:
    train_run(cfg("gf-cf", given, "model.hparams.k=16", "train.validate=true"), tmp_path / "g")
    info = json.loads((tmp_path / "g" / "run.json").read_text())
    assert info["engine"] == "closed_form" and info["best_metrics"]["recall@20"] > 0
    run = load_run(tmp_path / "g")
    results, _ = evaluate_run(run, "test")
    num_items = run.graph.num_nodes["item"]
    shape = (run.graph.num_nodes["user"], num_items)
    users, items = distinct_pairs(run.split.edges("buy", "train"), num_items)
    from lsec.train.engines import carve_validation as carve

    keep, _ = carve(users, items, 0.1, seed=0)  # the fit left the carved validation pairs out
    model = GFCF(alpha=0.3, k=16).fit(csr(users[keep], items[keep], shape))
    train = csr(users, items, shape)
    test = csr(*distinct_pairs(run.split.edges("buy", "test"), num_items), shape)
    want = full_sort_metrics(model.score_block(), train, test, ks=(20,))
    assert results["tasks"]["buy"]["all"]["recall@20"] == pytest.approx(want["recall@20"], abs=1e-9)


def test_lsec_engine_on_a_split_without_lists_names_the_split_and_its_folds(given: Path, tmp_path: Path) -> None:
    with pytest.raises(LsecError, match=r"split 'given'.*folds: train \d+, valid 0, test \d+"):
        train_run(cfg("lightgcn", given), tmp_path / "x")


def test_foreign_run_format_and_mismatched_checkpoint_are_clear_errors(given: Path, tmp_path: Path) -> None:
    train_run(cfg("mf-bpr", given, *FAST, "train.epochs=1", "train.validate=false"), tmp_path / "m")
    info_path = tmp_path / "m" / "run.json"
    info = json.loads(info_path.read_text())
    info_path.write_text(json.dumps({**info, "format": 99}))
    with pytest.raises(LsecError, match=r"run.json: run folder format 99 .*expected one of"):
        load_run(tmp_path / "m")
    info_path.write_text(json.dumps(info))
    torch.save({"embedding": torch.zeros(3, 3)}, tmp_path / "m" / "checkpoints" / "best.pt")
    with pytest.raises(LsecError, match=r"best.pt: checkpoint does not match model 'mf-bpr'"):
        load_run(tmp_path / "m")
    (tmp_path / "m" / "checkpoints" / "best.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(LsecError, match=r"best.pt: not a readable checkpoint"):
        load_run(tmp_path / "m")


@pytest.mark.parametrize(
    "name, overrides",
    [
        ("mf-bpr", (*FAST, "train.epochs=2", "train.num_threads=1")),
        ("gf-cf", ("model.hparams.k=16", "train.validate=true")),
    ],
)
def test_popularity_prior_is_chosen_on_validation_and_used_by_evaluate(
    given: Path, tmp_path: Path, name: str, overrides: tuple[str, ...]
) -> None:
    train_run(cfg(name, given, *overrides, "eval.popularity_prior=[0, 2, 1000]"), tmp_path / "r")
    prior = json.loads((tmp_path / "r" / "run.json").read_text())["popularity_prior"]
    table = prior["validation"]
    assert list(table) == ["0.0", "2.0", "1000.0"] and prior["chosen_on"] == "valid"
    assert table[str(prior["kappa"])]["recall@20"] == max(m["recall@20"] for m in table.values())
    run = load_run(tmp_path / "r")
    results, _ = evaluate_run(run, "test")
    report = results["tasks"]["buy"]
    assert report["ranking"] == {
        "popularity_prior": prior["kappa"], "cold_fallback": True, "users_without_training_pair": 0
    }  # fmt: skip
    num_items = run.graph.num_nodes["item"]
    shape = (run.graph.num_nodes["user"], num_items)
    train = csr(*distinct_pairs(run.split.edges("buy", "train"), num_items), shape)
    test = csr(*distinct_pairs(run.split.edges("buy", "test"), num_items), shape)
    if name == "gf-cf":
        block = run.model.score_block()
    else:
        enc = run.encode()
        block = dot_scores(enc["buy.user"], enc["buy.item"])
    want = full_sort_metrics(with_popularity_prior(block, train, prior=prior["kappa"]), train, test, ks=(20,))
    assert report["all"]["recall@20"] == pytest.approx(want["recall@20"], abs=1e-12)
    assert report["all"]["ndcg@20"] == pytest.approx(want["ndcg@20"], abs=1e-12)
    if name == "mf-bpr":  # the CLI's table says how it ranked
        from typer.testing import CliRunner

        from lsec.cli import app

        result = CliRunner().invoke(app, ["evaluate", str(tmp_path / "r"), "--split", "test"])
        assert result.exit_code == 0, result.output
        assert f"popularity prior kappa {prior['kappa']:g}; 0 evaluated users without a training pair" in result.output


def test_bpr_run_is_served_exactly(given: Path, tmp_path: Path) -> None:
    """export + Recommender give the run's own dot-product top-k (training items excluded), scores included."""
    from lsec.serve.artifact import export_run
    from lsec.serve.recommender import Recommender

    train_run(cfg("lightgcn-dot", given, *FAST, "train.epochs=2", "train.validate=false"), tmp_path / "r")
    run = load_run(tmp_path / "r")
    enc = run.encode()
    scores = (enc["buy.user"] @ enc["buy.item"].T).numpy()  # (U, I)
    export_run(tmp_path / "r", tmp_path / "artifact")
    served = Recommender.load(tmp_path / "artifact")
    seen = csr(*distinct_pairs(run.split.edges("buy", "train"), run.graph.num_nodes["item"]), scores.shape)
    for user in (0, 7, 123):
        row = scores[user].copy()
        row[seen[user].indices] = -np.inf
        top = np.argsort(-row, kind="stable")[:10]
        got = served.recommend([str(user)], k=10)[0]
        assert [item for item, _ in got] == [str(i) for i in top]
        np.testing.assert_allclose([s for _, s in got], row[top], rtol=1e-5, atol=1e-6)


def test_a_run_ranked_with_a_popularity_prior_is_served_as_evaluated(given: Path, tmp_path: Path) -> None:
    """export + Recommender rank a known user as `lsec evaluate` does: the run's kappa blend, training items out."""
    from lsec.serve.artifact import export_run
    from lsec.serve.recommender import Recommender

    train_run(cfg("mf-bpr", given, *FAST, "train.epochs=2", "train.num_threads=1", "eval.popularity_prior=[3]"),
              tmp_path / "r")  # fmt: skip
    run = load_run(tmp_path / "r")
    enc = run.encode()
    num_items = run.graph.num_nodes["item"]
    train = csr(*distinct_pairs(run.split.edges("buy", "train"), num_items), (run.graph.num_nodes["user"], num_items))
    block = with_popularity_prior(dot_scores(enc["buy.user"], enc["buy.item"], reuse_buffer=False), train, prior=3.0)
    export_run(tmp_path / "r", tmp_path / "artifact")
    served = Recommender.load(tmp_path / "artifact")
    assert served.artifact.source["ranking"] == {"buy": {"popularity_prior": 3.0, "cold_fallback": True}}
    plain = 0
    for user in (0, 7, 123, 200):
        row = block(torch.tensor([user])).numpy()[0].copy()
        row[train[user].indices] = -np.inf
        top = np.argsort(-row, kind="stable")[:10]
        got = served.recommend([str(user)], k=10)[0]
        assert [item for item, _ in got] == [str(i) for i in top]
        np.testing.assert_allclose([s for _, s in got], row[top], rtol=1e-4, atol=1e-5)
        model_only = (enc["buy.user"][user] @ enc["buy.item"].T).detach().numpy()
        model_only[train[user].indices] = -np.inf
        plain += [str(i) for i in np.argsort(-model_only, kind="stable")[:10]] == [item for item, _ in got]
    assert plain < 4  # the blend changes what is served


def test_train_device_auto_is_cpu_without_cuda_and_bad_devices_are_named() -> None:
    from lsec.train.loop import resolve_device

    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(LsecError, match="train.device: expected auto, cpu, cuda or cuda:N. Got 'gpu0'"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(LsecError, match="torch sees no CUDA device"):
            resolve_device("cuda")


@pytest.mark.parametrize(
    ("model", "engine"),
    [("gf-cf", "closed_form"), ("mmbee-sim", "gtr"), ("mmbee-mmoe", "gtr"), ("dmgnn", "temporal"), ("tgat", "temporal"),
     ("static-gnn", "temporal"),
     ("lsec-gcn", "lsec"), ("lightgcn-dot", "lsec")],
)  # fmt: skip
def test_auto_engine_follows_the_model(model: str, engine: str) -> None:
    from lsec.config import Config, apply_overrides
    from lsec.train import gtr, temporal
    from lsec.train.engines import GTR_MODELS, TEMPORAL_MODELS, resolve_engine

    assert set(GTR_MODELS) == set(gtr.MODELS) and set(TEMPORAL_MODELS) == set(temporal.MODELS)
    assert resolve_engine(apply_overrides(Config(), [f"model.name={model}"])) == engine
