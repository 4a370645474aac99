"""MMBee-Rec (lsec.nn.models.mmbee.rec): masking, training-only expansions, batched = one by one, BPR gradient."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from lsec.graph.adjacency import bipartite_adjacency
from lsec.graph.metapath import metapath_neighbours
from lsec.graph.swing import gift_graph, swing
from lsec.nn.models.mmbee.mfq import MFQ
from lsec.nn.models.mmbee.rec import MMBeeRec, expansion_matrix, training_pairs
from lsec.train.bpr import bpr_gradient, bpr_loss, set_ego_grad

NUM_USERS, NUM_ITEMS = 6, 8
TRAIN = (np.array([0, 0, 1, 1, 2, 3, 3, 4, 5, 5]), np.array([0, 1, 1, 2, 3, 4, 5, 5, 6, 7]))
HELD_OUT = (np.array([0, 2]), np.array([6, 4]))  # valid / test pairs: u0 - i6 - u5, u2 - i4 - u3


def features(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"image": rng.normal(size=(NUM_ITEMS, 8)), "audio": rng.normal(size=(NUM_ITEMS, 4))}


def model(**kwargs: object) -> MMBeeRec:
    torch.manual_seed(0)
    options = {
        "embedding_dim": 8, "num_layers": 2, "mfq_dim": 4, "mfq_queries": 2, "feature_tokens": 2, "expansion_k": 3,
        "content_init": "normal",  # W_c = 0 (the default) would leave MFQ without gradient at the start
    }  # fmt: skip
    return MMBeeRec(NUM_USERS, NUM_ITEMS, features(), **{**options, **kwargs}).eval()  # type: ignore[arg-type]


def test_missing_modality_is_masked_like_an_absent_one() -> None:
    given = features()
    given["audio"][3] = 0.0  # item 3 has no audio
    torch.manual_seed(0)
    options = {"embedding_dim": 8, "mfq_dim": 8, "feature_tokens": 2, "content_init": "normal", "query_source": "own"}
    rec = MMBeeRec(NUM_USERS, NUM_ITEMS, given, **options).eval()  # type: ignore[arg-type]
    assert not rec.valid_audio[3] and rec.valid_audio[[0, 1, 2, 4]].all()
    items = torch.tensor([3])
    with torch.no_grad():
        content = rec.item_content(items)
        assert rec.mfq is not None and rec.content is not None
        image_only = {"image": rec.feature_image[items].view(1, 1, 2, -1)}
        alone = rec.content(rec.mfq(items, image_only).reshape(1, -1))  # audio absent altogether
    torch.testing.assert_close(content, alone)
    other = features()
    other["audio"][3] = 0.0
    other["audio"][4] += 1.0  # a present modality does change the content
    torch.manual_seed(0)
    changed = MMBeeRec(NUM_USERS, NUM_ITEMS, other, **options).eval()  # type: ignore[arg-type]
    changed.load_state_dict(rec.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(changed.item_content(items), content)
        assert not torch.allclose(changed.item_content(torch.tensor([4])), rec.item_content(torch.tensor([4])))


def test_expansions_use_only_the_training_pairs_given() -> None:
    adjacency = bipartite_adjacency(*TRAIN, NUM_USERS, NUM_ITEMS)
    users, items = training_pairs(adjacency)
    assert sorted(zip(users.tolist(), items.tolist())) == sorted(zip(*(a.tolist() for a in TRAIN)))
    rec = model()
    x, _ = rec.expansion(adjacency)
    expected = expansion_matrix(*TRAIN, NUM_USERS, NUM_ITEMS, k=3, user_weight=0.5, item_weight=0.5)
    np.testing.assert_allclose(x.to_dense().numpy(), expected.toarray(), rtol=1e-6)
    leaked = expansion_matrix(
        np.r_[TRAIN[0], HELD_OUT[0]],
        np.r_[TRAIN[1], HELD_OUT[1]],
        NUM_USERS,
        NUM_ITEMS,
        k=3,
        user_weight=0.5,
        item_weight=0.5,
    )
    assert x.to_dense()[0, 5] == 0 and leaked[0, 5] > 0  # u0 ~ u5 only through the held-out pair (u0, i6)
    assert x.to_dense()[2, 3] == 0 and leaked[2, 3] > 0
    assert (x.to_dense()[NUM_USERS:] == 0).all()  # item rows are not expanded


def test_expansion_rows_one_by_one() -> None:
    """Each user's expansion, recomputed alone from its metapath lists, equals the row of the batched ``X H``."""
    adjacency = bipartite_adjacency(*TRAIN, NUM_USERS, NUM_ITEMS)
    rec = model()
    with torch.no_grad():
        ego = rec.ego()
        plain = model(use_expansion=False)
        plain.load_state_dict(rec.state_dict())
        h = plain.combine(adjacency, ego)  # (N, d) before the expansion
        final = rec.combine(adjacency, ego)
    graph = gift_graph(src=TRAIN[0], dst=TRAIN[1], num_users=NUM_USERS, num_streamers=NUM_ITEMS)
    item_swing = swing(graph=graph, k=3, mode="exact")
    for user in range(NUM_USERS):
        row = np.array([user])
        similar = metapath_neighbours(metapath="u2a2u", graph=graph, k=3, sources=row).indices[0]
        neighbours = metapath_neighbours(metapath="u2a2a", graph=graph, k=3, swing=item_swing, sources=row).indices[0]
        expected = h[user].clone()
        for found, offset in ((similar, 0), (neighbours, NUM_USERS)):
            found = found[found >= 0]
            if len(found):
                expected += 0.5 * h[torch.from_numpy(found.astype(np.int64) + offset)].mean(0)
        torch.testing.assert_close(final[user], expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(final[NUM_USERS:], h[NUM_USERS:])


def test_item_content_batched_equals_one_by_one() -> None:
    rec = model()
    with torch.no_grad():
        batched = rec.item_content(torch.arange(NUM_ITEMS))
        single = torch.cat([rec.item_content(torch.tensor([i])) for i in range(NUM_ITEMS)])
        shuffled = rec.item_content(torch.tensor([5, 1, 7]))
    assert batched.shape == (NUM_ITEMS, 8)
    torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(shuffled, batched[[5, 1, 7]], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "options", [{}, {"use_mfq": False}, {"use_expansion": False}, {"query_source": "own"}, {"content_init": "zero"}]
)
def test_bpr_engine_gradient_equals_autograd(options: dict[str, object]) -> None:
    adjacency = bipartite_adjacency(*TRAIN, NUM_USERS, NUM_ITEMS)
    users, positives = torch.from_numpy(TRAIN[0]), torch.from_numpy(TRAIN[1])
    negatives = torch.from_numpy(np.random.default_rng(1).integers(0, NUM_ITEMS, (len(users), 3)))
    engine, reference = model(**options), model(**options)
    loss, grad = bpr_gradient(engine, adjacency, users, positives, negatives, reg=0.01)
    set_ego_grad(engine, grad)
    expected = bpr_loss(reference, reference.combine(adjacency, reference.ego()), users, positives, negatives, 0.01)
    expected.backward()  # type: ignore[no-untyped-call]
    torch.testing.assert_close(loss, expected.detach(), rtol=1e-5, atol=1e-6)
    for (name, p), (_, q) in zip(engine.named_parameters(), reference.named_parameters(), strict=True):
        assert p.grad is not None and q.grad is not None, name
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6, msg=name)
    groups = engine.parameter_groups()
    assert len(groups) == (1 if options.get("use_mfq") is False else 2)


def test_wrong_features_are_refused() -> None:
    with pytest.raises(ValueError, match="needs item features"):
        MMBeeRec(NUM_USERS, NUM_ITEMS, None)
    with pytest.raises(ValueError, match="shape"):
        MMBeeRec(NUM_USERS, NUM_ITEMS, {"image": np.zeros((NUM_ITEMS + 1, 8))})
    with pytest.raises(ValueError, match="feature_tokens"):
        MMBeeRec(NUM_USERS, NUM_ITEMS, features(), feature_tokens=3)
    assert sp.issparse(expansion_matrix(*TRAIN, NUM_USERS, NUM_ITEMS, k=2, user_weight=1.0, item_weight=0.0))


def test_zero_content_init_starts_as_the_id_model_and_learns_content() -> None:
    """``content_init='zero'`` (the default): ego = id embedding exactly at the start; ``W_c`` still gets a gradient."""
    rec, noisy = model(content_init="zero"), model(content_init="normal")
    assert rec.content is not None
    assert (rec.content.weight == 0).all() and rec.content.weight.abs().sum() == 0
    ego = rec.ego()
    torch.testing.assert_close(ego, rec.embedding.detach(), rtol=0, atol=0)  # the id-only model, to the bit
    assert (noisy.ego()[NUM_USERS:] - noisy.embedding[NUM_USERS:]).abs().max() > 1e-3  # the old start
    weights = torch.randn(ego.shape, generator=torch.Generator().manual_seed(3))
    (ego * weights).sum().backward()  # type: ignore[no-untyped-call]
    assert rec.content.weight.grad is not None and rec.content.weight.grad.abs().max() > 0
    expected = rec.item_fused(torch.arange(NUM_ITEMS)).detach().T @ weights[NUM_USERS:]  # naive: sum_i x_i g_i
    torch.testing.assert_close(rec.content.weight.grad, expected.T, rtol=1e-5, atol=1e-6)


def test_queries_are_the_item_embedding_cut_into_tokens() -> None:
    """``query_source='embedding'`` (the default): MFQ's query tokens of item i are e_i cut into Q pieces; the
    reference is an MFQ with its own table holding exactly those rows."""
    rec = model()
    assert rec.mfq is not None and rec.mfq.queries is None and rec.content is not None
    reference = MFQ(NUM_ITEMS, {"image": 4, "audio": 2}, dim=4, num_queries=2, num_segments=1, num_heads=2).eval()
    reference.load_state_dict(rec.mfq.state_dict(), strict=False)
    with torch.no_grad():
        reference.queries.weight.copy_(rec.embedding[NUM_USERS:])  # type: ignore[union-attr]
        items = torch.arange(NUM_ITEMS)
        frames = {m: getattr(rec, f"feature_{m}").view(NUM_ITEMS, 1, 2, -1) for m in ("image", "audio")}
        expected = rec.content(reference(items, frames).reshape(NUM_ITEMS, -1))
        torch.testing.assert_close(rec.item_content(items), expected, rtol=1e-5, atol=1e-6)
        rec.embedding[NUM_USERS + 2] += 1.0  # moving e_2 moves item 2's content and no other item's
        moved = rec.item_content(items)
    assert (moved[2] - expected[2]).abs().max() > 1e-4
    torch.testing.assert_close(moved[[0, 1, 3, 4, 5, 6, 7]], expected[[0, 1, 3, 4, 5, 6, 7]], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="mfq_queries x mfq_dim"):
        model(mfq_queries=3)
    with pytest.raises(ValueError, match="content_init"):
        model(content_init="ones")
