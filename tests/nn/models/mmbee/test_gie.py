from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lsec.nn.models.mmbee.gie import GraphCL


def naive_loss(model: GraphCL, node_type, anchors, positives, negatives) -> list[dict[str, float]]:
    """The module docstring's formulas, one anchor at a time, in float64 Python arithmetic."""
    table = model.table(node_type).detach().double()
    out = []
    for t, pos_row, neg_row in zip(anchors.tolist(), positives.tolist(), negatives.tolist()):
        pos = [float(table[t] @ table[p]) for p in pos_row if p >= 0]
        neg = [float(table[t] @ table[n]) for n in neg_row]
        nce = 0.0
        for s in pos:
            logits = [s / model.tau] + [x / model.tau for x in neg]
            top = max(logits)
            log_denominator = top + math.log(sum(math.exp(x - top) for x in logits))
            nce -= logits[0] - log_denominator
        nce = nce / max(len(pos), 1)

        def bce(x: float, label: int) -> float:  # -log sigmoid(x) or -log(1 - sigmoid(x)), stable
            z = -x if label else x
            return max(z, 0.0) + math.log1p(math.exp(-abs(z)))

        ce = (sum(bce(s, 1) for s in pos) + sum(bce(x, 0) for x in neg)) / (len(pos) + len(neg))
        out.append({"ce": ce, "nce": nce, "loss": ce + model.nce_weight * nce})
    return out


def batch(num_nodes: int, seed: int, width: int = 5, num_negatives: int = 7):
    g = torch.Generator().manual_seed(seed)
    anchors = torch.randint(0, num_nodes, (6,), generator=g)
    positives = torch.randint(0, num_nodes, (6, width), generator=g)
    positives[0, 2:] = -1  # padding
    positives[1, :] = -1  # an anchor without positives
    negatives = torch.randint(0, num_nodes, (6, num_negatives), generator=g)
    return anchors, positives, negatives


@pytest.mark.parametrize("node_type", ["user", "streamer"])
@pytest.mark.parametrize("tau", [1.0, 0.1])
def test_loss_equals_naive_float64(node_type, tau):
    torch.manual_seed(0)
    model = GraphCL(30, 20, embedding_dim=8, tau=tau, nce_weight=0.7).double()
    with torch.no_grad():
        model.user.weight.mul_(10)  # logits of order 1, so every term matters
        model.streamer.weight.mul_(10)
    anchors, positives, negatives = batch(20, seed=1)
    out = model(node_type, anchors, positives, negatives)
    expected = naive_loss(model, node_type, anchors, positives, negatives)
    for key in ("ce", "nce", "loss"):
        assert out[key].shape == (6,)
        np.testing.assert_allclose(out[key].detach().numpy(), [e[key] for e in expected], rtol=1e-10, atol=1e-12)
    assert out["nce"][1].item() == 0.0  # no positive, no InfoNCE term


def test_stable_at_low_temperature_with_large_logits():
    model = GraphCL(10, 10, embedding_dim=4, tau=0.01)
    with torch.no_grad():
        model.user.weight.fill_(0).add_(torch.arange(10.0)[:, None] * 3.0)  # inner products up to 324 -> /tau 32400
    anchors, positives, negatives = batch(10, seed=2)
    out = model("user", anchors, positives, negatives)
    assert torch.isfinite(out["loss"]).all()
    out["loss"].sum().backward()
    assert torch.isfinite(model.user.weight.grad).all()
    # Check one anchor against the float64 log-sum-exp by hand: finite and equal.
    expected = naive_loss(model.double(), "user", anchors, positives, negatives)
    np.testing.assert_allclose(out["nce"].detach().numpy(), [e["nce"] for e in expected], rtol=1e-5)
    assert max(e["nce"] for e in expected) > 1000  # the regime where exp(logit) overflows float32 and float64


def test_validation_and_seeded_init():
    with pytest.raises(ValueError, match="'tau' parameter of GraphCL must be a float > 0. Got 0"):
        GraphCL(3, 3, tau=0.0)
    with pytest.raises(ValueError, match="'num_users' parameter of GraphCL must be a positive int"):
        GraphCL(0, 3)
    with pytest.raises(ValueError, match="node_type"):
        GraphCL(3, 3).table("item")
    a, b = GraphCL(5, 4, embedding_dim=3), GraphCL(5, 4, embedding_dim=3)
    a.reset_parameters(torch.Generator().manual_seed(7))
    b.reset_parameters(torch.Generator().manual_seed(7))
    assert torch.equal(a.user.weight, b.user.weight) and torch.equal(a.streamer.weight, b.streamer.weight)
    assert "5 users, 4 streamers, dim=3" in repr(a)
