from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lsec.config import Config, apply_overrides, load_config
from lsec.errors import LsecError
from lsec.train.loop import Loop
from lsec.train.runs import build_model, load_run, read_log
from lsec.train.trainer import train_run

pytest.importorskip("lsec.nn.models.registry")

FAST = [
    "train.lr=0.003",
    "train.batch_size=64",
    "train.num_threads=1",
    "model.hparams.embedding_dim=16",
]


def config(dataset: Path, *extra: str, model: str = "lsec-lightgcn") -> Config:
    return apply_overrides(Config(), [f"model.name={model}", f"data.dataset={dataset}", *FAST, *extra])


def evals(run: Path) -> list[dict]:
    return [e for e in read_log(run) if e["event"] == "eval"]


def test_run_folder_follows_the_contract(board_dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = train_run(config(board_dataset, "train.epochs=30", "train.eval_every=10"), run)
    info = json.loads((run / "run.json").read_text())
    assert {"model", "dataset", "split", "seed", "status", "best_epoch", "best_metric"} <= set(info)
    assert info["status"] == "completed" and info["dataset"] == str(board_dataset.resolve())
    assert info["best_epoch"] == result.best_epoch and info["best_metric"] == pytest.approx(result.best_metric)
    events = read_log(run)
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == list(range(1, 31))
    assert [e["epoch"] for e in evals(run)] == [10, 20, 30]
    assert all({"train_loss", "elapsed", "metrics", "split"} <= set(e) for e in evals(run))
    # the model learned the checkerboard (validation AUC of the best epoch) and best.pt is a plain state_dict
    assert result.best_metric > 0.9
    state = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    last = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert int(last["epoch"]) == 30 and "optimizer" in last
    assert load_config(run / "config.yaml").train.epochs == 30
    loaded = load_run(run)
    assert not loaded.model.training
    for key, value in loaded.model.state_dict().items():
        torch.testing.assert_close(value, state[key])
    assert set(loaded.graphs) == {"buy", "follow", "sell"}
    with pytest.raises(LsecError, match="already holds a run"):
        train_run(config(board_dataset), run)


def test_same_seed_same_metrics_other_seed_differs(board_dataset: Path, tmp_path: Path) -> None:
    cfgs = [config(board_dataset, "train.epochs=3", f"train.seed={s}") for s in (0, 0, 1)]
    for i, cfg in enumerate(cfgs):
        train_run(cfg, tmp_path / f"r{i}")
    a, b, c = (evals(tmp_path / f"r{i}") for i in range(3))
    assert [e["metrics"] for e in a] == [e["metrics"] for e in b]
    assert [e["train_loss"] for e in a] == [e["train_loss"] for e in b]
    assert [e["train_loss"] for e in a] != [e["train_loss"] for e in c]


def test_resume_after_interruption_equals_uninterrupted(board_dataset: Path, tmp_path: Path, monkeypatch) -> None:
    cfg = config(board_dataset, "train.epochs=4")
    train_run(cfg, tmp_path / "full")

    original = Loop.run_epoch

    def interrupted(self, epoch: int, **kwargs) -> float:  # type: ignore[no-untyped-def]
        if epoch == 3:
            raise KeyboardInterrupt
        return original(self, epoch, **kwargs)

    monkeypatch.setattr(Loop, "run_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, tmp_path / "cut")
    assert json.loads((tmp_path / "cut" / "run.json").read_text())["status"] == "interrupted"
    monkeypatch.setattr(Loop, "run_epoch", original)
    train_run(cfg, tmp_path / "cut", resume=True)

    assert [e["metrics"] for e in evals(tmp_path / "cut")] == [e["metrics"] for e in evals(tmp_path / "full")]
    full = torch.load(tmp_path / "full" / "checkpoints" / "last.pt", weights_only=True)["model"]
    cut = torch.load(tmp_path / "cut" / "checkpoints" / "last.pt", weights_only=True)["model"]
    for key in full:
        torch.testing.assert_close(cut[key], full[key], rtol=0, atol=0)


def test_early_stopping_keeps_the_best_epoch(board_dataset: Path, tmp_path: Path) -> None:
    # lr 0 never improves on the first evaluation: stops after `patience` more evaluations
    result = train_run(config(board_dataset, "train.epochs=50", "train.patience=2", "train.lr=1e-12"), tmp_path / "r")
    assert result.stopped_early and result.epochs_run == 3 and result.best_epoch == 1


def test_task_weight_zero_leaves_the_follow_scorer_untouched(board_dataset: Path, tmp_path: Path) -> None:
    """L = L_buy + alpha * L_follow: with alpha = 0 no gradient reaches the follow scorer."""
    train_run(config(board_dataset, "train.epochs=2", "train.task_weight=0"), tmp_path / "a0")
    train_run(config(board_dataset, "train.epochs=2", "train.task_weight=0.5"), tmp_path / "a5")
    run = load_run(tmp_path / "a0")
    torch.manual_seed(0)  # the seed train_run used: the same initial parameters
    fresh = build_model(run.config, run.graph)
    trained0 = torch.load(tmp_path / "a0" / "checkpoints" / "last.pt", weights_only=True)["model"]
    trained5 = torch.load(tmp_path / "a5" / "checkpoints" / "last.pt", weights_only=True)["model"]
    follow_keys = [k for k in trained0 if k.startswith("scorers.follow.")]
    assert follow_keys, "expected parameters of a follow-task scorer"
    start = fresh.state_dict()
    for key in follow_keys:
        torch.testing.assert_close(trained0[key], start[key], rtol=0, atol=0)
    assert any(not torch.equal(trained5[k], start[k]) for k in follow_keys)
    assert np.isfinite(float(sum(v.float().sum() for v in trained5.values())))


@pytest.mark.parametrize("model_name", ["lsec-lightgcn", "lsec-gcn"])
def test_seed_edge_exclusion_logits_equal_a_model_on_the_graph_without_the_batch(
    board_dataset: Path, model_name: str
) -> None:
    """Each step's logits = those of the same weights propagated over the graph minus the step's positives."""
    from lsec.data.split import load_split
    from lsec.graph.adjacency import bipartite_adjacency
    from lsec.train.lsec import LsecObjective, training_logits
    from lsec.train.runs import build_graphs, uses_self_loops

    cfg = config(board_dataset, "train.exclude_seed_edges=true", model=model_name)
    split = load_split(board_dataset)
    torch.manual_seed(0)
    model = build_model(cfg, split.graph)
    loops = uses_self_loops(model, model_name)
    graphs = build_graphs(split.train_graph(), model.relations, self_loops=loops)
    objective = LsecObjective(model, split, graphs, cfg)
    assert set(objective.exclusions) == {"buy", "follow"}
    seen: list[dict] = []
    original = model.encode
    model.encode = lambda g: (seen.append(g), original(g))[1]  # type: ignore[method-assign]
    batch = next(iter(objective.batches(1)))
    objective.train_step(batch)
    step_graphs = seen[0]

    train = split.train_graph()
    wanted = dict(graphs)
    pairs = {}
    for data in objective.tasks:
        per_step = -(-len(data.users) // objective.steps_per_epoch())
        index = batch.orders[data.task][:per_step]
        pairs[data.task] = (torch.from_numpy(data.users[index]), torch.from_numpy(data.targets[index]))
        removed = set(zip(data.users[index].tolist(), data.targets[index].tolist()))
        table = train[data.task]
        keep = np.array([(a, b) not in removed for a, b in zip(table.src.tolist(), table.dst.tolist())])
        src_type, dst_type = ("user", "item") if data.task == "buy" else ("user", "streamer")
        wanted[data.task] = bipartite_adjacency(
            table.src[keep], table.dst[keep], train.num_nodes[src_type], train.num_nodes[dst_type], self_loops=loops
        )
        got = step_graphs[data.task]
        torch.testing.assert_close(got.matrix.to_dense(), wanted[data.task].matrix.to_dense(), rtol=0, atol=1e-7)
        assert got.num_edges < graphs[data.task].num_edges  # the step's positives really left the graph
    assert step_graphs["sell"] is graphs["sell"]
    with torch.no_grad():
        enc_step, enc_want = original(step_graphs), original(wanted)
        for task, (users, targets) in pairs.items():
            a = training_logits(model, task, enc_step, users, targets)
            b = training_logits(model, task, enc_want, users, targets)
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
            assert a.shape == (len(users),)


def test_authors_protocol_options(board_dataset: Path) -> None:
    """one_per_source epochs, uniform negatives (positives included) and the mean-of-six metric."""
    from lsec.data.split import load_split
    from lsec.train.lsec import LsecObjective
    from lsec.train.runs import build_graphs, uses_self_loops

    split = load_split(board_dataset)

    def objective(*extra: str) -> LsecObjective:
        cfg = config(board_dataset, *extra)
        torch.manual_seed(0)
        model = build_model(cfg, split.graph)
        graphs = build_graphs(split.train_graph(), model.relations, self_loops=uses_self_loops(model, cfg.model.name))
        return LsecObjective(model, split, graphs, cfg)

    official = objective("train.positives=one_per_source", "train.negatives=uniform", "train.batch_size=1000000")
    buy = official.tasks[0]
    assert official.steps_per_epoch() == 1
    batch = next(iter(official.batches(3)))
    order = batch.orders["buy"]
    assert sorted(buy.users[order].tolist()) == sorted(set(buy.users.tolist()))  # each buyer exactly once
    picks = [dict(zip(buy.users[o].tolist(), buy.targets[o].tolist())) for o in
             (next(iter(official.batches(e))).orders["buy"] for e in range(1, 6))]  # fmt: skip
    assert any(len({p[u] for p in picks}) > 1 for u in picks[0])  # the positive is redrawn every epoch
    assert all((u, t) in set(zip(buy.users.tolist(), buy.targets.tolist())) for p in picks for u, t in p.items())

    rng = np.random.default_rng(0)
    users = np.repeat(buy.users[:20], 200)
    known = set(zip(buy.users.tolist(), buy.targets.tolist()))
    uniform = rng.integers(0, buy.num_targets, len(users))
    hit_uniform = np.mean([(u, t) in known for u, t in zip(users.tolist(), uniform.tolist())])
    unseen = buy.sampler.sample(users, 1, rng).ravel()
    assert not any((u, t) in known for u, t in zip(users.tolist(), unseen.tolist()))
    share = np.mean([len([t for (u2, t) in known if u2 == u]) / buy.num_targets for u in users[::200].tolist()])
    assert abs(hit_uniform - share) < 0.03  # uniform draws hit positives at their share of the catalogue

    report = objective().validate()
    six = ["auc", "mrr", "ndcg@10", "ndcg@50", "recall@10", "recall@50"]
    assert report["metrics"]["mean"] == pytest.approx(np.mean([report["metrics"][m] for m in six]), abs=1e-12)


def test_lightgcn_last_layer_combination_is_the_last_propagation() -> None:
    from lsec.graph.adjacency import bipartite_adjacency
    from lsec.nn.conv.lightgcn import LightGCNConv

    rng = np.random.default_rng(0)
    adjacency = bipartite_adjacency(rng.integers(0, 6, 20), rng.integers(0, 5, 20), 6, 5)
    x = torch.randn(11, 4)
    dense = adjacency.matrix.to_dense()
    torch.testing.assert_close(LightGCNConv(3, combine="last")(adjacency, x), dense @ dense @ dense @ x)
    mean = (x + dense @ x + dense @ dense @ x + dense @ dense @ dense @ x) / 4
    torch.testing.assert_close(LightGCNConv(3)(adjacency, x), mean)
