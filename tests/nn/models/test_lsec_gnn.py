from __future__ import annotations

import pytest
import torch

from lsec.nn.models.gat_rs import GATRS
from lsec.nn.models.gcn_rs import GCNRS
from lsec.nn.models.lightgcn_mlp import LightGCNMLP
from lsec.nn.models.lsec_gnn import LSECGNN
from tests.nn.graphs import COUNTS, make_graphs

AGGREGATORS = ("gcn", "lightgcn", "gat")
ALL_KEYS = ("buy.user", "buy.item", "follow.user", "follow.streamer", "sell.streamer", "sell.item")


def _model(aggregator: str = "gcn", **kwargs) -> LSECGNN:
    kwargs.setdefault("embedding_dim", 8)
    kwargs.setdefault("layer_dims", (6, 4))
    kwargs.setdefault("scorer_hidden", (5,))
    return LSECGNN(COUNTS["user"], COUNTS["item"], COUNTS["streamer"], aggregator=aggregator, **kwargs)


def _encode(model: LSECGNN):
    return model.encode(make_graphs(self_loops=model.self_loops))


@pytest.mark.parametrize("aggregator", AGGREGATORS)
def test_encode_shapes_of_every_key(aggregator: str) -> None:
    model = _model(aggregator)
    enc = _encode(model)
    width = 8 if aggregator == "lightgcn" else 4  # LightGCN keeps embedding_dim
    assert set(enc) == set(ALL_KEYS)
    for key, tensor in enc.items():
        assert tensor.shape == (COUNTS[key.split(".")[1]], width), key
    assert model.out_dim == width


def test_defaults_are_the_slides() -> None:
    model = LSECGNN(5, 6, 3)
    assert (model.aggregator, model.embedding_dim, model.layer_dims) == ("gcn", 200, (128, 64))
    assert model.relations == ("buy", "follow", "sell") and model.tasks == ("buy", "follow")
    assert model.query_keys("buy") == ("buy.user", "follow.user")
    assert model.target_keys("buy") == ("sell.item", "buy.item")
    assert model.target_keys("follow") == ("sell.streamer", "follow.streamer")
    assert repr(model.scorer("buy")) == "PairMLPScorer(256 -> 128 -> 1)"
    assert model.self_loops is True and LSECGNN(5, 6, 3, aggregator="lightgcn").self_loops is False


@pytest.mark.parametrize(
    ("relations", "query", "target"),
    [
        (("buy",), ("buy.user",), ("buy.item",)),
        (("buy", "follow"), ("buy.user", "follow.user"), ("buy.item",)),
        (("buy", "sell"), ("buy.user",), ("sell.item", "buy.item")),
        (("sell", "buy", "follow"), ("buy.user", "follow.user"), ("sell.item", "buy.item")),
    ],
)
def test_ablation_relations_shrink_the_scorer(relations, query, target) -> None:
    model = _model(relations=relations, tasks=("buy",))
    assert model.query_keys("buy") == query and model.target_keys("buy") == target
    scorer = model.scorer("buy")
    assert (scorer.query_dim, scorer.target_dim) == (4 * len(query), 4 * len(target))
    enc = _encode(model)
    assert set(enc) == {
        f"{r}.{t}"
        for r in model.relations
        for t in {"buy": ("user", "item"), "follow": ("user", "streamer"), "sell": ("streamer", "item")}[r]
    }
    assert model.score("buy", enc, torch.tensor([0, 1]), torch.tensor([2, 3])).shape == (2,)


def test_ablation_tasks() -> None:
    assert set(_model(tasks=("buy",)).scorers) == {"buy"}
    model = _model(relations=("buy", "sell"), tasks=("buy", "follow"))
    assert model.query_keys("follow") == ("buy.user",) and model.target_keys("follow") == ("sell.streamer",)
    with pytest.raises(ValueError, match="task 'follow' has nothing to score"):
        _model(relations=("buy",), tasks=("buy", "follow"))
    with pytest.raises(ValueError, match="'relations'"):
        _model(relations=("buy", "gift"))
    with pytest.raises(ValueError, match="'tasks'"):
        _model(tasks=())
    with pytest.raises(ValueError, match="'aggregator'"):
        _model("sage")


@pytest.mark.parametrize("aggregator", AGGREGATORS)
def test_gradients_reach_every_table_and_layer(aggregator: str) -> None:
    torch.manual_seed(0)
    model = _model(aggregator)
    enc = _encode(model)
    users = torch.arange(COUNTS["user"])
    loss = model.score("buy", enc, users, users % COUNTS["item"]).sum()
    loss = loss + model.score("follow", enc, users, users % COUNTS["streamer"]).sum()
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert set(model.embeddings) == {"user", "item", "streamer"}


@pytest.mark.parametrize("aggregator", AGGREGATORS)
def test_buy_only_model_is_the_baseline(aggregator: str) -> None:
    """Table 5 row 1 is GCN-RS: same parameter names and shapes, and the same init under the same seed."""
    kwargs = {"embedding_dim": 8, "scorer_hidden": (5,)}
    torch.manual_seed(3)
    ablated = _model(aggregator, relations=("buy",), tasks=("buy",))
    torch.manual_seed(3)
    baseline: LSECGNN
    if aggregator == "gcn":
        baseline = GCNRS(7, 9, layer_dims=(6, 4), **kwargs)
    elif aggregator == "gat":
        baseline = GATRS(7, 9, layer_dims=(6, 4), **kwargs)
    else:
        baseline = LightGCNMLP(7, 9, num_layers=2, **kwargs)
    ours, theirs = ablated.state_dict(), baseline.state_dict()
    assert list(ours) == list(theirs)
    for key in ours:
        assert torch.equal(ours[key], theirs[key]), key
    assert "streamer" not in ablated.embeddings
    assert baseline.relations == ("buy",) and baseline.tasks == ("buy",)
    enc = baseline.encode(make_graphs(self_loops=baseline.self_loops))
    assert set(enc) == {"buy.user", "buy.item"}


def test_same_seed_same_init_and_reset() -> None:
    torch.manual_seed(11)
    first = _model("gat").state_dict()
    torch.manual_seed(11)
    model = _model("gat")
    assert all(torch.equal(first[k], v) for k, v in model.state_dict().items())
    torch.manual_seed(12)
    model.reset_parameters()
    assert not torch.equal(first["embeddings.user.weight"], model.state_dict()["embeddings.user.weight"])
    assert model.embeddings["user"].weight.std().item() == pytest.approx(1.0, rel=0.3)


def test_graph_errors_are_named() -> None:
    model = _model()
    graphs = make_graphs(self_loops=True)
    with pytest.raises(ValueError, match="needs a graph for 'sell'"):
        model.encode({k: v for k, v in graphs.items() if k != "sell"})
    wrong = make_graphs(self_loops=True, counts={"user": 7, "item": 10, "streamer": 4})
    with pytest.raises(ValueError, match="must have 7 users and 10 items|must have 7 users and 9 items"):
        model.encode(wrong)
    with pytest.raises(ValueError, match="self_loops=True"):
        model.encode(make_graphs(self_loops=False))
    with pytest.raises(ValueError, match="scores tasks"):
        _model(tasks=("buy",)).score("follow", _encode(_model()), torch.tensor([0]), torch.tensor([0]))
