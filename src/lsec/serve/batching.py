"""Micro-batching: concurrent single-user requests share one pass over the target table.

Under load, many requests wait at the same time. Instead of each walking the whole ``(T, hidden)`` table
on its own (and evicting each other's blocks from the cache), a few scoring threads take every request
waiting in the queue (up to ``max_batch``), score them together block by block
(:func:`~lsec.serve.scoring.mlp_scores` with ``B`` queries reads each table block once for all ``B``) and
hand each caller its own top-k. A lone request is served at once: batching never waits for company.
Results are those of :meth:`Recommender.recommend` (the same code computes them): the same ids, scores
equal up to float32 rounding (a batch may sum in another order).
"""

from __future__ import annotations

import os
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass

from lsec.serve.recommender import Recommender

MAX_BATCH = 32
"""Requests scored together at most. With the fused kernel a batch of B reads the table once (about the cost of
one request) and adds ~1/5 of a request per user, so batches up to the number of concurrent clients pay off."""


@dataclass
class _Request:
    user_id: str
    k: int
    exclude_seen: bool
    task: str
    future: Future[list[tuple[str, float]]]


class MicroBatcher:
    """Serves ``recommend`` for single KNOWN users through a shared queue and ``num_threads`` scoring threads."""

    def __init__(self, recommender: Recommender, *, max_batch: int = MAX_BATCH, num_threads: int | None = None) -> None:
        if max_batch < 1:
            raise ValueError(f"The 'max_batch' parameter of MicroBatcher must be >= 1. Got {max_batch} instead.")
        self.recommender = recommender
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        # The fused numba kernel is itself parallel (and one launch at a time): one scoring thread then takes
        # everything waiting, which makes the largest batches. The numpy path scores on one core per thread.
        default = 1 if recommender.kernel == "numba" else (os.cpu_count() or 1)
        count = num_threads or default
        self._threads = [threading.Thread(target=self._run, name=f"lsec-scorer-{i}", daemon=True) for i in range(count)]
        self._closed = False
        for thread in self._threads:
            thread.start()

    def recommend(self, user_id: str, *, k: int, exclude_seen: bool, task: str) -> list[tuple[str, float]]:
        """Top-``k`` (id, score) of one known user; raises what :meth:`Recommender.recommend` raises."""
        return self.submit(user_id, k=k, exclude_seen=exclude_seen, task=task).result()

    def submit(self, user_id: str, *, k: int, exclude_seen: bool, task: str) -> Future[list[tuple[str, float]]]:
        """:meth:`recommend` without waiting: the answer (or error) arrives in the future (``asyncio.wrap_future``)."""
        if self._closed:
            raise RuntimeError("MicroBatcher is closed.")
        future: Future[list[tuple[str, float]]] = Future()
        self._queue.put(_Request(user_id, k, exclude_seen, task, future))
        return future

    def close(self) -> None:
        self._closed = True
        for _ in self._threads:
            self._queue.put(None)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:  # closing: finish this batch, then stop
                    self._serve(batch)
                    return
                batch.append(item)
            self._serve(batch)

    def _serve(self, batch: list[_Request]) -> None:
        groups: dict[tuple[str, bool], list[_Request]] = {}
        for request in batch:
            groups.setdefault((request.task, request.exclude_seen), []).append(request)
        for (task, exclude_seen), requests in groups.items():
            k = max(r.k for r in requests)
            try:
                answers = self.recommender.recommend(
                    [r.user_id for r in requests], k=k, exclude_seen=exclude_seen, task=task
                )
            except Exception:  # noqa: BLE001 - one bad request must not fail the others: retry them one by one
                for r in requests:
                    self._serve_one(r)
                continue
            for request, answer in zip(requests, answers, strict=True):
                request.future.set_result(answer[: request.k])  # a prefix of a longer top-k is the shorter top-k

    def _serve_one(self, request: _Request) -> None:
        try:
            answer = self.recommender.recommend(
                [request.user_id], k=request.k, exclude_seen=request.exclude_seen, task=request.task
            )
            request.future.set_result(answer[0])
        except Exception as err:  # noqa: BLE001 - delivered to the caller, who raises it
            request.future.set_exception(err)
