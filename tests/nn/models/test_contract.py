"""ONE contract test for every registered model, on the checkerboard where the right answer is known.

Users buy every item of their cluster (one held out for test); after a short training the held-out item
must rank first in its candidate list for at least 90% of users, and batched scoring (the evaluation path,
decomposed MLP) must equal one-by-one ``model.score`` and ``model.score_all``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lsec.config import Config, apply_overrides
from lsec.evaluate.protocols import score_pairs
from lsec.train.runs import build_graphs, uses_self_loops
from lsec.train.trainer import Trainer
from tests.train.checkerboard import checkerboard, checkerboard_split

registry = pytest.importorskip("lsec.nn.models.registry")

SMALL = {"embedding_dim": 32}  # keeps every model to a few seconds; other hyper-parameters stay the slides'


@pytest.fixture(scope="module")
def board():  # type: ignore[no-untyped-def]
    graph = checkerboard()
    return graph, checkerboard_split(graph)


def first_place_rate(candidates, scores: np.ndarray) -> float:  # type: ignore[no-untyped-def]
    """Share of users whose held-out positive outscores every negative of its list (ties count against)."""
    hits = []
    for user in np.unique(candidates.user):
        rows = candidates.user == user
        label, score = candidates.label[rows].astype(bool), scores[rows]
        hits.append(bool(score[label].min() > score[~label].max()))
    return float(np.mean(hits))


@pytest.mark.parametrize("name", registry.MODEL_NAMES)
def test_model_learns_the_checkerboard(name: str, board) -> None:  # type: ignore[no-untyped-def]
    graph, split = board
    torch.set_num_threads(1)  # tiny graphs: thread hand-offs cost more than they save
    accepted = registry.model_defaults(name)
    hparams = {k: v for k, v in SMALL.items() if k in accepted}
    torch.manual_seed(0)
    data = None
    if "item_features" in registry.data_arguments(name):  # random content: the graph alone must carry the board
        data = {"item_features": {"image": np.random.default_rng(0).normal(size=(graph.num_items, 8))}}
    model = registry.build_model(
        name, num_users=graph.num_users, num_items=graph.num_items, num_streamers=graph.num_streamers, data=data,
        **hparams,
    )  # fmt: skip
    graphs = build_graphs(split.train_graph(), model.relations, self_loops=uses_self_loops(model, name))
    cfg = apply_overrides(
        Config(),
        ["train.lr=0.003", "train.batch_size=64", "train.epochs=40", "train.eval_every=40", "train.patience=100"],
    )
    Trainer(model, split, graphs, cfg).fit()

    with torch.no_grad():
        enc = model.encode(graphs)
    test = split.candidates("buy", "test")
    scores = score_pairs(model, enc, "buy", test.user, test.target, batch_size=37)
    assert first_place_rate(test, scores) >= 0.9

    # batched (evaluation path) == one by one == full-catalogue scoring
    rows = np.arange(0, len(test), 7)
    with torch.no_grad():
        single = np.array(
            [
                float(
                    model.score("buy", enc, torch.tensor([int(test.user[r])]), torch.tensor([int(test.target[r])]))[0]
                )
                for r in rows
            ]
        )
        table = model.score_all("buy", enc, torch.from_numpy(test.user[rows].astype(np.int64))).numpy()
    np.testing.assert_allclose(scores[rows], single, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(table[np.arange(len(rows)), test.target[rows]], single, rtol=1e-5, atol=1e-5)
