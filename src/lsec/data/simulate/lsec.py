"""LSEC simulator: a tripartite buy / follow / sell graph calibrated to Tables 1-2 of the LSEC-GNN slides.

The real LSEC datasets are not public, so this generator produces graphs with the same node counts, the
same edge counts (distinct pairs, as in the tables' densities) and the three "streamers' influence"
patterns the paper reports, with one knob (``influence``) that sets how much of the buying goes through
streamers.

Generative story (all times in seconds from ``time_origin`` = 2020-12-01 00:00 UTC, 50 days):

1. **Latent interests.** ``K = 16`` topics with Dirichlet shares. Every item and streamer has one topic;
   every user has a primary and a secondary shopping topic and a streamer-taste topic. Item popularity,
   streamer popularity and user activity (buy and follow activity, correlated) are lognormal, which gives
   heavy-tailed degrees.
2. **Follow.** Users (picked by follow activity) follow streamers: 85 % of draws inside one of the user's
   topics, 15 % anywhere, proportional to streamer popularity. The in-topic draws use the user's **streamer
   taste** (90 %, ``follow_taste_share``), a topic drawn independently of the shopping topics (the kind of
   live stream a user likes to watch), otherwise the primary (80 %) or secondary (20 %) shopping topic.
   Exactly ``follow`` distinct pairs are kept.
3. **Sell.** Streamers (picked by catalogue capacity) list items, 90 % inside their topic. Each
   (streamer, item) pair is sold in ``n`` live sessions (``n`` geometric, mean 2.5, 1-7 days apart, each
   session 3 h at the streamer's daily hour). Its platform-wide sales count is Poisson with mean
   ``kappa * pop_s^0.6 * pop_i^0.6 * noise * n`` (x1.5 when the topics match). ``kappa`` is solved by
   bisection so that the expected number of pairs with ``sales >= 20`` equals the table's sell count.
   A pair is a **sell edge** when its sales reach ``sales_threshold``; ``weight`` = total sales in the 50
   days; ``ts`` = the moment the running sales total reaches the threshold (sales spread evenly over the
   pair's sessions and uniformly within the session where the threshold is crossed).
4. **Buy.** A user (picked by buy activity) makes a purchase. With probability ``influence`` it goes
   through a streamer the user follows (chosen proportional to ``pop_s ** 0.5``): the item is one the
   streamer sells (proportional to the pair's sales) and the time is inside one of the pair's sessions.
   Otherwise the purchase is organic: an item of the user's primary (60 %) or secondary (25 %) topic or
   any item (15 %), proportional to item popularity, at a uniform time. Exactly ``buy`` distinct
   (user, item) pairs are kept (the earliest purchase of a pair gives its ``ts``).
5. **Follow times.** A follow used by a purchase happens uniformly between day 0 and the first purchase
   through it; the other follows are uniform over the 50 days.
6. **Null controls.** ``null="follow"`` / ``"sell"`` permutes the streamer endpoint of that relation after
   generation (:func:`lsec.data.simulate.permute.permute_relation`): degrees are kept, information is gone.

**Influence carries information the buy graph lacks.** Organic purchases come from the shopping topics;
purchases through streamers come from the catalogues of the followed streamers, which mostly lie in the
user's streamer taste. So with ``influence > 0`` part of a user's future purchases is in a topic that the
user's own purchase history shows little or nothing of (nothing at all for a user who has not yet bought
through a streamer), while the follow graph (most follows are in the taste topic) and the sell graph point
to it. With ``influence = 0`` the follows still share the shopping topics (10 % of the in-topic draws), so
the three streamers' influence patterns appear weakly (homophily); the null controls remove them. Compare
against a degree-preserving rewiring, not against uniform streamers.

**Scaling.** ``scale`` multiplies every node count; edge counts are multiplied by
``scale ** (1 + degree_exponent)``, so mean degrees are the table's times ``scale ** degree_exponent``.
``degree_exponent = 0`` keeps the tables' mean degrees (densities grow as ``1 / scale``: at scale 0.05 a
user follows 24 % of the streamers, and every user is two hops from most items, which drowns the
follow -> sell -> buy signal); ``1`` keeps the densities, as a uniform node sample of the real graph would
(but leaves 0.8 purchases per user at scale 0.05). The default, 0.5, is halfway on the log scale: at scale
0.1 a user makes 4.8 purchases and follows 18 of 463 streamers (3.8 %). At ``scale = 1`` the exponent has no
effect. Edge targets are capped at 90 % of all pairs (only reachable with ``degree_exponent = 0`` below
about scale 0.014) and ``meta["simulation"]`` says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from scipy.special import pdtrc
from tqdm.auto import tqdm

from lsec.data.graph import EdgeTable, HeteroGraph
from lsec.data.simulate.permute import permute_relation
from lsec.data.simulate.sampling import SegmentSampler, categorical, fill_unique_pairs
from lsec.errors import LsecConfigError

SIMULATOR_VERSION = "2"
TIME_ORIGIN = 1_606_780_800  # 2020-12-01 00:00:00 UTC
DAY = 86_400
NUM_DAYS = 50
REFERENCE_THRESHOLD = 20  # the threshold of the slides; sales rates are calibrated against it
MAX_DENSITY = 0.9
DEFAULT_DEGREE_EXPONENT = 0.5  # mean degrees scale as scale**0.5 (see "Scaling" in the module docstring)


@dataclass(frozen=True)
class LsecPreset:
    """Target statistics of one LSEC dataset (Tables 1-2 of the slides)."""

    name: str
    num_users: int
    num_items: int
    num_streamers: int
    num_buy: int
    num_follow: int
    num_sell: int


PRESETS: dict[str, LsecPreset] = {
    "lsec-small": LsecPreset("lsec-small", 29_422, 31_630, 4_633, 451_441, 1_659_943, 1_168_165),
    "lsec-large": LsecPreset("lsec-large", 202_850, 109_502, 7_395, 3_062_463, 5_439_288, 1_953_881),
}


@dataclass(frozen=True)
class LsecModel:
    """Knobs of the generative story (module docstring); the defaults are the calibrated ones."""

    num_topics: int = 16
    topic_concentration: float = 2.0  # Dirichlet parameter of the topic shares
    item_popularity_sigma: float = 0.8  # lognormal sigma of item popularity
    streamer_popularity_sigma: float = 1.5
    user_activity_sigma: float = 1.0
    follow_in_topic: float = 0.85  # share of follow draws inside the user's topics
    primary_topic_share: float = 0.8  # of in-topic follow draws, share in the primary topic
    follow_taste_share: float = 0.9  # of in-topic follow draws, share in the user's own streamer-taste topic
    organic_primary: float = 0.60  # organic purchases: primary topic / secondary topic / anywhere
    organic_secondary: float = 0.25
    sell_in_topic: float = 0.9
    listing_item_exponent: float = 0.8  # streamers list items ~ pop_i^this
    sales_streamer_exponent: float = 0.6  # sales rate of a listed pair ~ pop_s^a * pop_i^b * lognormal noise
    sales_item_exponent: float = 0.6
    sales_noise_sigma: float = 0.7
    sales_topic_boost: float = 1.5
    channel_exponent: float = 0.5  # purchases through follows pick the streamer ~ pop_s^this * affinity
    channel_affinity_sigma: float = 0.0  # lognormal per-follow affinity: each user has a few favourite streamers
    sell_candidate_ratio: float = 1.6  # listed (streamer, item) pairs per sell edge
    session_hours: int = 3
    mean_sessions: float = 2.5  # geometric number of sessions per listed pair
    max_gap_days: int = 7


# Simulator v3 (issue 12 point 4): v2's story with finer, sharper interests, so that collaborative filtering can
# learn who buys what (see "Simulator v3" in benchmarks/README.md for each mechanism's measured effect).
# - Niches: one topic per ~247 items (128 topics at scale 1), so users, items and streamers per niche stay about
#   the same at every --scale (a fixed 128 topics leaves ~7 items per niche at scale 0.03, 16 leaves 2,000 at 1).
# - Even niche sizes (Dirichlet 10 instead of 2) and a heavier item-popularity tail (sigma 1.0 instead of 0.8).
# - Sharp interests: 95 % of organic purchases in the user's primary niche (v2: 60 %), 4 % in the secondary;
#   95 % of follow draws and 97 % of listings inside the niche (v2: 85 % / 90 %).
V3_ITEMS_PER_TOPIC = 31_630 / 128
V3_MIN_TOPICS = 2
V3_MODEL = LsecModel(
    num_topics=128,
    topic_concentration=10.0,
    item_popularity_sigma=1.0,
    follow_in_topic=0.95,
    organic_primary=0.95,
    organic_secondary=0.04,
    sell_in_topic=0.97,
)
VERSIONS = ("2", "3")


def model_for(version: str, num_items: int) -> LsecModel:
    """The generative knobs of simulator ``version`` for a dataset of ``num_items`` items (v3 scales its niches)."""
    if version == "2":
        return LsecModel()
    topics = max(V3_MIN_TOPICS, round(num_items / V3_ITEMS_PER_TOPIC))
    return replace(V3_MODEL, num_topics=topics)


def simulate_lsec(
    preset: str = "lsec-small",
    scale: float = 1.0,
    influence: float = 0.5,
    seed: int = 0,
    null: str | None = None,
    sales_threshold: int = REFERENCE_THRESHOLD,
    progress: bool = False,
    model: LsecModel | None = None,
    degree_exponent: float = DEFAULT_DEGREE_EXPONENT,
    version: str = SIMULATOR_VERSION,
) -> HeteroGraph:
    """Generate an LSEC-like tripartite graph (see the module docstring for the model).

    Args:
        preset: ``"lsec-small"`` or ``"lsec-large"`` (Tables 1 and 2 of the slides).
        scale: multiplies node counts; edge counts are multiplied by ``scale ** (1 + degree_exponent)``.
        influence: share B in [0, 1] of purchases made through a followed streamer's sale session.
        seed: same seed, same arrays.
        null: ``None``, ``"follow"`` or ``"sell"``: permute that relation's streamer endpoint.
        sales_threshold: minimum total sales for a (streamer, item) pair to be a sell edge.
        progress: show a tqdm bar over the generation stages.
        model: the generative knobs (default: those of ``version``, see :func:`model_for`).
        degree_exponent: gamma in [0, 1]; mean degrees are the tables' times ``scale ** gamma`` (0 keeps the
            mean degrees, 1 keeps the densities; no effect at ``scale = 1``).
        version: ``"2"`` (default; same seed, same bytes as before v3 existed) or ``"3"`` (niches scaled with
            ``scale``, sharper interests: learnable by collaborative filtering). ``"v2"`` / ``"v3"`` also work.

    Returns:
        HeteroGraph with relations buy (no weight), follow (no weight), sell (weight = sales count),
        node ids ``u0..``, ``i0..``, ``s0..``, ``time_origin`` = 2020-12-01 UTC and ``meta["provenance"]``.
    """
    target = _check_arguments(preset, scale, influence, seed, null, sales_threshold, degree_exponent)
    version = check_version(version)
    model = model or model_for(version, target.num_items)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6)]
    stages = ["nodes", "follow", "sell", "buy", "follow times", "assemble"]
    bar = tqdm(total=len(stages), desc=f"simulate {preset}", disable=not progress, unit="stage")

    def stage(name: str) -> None:
        bar.set_postfix_str(name)

    stage("nodes")
    nodes = _latent_nodes(target, model, rngs[0])
    bar.update()

    stage("follow")
    follow_target, follow_capped = _capped(target.num_follow, target.num_users * target.num_streamers)
    follow, follow_rounds = _follow_pairs(nodes, model, follow_target, rngs[1])
    bar.update()

    stage("sell")
    sell = _listings(nodes, model, target, sales_threshold, rngs[2])
    bar.update()

    stage("buy")
    buy, buy_rounds = _purchases(nodes, model, target, influence, follow, sell, rngs[3])
    bar.update()

    stage("follow times")
    follow_ts = _follow_times(follow, buy, rngs[4])
    bar.update()

    stage("assemble")
    is_sell = sell["sales"] >= sales_threshold
    edges = {
        ("user", "buy", "item"): _table(buy["src"], buy["dst"], buy["ts"]),
        ("user", "follow", "streamer"): _table(follow["src"], follow["dst"], follow_ts),
        ("streamer", "sell", "item"): _table(
            sell["src"][is_sell], sell["dst"][is_sell], sell["threshold_ts"][is_sell], sell["sales"][is_sell]
        ),
    }
    num_nodes = {"user": target.num_users, "item": target.num_items, "streamer": target.num_streamers}
    graph = HeteroGraph(
        num_nodes=num_nodes,
        edges=edges,
        node_ids={t: _node_ids(p, num_nodes[t]) for t, p in (("user", "u"), ("item", "i"), ("streamer", "s"))},
        name=preset,
        time_origin=TIME_ORIGIN,
        meta={
            "provenance": {
                "generator": "lsec.data.simulate.lsec",
                "version": version,
                "preset": preset,
                "scale": float(scale),
                "influence": float(influence),
                "seed": int(seed),
                "null": null,
                "sales_threshold": int(sales_threshold),
                "degree_exponent": float(degree_exponent),
            },
            "simulation": {
                "targets": {k: v for k, v in asdict(target).items() if k != "name"},
                "follow_capped": follow_capped,
                "sell_capped": sell["capped"],
                "influenced_buy_fraction": float((buy["via"] >= 0).mean()) if len(buy["via"]) else 0.0,
                "sales_rate_kappa": sell["kappa"],
                "listed_pairs": int(sell["src"].shape[0]),
                "rounds": {"follow": follow_rounds, "sell": sell["rounds"], "buy": buy_rounds},
                "model": asdict(model),
                "sell_ts": "moment the pair's running sales total reaches the threshold",
                "sell_weight": "total sales of the pair over the 50 days",
            },
        },
    )
    if null is not None:
        null_seed = int(np.random.SeedSequence([seed, 7]).generate_state(1)[0])
        graph = permute_relation(graph, null, seed=null_seed)
    bar.update()
    bar.close()
    return graph


# --------------------------------------------------------------------------- arguments


def _check_arguments(
    preset: str,
    scale: float,
    influence: float,
    seed: int,
    null: str | None,
    sales_threshold: int,
    degree_exponent: float = DEFAULT_DEGREE_EXPONENT,
) -> LsecPreset:
    if preset not in PRESETS:
        raise LsecConfigError(
            f"The 'preset' parameter of simulate_lsec must be one of {sorted(PRESETS)}. Got {preset!r} instead."
        )
    if not (isinstance(scale, (int, float)) and np.isfinite(scale) and 0 < scale <= 4):
        raise LsecConfigError(
            f"The 'scale' parameter of simulate_lsec must be a number in (0, 4]. Got {scale!r} instead."
        )
    if not (isinstance(influence, (int, float)) and 0.0 <= influence <= 1.0):
        raise LsecConfigError(
            f"The 'influence' parameter of simulate_lsec must be a number in [0, 1]. Got {influence!r} instead."
        )
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise LsecConfigError(
            f"The 'seed' parameter of simulate_lsec must be a non-negative int. Got {seed!r} instead."
        )
    if null not in (None, "follow", "sell"):
        raise LsecConfigError(
            f"The 'null' parameter of simulate_lsec must be None, 'follow' or 'sell'. Got {null!r} instead."
        )
    if not isinstance(sales_threshold, (int, np.integer)) or sales_threshold < 1:
        raise LsecConfigError(
            f"The 'sales_threshold' parameter of simulate_lsec must be a positive int. Got {sales_threshold!r} instead."
        )
    if not (isinstance(degree_exponent, (int, float)) and 0.0 <= degree_exponent <= 1.0):
        raise LsecConfigError(
            "The 'degree_exponent' parameter of simulate_lsec must be a number in [0, 1]. "
            f"Got {degree_exponent!r} instead."
        )
    full = PRESETS[preset]

    def count(value: int, factor: float) -> int:
        return max(1, round(value * factor))

    edge_factor = scale * scale**degree_exponent
    return LsecPreset(
        preset,
        count(full.num_users, scale),
        count(full.num_items, scale),
        count(full.num_streamers, scale),
        count(full.num_buy, edge_factor),
        count(full.num_follow, edge_factor),
        count(full.num_sell, edge_factor),
    )


def check_version(version: str) -> str:
    """``"2"`` / ``"3"`` (a leading ``v`` is accepted), else an error naming the parameter."""
    text = str(version)
    normal = text[1:] if text[:1] in ("v", "V") else text
    if normal not in VERSIONS:
        raise LsecConfigError(
            f"The 'version' parameter of simulate_lsec must be one of {', '.join(VERSIONS)} (or v2, v3). "
            f"Got {version!r} instead."
        )
    return normal


def _capped(target: int, cells: int) -> tuple[int, bool]:
    limit = int(MAX_DENSITY * cells)
    return (limit, True) if target > limit else (target, False)


# --------------------------------------------------------------------------- stages


def _latent_nodes(target: LsecPreset, model: LsecModel, rng: np.random.Generator) -> dict[str, Any]:
    k = model.num_topics
    share = rng.dirichlet(np.full(k, model.topic_concentration))
    shared, own_buy, own_follow = rng.standard_normal((3, target.num_users))
    sigma = model.user_activity_sigma
    nodes: dict[str, Any] = {
        "num_topics": k,
        "num_users": target.num_users,
        "num_items": target.num_items,
        "num_streamers": target.num_streamers,
        "user_topic": categorical(rng, share, target.num_users),
        "user_topic2": categorical(rng, share, target.num_users),
        "item_topic": categorical(rng, share, target.num_items),
        "streamer_topic": categorical(rng, share, target.num_streamers),
        "buy_activity": np.exp(sigma * (0.8 * shared + 0.6 * own_buy)),
        "follow_activity": np.exp(sigma * (0.8 * shared + 0.6 * own_follow)),
        "item_popularity": np.exp(model.item_popularity_sigma * rng.standard_normal(target.num_items)),
        "streamer_popularity": np.exp(model.streamer_popularity_sigma * rng.standard_normal(target.num_streamers)),
    }
    nodes["streamer_capacity"] = np.sqrt(nodes["streamer_popularity"]) * np.exp(
        0.5 * rng.standard_normal(target.num_streamers)
    )
    # Streamer taste: the topic of the live streams a user likes to watch, drawn apart from the shopping topics.
    nodes["user_taste"] = categorical(rng, share, target.num_users)
    return nodes


def _in_topic_or_anywhere(
    sampler: SegmentSampler, rng: np.random.Generator, topics: np.ndarray, anywhere: np.ndarray
) -> np.ndarray:
    """Members drawn inside ``topics`` (or over all segments where ``anywhere`` or the topic is empty)."""
    anywhere = anywhere | (sampler.totals()[topics] <= 0)
    out = np.empty(topics.shape[0], dtype=np.int64)
    out[~anywhere] = sampler.sample(rng, topics[~anywhere])
    out[anywhere] = sampler.sample_global(rng, int(anywhere.sum()))
    return out


RATE_SAMPLE = 50_000  # pairs used to solve kappa
RATE_REFINE_ABOVE = 1_000_000  # with more listed pairs, refine kappa on all of them (the 50k sample is 0.5 % off)
UNIFORM_AFTER_ROUND = 6  # top-up rounds after this draw uniformly, so dense small-scale targets converge


def _follow_pairs(
    nodes: dict[str, Any], model: LsecModel, target: int, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], int]:
    streamers = SegmentSampler.build(nodes["streamer_topic"], nodes["streamer_popularity"], nodes["num_topics"])

    def draw(n: int, round_: int) -> dict[str, np.ndarray]:
        user = categorical(rng, nodes["follow_activity"], n)
        if round_ >= UNIFORM_AFTER_ROUND:
            streamer = rng.integers(0, nodes["num_streamers"], n)
        else:
            primary = rng.random(n) < model.primary_topic_share
            topic = np.where(primary, nodes["user_topic"][user], nodes["user_topic2"][user])
            topic = np.where(rng.random(n) < model.follow_taste_share, nodes["user_taste"][user], topic)
            streamer = _in_topic_or_anywhere(streamers, rng, topic, rng.random(n) >= model.follow_in_topic)
        return {"src": user, "dst": streamer, "ts": np.zeros(n, dtype=np.int64)}

    return fill_unique_pairs(draw, target, nodes["num_streamers"], rng)


def _listings(
    nodes: dict[str, Any], model: LsecModel, target: LsecPreset, sales_threshold: int, rng: np.random.Generator
) -> dict[str, Any]:
    """Listed (streamer, item) pairs with their sessions, sales counts and threshold-crossing times."""
    cells = target.num_streamers * target.num_items
    sell_target, capped = _capped(target.num_sell, cells)
    candidates = min(round(model.sell_candidate_ratio * sell_target), int(0.95 * cells))
    sell_target = min(sell_target, int(0.9 * candidates))
    item_weight = nodes["item_popularity"] ** model.listing_item_exponent
    items = SegmentSampler.build(nodes["item_topic"], item_weight, nodes["num_topics"])

    def draw(n: int, round_: int) -> dict[str, np.ndarray]:
        streamer = categorical(rng, nodes["streamer_capacity"], n)
        if round_ >= UNIFORM_AFTER_ROUND:
            item = rng.integers(0, nodes["num_items"], n)
        else:
            topic = nodes["streamer_topic"][streamer]
            item = _in_topic_or_anywhere(items, rng, topic, rng.random(n) >= model.sell_in_topic)
        return {"src": streamer, "dst": item, "ts": np.zeros(n, dtype=np.int64)}

    pairs, rounds = fill_unique_pairs(draw, candidates, nodes["num_items"], rng)
    s, i = pairs["src"], pairs["dst"]
    p = s.shape[0]

    # Sessions: n live sessions `gap` days apart starting on `day0`, all inside the 50 days.
    sessions = np.minimum(rng.geometric(1.0 / model.mean_sessions, p), NUM_DAYS)
    gap = np.minimum(rng.integers(1, model.max_gap_days + 1, p), (NUM_DAYS - 1) // np.maximum(sessions - 1, 1))
    gap = np.maximum(gap, 1)
    day0 = rng.integers(0, NUM_DAYS - (sessions - 1) * gap)
    hour = rng.integers(10, 24 - model.session_hours, target.num_streamers)  # daily start hour (UTC)

    match = nodes["streamer_topic"][s] == nodes["item_topic"][i]
    base = (
        nodes["streamer_popularity"][s] ** model.sales_streamer_exponent
        * nodes["item_popularity"][i] ** model.sales_item_exponent
        * np.exp(model.sales_noise_sigma * rng.standard_normal(p))
        * sessions
        * np.where(match, model.sales_topic_boost, 1.0)
    )
    kappa = _solve_rate(base, sell_target, rng)
    sales = rng.poisson(kappa * base).astype(np.int64)

    # Sales are spread evenly over the sessions: after session j the running total is floor((j+1)c/n).
    threshold = sales_threshold
    reached = sales >= threshold
    c = np.maximum(sales, 1)
    j = np.where(reached, (threshold * sessions + c - 1) // c - 1, 0)
    before = (j * c) // sessions
    in_session = (((j + 1) * c) // sessions) - before
    fraction = np.where(reached, (threshold - before) / np.maximum(in_session, 1), 0.0)
    start = (day0 + j * gap) * DAY + hour[s] * 3600
    threshold_ts = start + np.floor(fraction * model.session_hours * 3600).astype(np.int64)
    return {
        "src": s,
        "dst": i,
        "sales": sales,
        "sessions": sessions,
        "gap": gap,
        "day0": day0,
        "hour": hour,
        "threshold_ts": threshold_ts,
        "kappa": float(kappa),
        "rounds": rounds,
        "capped": capped,
    }


def _solve_rate(base: np.ndarray, target: int, rng: np.random.Generator) -> float:
    """``kappa`` with ``sum_p P(Poisson(kappa * base_p) >= 20) = target`` (bisection on log kappa)."""
    sample = base if base.shape[0] <= RATE_SAMPLE else base[rng.choice(base.shape[0], RATE_SAMPLE, replace=False)]

    def bisect(values: np.ndarray, lo: float, hi: float, steps: int) -> float:
        goal = target * values.shape[0] / base.shape[0]
        for _ in range(steps):
            mid = 0.5 * (lo + hi)
            if float(pdtrc(REFERENCE_THRESHOLD - 1, np.exp(mid) * values).sum()) < goal:
                lo = mid
            else:
                hi = mid
        return 0.5 * (lo + hi)

    log_kappa = bisect(sample, -30.0, 30.0, 40)
    if base.shape[0] > RATE_REFINE_ABOVE:
        log_kappa = bisect(base, log_kappa - 0.25, log_kappa + 0.25, 14)
    return float(np.exp(log_kappa))


def _purchases(
    nodes: dict[str, Any],
    model: LsecModel,
    target: LsecPreset,
    influence: float,
    follow: dict[str, np.ndarray],
    sell: dict[str, Any],
    rng: np.random.Generator,
) -> tuple[dict[str, np.ndarray], int]:
    num_users, num_streamers = nodes["num_users"], nodes["num_streamers"]
    listed = sell["sales"] > 0
    catalogue = SegmentSampler.build(sell["src"], np.where(listed, sell["sales"], 0), num_streamers)
    sells_something = catalogue.totals() > 0
    affinity = np.exp(model.channel_affinity_sigma * rng.standard_normal(follow["dst"].shape[0]))
    follow_weight = (
        nodes["streamer_popularity"][follow["dst"]] ** model.channel_exponent
        * affinity
        * sells_something[follow["dst"]]
    )
    followed = SegmentSampler.build(follow["src"], follow_weight, num_users)
    has_channel = followed.totals() > 0
    items = SegmentSampler.build(nodes["item_topic"], nodes["item_popularity"], nodes["num_topics"])
    session_seconds = model.session_hours * 3600
    buy_target, _ = _capped(target.num_buy, num_users * target.num_items)

    def draw(n: int, round_: int) -> dict[str, np.ndarray]:
        user = categorical(rng, nodes["buy_activity"], n)
        item = np.empty(n, dtype=np.int64)
        ts = np.empty(n, dtype=np.int64)
        via = np.full(n, -1, dtype=np.int64)

        through = (rng.random(n) < influence) & has_channel[user]
        edge = followed.sample(rng, user[through])  # follow edge index
        pair = catalogue.sample(rng, follow["dst"][edge])  # listed pair index
        session = np.floor(rng.random(edge.shape[0]) * sell["sessions"][pair]).astype(np.int64)
        start = (sell["day0"][pair] + session * sell["gap"][pair]) * DAY + sell["hour"][sell["src"][pair]] * 3600
        item[through] = sell["dst"][pair]
        ts[through] = start + rng.integers(0, session_seconds, edge.shape[0])
        via[through] = edge

        own = ~through
        m = int(own.sum())
        pick = rng.random(m)
        topic = np.where(pick < model.organic_primary, nodes["user_topic"][user[own]], nodes["user_topic2"][user[own]])
        anywhere = pick >= model.organic_primary + model.organic_secondary
        if round_ >= UNIFORM_AFTER_ROUND:
            item[own] = rng.integers(0, target.num_items, m)
        else:
            item[own] = _in_topic_or_anywhere(items, rng, topic, anywhere)
        ts[own] = rng.integers(0, NUM_DAYS * DAY, m)
        return {"src": user, "dst": item, "ts": ts, "via": via}

    return fill_unique_pairs(draw, buy_target, target.num_items, rng)


def _follow_times(follow: dict[str, np.ndarray], buy: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Relative follow times: before the first purchase made through the follow, else uniform."""
    e = follow["src"].shape[0]
    limit = np.full(e, NUM_DAYS * DAY, dtype=np.int64)
    via = buy["via"] >= 0
    np.minimum.at(limit, buy["via"][via], buy["ts"][via] + 1)
    return np.floor(rng.random(e) * limit).astype(np.int64)


# --------------------------------------------------------------------------- output


def _table(src: np.ndarray, dst: np.ndarray, ts: np.ndarray, weight: np.ndarray | None = None) -> EdgeTable:
    """Edge table in time order (ties by src, dst) with absolute unix timestamps."""
    order = np.lexsort((dst, src, ts))
    return EdgeTable(
        src[order],
        dst[order],
        ts[order] + TIME_ORIGIN,
        None if weight is None else weight[order].astype(np.float32),
    )


def _node_ids(prefix: str, count: int) -> np.ndarray:
    return np.char.add(prefix, np.arange(count).astype(str)).astype(object)
