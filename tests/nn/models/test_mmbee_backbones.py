from __future__ import annotations

import pytest
import torch

from lsec.nn.models.mmbee.gtr import GieExpansion, GtrModel
from lsec.nn.models.mmbee.mmoe import MMoE
from lsec.nn.models.mmbee.sim import SIM, TargetAttention, hard_search, soft_search, top_k_behaviours


def random_valid(batch: int, length: int, generator: torch.Generator) -> torch.Tensor:
    """(B, L) masks with every count of valid positions 0..L, padding at the end (most recent first)."""
    counts = torch.randint(0, length + 1, (batch,), generator=generator)
    counts[0], counts[1] = 0, length
    return torch.arange(length).unsqueeze(0) < counts.unsqueeze(1)


def naive_top_k(scores: torch.Tensor, valid: torch.Tensor, k: int) -> list[list[int]]:
    out = []
    for row, ok in zip(scores.tolist(), valid.tolist(), strict=True):
        candidates = sorted((s, i) for i, (s, v) in enumerate(zip(row, ok, strict=True)) if v)
        out.append([i for _s, i in reversed(candidates)][:k])
    return out


def picked(indices: torch.Tensor, selected: torch.Tensor) -> list[list[int]]:
    return [
        [i for i, s in zip(r, m, strict=True) if s] for r, m in zip(indices.tolist(), selected.tolist(), strict=True)
    ]


@pytest.mark.parametrize("k", [1, 3, 8, 30])
def test_soft_search_equals_a_naive_loop(k):
    g = torch.Generator().manual_seed(k)
    batch, length, dim = 40, 12, 6
    query, behaviours = torch.randn(batch, dim, generator=g), torch.randn(batch, length, dim, generator=g)
    valid = random_valid(batch, length, g)
    indices, selected = soft_search(query, behaviours, valid, k)
    assert indices.shape == selected.shape == (batch, min(k, length))
    scores = torch.einsum("bd,bld->bl", query, behaviours)
    assert picked(indices, selected) == naive_top_k(scores, valid, k)  # same positions, best first
    assert selected.sum(1).tolist() == valid.sum(1).clamp(max=k).tolist()  # padding never selected


@pytest.mark.parametrize("k", [1, 2, 5])
def test_hard_search_keeps_the_most_recent_matches(k):
    g = torch.Generator().manual_seed(10 + k)
    batch, length = 50, 9
    keys = torch.randint(0, 3, (batch, length), generator=g)
    target = torch.randint(0, 3, (batch,), generator=g)
    valid = random_valid(batch, length, g)
    indices, selected = hard_search(keys, valid, target, k)
    expected = [
        [pos for pos in range(length) if ok[pos] and row[pos] == t][:k]
        for row, ok, t in zip(keys.tolist(), valid.tolist(), target.tolist(), strict=True)
    ]
    assert picked(indices, selected) == expected


def test_top_k_of_an_all_padding_row_selects_nothing():
    indices, selected = top_k_behaviours(torch.randn(2, 4), torch.zeros(2, 4, dtype=torch.bool), 3)
    assert indices.shape == (2, 3) and not selected.any()


def test_target_attention_ignores_padding_exactly():
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    attention = TargetAttention(8, num_heads=2)
    batch, length = 16, 7
    target, behaviours = torch.randn(batch, 8, generator=g), torch.randn(batch, length, 8, generator=g)
    valid = random_valid(batch, length, g)
    out = attention(target, behaviours, valid)
    noisy = torch.where(valid.unsqueeze(-1), behaviours, 1e4 * torch.randn(batch, length, 8, generator=g))
    assert out.shape == (batch, 8)
    assert torch.equal(attention(target, noisy, valid), out)
    weights = attention.weights(target, behaviours, valid)  # (B, H, L)
    assert weights.shape == (batch, 2, length)
    assert torch.equal(weights[~valid.unsqueeze(1).expand_as(weights)], torch.zeros(int((~valid).sum()) * 2))
    has = valid.any(1)
    torch.testing.assert_close(weights.sum(-1)[has], torch.ones(int(has.sum()), 2))
    # a user without any behaviour gets the zero interest (the output layer's bias), not a mean of padding
    torch.testing.assert_close(out[~has], attention.out.bias.expand(int((~has).sum()), 8))


@pytest.mark.parametrize("search", ["streamer", "category", "soft"])
def test_sim_output_never_depends_on_padded_positions(search):
    g = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    sim = SIM(embedding_dim=8, context_dim=5, tasks=("gift", "big_gift"), search=search, k=3, num_heads=2)
    batch, length = 24, 10
    target, behaviours = torch.randn(batch, 8, generator=g), torch.randn(batch, length, 8, generator=g)
    valid, context = random_valid(batch, length, g), torch.randn(batch, 5, generator=g)
    target_keys = torch.randint(0, 2, (batch,), generator=g)
    keys = torch.randint(0, 2, (batch, length), generator=g)
    out = sim(target, behaviours, valid, context, target_keys, keys)
    assert set(out) == {"gift", "big_gift"} and all(v.shape == (batch,) for v in out.values())
    noisy = torch.where(valid.unsqueeze(-1), behaviours, 100 * torch.randn(batch, length, 8, generator=g))
    other_keys = torch.where(valid, keys, target_keys.unsqueeze(1))  # padding now "matches" the target
    again = sim(target, noisy, valid, context, target_keys, other_keys)
    for task in out:
        assert torch.equal(again[task], out[task])


def test_mmoe_gates_sum_to_one_per_task_and_differ_between_tasks():
    torch.manual_seed(0)
    mmoe = MMoE(input_dim=6, tasks=("gift", "big_gift"), num_experts=5, expert_hidden=(8, 4), tower_hidden=(3,))
    x = torch.randn(32, 6)
    gates = mmoe.gates(x)
    assert set(gates) == {"gift", "big_gift"}
    for weights in gates.values():
        assert weights.shape == (32, 5) and (weights >= 0).all()
        torch.testing.assert_close(weights.sum(-1), torch.ones(32))
    assert not torch.allclose(gates["gift"], gates["big_gift"])  # one gate per task, not a shared one
    out = mmoe(x)
    assert {task: tuple(v.shape) for task, v in out.items()} == {"gift": (32,), "big_gift": (32,)}
    # each tower reads its own gate's mixture: the naive sum over experts
    experts = torch.stack([expert(x) for expert in mmoe.experts], 1)
    for task in out:
        mixed = sum(gates[task][:, e : e + 1] * experts[:, e] for e in range(5))
        torch.testing.assert_close(mmoe.towers[task](mixed).squeeze(-1), out[task])


def test_gie_expansion_pools_like_the_store_and_fine_tunes_theta():
    torch.manual_seed(0)
    gie = GieExpansion(4, 3, embedding_dim=2, k=2)
    users = torch.tensor([[[1, 2], [0, -1], [-1, -1]]] * 4)  # (4, 3, 2): u2a2u users; a streamer; empty
    streamers = torch.tensor([[[2, -1], [0, 1]]] * 3)
    user_table, streamer_table = torch.randn(4, 2), torch.randn(3, 2)
    gie.load_expansions(users, streamers, user_table, streamer_table)
    h_u, h_a = gie(torch.tensor([0, 3]), torch.tensor([1]))
    assert h_u.shape == (2, 6) and h_a.shape == (1, 4)
    expected_u = torch.cat([(user_table[1] + user_table[2]) / 2, streamer_table[0], torch.zeros(2)])
    torch.testing.assert_close(h_u[0], expected_u)
    torch.testing.assert_close(h_a[0], torch.cat([streamer_table[2], (streamer_table[0] + streamer_table[1]) / 2]))
    (h_u.sum() + h_a.sum()).backward()
    assert gie.theta_user.grad is not None and gie.theta_user.grad[1].abs().sum() > 0
    with pytest.raises(ValueError, match="user_indices must have shape"):
        gie.load_expansions(users[:2], streamers, user_table, streamer_table)


def gtr_batch(batch: int, length: int, g: torch.Generator) -> dict[str, torch.Tensor]:
    valid = random_valid(batch, length, g)
    return {
        "users": torch.randint(0, 5, (batch,), generator=g),
        "streamers": torch.randint(0, 4, (batch,), generator=g),
        "categories": torch.randint(0, 3, (batch,), generator=g),
        "history_streamers": torch.randint(0, 4, (batch, length), generator=g) * valid,
        "history_categories": torch.randint(0, 3, (batch, length), generator=g) * valid,
        "history_gaps": torch.randint(0, 6, (batch, length), generator=g) * valid,
        "history_valid": valid,
    }


@pytest.mark.parametrize("backbone", ["sim", "mmoe"])
@pytest.mark.parametrize("gie", [False, True])
def test_gtr_model_shapes_and_padding(backbone, gie):
    g = torch.Generator().manual_seed(2)
    torch.manual_seed(2)
    options = {"search": "category", "k": 3} if backbone == "sim" else {"num_experts": 3}
    model = GtrModel(5, 4, 3, backbone=backbone, tasks=("gift", "big_gift"), embedding_dim=8, num_gap_buckets=6,
                     gie=gie, gie_dim=4, gie_k=2, **options)  # fmt: skip
    batch = gtr_batch(20, 6, g)
    out = model(batch)
    assert {task: tuple(v.shape) for task, v in out.items()} == {"gift": (20,), "big_gift": (20,)}
    pad = ~batch["history_valid"]
    other = dict(batch)
    for name, high in (("history_streamers", 4), ("history_categories", 3), ("history_gaps", 6)):
        other[name] = torch.where(pad, torch.randint(0, high, pad.shape, generator=g), batch[name])
    again = model(other)
    for task in out:
        assert torch.equal(again[task], out[task])
    out["gift"].sum().backward()
    assert model.user.weight.grad is not None
    assert (model.gie is not None) == gie and (not gie or model.gie.theta_streamer.grad is not None)


def test_constructors_reject_bad_arguments():
    with pytest.raises(ValueError, match="'search' parameter of SIM"):
        SIM(embedding_dim=4, context_dim=0, search="fuzzy")
    with pytest.raises(ValueError, match="'num_heads' parameter of TargetAttention"):
        TargetAttention(6, num_heads=4)
    with pytest.raises(ValueError, match="'num_experts' parameter of MMoE"):
        MMoE(input_dim=3, num_experts=0)
    with pytest.raises(ValueError, match="'backbone' parameter of GtrModel"):
        GtrModel(2, 2, 2, backbone="din")
