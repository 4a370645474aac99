"""The LSEC objective's fast pair logits (issue 12 point 7): same numbers as the plain path, bit for bit."""

from __future__ import annotations

import numpy as np
import torch

from lsec.graph.adjacency import bipartite_adjacency
from lsec.nn.models.lsec_gnn import LSECGNN
from lsec.train.lsec import training_logits


def _model_and_graphs(seed: int) -> tuple[LSECGNN, dict]:
    rng = np.random.default_rng(seed)
    counts = {"user": 40, "item": 30, "streamer": 8}
    torch.manual_seed(seed)
    model = LSECGNN(counts["user"], counts["item"], counts["streamer"], aggregator="lightgcn", embedding_dim=12)
    sides = {"buy": ("user", "item", 150), "follow": ("user", "streamer", 90), "sell": ("streamer", "item", 60)}
    graphs = {
        rel: bipartite_adjacency(rng.integers(0, counts[s], n), rng.integers(0, counts[d], n), counts[s], counts[d])
        for rel, (s, d, n) in sides.items()
    }
    return model, graphs


def _plain_logits(model: LSECGNN, task: str, enc: dict, users: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The path before the change: index_select gathers of the split first layer (autograd's index_add_ backward)."""
    head = model.scorer(task)
    query, target = model.query(task, enc), model.target(task, enc)
    return head.head(head.query_part(query).index_select(0, users) + head.target_part(target).index_select(0, targets))


def _loss_and_grads(model: LSECGNN, graphs: dict, logits_fn, pairs: dict) -> tuple[float, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    enc = model.encode(graphs)
    loss = sum(torch.nn.functional.softplus(-logits_fn(model, t, enc, u, v)).sum() for t, (u, v) in pairs.items())
    loss.backward()
    return float(loss), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_training_logits_equal_the_plain_path_bit_for_bit_and_the_naive_score() -> None:
    model, graphs = _model_and_graphs(0)
    rng = np.random.default_rng(1)
    # repeated users and targets (each pair row is a positive or one of K negatives): duplicates must sum right
    pairs = {
        "buy": (torch.from_numpy(rng.integers(0, 40, 300)), torch.from_numpy(rng.integers(0, 30, 300))),
        "follow": (torch.from_numpy(rng.integers(0, 40, 200)), torch.from_numpy(rng.integers(0, 8, 200))),
    }
    fast_loss, fast = _loss_and_grads(model, graphs, training_logits, pairs)
    plain_loss, plain = _loss_and_grads(model, graphs, _plain_logits, pairs)
    assert fast_loss == plain_loss
    assert fast.keys() == plain.keys() and len(fast) >= 6  # embedding tables and both scorers
    for name in fast:
        assert torch.equal(fast[name], plain[name]), name
    # and the values are the model's own per-pair score (the full first layer on the concatenation)
    with torch.no_grad():
        enc = model.encode(graphs)
        for task, (users, targets) in pairs.items():
            torch.testing.assert_close(
                training_logits(model, task, enc, users, targets), model.score(task, enc, users, targets)
            )
