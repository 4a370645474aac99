"""Cold start: fold-in of a new user's history, popular fallback, named errors for unknown history ids."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lsec.serve.foldin import aggregate
from lsec.serve.recommender import UnknownIdError
from tests.serve.tiny import graphs_of, tiny_setup


def history_of(rec, user: int) -> dict[str, list[str]]:
    buy, follow = rec.artifact.interactions["buy"], rec.artifact.interactions["follow"]
    return {
        "bought_items": rec.artifact.ids["item"][buy.row(user)].tolist(),
        "followed_streamers": rec.artifact.ids["streamer"][follow.row(user)].tolist(),
    }


def test_aggregate_is_the_symmetric_normalised_neighbour_sum():
    indptr, indices = np.array([0, 2, 2, 3]), np.array([0, 2, 2])
    neighbours = np.arange(6, dtype=np.float32).reshape(3, 2)
    degree = np.array([1.0, 0.0, 2.0])
    got = aggregate(neighbours, indptr, indices, degree)
    expected = np.array(
        [neighbours[0] / np.sqrt(1 * 2) + neighbours[2] / np.sqrt(2 * 2), [0, 0], neighbours[2] / np.sqrt(2 * 1)]
    )
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_fold_in_is_exact_when_users_are_their_neighbour_aggregate():
    # own=None: E_u^r = sum_j E_j^r / sqrt(d_u d_j) exactly, so the fitted map is the identity.
    _, _, graph, rec = tiny_setup(own=None)
    for user in range(0, graph.num_users, 5):
        copy = rec.recommend_user("new-user", k=10, **history_of(rec, user))
        known = rec.recommend_user(f"u{user}", k=10)
        assert copy.strategy == "fold-in" and known.strategy == "model"
        assert copy.ids == known.ids
        np.testing.assert_allclose(copy.scores, known.scores, rtol=1e-3, atol=1e-3)


def test_folded_in_copy_of_a_user_overlaps_strongly_with_that_user():
    # A trained model whose users also keep their own embedding: fold-in is an approximation.
    _, _, graph, rec = tiny_setup(own=0.5, train_steps=60)
    own_overlap, other_overlap = [], []
    for user in range(graph.num_users):
        known = set(rec.recommend_user(f"u{user}", k=10).ids)
        copy = set(rec.recommend_user("new-user", k=10, **history_of(rec, user)).ids)
        other = set(rec.recommend_user(f"u{(user + 1) % graph.num_users}", k=10).ids)
        own_overlap.append(len(known & copy) / 10)
        other_overlap.append(len(known & other) / 10)
    assert np.mean(own_overlap) >= 0.6, np.mean(own_overlap)
    assert np.mean(own_overlap) >= 5 * np.mean(other_overlap)


def test_cold_start_through_streamers_only():
    model, _, graph, rec = tiny_setup(own=None)
    got = rec.recommend_user("fan", k=5, followed_streamers=["s2", "s6", "s2"])
    assert got.strategy == "fold-in"
    # Reference: the buy part is the "no purchase" representation, the follow part the normalised sum.
    follow = rec.artifact.interactions["follow"]
    streamers = np.array([2, 6])
    x = (rec.artifact.embeddings["follow.streamer"][streamers] / np.sqrt(follow.degree[streamers] * 2)[:, None]).sum(0)
    spec = rec.artifact.fold_ins["follow.user"]
    follow_part = np.append(x, 1.0) @ spec.weight
    query = torch.tensor(np.concatenate([rec.artifact.fold_ins["buy.user"].empty, follow_part]))[None, :].float()
    with torch.no_grad():
        enc = model.encode(graphs_of(graph))
        scores = model.scorer("buy").score_all(query, model.target("buy", enc))[0].numpy()
    expected = [f"i{i}" for i in np.argsort(-scores, kind="stable")[:5]]
    assert got.ids == expected


def test_new_user_without_history_gets_popular_items():
    _, _, graph, rec = tiny_setup()
    got = rec.recommend_user("stranger", k=6)
    counts = np.bincount(graph["buy"].dst, minlength=graph.num_items)
    order = np.argsort(-counts, kind="stable")[:6]
    assert got.strategy == "popular"
    assert got.ids == [f"i{i}" for i in order] and got.scores == counts[order].tolist()
    streamers = rec.recommend_user("stranger", k=3, task="follow")
    assert streamers.strategy == "popular" and all(x.startswith("s") for x in streamers.ids)


def test_history_is_excluded_when_exclude_seen():
    _, _, _, rec = tiny_setup()
    bought = ["i0", "i4", "i8"]
    everything = rec.recommend_user("new", k=80, bought_items=bought, exclude_seen=True)
    assert len(everything.ids) == 77 and not set(bought) & set(everything.ids)
    assert len(rec.recommend_user("new", k=80, bought_items=bought, exclude_seen=False).ids) == 80


def test_unknown_history_ids_are_named():
    _, _, _, rec = tiny_setup()
    with pytest.raises(UnknownIdError, match=r"users\[0\]\.bought_items: unknown item ids 'x9', 'nope'") as err:
        rec.recommend_user("new", bought_items=["i1", "x9", "nope", "x9"], history_field="users[0].")
    assert err.value.ids == ["x9", "nope"] and err.value.field == "users[0].bought_items"
    with pytest.raises(UnknownIdError, match="followed_streamers: unknown streamer id 'i1'"):
        rec.recommend_user("new", followed_streamers=["i1"])


def test_known_user_ignores_history_with_a_note():
    _, _, _, rec = tiny_setup()
    got = rec.recommend_user("u3", k=4, bought_items=["i1"])
    assert got.strategy == "model" and got.notes and got.ids == [x for x, _ in rec.recommend(["u3"], k=4)[0]]


def test_history_of_a_graph_the_model_does_not_use_falls_back_to_popular():
    _, _, _, rec = tiny_setup(tasks=("buy",), relations=("buy",))
    got = rec.recommend_user("new", k=3, followed_streamers=["s1"])
    assert got.strategy == "popular" and any("'follow' graph" in n for n in got.notes)
