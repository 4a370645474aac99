"""MFQ (MMBee eqs. 3-7): shapes, the orthogonal projection against a naive loop, masking, absent modalities."""

from __future__ import annotations

import math

import pytest
import torch

from lsec.nn.models.mmbee.mfq import MFQ, MaskedAttention, orthogonal_projection

DIMS = {"visual": 6, "speech": 5, "comment": 4}


def make(seed: int = 0, **kwargs) -> MFQ:
    torch.manual_seed(seed)
    options = {"dim": 8, "num_queries": 3, "num_segments": 4, "num_heads": 2} | kwargs
    return MFQ(7, DIMS, **options).eval()


def inputs(batch: int = 5, segments: int = 4, frames: int = 3, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    features = {m: torch.randn(batch, segments, frames, w, generator=g) for m, w in DIMS.items()}
    valid = {m: torch.rand(batch, segments, frames, generator=g) > 0.3 for m in DIMS}
    for m in DIMS:
        valid[m][:, 0, 0] = True  # at least one frame per modality
    streamers = torch.randint(0, 7, (batch,), generator=g)
    return streamers, features, valid


@pytest.mark.parametrize("segments", [1, 4])
def test_output_shape_is_queries_by_dim(segments):
    model = make()
    streamers, features, valid = inputs(segments=segments)
    out = model(streamers, features, valid)
    assert out.shape == (5, 3, 8) and model.output_dim == 24 and torch.isfinite(out).all()


def test_orthogonal_projection_equals_a_naive_loop():
    g = torch.Generator().manual_seed(3)
    b, t, d = 2, 4, 3
    x = {m: torch.randn(b, t, d, generator=g) for m in ("v", "s", "c")}
    valid = {m: torch.rand(b, t, generator=g) > 0.4 for m in x}
    valid["c"][1] = False  # a modality missing from one row
    for m in x:
        x[m] = x[m] * valid[m].unsqueeze(-1)
    got = orthogonal_projection(x, valid)
    for m in x:
        for row in range(b):
            for i in range(t):
                want = x[m][row, i].clone()
                for o in x:
                    if o == m:
                        continue
                    keys = [j for j in range(t) if valid[o][row, j]]
                    if not keys:
                        continue
                    logits = torch.tensor([float(x[m][row, i] @ x[o][row, j]) / math.sqrt(d) for j in keys])
                    corr = torch.softmax(logits, 0)
                    for c, j in zip(corr, keys, strict=True):
                        want += (1 - c) / len(keys) * x[o][row, j]
                torch.testing.assert_close(got[m][row, i], want, rtol=1e-5, atol=1e-6)
    # with one frame per modality the correlation is 1 and nothing of the others is added (fully "redundant")
    one = {m: v[:, :1] for m, v in x.items()}
    ones = {m: torch.ones(b, 1, dtype=torch.bool) for m in x}
    for m, y in orthogonal_projection(one, ones).items():
        torch.testing.assert_close(y, one[m])


def test_masked_frames_do_not_change_the_output():
    model = make()
    streamers, features, valid = inputs()
    base = model(streamers, features, valid)
    g = torch.Generator().manual_seed(9)
    noisy = {
        m: torch.where(valid[m].unsqueeze(-1), x, 100 * torch.randn(x.shape, generator=g)) for m, x in features.items()
    }
    noisy["visual"][~valid["visual"]] = float("nan")  # even NaN in a missing frame
    torch.testing.assert_close(model(streamers, noisy, valid), base)
    # and the mask matters: unmasking those frames changes the answer
    everything = {m: torch.ones_like(v) for m, v in valid.items()}
    assert (model(streamers, features, everything) - base).abs().max() > 1e-3


def test_an_absent_modality_equals_one_with_every_frame_missing():
    model = make()
    streamers, features, valid = inputs()
    without = {m: x for m, x in features.items() if m != "speech"}
    valid_without = {m: v for m, v in valid.items() if m != "speech"}
    missing = dict(valid) | {"speech": torch.zeros_like(valid["speech"])}
    out = model(streamers, without, valid_without)
    torch.testing.assert_close(out, model(streamers, features, missing))
    assert (out - model(streamers, features, valid)).abs().max() > 1e-3  # speech did count when present
    # no frame at all: the answer depends on the streamer's queries only
    nothing = {m: torch.zeros_like(v) for m, v in valid.items()}
    empty = model(streamers, features, nothing)
    assert torch.isfinite(empty).all()
    torch.testing.assert_close(empty, model(streamers, inputs(seed=5)[1], nothing))


def test_batched_equals_one_by_one():
    model = make()
    streamers, features, valid = inputs(batch=6)
    batched = model(streamers, features, valid)
    for row in range(6):
        single = model(
            streamers[row : row + 1],
            {m: x[row : row + 1] for m, x in features.items()},
            {m: v[row : row + 1] for m, v in valid.items()},
        )
        torch.testing.assert_close(single, batched[row : row + 1], rtol=1e-5, atol=1e-6)


def test_queries_are_per_streamer_and_receive_gradients():
    model = make().train()
    streamers, features, valid = inputs(batch=4)
    streamers = torch.tensor([0, 0, 1, 2])
    out = model(streamers, features, valid)
    (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(2))).sum().backward()  # LN: plain sum is flat
    grad = model.queries.weight.grad
    assert grad is not None
    touched = (grad.abs().sum(1) > 0).nonzero().flatten().tolist()
    assert touched == [0, 1, 2]
    same = {m: x[:1].expand(2, *x.shape[1:]) for m, x in features.items()}
    same_valid = {m: v[:1].expand(2, *v.shape[1:]) for m, v in valid.items()}
    two = model.eval()(torch.tensor([3, 4]), same, same_valid)
    assert (two[0] - two[1]).abs().max() > 1e-4  # same content, different streamers: different outputs


def test_masked_attention_ignores_invalid_keys_and_survives_none():
    torch.manual_seed(0)
    attention = MaskedAttention(4, 2)
    query, keys = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
    valid = torch.tensor([[True, True, False, False, False], [False] * 5])
    out = attention(query, keys, valid)
    torch.testing.assert_close(out[0], attention(query[:1], keys[:1, :2], valid[:1, :2])[0])
    torch.testing.assert_close(out[1], attention.norm(query[1] + attention.out.bias))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"dim": 6, "num_heads": 4}, "divisible"),
        ({"num_queries": 0}, "num_queries"),
        ({"num_segments": -1}, "num_segments"),
    ],
)
def test_bad_parameters_name_themselves(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make(**kwargs)


def test_too_many_segments_or_unknown_modality_are_refused():
    model = make()
    streamers, features, valid = inputs(segments=4)
    with pytest.raises(ValueError, match="num_segments"):
        model(streamers, {m: torch.cat([x, x], 1) for m, x in features.items()})
    with pytest.raises(ValueError, match="features must be given"):
        model(streamers, {"smell": features["visual"]})


def test_given_queries_equal_a_table_holding_them():
    """``queries=`` (no table, ``num_streamers=None``) gives what a table with those rows gives."""
    table = make()
    torch.manual_seed(0)
    free = MFQ(None, DIMS, dim=8, num_queries=3, num_segments=4, num_heads=2).eval()
    free.load_state_dict({k: v for k, v in table.state_dict().items() if not k.startswith("queries.")})
    assert free.queries is None
    streamers, features, valid = inputs(batch=5)
    given = table.queries.weight[streamers].view(5, 3, 8)  # the naive reference: the table's rows themselves
    torch.testing.assert_close(free(streamers, features, valid, queries=given), table(streamers, features, valid))
    other = torch.randn(5, 3, 8, generator=torch.Generator().manual_seed(4))
    assert (free(streamers, features, valid, queries=other) - table(streamers, features, valid)).abs().max() > 1e-3
    with pytest.raises(ValueError, match="pass queries"):
        free(streamers, features, valid)
    with pytest.raises(ValueError, match="queries must have shape"):
        free(streamers, features, valid, queries=given[:, :2])
