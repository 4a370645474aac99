"""Gifting simulator: live rooms cut into 30-second segments, impressions, gifts and segment content.

Stands in for KuaiLive and the Kuaishou gifting logs of MMBee (not obtainable here). Two presets:
``kuailive`` (23,772 users, 452,621 streamers, 21 days: KuaiLive's published counts) and ``mmbee``
(the MMBee setting: 7 training days + 1 test day; node counts are our choice, the paper gives none).
Both are calibrated to MMBee's gifting sparsity: on average 0.32 streamers gifted per user (out-degree of
the user -> streamer gift graph) and 0.03 % positive impressions (sparsity 99.969 %). KuaiLive's own gift
statistics are not in the seeds, so the kuailive preset borrows MMBee's.

Generative story (times in seconds from ``TIME_ORIGIN`` = 2025-05-05 00:00 UTC):

1. **Latents.** ``K = 12`` content categories with Dirichlet shares. A streamer has a category, a
   heavy-tailed exposure popularity (lognormal), a gift attractiveness ``a_s`` (normal), a daily chance to go
   live, a usual start hour and session length. A user has a favourite category, an activity (lognormal,
   sets the number of impressions), a gift propensity ``a_u``, a highlight sensitivity ``h_u``, a spending
   level and ``F = 4`` favourite streamers (in the favourite category by popularity, 80 %).
2. **Live rooms.** Streamer ``s`` is live on day ``d`` with its daily chance; the session starts near its
   usual hour and lasts ~1-6 h. Rooms, segments (30 s slices of a room) and *highlights* (1-minute moments of
   a room, 10 % of them) are functions of ``(seed, s, d, slot)`` through a counter-based hash, never stored.
3. **Impressions** (the full stream). User ``u`` gets ``Poisson(activity_u * impressions_per_user_day *
   num_days)`` exposures on uniform days. The streamer is a favourite (20 %), one of the favourite category
   (60 %) or any (20 %), by popularity, redrawn while it is not live that day; the time is uniform inside the
   session, and the segment is the 30-second slice containing it.
4. **Gifts.** ``P(gift) = sigmoid(b0 + a_u + a_s + 1.0 [category match] + 3.5 [favourite]
   + 2.0 h_u [highlight])``. The identity terms make a user's gift history predictive of later gifts; the
   highlight term makes real-time content predictive. ``b0`` is solved by bisection (on a fixed subset of
   user chunks) so that the expected positive share equals the preset's. Amounts are lognormal coins
   (user spending level x gift noise), > 0 exactly on label 1.
5. **What is written.** Every positive impression and each negative with probability ``negative_rate``
   (default 40 x the positive rate, i.e. ~1.2 %: written rows are ~2.5 % positive). ``meta["simulation"]``
   records the full-stream counts and the rate, so ``1 / negative_rate`` is the weight of a negative row.
   Gift edges (user -> streamer, weight = amount, one per gift) are exactly the positive impressions.
   Segments are those of the written impressions; ``events/segments`` gives streamer, room and start.
6. **Content.** ``segment__{visual,speech,comment}`` of shape (num_segments, 3 frames, dim) float16:
   ``category vector + streamer style + highlight * streamer highlight look + noise``, where the look is
   0.6 a shared highlight direction + 0.8 a streamer-specific one (so a model must learn per-streamer
   "highlight" patterns, MMBee's learnable queries). Highlights are strongest in the visual modality.
7. **Null controls.** ``null="graph"``: the identity terms (``a_u + a_s`` + category + favourite, and
   ``h_u``) are shuffled across impressions before labels are drawn, so a user's gift history carries no
   information about later gifts (content still does). ``null="content"``: the segment feature rows are
   shuffled across segments (one permutation for all modalities), labels unchanged.

8. **Co-gifting communities** (off by default: ``communities_per_category = 0`` gives the same bytes as
   before). With ``communities_per_category = C >= 1`` each category is cut into ``C`` communities; a
   streamer's and a user's community inside their category is a hash of ``(seed, id)`` (uniform), the user's
   in-category favourites are drawn inside the user's community (by popularity; the category when it has
   no streamer), and the gift logit gains ``community_boost`` when user and streamer share a community. So
   users who gift the same streamers gift the same *other* streamers, the co-gifting structure MMBee's
   graph-guided interest expansion (u2a2u2a, a2u2a, Swing) is built to find, which the exposure (by
   category) and a user's own history only hint at. ``null="graph"`` shuffles the community term with the
   other identity terms. ``streamer_share < 1`` cuts the preset's streamer count (same users): the mmbee
   preset's 2.5 users per streamer (our choice; the paper gives no counts) leave ~0.8 gifting users per
   streamer, too few for 2- and 3-hop expansions to reach a user's next new streamer. Probe: ``benchmarks/mmbee_gie_signal.py``; benchmarks/README.md "GIE gain: signal
   and model (issue 13 point 7)".

**Scaling.** ``scale`` multiplies users and streamers; impressions per user stay fixed, so the positive share
stays at its target and impressions grow linearly. Gifted streamers per user drift down at small scales
(fewer streamers, so more repeat gifts to the same ones): mmbee gives 0.312 at scale 1 and ~0.26-0.28 at 0.1;
kuailive 0.319 at scale 1 and ~0.29-0.31 at 0.1. ``impressions_per_user_day`` (not published for either
dataset) is the knob that was set so that scale 1 hits 0.32.

**Measured at scale 1, seed 0.** kuailive: 33.96 M full-stream impressions, 0.0295 % positive, 10,009 gifts
on 7,575 pairs (0.319 per user), 417,588 impressions and 416,710 segments written (~130 MB), 63 s CPU,
1.1 GB peak memory. mmbee: 29.4 M impressions, 0.0304 % positive, 8,955 gifts (0.312 pairs per user),
361,854 impressions and 307,968 segments written, 20 s CPU.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from lsec.data.graph import EdgeTable, HeteroGraph
from lsec.data.simulate.sampling import SegmentSampler, categorical
from lsec.errors import LsecConfigError

SIMULATOR_VERSION = "1"
TIME_ORIGIN = 1_746_403_200  # 2025-05-05 00:00:00 UTC
DAY = 86_400
SEGMENT_SECONDS = 30
HIGHLIGHT_SEGMENTS = 2  # a highlight moment covers 2 consecutive segments (1 minute)
CHUNK_USERS = 1024  # users per generation chunk (each chunk has its own random stream)
CALIBRATION_CHUNKS = 2  # the first chunks, on which b0 is solved
MODALITIES = ("visual", "speech", "comment")
NULLS = ("graph", "content")


@dataclass(frozen=True)
class GiftingPreset:
    """Target statistics of one gifting dataset at scale 1."""

    name: str
    num_users: int
    num_streamers: int
    num_days: int
    impressions_per_user_day: float  # mean exposures per user and day in the full stream
    gifted_per_user: float = 0.32  # MMBee: mean out-degree of users in the gift graph
    positive_rate: float = 0.0003  # MMBee: sparsity 99.969 %


PRESETS: dict[str, GiftingPreset] = {
    "kuailive": GiftingPreset("kuailive", 23_772, 452_621, 21, 68.0),
    "mmbee": GiftingPreset("mmbee", 20_000, 8_000, 8, 185.0),
}


@dataclass(frozen=True)
class GiftingModel:
    """Knobs of the generative story (module docstring); the defaults are the calibrated ones."""

    num_categories: int = 12
    category_concentration: float = 2.0
    streamer_popularity_sigma: float = 1.5
    user_activity_sigma: float = 0.8
    num_favourites: int = 4
    favourite_in_category: float = 0.8
    exposure_favourite: float = 0.2  # exposure mix: favourite / favourite category / anywhere
    exposure_category: float = 0.6
    user_propensity_sigma: float = 1.5  # a_u
    streamer_attractiveness_sigma: float = 0.6  # a_s
    category_boost: float = 1.0
    favourite_boost: float = 3.5
    highlight_boost: float = 2.0  # times h_u ~ Uniform(0.5, 1.5)
    highlight_rate: float = 0.1  # share of highlight moments
    amount_log_mean: float = 2.3  # log coins (about 10)
    amount_sigma: float = 1.0
    frames: int = 3
    dim: int = 16
    live_rounds: int = 8  # redraws of a streamer that is not live that day
    # Co-gifting communities (off by default; step 8 of the module docstring): 0 or >= 1 per category.
    communities_per_category: int = 0
    community_boost: float = 0.0  # added to the gift logit when user and streamer share their community
    streamer_share: float = 1.0  # multiplies the preset's streamer count (denser gift graph below 1)


NEW_KNOBS = {"communities_per_category": 0, "community_boost": 0.0, "streamer_share": 1.0}
"""Knobs (and defaults) written to ``meta["simulation"]["model"]`` only when set (default bytes unchanged)."""


@dataclass
class GiftingDataset:
    """A simulated gifting dataset: graph (gift edges), event tables, segment features and the latent truth.

    ``truth`` (not written to disk) holds per-segment ``highlight`` (int8) and per-user / per-streamer latents,
    for tests and analyses.
    """

    graph: HeteroGraph
    events: dict[str, dict[str, np.ndarray]]
    features: dict[str, np.ndarray]
    truth: dict[str, np.ndarray] = field(default_factory=dict)


def simulate_gifting(
    preset: str = "kuailive",
    scale: float = 1.0,
    seed: int = 0,
    null: str | None = None,
    negative_rate: float | None = None,
    progress: bool = False,
    model: GiftingModel | None = None,
) -> GiftingDataset:
    """Generate a gifting dataset (module docstring).

    Args:
        preset: ``"kuailive"`` or ``"mmbee"``.
        scale: multiplies user and streamer counts, in (0, 4].
        seed: same seed, same arrays.
        null: ``None``, ``"graph"`` (gift history uninformative) or ``"content"`` (features shuffled).
        negative_rate: share of negative impressions written (default ``40 * positive_rate``), in (0, 1].
        progress: tqdm bar over user chunks.
        model: generative knobs (default :class:`GiftingModel`).
    """
    target = _check(preset, scale, seed, null, negative_rate)
    model = model or GiftingModel()
    check_model(model)
    if model.streamer_share != 1.0:
        target = replace(target, num_streamers=max(1, round(target.num_streamers * model.streamer_share)))
    rate = 40 * target.positive_rate if negative_rate is None else float(negative_rate)
    base = np.random.SeedSequence([seed, 0x6166])
    rng = np.random.default_rng(base.spawn(1)[0])
    hash_seed = int(np.random.SeedSequence([seed, 0x6861]).generate_state(1, np.uint64)[0])
    latents = _latents(target, model, rng, hash_seed)
    num_chunks = -(-target.num_users // CHUNK_USERS)
    chunk_seeds = np.random.SeedSequence([seed, 0x6368]).spawn(num_chunks)

    def stream(chunk: int) -> dict[str, np.ndarray]:
        return _stream(chunk, target, model, latents, np.random.default_rng(chunk_seeds[chunk]), hash_seed, null)

    bar = tqdm(total=num_chunks, desc=f"simulate {preset}", disable=not progress, unit="chunk")
    # b0 is solved on the first chunks (users are exchangeable, so any chunk is a random sample of them).
    first = [stream(chunk) for chunk in range(min(CALIBRATION_CHUNKS, num_chunks))]
    b0 = _solve_intercept(np.concatenate([s["logit"] for s in first]), target.positive_rate)

    kept: list[dict[str, np.ndarray]] = []
    full_impressions = full_positives = dropped = 0
    for chunk in range(num_chunks):
        s = first[chunk] if chunk < len(first) else stream(chunk)
        crng = np.random.default_rng(np.random.SeedSequence([seed, 0x6C62, chunk]))
        label = crng.random(s["logit"].shape[0]) < _sigmoid(s["logit"] + b0)
        keep = label | (crng.random(label.shape[0]) < rate)
        full_impressions += int(label.shape[0])
        full_positives += int(label.sum())
        dropped += int(s["dropped"][0])
        kept.append({k: v[keep] for k, v in s.items() if k not in ("logit", "dropped")} | {"label": label[keep]})
        if chunk < len(first):
            first[chunk] = {}
        bar.update()
    bar.close()
    rows = {k: np.concatenate([c[k] for c in kept]) for k in kept[0]}
    dataset = _assemble(rows, target, model, latents, rng, hash_seed, null)
    positives = rows["label"]
    pairs = np.unique(rows["user"][positives].astype(np.int64) * target.num_streamers + rows["streamer"][positives])
    dataset.graph.meta["provenance"] = {
        "generator": "lsec.data.simulate.gifting",
        "version": SIMULATOR_VERSION,
        "preset": preset,
        "scale": float(scale),
        "seed": int(seed),
        "null": null,
        "negative_rate": rate,
    }
    dataset.graph.meta["simulation"] = {
        "targets": {k: v for k, v in asdict(target).items() if k != "name"},
        "full_stream": {
            "impressions": full_impressions,
            "positives": full_positives,
            "positive_rate": full_positives / max(full_impressions, 1),
            "dropped_no_live_streamer": dropped,
        },
        "gifted_per_user": pairs.shape[0] / target.num_users,
        "written_impressions": int(positives.shape[0]),
        "negative_rate": rate,
        "negative_weight": 1.0 / rate,
        "intercept_b0": b0,
        "segments": int(dataset.features["segment__visual"].shape[0]),
        "model": _recorded(model),
        "impression_rule": "all positives and each negative with probability negative_rate",
        "gift_edges": "one per positive impression: ts = impression ts, weight = amount",
    }
    return dataset


# --------------------------------------------------------------------------- arguments


def _recorded(model: GiftingModel) -> dict[str, Any]:
    """The knobs written to ``meta.json``: those of :data:`NEW_KNOBS` only when they differ from the default."""
    return {k: v for k, v in asdict(model).items() if k not in NEW_KNOBS or v != NEW_KNOBS[k]}


def check_model(model: GiftingModel) -> None:
    """Raise :class:`LsecConfigError` naming the first invalid knob of ``model``."""
    name = "GiftingModel"
    c = model.communities_per_category
    if not isinstance(c, (int, np.integer)) or isinstance(c, bool) or c < 0:
        raise LsecConfigError(
            f"The 'communities_per_category' parameter of {name} must be a non-negative int. Got {c!r} instead."
        )
    b = model.community_boost
    if not (isinstance(b, (int, float)) and np.isfinite(b)):
        raise LsecConfigError(f"The 'community_boost' parameter of {name} must be a finite number. Got {b!r} instead.")
    if c == 0 and b != 0:
        raise LsecConfigError(
            f"The 'community_boost' parameter of {name} needs communities_per_category >= 1. Got boost {b!r} "
            "with 0 communities."
        )
    share = model.streamer_share
    if not (isinstance(share, (int, float)) and np.isfinite(share) and 0 < share <= 1):
        raise LsecConfigError(
            f"The 'streamer_share' parameter of {name} must be a number in (0, 1]. Got {share!r} instead."
        )


def _check(preset: str, scale: float, seed: int, null: str | None, negative_rate: float | None) -> GiftingPreset:
    name = "simulate_gifting"
    if preset not in PRESETS:
        raise LsecConfigError(
            f"The 'preset' parameter of {name} must be one of {sorted(PRESETS)}. Got {preset!r} instead."
        )
    if not (isinstance(scale, (int, float)) and np.isfinite(scale) and 0 < scale <= 4):
        raise LsecConfigError(f"The 'scale' parameter of {name} must be a number in (0, 4]. Got {scale!r} instead.")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise LsecConfigError(f"The 'seed' parameter of {name} must be a non-negative int. Got {seed!r} instead.")
    if null not in (None, *NULLS):
        raise LsecConfigError(
            f"The 'null' parameter of {name} must be None, 'graph' or 'content'. Got {null!r} instead."
        )
    if negative_rate is not None and not (isinstance(negative_rate, (int, float)) and 0 < negative_rate <= 1):
        raise LsecConfigError(
            f"The 'negative_rate' parameter of {name} must be a number in (0, 1]. Got {negative_rate!r} instead."
        )
    full = PRESETS[preset]
    return GiftingPreset(
        preset,
        max(1, round(full.num_users * scale)),
        max(1, round(full.num_streamers * scale)),
        full.num_days,
        full.impressions_per_user_day,
        full.gifted_per_user,
        full.positive_rate,
    )


# --------------------------------------------------------------------------- hashing (rooms, highlights)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def _uniform(hash_seed: int, salt: int, *keys: np.ndarray) -> np.ndarray:
    """A uniform in [0, 1) per entry, a pure function of ``(seed, salt, keys)``."""
    h = np.full(np.asarray(keys[0]).shape, np.uint64(hash_seed) ^ np.uint64(salt), dtype=np.uint64)
    for key in keys:
        h = _mix(h ^ (np.asarray(key).astype(np.uint64) * _GOLDEN))
    return (h >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _is_live(latents: dict[str, Any], hash_seed: int, streamer: np.ndarray, day: np.ndarray) -> np.ndarray:
    return _uniform(hash_seed, 1, streamer, day) < latents["live_chance"][streamer]


def _session(
    latents: dict[str, Any], hash_seed: int, streamer: np.ndarray, day: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Start (seconds from the origin) and length of the room of ``streamer`` on ``day``."""
    jitter = np.floor((_uniform(hash_seed, 2, streamer, day) - 0.5) * 7200).astype(np.int64)
    start = day * DAY + np.clip(latents["start_hour"][streamer] * 3600 + jitter, 0, DAY - 3600)
    length = np.floor(3600 * (1 + 5 * _uniform(hash_seed, 3, streamer, day) * latents["length_scale"][streamer]))
    length = np.minimum(length.astype(np.int64), (day + 1) * DAY - start)
    return start, length


# --------------------------------------------------------------------------- generation


def _latents(target: GiftingPreset, model: GiftingModel, rng: np.random.Generator, hash_seed: int) -> dict[str, Any]:
    k, nu, ns = model.num_categories, target.num_users, target.num_streamers
    share = rng.dirichlet(np.full(k, model.category_concentration))
    streamer_category = categorical(rng, share, ns)
    popularity = np.exp(model.streamer_popularity_sigma * rng.standard_normal(ns))
    latents: dict[str, Any] = {
        "share": share,
        "streamer_category": streamer_category,
        "popularity": popularity,
        "attractiveness": model.streamer_attractiveness_sigma * rng.standard_normal(ns),
        "live_chance": rng.beta(2.0, 2.0, ns),
        "start_hour": np.minimum(rng.normal(19.0, 3.5, ns), 23.0).clip(8.0).astype(np.int64),
        "length_scale": rng.random(ns),
        "user_category": categorical(rng, share, nu),
        "activity": np.exp(model.user_activity_sigma * rng.standard_normal(nu) - model.user_activity_sigma**2 / 2),
        "propensity": model.user_propensity_sigma * rng.standard_normal(nu),
        "sensitivity": rng.uniform(0.5, 1.5, nu),
        "spending": 0.5 * rng.standard_normal(nu),
        "sampler": SegmentSampler.build(streamer_category, popularity, k),
    }
    # Live rooms: (streamer, day) pairs, grouped by day and category, weighted by popularity.
    streamer, day = np.divmod(np.arange(ns * target.num_days, dtype=np.int64), target.num_days)
    live = _is_live(latents, hash_seed, streamer, day)
    streamer, day = streamer[live], day[live]
    members = popularity[streamer]
    by_day_category = SegmentSampler.build(day * k + streamer_category[streamer], members, target.num_days * k)
    by_day = SegmentSampler.build(day, members, target.num_days)
    # The samplers' members are live rooms; map them to their streamers once, so samples are streamer ids.
    latents["live_by_day_category"] = replace(by_day_category, order=streamer[by_day_category.order])
    latents["live_by_day"] = replace(by_day, order=streamer[by_day.order])
    f = model.num_favourites
    in_category = rng.random(nu * f) < model.favourite_in_category
    c = model.communities_per_category
    if c:  # communities (step 8): hashed, so the default path's random stream is untouched
        latents["streamer_community"] = streamer_category * c + np.floor(
            c * _uniform(hash_seed, 10, np.arange(ns))
        ).astype(np.int64)
        latents["user_community"] = latents["user_category"] * c + np.floor(
            c * _uniform(hash_seed, 11, np.arange(nu))
        ).astype(np.int64)
        by_community = SegmentSampler.build(latents["streamer_community"], popularity, k * c)
        group = np.repeat(latents["user_community"], f)
        has = by_community.totals()[group] > 0  # an empty community: the category instead
        favourites = _pick_streamers(latents, rng, np.repeat(latents["user_category"], f), in_category)
        pick = in_category & has
        favourites[pick] = by_community.sample(rng, group[pick])
        latents["favourites"] = favourites.reshape(nu, f)
        return latents
    latents["favourites"] = _pick_streamers(latents, rng, np.repeat(latents["user_category"], f), in_category).reshape(
        nu, f
    )
    return latents


def _pick_streamers(
    latents: dict[str, Any], rng: np.random.Generator, category: np.ndarray, in_category: np.ndarray
) -> np.ndarray:
    sampler: SegmentSampler = latents["sampler"]
    in_category = in_category & (sampler.totals()[category] > 0)
    out = np.empty(category.shape[0], dtype=np.int64)
    out[in_category] = sampler.sample(rng, category[in_category])
    out[~in_category] = sampler.sample_global(rng, int((~in_category).sum()))
    return out


def _stream(
    chunk: int,
    target: GiftingPreset,
    model: GiftingModel,
    latents: dict[str, Any],
    rng: np.random.Generator,
    hash_seed: int,
    null: str | None,
) -> dict[str, np.ndarray]:
    """The full impression stream of one chunk of users, with the gift logit minus ``b0``."""
    users = np.arange(chunk * CHUNK_USERS, min((chunk + 1) * CHUNK_USERS, target.num_users))
    mean = latents["activity"][users] * target.impressions_per_user_day * target.num_days
    user = np.repeat(users, rng.poisson(mean))  # (n,)
    n = user.shape[0]
    day = rng.integers(0, target.num_days, n)
    mode = rng.random(n)
    favourite = mode < model.exposure_favourite
    anywhere = mode >= model.exposure_favourite + model.exposure_category
    streamer = latents["favourites"][user, rng.integers(0, model.num_favourites, n)]
    favourite &= _is_live(latents, hash_seed, streamer, day)  # an offline favourite: show its category instead
    live: SegmentSampler = latents["live_by_day_category"]
    key = day * model.num_categories + latents["user_category"][user]
    in_category = ~favourite & ~anywhere & (live.totals()[key] > 0)
    streamer[in_category] = live.sample(rng, key[in_category])
    rest = ~favourite & ~in_category
    by_day: SegmentSampler = latents["live_by_day"]
    rest &= by_day.totals()[day] > 0
    streamer[rest] = by_day.sample(rng, day[rest])
    ok = favourite | in_category | rest  # False only on a day without any live streamer (tiny scales)
    user, day, streamer = user[ok], day[ok], streamer[ok]
    start, length = _session(latents, hash_seed, streamer, day)
    ts = start + np.floor(rng.random(user.shape[0]) * length).astype(np.int64)
    slot = (ts - start) // SEGMENT_SECONDS
    highlight = _uniform(hash_seed, 4, streamer, day, slot // HIGHLIGHT_SEGMENTS) < model.highlight_rate

    favourite_pair = (latents["favourites"][user] == streamer[:, None]).any(axis=1)
    identity = (
        latents["propensity"][user]
        + latents["attractiveness"][streamer]
        + model.category_boost * (latents["user_category"][user] == latents["streamer_category"][streamer])
        + model.favourite_boost * favourite_pair
    )
    if model.communities_per_category:
        same = latents["user_community"][user] == latents["streamer_community"][streamer]
        identity = identity + model.community_boost * same
    sensitivity = latents["sensitivity"][user]
    if null == "graph":  # who gifts to whom becomes noise: shuffle the identity terms across impressions
        order = rng.permutation(user.shape[0])
        identity, sensitivity = identity[order], sensitivity[order]
    logit = identity + model.highlight_boost * sensitivity * highlight
    return {
        "user": user,
        "streamer": streamer,
        "day": day,
        "start": start,
        "ts": ts,
        "slot": slot,
        "highlight": highlight,
        "logit": logit.astype(np.float64),
        "dropped": np.array([n - user.shape[0]]),
    }


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def _solve_intercept(logit: np.ndarray, rate: float) -> float:
    """``b0`` with ``mean(sigmoid(b0 + logit)) = rate`` (Newton on the log of the mean, from the exp limit)."""
    shift = float(logit.max())
    b = float(np.log(rate) - np.log(np.mean(np.exp(logit - shift))) - shift)  # exact when every p is small
    for _ in range(30):
        p = _sigmoid(logit + b)
        mean = float(p.mean())
        step = (np.log(mean) - np.log(rate)) * mean / max(float((p * (1 - p)).mean()), 1e-300)
        b -= step
        if abs(step) < 1e-10:
            break
    return b


# --------------------------------------------------------------------------- output


def _assemble(
    rows: dict[str, np.ndarray],
    target: GiftingPreset,
    model: GiftingModel,
    latents: dict[str, Any],
    rng: np.random.Generator,
    hash_seed: int,
    null: str | None,
) -> GiftingDataset:
    ns = target.num_streamers
    # Rooms and segments of the written impressions, numbered in time order (ties by streamer).
    room_key = rows["streamer"] * target.num_days + rows["day"]
    seg_start = rows["start"] + rows["slot"] * SEGMENT_SECONDS
    unique_seg, segment = np.unique(seg_start * ns + rows["streamer"], return_inverse=True)
    segment = segment.reshape(-1)
    num_segments = unique_seg.shape[0]
    first = np.zeros(num_segments, dtype=np.int64)
    first[segment] = np.arange(segment.shape[0])  # any row of the segment
    room_ids, room = np.unique(room_key[first], return_inverse=True)
    seg_streamer = unique_seg % ns
    seg_highlight = rows["highlight"][first]

    order = np.lexsort((rows["streamer"], rows["user"], rows["ts"]))
    label = rows["label"][order]
    user, streamer, ts = rows["user"][order], rows["streamer"][order], rows["ts"][order]
    amount = np.zeros(label.shape[0], dtype=np.float32)
    npos = int(label.sum())
    coins = np.exp(
        model.amount_log_mean + latents["spending"][user[label]] + model.amount_sigma * rng.standard_normal(npos)
    )
    amount[label] = np.maximum(1.0, np.round(coins)).astype(np.float32)

    impressions = {
        "user": user,
        "streamer": streamer,
        "segment": segment[order],
        "ts": ts + TIME_ORIGIN,
        "label": label.astype(np.int8),
        "amount": amount,
    }
    segments = {
        "segment": np.arange(num_segments),
        "streamer": seg_streamer,
        "room": room.reshape(-1),
        "ts": unique_seg // ns + TIME_ORIGIN,
    }
    features = _content(seg_streamer, seg_highlight, latents, model, rng, ns)
    if null == "content":
        perm = rng.permutation(seg_streamer.shape[0])
        features = {k: v[perm] for k, v in features.items()}
    gift = EdgeTable(user[label], streamer[label], ts[label] + TIME_ORIGIN, amount[label])
    graph = HeteroGraph(
        num_nodes={"user": target.num_users, "streamer": ns},
        edges={("user", "gift", "streamer"): gift},
        node_ids={"user": _ids("u", target.num_users), "streamer": _ids("s", ns)},
        name=target.name,
        time_origin=TIME_ORIGIN,
        node_features={"streamer": {"category": latents["streamer_category"].astype(np.int16)}},
    )
    truth = {
        "segment_highlight": seg_highlight.astype(np.int8),
        "room_key": room_ids,
        "user_propensity": latents["propensity"],
        "user_category": latents["user_category"],
        "favourites": latents["favourites"],
    }
    if model.communities_per_category:
        truth["user_community"] = latents["user_community"]
        truth["streamer_community"] = latents["streamer_community"]
    return GiftingDataset(graph, {"impressions": impressions, "segments": segments}, features, truth)


def _content(
    seg_streamer: np.ndarray,
    highlight: np.ndarray,
    latents: dict[str, Any],
    model: GiftingModel,
    rng: np.random.Generator,
    num_streamers: int,
) -> dict[str, np.ndarray]:
    """Segment features per modality, (num_segments, frames, dim) float16."""
    used, local = np.unique(seg_streamer, return_inverse=True)
    local = local.reshape(-1)
    n, f, d = seg_streamer.shape[0], model.frames, model.dim
    category = latents["streamer_category"][used][local]
    strength = {"visual": 1.5, "speech": 0.9, "comment": 0.7}  # highlight visibility per modality
    out = {}
    for modality in MODALITIES:
        centres = rng.standard_normal((model.num_categories, d))
        style = 0.7 * rng.standard_normal((used.shape[0], d))
        shared = rng.standard_normal(d)
        shared /= np.linalg.norm(shared)
        own = rng.standard_normal((used.shape[0], d))
        own /= np.linalg.norm(own, axis=1, keepdims=True)
        look = 0.6 * shared + 0.8 * own  # (S_used, d)
        look /= np.linalg.norm(look, axis=1, keepdims=True)
        mean = 0.5 * centres[category] + style[local] + strength[modality] * highlight[:, None] * look[local]
        frames = mean[:, None, :] + rng.standard_normal((n, f, d)).astype(np.float32)  # (n, frames, d)
        out[f"segment__{modality}"] = frames.astype(np.float16)
    return out


def _ids(prefix: str, count: int) -> np.ndarray:
    return np.char.add(prefix, np.arange(count).astype(str)).astype(object)
