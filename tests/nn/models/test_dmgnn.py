from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from lsec.graph.temporal import TemporalNeighbors, build_temporal_csr, most_recent
from lsec.metrics.grouped import auc
from lsec.nn.models.dmgnn import DMGNN, TemporalEncoder, TGATLayer, TimeEncoding, sample_hops

DECAYS = [None, "fixed", "learned"]


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add contention
    yield
    torch.set_num_threads(before)


def random_events(num_nodes: int = 15, num_events: int = 80, num_kinds: int = 3, seed: int = 0):
    """A time-sorted CSR of random events (float times in [0, 100)), both directions, with kinds."""
    rng = np.random.default_rng(seed)
    return build_temporal_csr(
        src=rng.integers(0, num_nodes, num_events),
        dst=rng.integers(0, num_nodes, num_events),
        timestamps=rng.uniform(0, 100, num_events),
        kinds=rng.integers(0, num_kinds, num_events),
        num_nodes=num_nodes,
    )


def recent_sampler(csr, k: int = 4):
    return lambda nodes, times: most_recent(csr, nodes=nodes, times=times, k=k)


def layer_inputs(batch: int = 5, k: int = 4, dim: int = 8, edge_dim: int = 3, seed: int = 0):
    """Random layer inputs; row 1 is half padded, row 2 has no neighbour at all."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, dim, generator=g)
    neighbor_x = torch.randn(batch, k, dim, generator=g)
    edge_attr = torch.randn(batch, k, edge_dim, generator=g) if edge_dim else None
    dt = torch.rand(batch, k, generator=g) * 10 + 0.1
    mask = torch.ones(batch, k, dtype=torch.bool)
    if batch > 2:
        mask[1, k // 2 :] = False
        mask[2, :] = False
    return x, neighbor_x, edge_attr, dt, mask


def make_layer(decay, *, edge_dim: int = 3, decay_rate: float = 0.3, seed: int = 0) -> TGATLayer:
    torch.manual_seed(seed)
    return TGATLayer(8, 6, edge_dim=edge_dim, time_dim=5, num_heads=2, dropout=0.0, decay=decay, decay_rate=decay_rate)


# --- time encoding ----------------------------------------------------------------------------------


def test_time_encoding_is_tgat_init_cos_and_keeps_shape():
    enc = TimeEncoding(6)
    np.testing.assert_allclose(enc.weight.detach().numpy(), 1.0 / 10 ** np.linspace(0, 9, 6), rtol=1e-6)
    assert torch.equal(enc.bias.detach(), torch.zeros(6))
    dt = torch.tensor([[0.0, 1.0, 250.0], [3.5, 1e4, 7.0]], dtype=torch.float64)
    out = enc(dt)
    assert out.shape == (2, 3, 6) and out.dtype == torch.float32
    expected = np.cos(dt.numpy()[..., None] * enc.weight.detach().numpy() + enc.bias.detach().numpy())
    np.testing.assert_allclose(out.detach().numpy(), expected, atol=1e-5)
    assert torch.equal(enc(torch.zeros(4)), torch.ones(4, 6))  # Φ(0) = 1
    with pytest.raises(ValueError, match="'dim' parameter of TimeEncoding"):
        TimeEncoding(0)


# --- one layer --------------------------------------------------------------------------------------


@pytest.mark.parametrize("decay", DECAYS)
@pytest.mark.parametrize("edge_dim", [0, 3])
def test_layer_shapes_and_finite(decay, edge_dim):
    layer = make_layer(decay, edge_dim=edge_dim)
    x, neighbor_x, edge_attr, dt, mask = layer_inputs(edge_dim=edge_dim)
    out = layer(x, neighbor_x, edge_attr, dt, mask)
    assert out.shape == (5, 6) and torch.isfinite(out).all()
    alpha = layer.attention_weights(x, neighbor_x, edge_attr, dt, mask)
    assert alpha.shape == (5, 2, 4)
    assert torch.equal(alpha[~mask.unsqueeze(1).expand_as(alpha)], torch.zeros(int((~mask).sum()) * 2))
    sums = alpha.sum(-1)  # (B, H): 1 with neighbours, 0 without
    np.testing.assert_allclose(sums.detach().numpy(), mask.any(1, keepdim=True).float().expand(5, 2).numpy(), atol=1e-6)


@pytest.mark.parametrize("decay", DECAYS)
def test_layer_padding_never_changes_output_or_gradient(decay):
    layer = make_layer(decay)
    x, neighbor_x, edge_attr, dt, mask = layer_inputs()
    assert edge_attr is not None
    inputs = [neighbor_x.clone().requires_grad_(), edge_attr.clone().requires_grad_()]
    reference = layer(x, inputs[0], inputs[1], dt, mask)
    reference.sum().backward()
    pad = ~mask
    for fill in (1e6, float("nan"), float("inf")):
        garbage = [t.detach().clone() for t in inputs]
        garbage[0][pad] = fill
        garbage[1][pad] = -fill
        garbage_dt = dt.clone()
        garbage_dt[pad] = fill
        garbage = [t.requires_grad_() for t in garbage]
        out = layer(x, garbage[0], garbage[1], garbage_dt, mask)
        assert torch.equal(out, reference)
        out.sum().backward()
        for clean, dirty in zip(inputs, garbage):
            assert torch.isfinite(dirty.grad).all()
            assert torch.equal(dirty.grad[pad], torch.zeros_like(dirty.grad[pad]))  # no gradient into padding
            assert torch.equal(dirty.grad, clean.grad)


@pytest.mark.parametrize("decay", DECAYS)
def test_node_without_neighbours_depends_on_its_own_state_only(decay):
    layer = make_layer(decay)
    x, neighbor_x, edge_attr, dt, mask = layer_inputs()
    out = layer(x, neighbor_x, edge_attr, dt, mask)
    # Row 2 has no neighbour: same output alone, with any k and any (padded) neighbourhood.
    for k in (1, 7):
        alone = layer(
            x[2:3], torch.randn(1, k, 8), torch.randn(1, k, 3), torch.rand(1, k), torch.zeros(1, k, dtype=bool)
        )
        torch.testing.assert_close(alone, out[2:3], rtol=1e-6, atol=1e-6)
    x_grad = x.clone().requires_grad_()
    layer(x_grad, neighbor_x, edge_attr, dt, mask)[2].sum().backward()
    assert torch.isfinite(x_grad.grad).all() and x_grad.grad[2].abs().sum() > 0


def test_decay_shrinks_a_neighbours_weight_as_it_ages():
    plain, decayed = make_layer(None), make_layer("fixed", decay_rate=0.5)
    decayed.load_state_dict(plain.state_dict() | {"decay_param": decayed.decay_param})
    for layer in (plain, decayed):  # Φ(Δt) constant: only the decay sees the age ("all else equal")
        with torch.no_grad():
            layer.time_encoding.weight.zero_()
    x, neighbor_x, edge_attr, dt, _ = layer_inputs(batch=1)
    mask = torch.ones(1, 4, dtype=torch.bool)
    weights_plain, weights_decayed = [], []
    for age in (0.1, 0.5, 1.0, 2.0, 5.0, 20.0):
        dt[0, 0] = age
        weights_plain.append(plain.attention_weights(x, neighbor_x, edge_attr, dt, mask)[0, :, 0])
        weights_decayed.append(decayed.attention_weights(x, neighbor_x, edge_attr, dt, mask)[0, :, 0])
    plain_w, decayed_w = torch.stack(weights_plain), torch.stack(weights_decayed)  # (ages, H)
    torch.testing.assert_close(plain_w, plain_w[:1].expand_as(plain_w))  # without decay the age does not matter
    assert (decayed_w.diff(dim=0) < 0).all()  # strictly shrinking, every head
    assert (decayed_w[-1] < 0.01).all()  # older than every other neighbour by ~10 units at λ = 0.5


@pytest.mark.parametrize("decay", ["fixed", "learned"])
def test_decayed_attention_is_plain_attention_times_normalised_decay(decay):
    plain, decayed = make_layer(None), make_layer(decay, decay_rate=0.3)
    decayed.load_state_dict(plain.state_dict() | {"decay_param": decayed.decay_param})
    rate = decayed.decay_rate
    assert rate is not None
    assert rate.item() == pytest.approx(0.3, rel=1e-6)
    x, neighbor_x, edge_attr, dt, mask = layer_inputs()
    alpha = plain.attention_weights(x, neighbor_x, edge_attr, dt, mask).detach().double()  # (B, H, k)
    weights = torch.where(mask, torch.exp(-0.3 * dt.double()), 0.0).unsqueeze(1)  # (B, 1, k)
    product = alpha * weights
    denominator = product.sum(-1, keepdim=True)
    expected = torch.where(denominator > 0, product / denominator.clamp_min(1e-300), 0.0)
    got = decayed.attention_weights(x, neighbor_x, edge_attr, dt, mask).detach().double()
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_decay_stays_finite_for_very_old_events():
    layer = make_layer("learned", decay_rate=5.0)
    x, neighbor_x, edge_attr, dt, mask = layer_inputs()
    out = layer(x, neighbor_x, edge_attr, dt * 1e9, mask)  # exp(-λΔt) underflows; the log-space form does not
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("edge_dim", [0, 3])
def test_zero_rate_equals_no_decay_exactly(edge_dim):
    plain, zero = make_layer(None, edge_dim=edge_dim), make_layer("fixed", edge_dim=edge_dim, decay_rate=0.0)
    zero.load_state_dict(plain.state_dict() | {"decay_param": torch.tensor(0.0)})
    inputs = layer_inputs(edge_dim=edge_dim)
    assert torch.equal(plain(*inputs), zero(*inputs))


def test_layer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="'decay' parameter of TGATLayer"):
        TGATLayer(8, decay="linear")
    with pytest.raises(ValueError, match="'decay_rate' parameter of TGATLayer .* > 0 when decay='learned'"):
        TGATLayer(8, decay="learned", decay_rate=0.0)
    with pytest.raises(ValueError, match="'decay_rate' parameter of TGATLayer"):
        TGATLayer(8, decay="fixed", decay_rate=-1.0)
    with pytest.raises(ValueError, match="'num_heads' parameter of TGATLayer"):
        TGATLayer(8, num_heads=0)
    layer = make_layer(None)
    x, neighbor_x, edge_attr, dt, mask = layer_inputs()
    with pytest.raises(ValueError, match="'edge_attr' parameter of TGATLayer"):
        layer(x, neighbor_x, None, dt, mask)
    with pytest.raises(ValueError, match="one B and k"):
        layer(x, neighbor_x[:, :3], edge_attr, dt, mask)


# --- encoder ----------------------------------------------------------------------------------------


def make_encoder(decay="learned", *, num_layers: int = 2, num_edge_kinds: int = 3, seed: int = 0) -> TemporalEncoder:
    torch.manual_seed(seed)
    encoder = TemporalEncoder(
        15,
        embedding_dim=8,
        num_heads=2,
        num_layers=num_layers,
        time_dim=4,
        num_edge_kinds=num_edge_kinds,
        edge_dim=3,
        dropout=0.0,
        decay=decay,
        decay_rate=0.05,
    )
    return encoder.eval()


def queries(num: int = 12, seed: int = 1):
    rng = np.random.default_rng(seed)
    times = rng.uniform(0, 110, num)
    times[0] = 0.0  # before every event: no neighbour at any depth
    return rng.integers(0, 15, num), times


def naive_encode(encoder: TemporalEncoder, sampler, node: int, t: float, depth: int) -> torch.Tensor:
    """The recursion of the encoder's docstring, one node at a time, neighbours at their own event times."""
    if depth == 0:
        return encoder.node_embedding.weight[node]
    hop = sampler(np.array([node]), np.array([t]))
    own = naive_encode(encoder, sampler, node, t, depth - 1)
    rows = [
        naive_encode(encoder, sampler, int(j), float(tj), depth - 1) if real else torch.zeros(encoder.embedding_dim)
        for j, tj, real in zip(hop.neighbors[0], hop.timestamps[0], hop.mask[0])
    ]
    edge_attr = None
    if encoder.edge_embedding is not None:
        edge_attr = encoder.edge_embedding(torch.as_tensor(np.maximum(hop.kinds, 0)))
    dt = torch.as_tensor(hop.dt, dtype=torch.float32)
    mask = torch.as_tensor(hop.mask)
    return encoder.layers[depth - 1](own[None], torch.stack(rows)[None], edge_attr, dt, mask)[0]


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("num_edge_kinds", [0, 3])
def test_encoder_equals_naive_recursion_and_one_by_one(num_layers, num_edge_kinds):
    encoder = make_encoder(num_layers=num_layers, num_edge_kinds=num_edge_kinds)
    sampler = recent_sampler(random_events())
    nodes, times = queries()
    with torch.no_grad():
        batched = encoder(nodes, times, sampler=sampler)
        assert batched.shape == (12, 8) and torch.isfinite(batched).all()
        one_by_one = torch.cat([encoder(nodes[i : i + 1], times[i : i + 1], sampler=sampler) for i in range(12)])
        naive = torch.stack(
            [naive_encode(encoder, sampler, int(n), float(t), num_layers) for n, t in zip(nodes, times)]
        )
    torch.testing.assert_close(batched, one_by_one, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(batched, naive, rtol=1e-5, atol=1e-6)


def test_encoder_sampler_equals_precomputed_hops_and_torch_inputs():
    encoder = make_encoder()
    sampler = recent_sampler(random_events())
    nodes, times = queries()
    hops = sample_hops(sampler, nodes, times, 2)
    assert hops[0].mask.shape == (12, 4)
    assert hops[1].mask.shape == (12 + int(hops[0].mask.sum()), 4)
    with torch.no_grad():
        reference = encoder(nodes, times, sampler=sampler)
        assert torch.equal(encoder(nodes, times, hops=hops), reference)
        assert torch.equal(encoder(torch.as_tensor(nodes), torch.as_tensor(times), sampler=sampler), reference)


def test_encoder_ignores_padded_ids_times_and_kinds():
    encoder = make_encoder()
    sampler = recent_sampler(random_events(num_events=30), k=6)  # sparse: many padded slots
    nodes, times = queries()
    hops = sample_hops(sampler, nodes, times, 2)
    assert all((~hop.mask).any() for hop in hops)
    rng = np.random.default_rng(5)

    def scramble(hop: TemporalNeighbors) -> TemporalNeighbors:
        pad = ~hop.mask
        assert hop.kinds is not None
        return dataclasses.replace(
            hop,
            neighbors=np.where(pad, rng.integers(0, 15, pad.shape), hop.neighbors),
            timestamps=np.where(pad, rng.uniform(-1e9, 1e9, pad.shape), hop.timestamps),
            kinds=np.where(pad, rng.integers(0, 3, pad.shape), hop.kinds),
        )

    with torch.no_grad():
        reference = encoder(nodes, times, hops=hops)
        assert torch.equal(encoder(nodes, times, hops=[scramble(hop) for hop in hops]), reference)


def test_encoder_never_sees_events_at_or_after_the_query_time():
    rng = np.random.default_rng(0)
    src, dst = rng.integers(0, 15, 80), rng.integers(0, 15, 80)
    stamps, kinds = rng.uniform(0, 100, 80), rng.integers(0, 3, 80)
    past = build_temporal_csr(src=src, dst=dst, timestamps=stamps, kinds=kinds, num_nodes=15)
    later = rng.uniform(100, 200, 40)  # every query below is at t <= 100
    later[:5] = 100.0  # ... and some future events at exactly the last query time
    everything = build_temporal_csr(
        src=np.concatenate([src, rng.integers(0, 15, 40)]),
        dst=np.concatenate([dst, rng.integers(0, 15, 40)]),
        timestamps=np.concatenate([stamps, later]),
        kinds=np.concatenate([kinds, rng.integers(0, 3, 40)]),
        num_nodes=15,
    )
    encoder = make_encoder()
    nodes, times = queries()
    times = np.minimum(times, 100.0)
    with torch.no_grad():
        assert torch.equal(
            encoder(nodes, times, sampler=recent_sampler(past)),
            encoder(nodes, times, sampler=recent_sampler(everything)),
        )


def test_nodes_without_neighbours_get_finite_outputs_from_their_own_embedding():
    encoder = make_encoder()
    sampler = recent_sampler(random_events())
    nodes = np.arange(15)
    with torch.no_grad():
        out = encoder(nodes, np.zeros(15), sampler=sampler)  # t = 0: no event before, at any depth
        naive = torch.stack([naive_encode(encoder, sampler, int(n), 0.0, 2) for n in nodes])
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, naive, rtol=1e-5, atol=1e-6)
    assert out.std(dim=0).sum() > 0  # still a function of each node's own embedding


def test_zero_rate_encoder_equals_plain_encoder():
    plain, zero = make_encoder(None), make_encoder("fixed")
    zero.load_state_dict(plain.state_dict())  # the buffers carry λ = plain's stored 0.05 ...
    for layer in zero.layers:
        layer.decay_param.fill_(0.0)  # ... set to 0
    sampler = recent_sampler(random_events())
    nodes, times = queries()
    with torch.no_grad():
        assert torch.equal(plain(nodes, times, sampler=sampler), zero(nodes, times, sampler=sampler))
        assert not torch.equal(
            make_encoder("fixed")(nodes, times, sampler=sampler), plain(nodes, times, sampler=sampler)
        )


def test_encoder_rejects_bad_arguments():
    encoder = make_encoder()
    sampler = recent_sampler(random_events())
    nodes, times = queries()
    hops = sample_hops(sampler, nodes, times, 2)
    with pytest.raises(ValueError, match="exactly one of 'sampler' and 'hops'"):
        encoder(nodes, times)
    with pytest.raises(ValueError, match="exactly one of 'sampler' and 'hops'"):
        encoder(nodes, times, sampler=sampler, hops=hops)
    with pytest.raises(ValueError, match="must hold num_layers=2"):
        encoder(nodes, times, hops=hops[:1])
    with pytest.raises(ValueError, match="order of sample_hops"):
        encoder(nodes, times, hops=hops[::-1])
    with pytest.raises(ValueError, match=r"indices in \[0, 15\)"):
        encoder(np.array([15]), np.array([1.0]), sampler=sampler)
    no_kinds = build_temporal_csr(src=np.array([0]), dst=np.array([1]), timestamps=np.array([1.0]), num_nodes=15)
    with pytest.raises(ValueError, match="must carry 'kinds'"):
        encoder(np.array([0]), np.array([5.0]), sampler=recent_sampler(no_kinds))


# --- the model --------------------------------------------------------------------------------------


def make_model(**kwargs) -> DMGNN:
    torch.manual_seed(0)
    options = dict(embedding_dim=8, num_heads=2, time_dim=4, num_edge_kinds=3, edge_dim=3, dropout=0.0)
    options |= dict(num_tiers=4, consumption_dim=5, time_unit=10.0)
    return DMGNN(15, **(options | kwargs)).eval()


def test_model_shapes_and_link_logits_batched_equals_one_by_one():
    model = make_model()
    sampler = recent_sampler(random_events())
    nodes, times = queries()
    dst = np.roll(nodes, 3)
    with torch.no_grad():
        link = model.link_logits(nodes, dst, times, sampler=sampler)
        assert link.shape == (12,) and torch.isfinite(link).all()
        single = torch.cat(
            [model.link_logits(nodes[i : i + 1], dst[i : i + 1], times[i : i + 1], sampler=sampler) for i in range(12)]
        )
        torch.testing.assert_close(link, single, rtol=1e-5, atol=1e-6)
        hops = sample_hops(sampler, np.concatenate([nodes, dst]), np.concatenate([times, times]), 2)
        assert torch.equal(model.link_logits(nodes, dst, times, hops=hops), link)
        consumption = torch.randn(12, 5)
        tier = model.tier_logits(nodes, times, consumption, sampler=sampler)
        assert tier.shape == (12, 4) and torch.isfinite(tier).all()
        assert not torch.equal(model.tier_logits(nodes, times, consumption + 1, sampler=sampler), tier)
        assert model.embed(nodes, times, sampler=sampler).shape == (12, 8)


def test_model_tasks_and_arguments_are_checked():
    sampler = recent_sampler(random_events())
    nodes, times = queries()
    link_only = make_model(tasks=("link",), num_tiers=0)
    assert link_only.tier_head is None
    with pytest.raises(ValueError, match="needs 'tier' in the model's tasks"):
        link_only.tier_logits(nodes, times, sampler=sampler)
    tier_only = make_model(tasks=("tier",), consumption_dim=0)
    assert tier_only.tier_logits(nodes, times, sampler=sampler).shape == (12, 4)
    with pytest.raises(ValueError, match="needs 'link' in the model's tasks"):
        tier_only.link_logits(nodes, nodes, times, sampler=sampler)
    with pytest.raises(ValueError, match="'consumption' parameter of DMGNN.tier_logits must be None"):
        tier_only.tier_logits(nodes, times, torch.zeros(12, 5), sampler=sampler)
    with pytest.raises(ValueError, match=r"must be a \(12, 5\) tensor"):
        make_model().tier_logits(nodes, times, sampler=sampler)
    with pytest.raises(ValueError, match="'num_tiers' parameter of DMGNN"):
        make_model(num_tiers=1)
    with pytest.raises(ValueError, match="'tasks' parameter of DMGNN"):
        make_model(tasks=("link", "buy"))
    with pytest.raises(ValueError, match="'src', 'dst' and 't' parameters"):
        make_model().link_logits(nodes, nodes[:3], times, sampler=sampler)


def test_gradients_reach_a_learned_decay_rate_and_not_a_fixed_one():
    sampler = recent_sampler(random_events())
    nodes, times = queries()
    model = make_model(decay="learned")
    loss = model.link_logits(nodes, np.roll(nodes, 1), times, sampler=sampler).sum()
    loss = loss + model.tier_logits(nodes, times, torch.randn(12, 5), sampler=sampler).sum()
    loss.backward()
    for layer in model.encoder.layers:
        assert layer.decay_param.requires_grad
        assert torch.isfinite(layer.decay_param.grad) and layer.decay_param.grad.abs() > 0
    fixed = make_model(decay="fixed")
    assert not any(name.endswith("decay_param") for name, _ in fixed.named_parameters())
    assert not any(name.endswith("decay_param") for name, _ in make_model(decay=None).named_parameters())


def planted_links(num_users: int = 24, periods: int = 8, length: float = 100.0, per_pair: int = 3, seed: int = 0):
    """Partners that change every period; each pair interacts a few times early in its period.

    A query late in period ``p`` asks whether ``u`` links with its CURRENT partner (label 1) or with a
    random other user (label 0). Partners are redrawn each period, so only the recent neighbourhood tells
    them apart: user embeddings alone cannot. Returns the CSR and rows ``(period, src, dst, t, label)``.
    """
    rng = np.random.default_rng(seed)
    src, dst, stamps, rows = [], [], [], []
    for period in range(periods):
        order = rng.permutation(num_users)
        partner = np.empty(num_users, dtype=np.int64)
        partner[order[::2]], partner[order[1::2]] = order[1::2], order[::2]
        for u, v in zip(order[::2], order[1::2]):
            for _ in range(per_pair):
                src.append(u), dst.append(v), stamps.append(period * length + rng.uniform(0, 0.6 * length))
        for u in range(num_users):
            t = period * length + rng.uniform(0.6 * length, length)
            other = rng.choice(np.setdiff1d(np.arange(num_users), [u, partner[u]]))
            rows += [(period, u, partner[u], t, 1), (period, u, other, t, 0)]
    csr = build_temporal_csr(src=np.array(src), dst=np.array(dst), timestamps=np.array(stamps), num_nodes=num_users)
    return csr, np.array(rows)


def test_planted_recent_partner_links_are_learned():
    csr, rows = planted_links()
    sampler = recent_sampler(csr, k=4)
    train, held_out = rows[(rows[:, 0] >= 1) & (rows[:, 0] <= 5)], rows[rows[:, 0] >= 6]

    def split(part):
        return part[:, 1].astype(np.int64), part[:, 2].astype(np.int64), part[:, 3], part[:, 4]

    torch.manual_seed(0)
    model = DMGNN(24, embedding_dim=16, num_heads=2, dropout=0.0, decay="learned", time_unit=100.0, tasks=("link",))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    src, dst, t, label = split(train)
    target = torch.as_tensor(label, dtype=torch.float32)
    hops = sample_hops(sampler, np.concatenate([src, dst]), np.concatenate([t, t]), 2)  # sampled once
    for _ in range(40):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model.link_logits(src, dst, t, hops=hops), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    src, dst, t, label = split(held_out)
    with torch.no_grad():
        scores = model.link_logits(src, dst, t, sampler=sampler).numpy()
    assert auc(label.astype(np.int64), scores) > 0.7
