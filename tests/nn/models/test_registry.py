"""Every registered model: construction by name, and the scoring identities of the model contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lsec.errors import LsecConfigError
from lsec.nn.models.base import RecommenderModel
from lsec.nn.models.registry import MODEL_NAMES, build_model, data_arguments, model_defaults
from tests.nn.graphs import COUNTS, make_graphs

SMALL = {
    "lsec-gcn": {"embedding_dim": 8, "layer_dims": [6, 4], "scorer_hidden": [5]},
    "lsec-lightgcn": {"embedding_dim": 8, "layer_dims": [8, 8], "scorer_hidden": [5]},
    "lsec-gat": {"embedding_dim": 8, "layer_dims": [6, 4], "scorer_hidden": [5]},
    "gcn-rs": {"embedding_dim": 8, "layer_dims": [6, 4], "scorer_hidden": [5]},
    "lightgcn": {"embedding_dim": 8, "num_layers": 2, "scorer_hidden": [5]},
    "lightgcn-dot": {"embedding_dim": 8, "num_layers": 2},
    "gat-rs": {"embedding_dim": 8, "layer_dims": [6, 4], "scorer_hidden": [5]},
    "neumf": {"embedding_dim": 4, "mlp_embedding_dim": 3, "mlp_dims": [5, 4]},
    "mf-bpr": {"embedding_dim": 4},
    "mmbee-rec": {"embedding_dim": 8, "num_layers": 2, "mfq_dim": 4, "expansion_k": 3, "content_init": "normal"},
}
NUM_TARGETS = {"buy": COUNTS["item"], "follow": COUNTS["streamer"]}


def item_features(num_items: int) -> dict[str, np.ndarray]:
    """Two random modalities for the models that take ``item_features`` (data_arguments)."""
    rng = np.random.default_rng(0)
    return {"image": rng.normal(size=(num_items, 8)), "audio": rng.normal(size=(num_items, 4))}


def _build(name: str, seed: int = 0) -> RecommenderModel:
    torch.manual_seed(seed)
    data = {"item_features": item_features(COUNTS["item"])} if "item_features" in data_arguments(name) else None
    return build_model(
        name, num_users=COUNTS["user"], num_items=COUNTS["item"], num_streamers=COUNTS["streamer"], data=data,
        **SMALL[name],
    )  # fmt: skip


def _encode(model: RecommenderModel):
    return model.encode(make_graphs(self_loops=getattr(model, "self_loops", False)))


def test_names() -> None:
    assert set(MODEL_NAMES) == set(SMALL)
    assert set(MODEL_NAMES) >= {"lsec-gcn", "lsec-lightgcn", "lsec-gat", "gcn-rs", "lightgcn", "gat-rs"}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_batched_score_equals_one_by_one_and_score_all(name: str) -> None:
    model = _build(name).eval()
    with torch.no_grad():
        enc = _encode(model)
        for task in model.tasks:
            users = torch.arange(COUNTS["user"]).repeat_interleave(NUM_TARGETS[task])  # every pair
            targets = torch.arange(NUM_TARGETS[task]).repeat(COUNTS["user"])
            batched = model.score(task, enc, users, targets)
            assert batched.shape == users.shape
            single = torch.stack([model.score(task, enc, u[None], t[None])[0] for u, t in zip(users, targets)])
            torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-6)
            table = model.score_all(task, enc, torch.arange(COUNTS["user"]), block_size=4)  # several blocks
            assert table.shape == (COUNTS["user"], NUM_TARGETS[task])
            torch.testing.assert_close(table.flatten(), batched, rtol=1e-5, atol=1e-6)
            assert model.scoring_kind(task) in ("mlp", "dot", "custom")
            assert batched.std() > 0  # not a constant scorer


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_same_seed_same_init(name: str) -> None:
    first, second, other = _build(name, 5).state_dict(), _build(name, 5).state_dict(), _build(name, 6).state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert any(not torch.equal(first[k], other[k]) for k in first)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_declares_tasks_and_relations(name: str) -> None:
    model = _build(name)
    assert model.tasks and set(model.tasks) <= {"buy", "follow"}
    assert model.relations and set(model.relations) <= {"buy", "follow", "sell"}
    assert set(model.relations) == ({"buy", "follow", "sell"} if name.startswith("lsec-") else {"buy"})
    assert len(repr(model).splitlines()) <= 5, repr(model)


def test_defaults_are_the_slides() -> None:
    defaults = model_defaults("lsec-gat")
    assert defaults["embedding_dim"] == 200 and tuple(defaults["layer_dims"]) == (128, 64)
    assert tuple(defaults["scorer_hidden"]) == (128,) and "aggregator" not in defaults
    assert model_defaults("lightgcn")["num_layers"] == 2
    model = build_model("lsec-lightgcn", num_users=3, num_items=4, num_streamers=2, relations=["buy", "sell"])
    assert model.relations == ("buy", "sell") and model.tasks == ("buy", "follow")


def test_errors_list_the_valid_choices() -> None:
    with pytest.raises(LsecConfigError, match="expected one of: lsec-gcn, .*mf-bpr"):
        build_model("lsec-sage", num_users=3, num_items=4, num_streamers=2)
    with pytest.raises(LsecConfigError, match="does not take hyper-parameter.*relations.*accepted: dropout"):
        build_model("gcn-rs", num_users=3, num_items=4, num_streamers=2, relations=["buy"])
    with pytest.raises(LsecConfigError, match="'aggregator'|does not take"):
        build_model("lsec-gcn", num_users=3, num_items=4, num_streamers=2, aggregator="gat")
    with pytest.raises(LsecConfigError, match="Model 'lsec-gcn': .*'tasks'"):
        build_model("lsec-gcn", num_users=3, num_items=4, num_streamers=2, tasks=["gift"])


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_gradients_reach_every_parameter(name: str) -> None:
    model = _build(name)
    enc = _encode(model)
    users = torch.arange(COUNTS["user"])
    loss = sum(model.score(task, enc, users, users % NUM_TARGETS[task]).sum() for task in model.tasks)
    loss.backward()  # type: ignore[union-attr]
    for parameter_name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, parameter_name
