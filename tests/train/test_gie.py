from __future__ import annotations

import numpy as np
import pytest
import torch

from lsec.graph.metapath import metapath_neighbours
from lsec.nn.models.mmbee.gie import GraphCL
from lsec.train.gie import GraphCLObjective, pretrain_graphcl
from tests.nn.models.mmbee.planted import two_communities


def positives(graph, k: int = 10):
    users = metapath_neighbours(metapath="u2a2u", graph=graph, k=k).indices
    streamers = metapath_neighbours(metapath="a2u2a", graph=graph, k=k).indices
    return users, streamers


def mean_cosine(table: np.ndarray, community: np.ndarray) -> tuple[float, float]:
    """Mean cosine of distinct same-community pairs, and of cross-community pairs."""
    unit = table / np.linalg.norm(table, axis=1, keepdims=True)
    cosine = unit @ unit.T
    same = community[:, None] == community[None, :]
    off_diagonal = ~np.eye(len(community), dtype=bool)
    return float(cosine[same & off_diagonal].mean()), float(cosine[~same].mean())


def test_pretraining_separates_planted_communities():
    graph, user_community, streamer_community = two_communities(cross=0.05, seed=0)
    user_positives, streamer_positives = positives(graph)
    kwargs = dict(
        user_positives=user_positives,
        streamer_positives=streamer_positives,
        num_users=graph.num_users,
        num_streamers=graph.num_streamers,
        embedding_dim=16,
        num_negatives=16,
        batch_size=32,
        lr=0.05,
        seed=3,
    )
    before = pretrain_graphcl(epochs=0, **kwargs)
    same0, cross0 = mean_cosine(before.streamer.weight.detach().numpy(), streamer_community)
    model = pretrain_graphcl(epochs=15, **kwargs)
    same, cross = mean_cosine(model.streamer.weight.detach().numpy(), streamer_community)
    user_same, user_cross = mean_cosine(model.user.weight.detach().numpy(), user_community)
    assert abs(same0 - cross0) < 0.1  # random tables: no structure
    assert same - cross > 1.0  # measured 1.34 (0.67 vs -0.66)
    assert user_same - user_cross > 0.4  # measured 0.60
    again = pretrain_graphcl(epochs=15, **kwargs)
    assert torch.equal(again.streamer.weight, model.streamer.weight)  # same seed, same tables


def test_objective_batches_follow_algorithm_1():
    graph, _, _ = two_communities(num_users=40, num_streamers=10, seed=1)
    user_positives, streamer_positives = positives(graph, k=4)
    user_positives[:5] = -1  # five users without positives are never anchors
    model = GraphCL(graph.num_users, graph.num_streamers, embedding_dim=4)
    objective = GraphCLObjective(
        model, user_positives=user_positives, streamer_positives=streamer_positives, num_negatives=3, batch_size=8
    )
    assert objective.num_anchors == 35 + 10 and objective.steps_per_epoch() == 6
    seen = {"user": [], "streamer": []}
    for batch in objective.batches(1):
        assert sum(t[0].shape[0] for t in batch.values()) <= 8
        for node_type, (anchors, pos, neg) in batch.items():
            seen[node_type].extend(anchors.tolist())
            assert torch.equal(pos, torch.from_numpy(objective.positives[node_type][anchors.numpy()].astype(np.int64)))
            assert neg.shape == (anchors.shape[0], 3) and neg.max() < objective.counts[node_type]
    assert sorted(seen["user"]) == list(range(5, 40)) and sorted(seen["streamer"]) == list(range(10))
    first = [b["user"][2].tolist() for b in objective.batches(1) if "user" in b]
    assert first == [b["user"][2].tolist() for b in objective.batches(1) if "user" in b]  # seeded by epoch
    assert first != [b["user"][2].tolist() for b in objective.batches(2) if "user" in b]
    with pytest.raises(ValueError, match="'streamer_positives' parameter of GraphCLObjective must be a \\(10, P\\)"):
        GraphCLObjective(model, user_positives=user_positives, streamer_positives=user_positives)
