"""LSEC-GNN scorer options of issue 12 point 5: cross-graph dot products and the popularity prior.

Each option is checked against a naive reference written from the definition (one pair at a time), for
``score`` and ``score_all``, plus the names of the cross-graph pairs and the degree the prior reads.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lsec.data.schema import RELATIONS
from lsec.graph.adjacency import EdgeExclusion
from lsec.nn.models.lightgcn_mlp import LightGCNMLP
from lsec.nn.models.lsec_gnn import LSECGNN, prior_key, target_degree
from tests.nn.graphs import COUNTS, make_graphs, random_edges


def _model(scorer: str, prior: bool, aggregator: str = "lightgcn", **kwargs) -> LSECGNN:
    torch.manual_seed(0)
    return LSECGNN(
        COUNTS["user"], COUNTS["item"], COUNTS["streamer"], aggregator=aggregator, embedding_dim=8,
        layer_dims=(8, 8), scorer_hidden=(5,), scorer=scorer, popularity_prior=prior, **kwargs,
    )  # fmt: skip


def _degrees(rel: str, self_loops: bool) -> torch.Tensor:
    """Distinct neighbours of each destination node of ``rel`` in make_graphs, counted by hand."""
    offset = ("buy", "follow", "sell").index(rel)
    src_type, _, dst_type = RELATIONS[rel]
    src, dst = random_edges(COUNTS[src_type], COUNTS[dst_type], 20, offset)
    pairs = {(int(s), int(d)) for s, d in zip(src, dst, strict=True)}
    return torch.tensor([sum(1 for _, d in pairs if d == j) for j in range(COUNTS[dst_type])], dtype=torch.float32)


def _naive(model: LSECGNN, task: str, enc: dict, user: int, target: int) -> torch.Tensor:
    """The logit of one pair from the definition: MLP(target || query) + sum_{q,t} w <q_u, t_i> / d + prior."""
    logit = torch.zeros(())
    if "mlp" in model.scorer_kind:
        q = torch.cat([enc[k][user] for k in model.query_keys(task)])
        t = torch.cat([enc[k][target] for k in model.target_keys(task)])
        logit = logit + model.scorer(task)(q[None], t[None])[0]
    if "dot" in model.scorer_kind:
        for w, (qk, tk) in zip(model.dot_weights[task], model.dot_pairs(task), strict=True):
            logit = logit + w * float(torch.dot(enc[qk][user], enc[tk][target])) / model.out_dim
    if model.scorer_kind == "dot":
        logit = logit + model.dot_bias[task]
    if model.popularity_prior:
        degree = _degrees(task, model.self_loops)[target]
        logit = logit + model.prior_weight[task] * torch.log1p(degree)
    return logit


@pytest.mark.parametrize("scorer", ["mlp", "dot", "mlp+dot"])
@pytest.mark.parametrize("prior", [False, True])
@pytest.mark.parametrize("task", ["buy", "follow"])
def test_score_and_score_all_equal_the_naive_reference(scorer: str, prior: bool, task: str) -> None:
    model = _model(scorer, prior)
    with torch.no_grad():  # non-trivial learned scalars, so each one's place in the formula is checked
        for params in (model.dot_weights, model.dot_bias, model.prior_weight):
            for p in params.values():
                p.copy_(torch.linspace(0.5, 2.0, p.numel()).view_as(p))
    enc = model.encode(make_graphs(self_loops=model.self_loops))
    n_targets = COUNTS["item" if task == "buy" else "streamer"]
    users = torch.arange(COUNTS["user"]).repeat_interleave(n_targets)
    targets = torch.arange(n_targets).repeat(COUNTS["user"])
    with torch.no_grad():
        logits = model.score(task, enc, users, targets)
        table = model.score_all(task, enc, torch.arange(COUNTS["user"]))
        expected = torch.stack([_naive(model, task, enc, int(u), int(t)) for u, t in zip(users, targets, strict=True)])
    assert logits.shape == (len(users),) and table.shape == (COUNTS["user"], n_targets)
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(table.reshape(-1), expected, rtol=1e-5, atol=1e-5)
    assert model.scoring_kind(task) == ("mlp" if scorer == "mlp" and not prior else "custom")


def _dense(rel: str) -> torch.Tensor:
    """Symmetric-normalised homogeneous adjacency of make_graphs' ``rel``, built by hand."""
    offset = ("buy", "follow", "sell").index(rel)
    src_type, _, dst_type = RELATIONS[rel]
    n_src, n_dst = COUNTS[src_type], COUNTS[dst_type]
    a = torch.zeros(n_src + n_dst, n_src + n_dst)
    for s, d in zip(*random_edges(n_src, n_dst, 20, offset), strict=True):
        a[s, n_src + d] = a[n_src + d, s] = 1.0
    degree = a.sum(1)
    inv = torch.where(degree > 0, degree.clamp(min=1e-12) ** -0.5, torch.zeros_like(degree))
    return inv[:, None] * a * inv[None, :]


@pytest.mark.parametrize("task", ["buy", "follow"])
def test_dot_hops_equal_dense_path_products(task: str) -> None:
    model = _model("dot", True, dot_hops=True)
    with torch.no_grad():
        model.dot_weights[task].copy_(torch.linspace(0.5, 2.0, len(model.dot_pairs(task))))
    enc = model.encode(make_graphs(self_loops=False))
    tables = {t: model._table(t).detach() for t in ("user", "item", "streamer")}

    def hop(key: str) -> torch.Tensor:  # (n_rows, d): A^hop [E_src; E_dst], the key's rows, by dense products
        rel, node_type, name = key.split(".")
        src_type, _, dst_type = RELATIONS[rel]
        h = torch.cat([tables[src_type], tables[dst_type]])
        for _ in range(int(name.removeprefix("hop"))):
            h = _dense(rel) @ h
        return h[: COUNTS[src_type]] if node_type == src_type else h[COUNTS[src_type] :]

    target_type = "item" if task == "buy" else "streamer"
    expected = model.dot_bias[task] + model.prior_weight[task] * torch.log1p(_degrees(task, False))[None, :]
    for w, (q, t) in zip(model.dot_weights[task], model.dot_pairs(task), strict=True):
        assert hop(q).shape[1] == hop(t).shape[1] == 8
        expected = expected + w * (hop(q) @ hop(t).T) / 8
    with torch.no_grad():
        table = model.score_all(task, enc, torch.arange(COUNTS["user"]))
    assert table.shape == (COUNTS["user"], COUNTS[target_type])
    torch.testing.assert_close(table, expected.detach(), rtol=1e-4, atol=1e-5)
    if task == "buy":  # the follow -> sell path: followed streamers . the item's sellers (both streamer rows)
        assert ("follow.user.hop1", "sell.item.hop1") in model.dot_pairs("buy")
        assert ("follow.user.hop0", "sell.item.hop0") not in model.dot_pairs("buy")  # user rows . item rows
    with pytest.raises(ValueError, match="dot_hops"):
        _model("mlp", False, dot_hops=True)


def test_dot_pairs_cross_the_graphs_and_follow_the_relations() -> None:
    model = _model("dot", False)
    assert model.dot_pairs("buy") == (
        ("buy.user", "sell.item"), ("buy.user", "buy.item"), ("follow.user", "sell.item"), ("follow.user", "buy.item"),
    )  # fmt: skip
    assert set(model.scorers) == set()  # no MLP with the dot scorer
    with pytest.raises(ValueError, match="no MLP scorer"):
        model.scorer("buy")
    buy_only = LightGCNMLP(COUNTS["user"], COUNTS["item"], embedding_dim=8, scorer="dot")
    assert buy_only.dot_pairs("buy") == (("buy.user", "buy.item"),)
    with pytest.raises(ValueError, match="'scorer'"):
        _model("cosine", False)


@pytest.mark.parametrize("aggregator", ["gcn", "lightgcn"])
def test_target_degree_counts_distinct_neighbours_and_follows_edge_exclusion(aggregator: str) -> None:
    model = _model("mlp", True, aggregator=aggregator, tasks=("buy",))
    graphs = make_graphs(self_loops=model.self_loops)
    for rel in ("buy", "follow", "sell"):
        torch.testing.assert_close(target_degree(graphs[rel]), _degrees(rel, model.self_loops))
    enc = model.encode(graphs)
    torch.testing.assert_close(enc[prior_key("buy")][:, 0], torch.log1p(_degrees("buy", model.self_loops)))
    # a batch's positives excluded from the graph leave its items' degrees too (no leak through the prior)
    src, dst = random_edges(COUNTS["user"], COUNTS["item"], 20, 0)
    exclusion = EdgeExclusion(src, dst, COUNTS["user"], COUNTS["item"], self_loops=model.self_loops)
    removed = exclusion.without(src[:3], dst[:3])
    expected = _degrees("buy", model.self_loops)
    for item in np.unique(dst[:3]):
        expected[item] -= 1
    torch.testing.assert_close(target_degree(removed), expected)


def test_options_train_every_new_parameter() -> None:
    model = _model("mlp+dot", True)
    enc = model.encode(make_graphs(self_loops=False))
    users, targets = torch.tensor([0, 1, 2, 3]), torch.tensor([1, 2, 3, 4])
    (model.score("buy", enc, users, targets).sum() + model.score("follow", enc, users, targets % 4).sum()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.count_nonzero(p.grad) > 0, name
    with pytest.raises(ValueError, match="popularity_prior"):
        _model("mlp", True, relations=("follow", "sell"), tasks=("buy",))
