"""Candidate lists supplied as they are (``write_split(..., candidates=...)`` / :func:`given_candidates`)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from lsec.data import save
from lsec.data.graph import EdgeTable, HeteroGraph
from lsec.data.split import Candidates, load_split, make_split, write_split
from lsec.errors import LsecDataError


def small_graph() -> tuple[HeteroGraph, dict]:
    buy = EdgeTable(np.array([0, 1, 2, 0, 3]), np.array([0, 1, 2, 4, 5]), np.zeros(5, np.int64))
    graph = HeteroGraph(num_nodes={"user": 4, "item": 6}, edges={("user", "buy", "item"): buy}, name="g")
    folds = {("user", "buy", "item"): np.array([0, 0, 0, 2, 2], np.int8)}
    return graph, folds


def rows(user, target, label) -> Candidates:
    n = len(user)
    cold = np.zeros(n, bool)
    return Candidates("buy", "test", np.array(user), np.array(target), np.array(label), cold)


def test_given_rows_are_stored_unchanged_and_read_back(tmp_path) -> None:
    graph, folds = small_graph()
    save(graph, tmp_path / "ds")
    # repeated row (0, 3, 0), a negative that is a training pair (0, 0), rows out of order, cold user 3
    given = rows([3, 0, 0, 0, 3, 0], [5, 3, 4, 3, 1, 0], [1, 0, 1, 0, 0, 0])
    write_split(
        tmp_path / "ds", folds, name="given", tasks=["buy"], num_candidates=4, candidates={("buy", "test"): given}
    )
    split = load_split(tmp_path / "ds", "given")
    cand = split.candidates("buy", "test")
    got = Counter(zip(cand.user.tolist(), cand.target.tolist(), cand.label.tolist(), strict=True))
    assert got == Counter(zip(given.user.tolist(), given.target.tolist(), given.label.tolist(), strict=True))
    assert cand.user.tolist() == sorted(cand.user.tolist())  # ordered by user (then target), repeats kept
    assert cand.cold.tolist() == [u == 3 for u in cand.user.tolist()]  # cold derived from training edges
    assert split.info["candidates"]["buy"]["test"] == {
        "evaluated_users": 2, "cold_users": 1, "positives": 2, "rows": 6,
        "truncated_users": 0, "short_lists": 0, "given": 1,
    }  # fmt: skip
    # the valid fold has no positives and no given list: nothing drawn there, as before
    assert split.info["candidates"]["buy"]["valid"]["evaluated_users"] == 0
    in_memory = make_split(graph, folds, tasks=["buy"], candidates={("buy", "test"): given})
    assert np.array_equal(in_memory.candidates("buy", "test").target, cand.target)


@pytest.mark.parametrize(
    ("key", "given", "message"),
    [
        (("follow", "test"), rows([0], [1], [1]), "does not evaluate"),
        (("buy", "train"), rows([0], [1], [1]), "does not evaluate"),
        (("buy", "test"), rows([0], [6], [1]), "target index out of range"),
        (("buy", "test"), rows([0], [1], [2]), "labels must be 0 or 1"),
    ],
)
def test_bad_given_lists_are_refused(key, given, message) -> None:
    graph, folds = small_graph()
    with pytest.raises(LsecDataError, match=message):
        make_split(graph, folds, tasks=["buy"], candidates={key: given})
