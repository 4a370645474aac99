"""Social-commerce simulator for DM-GNN: timestamped user -> user interactions and consumption events.

Stands in for the AliGraph Tmall subset of DM-GNN (not obtainable here). At ``scale = 1`` the preset
``dmgnn`` has the paper's 12,890 users and, in expectation, its 457,000 social edges and 1,200,000
consumption records; the 8,000 items, 20 categories and the 90-day span are our choice (the paper gives
none of them). Times are seconds from ``TIME_ORIGIN`` = 2024-01-01 00:00 UTC; every event lies in
``[TIME_ORIGIN, TIME_ORIGIN + 90 days)``.

Generative story:

1. **Latents.** Categories with Dirichlet shares; an item has a category, a lognormal popularity and a price
   (lognormal around its category's level). A user has a primary and a secondary category (taste), a
   lognormal activity and an **influence score** ``i_u`` in (0, 1) (Beta(1.2, 1), mean 0.55).
2. **Ties** (latent, directed ``u -> v``: ``u`` follows ``v``, ``v`` influences ``u``). ``u`` follows
   ``Poisson(6 x lognormal)`` users, 70 % in its primary category, weighted by ``(0.05 + i_v) ** 1.5``
   (influential users gather followers); 30 % of the ties are reciprocated. Each tie has a Gamma(0.7)
   strength ``s_uv`` (mean 1).
3. **Purchases** (``pay``): a Hawkes process on the tie graph. User ``u`` buys spontaneously at rate
   ``c * activity_u`` (``c`` calibrated, below) and, after a purchase of a user ``v`` it follows at time
   ``t_v``, at the extra rate ``influence * i_v * decay * s_uv / S_v * exp(-decay * (t - t_v))`` per day
   (``S_v``: total strength of ``v``'s followers). So each purchase of ``v`` triggers on average
   ``influence * i_v`` purchases among its followers (fewer near the end of the span), half of them within
   ``ln 2 / decay`` days; ``influence < 1`` keeps the process subcritical. It is drawn generation by
   generation (the branching form of a Hawkes process), vectorised per generation. A spontaneous purchase
   is in the primary (60 %) / secondary (25 %) / any (15 %) category, the item by popularity; a triggered
   one is the same item as the trigger (30 %), the trigger's category (40 %) or the buyer's taste (30 %).
4. **Funnels.** A purchase comes with a ``browse`` of the item and a ``cart`` shortly before it (exponential
   lead times, 60 and 20 minutes), plus ``Poisson(1.5)`` browses of other items of the category. Users also
   abandon carts (0.6 sessions per purchase) and only browse (4 sessions per purchase) at rates
   proportional to their activity, unaffected by their ties. ``amount``: ``price x quantity`` for cart and
   pay (quantity ``1 + Poisson(0.3)``), 0 for browse.
5. **Social interactions** (``edges/user__social__user.parquet``, ``src`` acts on ``dst``'s content).
   85 % ride on the ties: ``Poisson(lambda * s_uv)`` interactions per tie at uniform times, kinds like /
   comment / repost / trust in proportions 50 / 25 / 15 / 10. **Feedback** (15 %): each purchase of a
   category is followed (after an exponential delay, mean 1 day) by ``Poisson(f)`` interactions of the buyer
   with earlier buyers of the same category (one earlier purchase of the category drawn uniformly), kinds
   35 / 45 / 20 / 0: users who buy in the same categories come to interact.
   **Bursts** (``burst_share`` > 0, off by default): that share of the tie interactions follows purchases
   instead of falling at uniform times: after each purchase of ``v``, ``Poisson(burst_lambda x S_v)``
   interactions ``u -> v`` of its followers (by tie strength), each after an exponential delay (mean
   ``burst_delay_days``, 6 hours): interactions cluster in time around purchases, so recency matters.
6. **Null control.** ``null="social"`` shuffles the ``dst`` column of the social edges (``src``, ``ts`` and
   ``kind`` stay; self-loops are swapped away): every user keeps its in- and out-degree and its times, and
   the edges say nothing about consumption. The consumption table is identical to the default one. With
   bursts the ``ts`` column is shuffled too, by its own permutation (a user's event times would otherwise
   mark its influencers' or its own purchases); degrees and the times as a whole are kept.

**Strong-influence setting** (issue 15: a per-query effect large enough for a tier label; not the default):
``influence=0.9`` with ``SocialModel(follows_per_user=1, burst_share=0.5, feedback_share=0.03)`` (CLI
``--influence 0.9 --follows 1 --burst 0.5 --feedback 0.03``). Fewer followers per influencer make each of a
tie's purchases trigger ~0.3 purchases of a follower (default ~0.03); fewer co-purchase edges leave most
observed pairs on latent ties. Scale 0.1, seed 0: purchase lift after a tie's purchase 1.90 / 1.76 / 1.27 /
1.13 at 0-0.5 / 0-1 / 2-3 / 4-5 days (null 1.03 / 1.03 / 1.03 / 1.01); counts still calibrated.

**Calibration.** The expected number of purchases per user solves ``n = c * activity * T + M n`` with
``M[u, v] = influence * i_v * s_uv / S_v * keep`` (``keep`` = share of triggered purchases inside the span,
``1 - (1 - exp(-decay T)) / (decay T)``); ``c`` makes the expected consumption records equal the target
(``16.6`` records per purchase with the default funnel), and ``lambda`` / ``f`` make the expected tie and
feedback interactions 85 / 15 % of the social target. :func:`expected_counts` computes these from the
latents without drawing any event. ``scale`` multiplies users, items and both targets (mean degrees and
per-user rates stay the same).

The events are drawn in :mod:`lsec.data.simulate.social_events`; this module holds the API, the latents and
the calibration.

**Measured at scale 1, seed 0** (defaults: influence 0.5, decay 1.0 / day; 2-core AMD EPYC): 12,890 users,
8,000 items, 456,579 social edges on 139,768 pairs (67,560 from co-purchases; expected 457,000), 1,200,096
consumption records (expected 1,200,000: 1,012,062 browse, 115,626 cart, 72,408 pay, of which 19,586 = 27 %
triggered by a tie's purchase; 99,309 latent ties, 9 generations). 3.7 s to generate, 5.3 s with writing
(8.8 MB), 9 s for the whole CLI command, 253 MB peak memory. Purchase lift after a tie's purchase
(``tests/data/simulate/test_simulate_social.py::purchase_lift``): 1.19 in the first half day, 1.05 at 2-3 days,
1.02 at 4-5 days; under ``null="social"`` 1.005 / 1.009 / 1.008. More in ``benchmarks/README.md``, section
"DM-GNN simulator".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from lsec.data.graph import EdgeTable, HeteroGraph
from lsec.data.schema import CONSUMPTION_KINDS
from lsec.data.simulate.sampling import SegmentSampler, categorical
from lsec.data.simulate.social_events import (
    DAY,
    TIME_ORIGIN,
    concat_interactions,
    draw_bursts,
    draw_consumption,
    draw_interactions,
    draw_purchases,
    rewire_interactions,
)
from lsec.errors import LsecConfigError

__all__ = [
    "DAY",
    "PRESETS",
    "TIME_ORIGIN",
    "SocialDataset",
    "SocialModel",
    "SocialPreset",
    "expected_counts",
    "simulate_social",
    "social_model",
]

SIMULATOR_VERSION = "1"
NULLS = ("social",)
SOCIAL = ("user", "social", "user")


@dataclass(frozen=True)
class SocialPreset:
    """Target counts of one social-commerce dataset at scale 1."""

    name: str
    num_users: int
    num_items: int
    num_days: int
    social_edges: int
    consumption_records: int


PRESETS: dict[str, SocialPreset] = {
    # DM-GNN abstract: 12,890 users, 457K social edges, 1.2M consumption records (items, days: our choice)
    "dmgnn": SocialPreset("dmgnn", 12_890, 8_000, 90, 457_000, 1_200_000),
}


@dataclass(frozen=True)
class SocialModel:
    """Knobs of the generative story (module docstring); ``influence`` and ``decay`` are arguments."""

    num_categories: int = 20
    category_concentration: float = 2.0
    item_popularity_sigma: float = 1.2
    price_log_mean: float = 4.0  # log of the typical price (about 55)
    price_category_sigma: float = 0.6
    price_item_sigma: float = 0.5
    user_activity_sigma: float = 0.8
    influence_beta: tuple[float, float] = (1.2, 1.0)  # i_u ~ Beta(a, b), mean 0.55
    taste_primary: float = 0.6  # spontaneous purchases: primary / secondary / any category
    taste_secondary: float = 0.25
    follows_per_user: float = 6.0  # mean latent out-degree (before deduplication and reciprocity)
    follows_sigma: float = 0.7
    follow_homophily: float = 0.7  # share of follows inside the primary category
    follow_influence_power: float = 1.5  # follow targets weighted by (0.05 + i_v) ** power
    reciprocity: float = 0.3
    tie_strength_shape: float = 0.7  # Gamma shape of s_uv (mean 1)
    triggered_same_item: float = 0.3  # a triggered purchase: trigger's item / trigger's category / own taste
    triggered_same_category: float = 0.4
    extra_browses: float = 1.5  # Poisson mean of other items browsed per session
    carts_per_pay: float = 0.6  # abandoned cart sessions per purchase
    browse_sessions_per_pay: float = 4.0
    quantity_extra: float = 0.3  # quantity = 1 + Poisson(this)
    cart_lead_minutes: float = 20.0
    browse_lead_minutes: float = 60.0
    feedback_share: float = 0.15  # share of the social edges caused by co-purchases
    feedback_delay_days: float = 1.0
    tie_kinds: tuple[float, float, float, float] = (0.5, 0.25, 0.15, 0.10)  # like, comment, repost, trust
    feedback_kinds: tuple[float, float, float, float] = (0.35, 0.45, 0.20, 0.0)
    burst_share: float = 0.0  # share of the tie interactions triggered by the influencer's purchases (0: none)
    burst_delay_days: float = 0.25  # mean delay of a triggered interaction after the purchase (exponential)

    def records_per_pay(self) -> float:
        """Expected consumption records per purchase, its funnel and the sessions that go with it."""
        return (
            3
            + self.extra_browses
            + self.carts_per_pay * (2 + self.extra_browses)
            + self.browse_sessions_per_pay * (1 + self.extra_browses)
        )


@dataclass
class SocialDataset:
    """A simulated social-commerce dataset: graph (``social`` edges with ``kind``), events and latent truth.

    ``events["consumption"]``: user, item, ts, kind (:data:`lsec.data.schema.CONSUMPTION_KINDS`), amount, in
    time order. ``truth`` (not written) holds the latents (``user_influence``, ``user_activity``,
    ``user_category``, ``tie_src`` / ``tie_dst`` / ``tie_strength``) and ``consumption_triggered`` (int8 per
    consumption row: 1 on a purchase triggered by a tie's purchase).
    """

    graph: HeteroGraph
    events: dict[str, dict[str, np.ndarray]]
    truth: dict[str, np.ndarray] = field(default_factory=dict)


def simulate_social(
    preset: str = "dmgnn",
    scale: float = 1.0,
    influence: float = 0.5,
    decay: float = 1.0,
    seed: int = 0,
    null: str | None = None,
    progress: bool = False,
    model: SocialModel | None = None,
) -> SocialDataset:
    """Generate a DM-GNN-like social-commerce dataset (module docstring).

    Args:
        preset: ``"dmgnn"``.
        scale: multiplies users, items, social edges and consumption records, in (0, 4].
        influence: purchases a purchase of a user with influence score 1 triggers among its followers, in [0, 1).
        decay: per day, the rate of the exponential decay of that effect, > 0.
        seed: same seed, same arrays (and, written, the same bytes).
        null: ``None`` or ``"social"`` (social edges rewired: degrees and times kept, information gone).
        progress: tqdm bar over the generation stages.
        model: generative knobs (default :class:`SocialModel`).
    """
    target = _check(preset, scale, influence, decay, seed, null)
    model = model or SocialModel()
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence([seed, 0x534F]).spawn(6)]
    stages = ("latents", "purchases", "funnels", "social", "assemble")
    bar = tqdm(total=len(stages), desc=f"simulate {preset}", disable=not progress, unit="stage")

    bar.set_postfix_str("latents")
    latents = _latents(target, model, rngs[0])
    plan = _plan(target, model, latents, influence, decay)
    bar.update()

    bar.set_postfix_str("purchases")
    pays = draw_purchases(target, model, latents, plan, influence, decay, rngs[1])
    bar.update()

    bar.set_postfix_str("funnels")
    consumption, triggered = draw_consumption(target, model, latents, plan, pays, rngs[2])
    bar.update()

    bar.set_postfix_str("social")
    social = draw_interactions(target, model, latents, plan, pays, rngs[3])
    if model.burst_share > 0:  # its own stream: without bursts the bytes are those of the version before them
        social = concat_interactions(social, draw_bursts(target, model, latents, plan, pays, rngs[5]))
    if null == "social":
        social = rewire_interactions(social, rngs[4], with_time=model.burst_share > 0)
    bar.update()

    bar.set_postfix_str("assemble")
    order = np.lexsort((social["dst"], social["src"], social["ts"]))
    table = EdgeTable(
        social["src"][order], social["dst"][order], social["ts"][order] + TIME_ORIGIN, kind=social["kind"][order]
    )
    graph = HeteroGraph(
        num_nodes={"user": target.num_users, "item": target.num_items},
        edges={SOCIAL: table},
        node_ids={"user": _ids("u", target.num_users), "item": _ids("i", target.num_items)},
        name=target.name,
        time_origin=TIME_ORIGIN,
        node_features={
            "item": {
                "category": latents["item_category"].astype(np.int16),
                "price": latents["price"].astype(np.float32),
            }
        },
    )
    graph.meta["provenance"] = {
        "generator": "lsec.data.simulate.social",
        "version": SIMULATOR_VERSION,
        "preset": preset,
        "scale": float(scale),
        "influence": float(influence),
        "decay_per_day": float(decay),
        "seed": int(seed),
        "null": null,
    }
    kinds = consumption["kind"]
    graph.meta["simulation"] = {
        "targets": {k: v for k, v in asdict(target).items() if k != "name"},
        "expected": plan["expected"],
        "realised": {
            "social_edges": len(table),
            "feedback_edges": int(social["feedback"].sum()),
            "burst_edges": int(social["burst"].sum()) if "burst" in social else 0,
            "self_loops_dropped": int(social["dropped"]),
            "consumption_records": int(kinds.shape[0]),
            **{f"{name}_records": int((kinds == CONSUMPTION_KINDS[name]).sum()) for name in ("browse", "cart", "pay")},
            "triggered_pays": int(triggered.sum()),
            "generations": int(pays["generations"]),
            "latent_ties": int(latents["tie_src"].shape[0]),
        },
        "spontaneous_rate_per_day": plan["rate"],
        "model": asdict(model),
        "social_direction": "src acts on dst's content; dst's purchases raise src's purchase rate",
        "consumption_amount": "price x quantity for cart and pay, 0 for browse",
    }
    truth = {
        "user_influence": latents["influence"],
        "user_activity": latents["activity"],
        "user_category": latents["primary"],
        "tie_src": latents["tie_src"],
        "tie_dst": latents["tie_dst"],
        "tie_strength": latents["strength"],
        "consumption_triggered": triggered,
    }
    bar.update()
    bar.close()
    return SocialDataset(graph, {"consumption": consumption}, truth)


def social_model(**knobs: float) -> SocialModel:
    """:class:`SocialModel` with ``knobs`` replaced, checked: ``follows_per_user`` > 0, ``burst_share`` in [0, 1],
    ``burst_delay_days`` > 0, ``feedback_share`` in [0, 1) (the CLI's ``--follows`` / ``--burst`` / ``--feedback``)."""
    fields = SocialModel.__dataclass_fields__
    for name in knobs:
        if name not in fields:
            raise LsecConfigError(f"SocialModel has no knob {name!r}; knobs: {', '.join(fields)}.")
    checks = {
        "follows_per_user": (lambda v: v > 0, "a positive number"),
        "burst_share": (lambda v: 0 <= v <= 1, "a number in [0, 1]"),
        "burst_delay_days": (lambda v: v > 0, "a positive number (days)"),
        "feedback_share": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
    }
    for name, (ok, expected) in checks.items():
        value = knobs.get(name)
        if value is not None and not (isinstance(value, (int, float)) and np.isfinite(value) and ok(value)):
            flag = {"follows_per_user": "--follows", "burst_share": "--burst", "feedback_share": "--feedback"}[name]
            raise LsecConfigError(
                f"The '{name}' knob of the dmgnn simulator ({flag}) must be {expected}. Got {value!r} instead."
            )
    return SocialModel(**{k: float(v) for k, v in knobs.items()})  # type: ignore[arg-type]


def expected_counts(
    preset: str = "dmgnn",
    scale: float = 1.0,
    influence: float = 0.5,
    decay: float = 1.0,
    seed: int = 0,
    model: SocialModel | None = None,
) -> dict[str, float]:
    """Expected counts of :func:`simulate_social` with these arguments, from the latents alone (no events).

    Keys: ``users``, ``items``, ``pays``, ``consumption_records``, ``tie_edges``, ``feedback_edges``,
    ``social_edges``, ``triggered_share`` (share of purchases triggered by a tie's purchase).
    """
    target = _check(preset, scale, influence, decay, seed, None)
    model = model or SocialModel()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x534F]).spawn(6)[0])
    return dict(_plan(target, model, _latents(target, model, rng), influence, decay)["expected"])


# --------------------------------------------------------------------------- arguments


def _check(preset: str, scale: float, influence: float, decay: float, seed: int, null: str | None) -> SocialPreset:
    name = "simulate_social"
    if preset not in PRESETS:
        raise LsecConfigError(
            f"The 'preset' parameter of {name} must be one of {sorted(PRESETS)}. Got {preset!r} instead."
        )
    if not (isinstance(scale, (int, float)) and np.isfinite(scale) and 0 < scale <= 4):
        raise LsecConfigError(f"The 'scale' parameter of {name} must be a number in (0, 4]. Got {scale!r} instead.")
    if not (isinstance(influence, (int, float)) and 0 <= influence < 1):
        raise LsecConfigError(
            f"The 'influence' parameter of {name} must be a number in [0, 1). Got {influence!r} instead."
        )
    if not (isinstance(decay, (int, float)) and np.isfinite(decay) and decay > 0):
        raise LsecConfigError(
            f"The 'decay' parameter of {name} must be a positive number (per day). Got {decay!r} instead."
        )
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise LsecConfigError(f"The 'seed' parameter of {name} must be a non-negative int. Got {seed!r} instead.")
    if null not in (None, *NULLS):
        raise LsecConfigError(f"The 'null' parameter of {name} must be None or 'social'. Got {null!r} instead.")
    full = PRESETS[preset]
    return SocialPreset(
        preset,
        max(2, round(full.num_users * scale)),
        max(1, round(full.num_items * scale)),
        full.num_days,
        max(1, round(full.social_edges * scale)),
        max(1, round(full.consumption_records * scale)),
    )


# --------------------------------------------------------------------------- latents and calibration


def _latents(target: SocialPreset, model: SocialModel, rng: np.random.Generator) -> dict[str, Any]:
    k, nu, ni = model.num_categories, target.num_users, target.num_items
    share = rng.dirichlet(np.full(k, model.category_concentration))
    item_category = categorical(rng, share, ni)
    popularity = np.exp(model.item_popularity_sigma * rng.standard_normal(ni))
    category_price = model.price_log_mean + model.price_category_sigma * rng.standard_normal(k)
    price = np.round(np.exp(category_price[item_category] + model.price_item_sigma * rng.standard_normal(ni)), 2)
    primary = categorical(rng, share, nu)
    secondary = categorical(rng, share, nu)
    sigma = model.user_activity_sigma
    activity = np.exp(sigma * rng.standard_normal(nu) - sigma**2 / 2)
    influence = rng.beta(*model.influence_beta, nu)

    # Ties u -> v: out-degrees, then targets by category and followability; no self-loops, no repeats.
    s = model.follows_sigma
    degree = rng.poisson(model.follows_per_user * np.exp(s * rng.standard_normal(nu) - s**2 / 2))
    src = np.repeat(np.arange(nu), degree)
    followability = (0.05 + influence) ** model.follow_influence_power
    by_category = SegmentSampler.build(primary, followability, k)
    inside = (rng.random(src.shape[0]) < model.follow_homophily) & (by_category.totals()[primary[src]] > 0)
    dst = by_category.sample_global(rng, src.shape[0])
    dst[inside] = by_category.sample(rng, primary[src[inside]])
    back = rng.random(src.shape[0]) < model.reciprocity
    src, dst = np.concatenate([src, dst[back]]), np.concatenate([dst, src[back]])
    keep = src != dst
    pair = np.unique(src[keep].astype(np.int64) * nu + dst[keep])
    tie_src, tie_dst = pair // nu, pair % nu
    strength = np.asarray(rng.gamma(model.tie_strength_shape, 1 / model.tie_strength_shape, pair.shape[0]))
    item_sampler = SegmentSampler.build(item_category, popularity, k)
    return {
        "share": share,
        "item_category": item_category,
        "popularity": popularity,
        "price": price,
        "primary": primary,
        "secondary": secondary,
        "activity": activity,
        "influence": influence,
        "tie_src": tie_src,
        "tie_dst": tie_dst,
        "strength": strength,
        "items": item_sampler,
        "followers": SegmentSampler.build(tie_dst, strength, nu),  # members: ties, grouped by influencer
    }


def _plan(
    target: SocialPreset, model: SocialModel, latents: dict[str, Any], influence: float, decay: float
) -> dict[str, Any]:
    """Rates that make the expected counts equal the targets, and the expected counts themselves."""
    nu, span = target.num_users, float(target.num_days)
    src, dst, strength = latents["tie_src"], latents["tie_dst"], latents["strength"]
    total = np.bincount(dst, weights=strength, minlength=nu)  # S_v
    keep = 1 - (1 - np.exp(-decay * span)) / (decay * span)
    weight = influence * latents["influence"][dst] * strength / total[dst] * keep  # M[u, v] on tie (u, v)
    base = latents["activity"] * span
    expected = base.copy()
    for _ in range(500):  # n = base + M n; converges geometrically (column sums of M < influence)
        update = base + np.bincount(src, weights=weight * expected[dst], minlength=nu)
        done = np.abs(update - expected).max() <= 1e-9 * max(expected.max(), 1.0)
        expected = update
        if done:
            break
    pays = target.consumption_records / model.records_per_pay()
    rate = pays / expected.sum()  # c, per day and unit activity
    all_tie_edges = (1 - model.feedback_share) * target.social_edges
    tie_edges = all_tie_edges * (1 - model.burst_share)  # uniform in time (x 1.0 exactly without bursts)
    burst_edges = all_tie_edges * model.burst_share
    feedback_edges = model.feedback_share * target.social_edges
    # bursts: Poisson(burst_lambda x S_v) interactions on v's follower ties after each purchase of v; expected
    # purchases of v = rate x expected[v], a share of the bursts falls after the end (mean delay / span)
    pays_times_strength = float((rate * expected * total).sum())
    burst_keep = 1 - (1 - np.exp(-span / model.burst_delay_days)) * model.burst_delay_days / span
    burst_lambda = burst_edges / max(pays_times_strength * burst_keep, 1e-12)
    return {
        "rate": float(rate),
        "tie_lambda": tie_edges / max(float(strength.sum()), 1e-12),
        "burst_lambda": float(burst_lambda),
        "feedback_per_pay": feedback_edges / pays,
        "expected": {
            "users": nu,
            "items": target.num_items,
            "pays": float(pays),
            "consumption_records": float(pays * model.records_per_pay()),
            "tie_edges": float(tie_edges + burst_edges),
            "feedback_edges": float(feedback_edges),
            "social_edges": float(tie_edges + burst_edges + feedback_edges),
            "triggered_share": float(1 - base.sum() / expected.sum()),
        },
    }


def _ids(prefix: str, count: int) -> np.ndarray:
    return np.char.add(prefix, np.arange(count).astype(str)).astype(object)
