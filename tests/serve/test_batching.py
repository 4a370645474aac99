"""Micro-batching: concurrent callers get exactly what a direct call returns, errors stay per request."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from lsec.serve.batching import MicroBatcher
from lsec.serve.recommender import UnknownIdError
from tests.serve.tiny import tiny_setup


def test_concurrent_requests_get_their_own_exact_answers():
    _, _, _, rec = tiny_setup()
    batcher = MicroBatcher(rec, max_batch=8, num_threads=2)
    rng = random.Random(0)
    calls = [
        (f"u{rng.randrange(60)}", rng.choice([1, 5, 30]), rng.random() < 0.7, rng.choice(["buy", "follow"]))
        for _ in range(400)
    ]
    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(lambda c: batcher.recommend(c[0], k=c[1], exclude_seen=c[2], task=c[3]), calls))
    for (user, k, exclude_seen, task), answer in zip(calls, got):
        direct = rec.recommend([user], k=k, exclude_seen=exclude_seen, task=task)[0]
        assert [i for i, _ in answer] == [i for i, _ in direct]  # scores: same up to float32 summation order
        assert [s for _, s in answer] == pytest.approx([s for _, s in direct], abs=1e-5)
    batcher.close()


def test_a_bad_request_fails_alone():
    _, _, _, rec = tiny_setup()
    batcher = MicroBatcher(rec, max_batch=8, num_threads=1)
    users = ["u1", "ghost", "u2", "u3"] * 10

    def call(user: str):
        try:
            return batcher.recommend(user, k=3, exclude_seen=True, task="buy")
        except UnknownIdError as err:
            return err

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(call, users))
    for user, answer in zip(users, got):
        if user == "ghost":
            assert isinstance(answer, UnknownIdError) and answer.ids == ["ghost"]
        else:
            assert [i for i, _ in answer] == [i for i, _ in rec.recommend([user], k=3)[0]]
    batcher.close()
    with pytest.raises(RuntimeError, match="closed"):
        batcher.recommend("u1", k=3, exclude_seen=True, task="buy")
