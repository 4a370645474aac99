"""The fused numba kernel against the numpy reference (scores, exclusion, top-k with ties), and the Recommender."""

from __future__ import annotations

import numpy as np
import pytest

from lsec.serve import kernels
from lsec.serve.recommender import Recommender
from lsec.serve.scoring import MLPRest, dot_scores, exclude, mlp_scores, top_k
from tests.serve.tiny import tiny_setup

pytestmark = pytest.mark.skipif(not kernels.available(), reason="numba not installed")


def _rest(rng: np.random.Generator, widths: tuple[int, ...]) -> MLPRest:
    """Layers after the first hidden activation: widths (h, ..., 1)."""
    pairs = list(zip(widths[:-1], widths[1:], strict=True))
    weights = tuple(rng.standard_normal((o, i)).astype(np.float32) for i, o in pairs)
    biases = tuple(rng.standard_normal(o).astype(np.float32) for _, o in pairs)
    return MLPRest(weights, biases)


def _reference(kind: str, table, query, rest, k, seen):
    scores = dot_scores(query, table) if kind == "dot" else mlp_scores(query, table, rest)
    out = []
    for row, excluded in zip(scores, seen, strict=True):
        if excluded is not None:
            exclude(row, excluded)
        out.append(top_k(row, k))
    return out, scores


SCORERS = [("dot", None), ("mlp", (24, 1)), ("mlp", (24, 8, 1)), ("mlp", (24, 6, 5, 1))]


@pytest.mark.parametrize("serial", [False, True], ids=["parallel", "serial"])
@pytest.mark.parametrize("kind, widths", SCORERS)
@pytest.mark.parametrize("num_blocks", [1, 7, 64])
def test_kernel_equals_numpy_reference_on_tie_free_data(kind, widths, num_blocks, serial):
    rng = np.random.default_rng(3)
    n, h = 997, 24
    table = rng.standard_normal((n, h)).astype(np.float32)
    query = rng.standard_normal((5, h)).astype(np.float32)
    rest = None if widths is None else _rest(rng, widths)
    seen = [np.sort(rng.choice(n, 40, replace=False)), None, np.arange(0, n, 2), np.array([0, n - 1]), np.arange(n)]
    got = kernels.rank(kind, table, query, rest, 25, seen, num_blocks=num_blocks, serial=serial)
    expected, _ = _reference(kind, table, query, rest, 25, seen)
    for (gi, gs), (ei, es), excluded in zip(got, expected, seen, strict=True):
        np.testing.assert_array_equal(gi, ei)
        np.testing.assert_allclose(gs, es, rtol=1e-5, atol=1e-5)
        if excluded is not None:
            assert not set(gi.tolist()) & set(excluded.tolist())
    assert len(got[4][0]) == 0  # everything seen: nothing to recommend


@pytest.mark.parametrize("serial", [False, True], ids=["parallel", "serial"])
@pytest.mark.parametrize("kind, widths", SCORERS)
def test_kernel_breaks_ties_by_smaller_index(kind, widths, serial):
    rng = np.random.default_rng(4)
    h = 12
    distinct = rng.standard_normal((30, h)).astype(np.float32)
    table = distinct[rng.integers(0, 30, 400)]  # many identical rows -> exactly tied scores
    query = rng.standard_normal((2, h)).astype(np.float32)
    rest = None if widths is None else _rest(rng, (h, *widths[1:]))
    seen = [np.sort(rng.choice(400, 50, replace=False)), None]
    got = kernels.rank(kind, table, query, rest, 400, seen, num_blocks=5, serial=serial)  # k = all: the full order
    _, ref_scores = _reference(kind, table, query, rest, 400, seen)
    for (idx, vals), excluded, ref in zip(got, seen, ref_scores, strict=True):
        allowed = np.setdiff1d(np.arange(400), excluded if excluded is not None else [])
        assert sorted(idx.tolist()) == allowed.tolist()
        assert np.all(np.lexsort((idx, -vals)) == np.arange(len(idx)))  # (score desc, index asc)
        np.testing.assert_allclose(vals, ref[idx], rtol=1e-5, atol=1e-5)
        same_row = {}  # identical table rows must get identical scores
        for i, v in zip(idx.tolist(), vals.tolist(), strict=True):
            same_row.setdefault(table[i].tobytes(), set()).add(v)
        assert all(len(v) == 1 for v in same_row.values())


@pytest.mark.parametrize("kind, hidden", [("mlp", (16,)), ("mlp", (16, 8)), ("dot", (16,))])
def test_recommender_numba_and_numpy_kernels_agree(kind, hidden):
    _, _, _, rec = tiny_setup(kind=kind, hidden=hidden)
    fast = Recommender(rec.artifact, kernel="numba", warm_up=True)
    slow = Recommender(rec.artifact, kernel="numpy")
    assert fast.kernel == "numba" and slow.kernel == "numpy"
    users = [f"u{u}" for u in range(0, 60, 3)]
    for task, exclude_seen in [("buy", True), ("buy", False), ("follow", True)]:
        a = fast.recommend(users, k=7, exclude_seen=exclude_seen, task=task)
        b = slow.recommend(users, k=7, exclude_seen=exclude_seen, task=task)
        for x, y in zip(a, b, strict=True):
            assert [i for i, _ in x] == [i for i, _ in y]
            assert [s for _, s in x] == pytest.approx([s for _, s in y], abs=1e-5)
    fold_a = fast.recommend_user("new", k=5, bought_items=["i1", "i2"], followed_streamers=["s0"])
    fold_b = slow.recommend_user("new", k=5, bought_items=["i1", "i2"], followed_streamers=["s0"])
    assert fold_a.ids == fold_b.ids and fold_a.strategy == fold_b.strategy
    with pytest.raises(ValueError, match="'kernel' parameter"):
        Recommender(rec.artifact, kernel="gpu")


def test_recommend_users_batches_known_and_new_users():
    _, _, _, rec = tiny_setup()
    queries = [("u3", [], []), ("brand-new", ["i1"], []), ("u4", ["i2"], []), ("nobody", [], [])]
    answers = rec.recommend_users(queries, k=4)
    assert [a.strategy for a in answers] == ["model", "fold-in", "model", "popular"]
    for (user, bought, followed), answer in zip(queries, answers, strict=True):
        alone = rec.recommend_user(user, k=4, bought_items=bought, followed_streamers=followed)
        assert answer.ids == alone.ids and answer.notes == alone.notes
