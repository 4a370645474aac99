"""Event generation of the social-commerce simulator (:mod:`lsec.data.simulate.social`, whose docstring states
the model): the Hawkes purchases, their funnels and the other shopping sessions, the social interactions on
ties and between co-buyers, and the degree-preserving rewiring of the null control. Vectorised numpy, one
generation of the cascade at a time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from lsec.data.schema import CONSUMPTION_KINDS, SOCIAL_KINDS
from lsec.data.simulate.sampling import SegmentSampler, categorical

if TYPE_CHECKING:
    from lsec.data.simulate.social import SocialModel, SocialPreset

TIME_ORIGIN = 1_704_067_200  # 2024-01-01 00:00:00 UTC
DAY = 86_400
MAX_GENERATIONS = 200  # a subcritical cascade dies out long before


# --------------------------------------------------------------------------- consumption


def taste_items(model: SocialModel, latents: dict[str, Any], user: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Items for ``user`` by taste: primary / secondary / any category, then by popularity."""
    u = np.asarray(rng.random(user.shape[0]))
    category = np.where(u < model.taste_primary, latents["primary"][user], latents["secondary"][user])
    anywhere = u >= model.taste_primary + model.taste_secondary
    category[anywhere] = categorical(rng, latents["share"], int(anywhere.sum()))
    return items_in(latents, category, rng)


def items_in(latents: dict[str, Any], category: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    items: SegmentSampler = latents["items"]
    out = items.sample_global(rng, category.shape[0])  # a category without items (tiny scales): any item
    ok = items.totals()[category] > 0
    out[ok] = items.sample(rng, category[ok])
    return out


def draw_purchases(
    target: SocialPreset,
    model: SocialModel,
    latents: dict[str, Any],
    plan: dict[str, Any],
    influence: float,
    decay: float,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Purchase times (days), users and items: the Hawkes process drawn generation by generation."""
    span = float(target.num_days)
    user = np.repeat(np.arange(target.num_users), rng.poisson(plan["rate"] * latents["activity"] * span))
    t = rng.random(user.shape[0]) * span
    item = taste_items(model, latents, user, rng)
    parts = [(user, t, item, np.zeros(user.shape[0], dtype=bool))]
    followers: SegmentSampler = latents["followers"]
    can_trigger = influence * latents["influence"] * (followers.totals() > 0)
    generations = 1
    while user.shape[0] and generations < MAX_GENERATIONS:
        inside = 1 - np.exp(-decay * (span - t))  # share of the offspring that falls before the end
        parent = np.repeat(np.arange(user.shape[0]), rng.poisson(can_trigger[user] * inside))
        if parent.shape[0] == 0:
            break
        # dt ~ Exponential(decay) truncated to the rest of the span (inverse CDF)
        dt = -np.log1p(-rng.random(parent.shape[0]) * inside[parent]) / decay
        child_t = np.minimum(t[parent] + dt, np.nextafter(span, 0))
        child = latents["tie_src"][followers.sample(rng, user[parent])]
        u = rng.random(parent.shape[0])
        same_item = u < model.triggered_same_item
        same_category = ~same_item & (u < model.triggered_same_item + model.triggered_same_category)
        child_item = taste_items(model, latents, child, rng)
        child_item[same_item] = item[parent][same_item]
        trigger_category = latents["item_category"][item[parent][same_category]]
        child_item[same_category] = items_in(latents, trigger_category, rng)
        user, t, item = child, child_t, child_item
        parts.append((user, t, item, np.ones(user.shape[0], dtype=bool)))
        generations += 1
    return {
        "user": np.concatenate([p[0] for p in parts]),
        "ts": np.floor(np.concatenate([p[1] for p in parts]) * DAY).astype(np.int64),
        "item": np.concatenate([p[2] for p in parts]),
        "triggered": np.concatenate([p[3] for p in parts]),
        "generations": generations,
    }


def draw_consumption(
    target: SocialPreset,
    model: SocialModel,
    latents: dict[str, Any],
    plan: dict[str, Any],
    pays: dict[str, Any],
    rng: np.random.Generator,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Purchase funnels, abandoned carts and browse-only sessions, in time order; also the triggered flags."""
    codes = CONSUMPTION_KINDS
    price = latents["price"]
    share = latents["activity"] / latents["activity"].sum()
    expected_pays = plan["expected"]["pays"]

    def sessions(per_pay: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        user = np.repeat(np.arange(target.num_users), rng.poisson(per_pay * expected_pays * share))
        ts = np.floor(rng.random(user.shape[0]) * target.num_days * DAY).astype(np.int64)
        return user, ts, taste_items(model, latents, user, rng)

    def lead(ts: np.ndarray, minutes: float) -> np.ndarray:
        return np.maximum(ts - np.floor(rng.exponential(minutes * 60, ts.shape[0])).astype(np.int64), 0)

    n_pay = pays["user"].shape[0]
    quantity = 1 + rng.poisson(model.quantity_extra, n_pay)
    cart_user, cart_ts, cart_item = sessions(model.carts_per_pay)
    browse_user, browse_ts, browse_item = sessions(model.browse_sessions_per_pay)
    pay_cart_ts = lead(pays["ts"], model.cart_lead_minutes)
    # the item browsed before it is carted: purchase funnels first, then abandoned carts
    carted_user = np.concatenate([pays["user"], cart_user])
    carted_item = np.concatenate([pays["item"], cart_item])
    carted_ts = np.concatenate([pay_cart_ts, cart_ts])
    first_browse_ts = lead(carted_ts, model.browse_lead_minutes)
    # other items of the category, browsed around every session's first browse
    session_user = np.concatenate([carted_user, browse_user])
    session_item = np.concatenate([carted_item, browse_item])
    session_ts = np.concatenate([first_browse_ts, browse_ts])
    extra = np.repeat(np.arange(session_user.shape[0]), rng.poisson(model.extra_browses, session_user.shape[0]))
    extra_item = items_in(latents, latents["item_category"][session_item[extra]], rng)
    extra_ts = lead(session_ts[extra], model.browse_lead_minutes)

    parts = [
        (pays["user"], pays["item"], pays["ts"], codes["pay"], price[pays["item"]] * quantity),
        (pays["user"], pays["item"], pay_cart_ts, codes["cart"], price[pays["item"]] * quantity),
        (cart_user, cart_item, cart_ts, codes["cart"], price[cart_item] * (1 + rng.poisson(0.3, cart_user.shape[0]))),
        (session_user, session_item, session_ts, codes["browse"], np.zeros(session_user.shape[0])),
        (session_user[extra], extra_item, extra_ts, codes["browse"], np.zeros(extra.shape[0])),
    ]
    user = np.concatenate([p[0] for p in parts])
    item = np.concatenate([p[1] for p in parts])
    ts = np.concatenate([p[2] for p in parts])
    kind = np.concatenate([np.full(p[0].shape[0], p[3], dtype=np.int8) for p in parts])
    amount = np.concatenate([p[4] for p in parts]).astype(np.float32)
    triggered = np.zeros(user.shape[0], dtype=np.int8)
    triggered[:n_pay] = pays["triggered"]
    order = np.lexsort((kind, item, user, ts))
    columns = {"user": user, "item": item, "ts": ts + TIME_ORIGIN, "kind": kind, "amount": amount}
    return {name: values[order] for name, values in columns.items()}, triggered[order]


# --------------------------------------------------------------------------- social interactions


def draw_interactions(
    target: SocialPreset,
    model: SocialModel,
    latents: dict[str, Any],
    plan: dict[str, Any],
    pays: dict[str, Any],
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Interactions on the ties (uniform times) and feedback interactions between co-buyers of a category."""
    end = target.num_days * DAY
    tie = np.repeat(np.arange(latents["tie_src"].shape[0]), rng.poisson(plan["tie_lambda"] * latents["strength"]))
    tie_ts = np.floor(rng.random(tie.shape[0]) * end).astype(np.int64)
    tie_kind = categorical(rng, np.asarray(model.tie_kinds), tie.shape[0])

    # Feedback: pays sorted by (category, time); an interaction of a buyer with the buyer of a uniformly
    # drawn earlier purchase of the same category.
    category = latents["item_category"][pays["item"]]
    order = np.lexsort((pays["user"], pays["ts"], category))
    sorted_category = category[order]
    start = np.searchsorted(sorted_category, sorted_category, side="left")
    rank = np.arange(order.shape[0]) - start  # earlier purchases of the category
    source = np.repeat(np.arange(order.shape[0]), rng.poisson(plan["feedback_per_pay"], order.shape[0]))
    source = source[rank[source] > 0]
    partner = start[source] + np.floor(rng.random(source.shape[0]) * rank[source]).astype(np.int64)
    fb_src, fb_dst = pays["user"][order[source]], pays["user"][order[partner]]
    delay = np.floor(rng.exponential(model.feedback_delay_days * DAY, source.shape[0])).astype(np.int64)
    fb_ts = pays["ts"][order[source]] + delay
    fb_kind = categorical(rng, np.asarray(model.feedback_kinds), source.shape[0])
    ok = (fb_src != fb_dst) & (fb_ts < end)

    kind_codes = np.array([SOCIAL_KINDS[k] for k in ("like", "comment", "repost", "trust")], dtype=np.int8)
    return {
        "src": np.concatenate([latents["tie_src"][tie], fb_src[ok]]),
        "dst": np.concatenate([latents["tie_dst"][tie], fb_dst[ok]]),
        "ts": np.concatenate([tie_ts, fb_ts[ok]]),
        "kind": kind_codes[np.concatenate([tie_kind, fb_kind[ok]])],
        "feedback": np.concatenate([np.zeros(tie.shape[0], dtype=bool), np.ones(int(ok.sum()), dtype=bool)]),
        "dropped": 0,
    }


def draw_bursts(
    target: SocialPreset,
    model: SocialModel,
    latents: dict[str, Any],
    plan: dict[str, Any],
    pays: dict[str, Any],
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Interactions triggered by purchases: after each purchase of ``v``, ``Poisson(burst_lambda x S_v)``
    interactions ``u -> v`` on ``v``'s follower ties (``u`` drawn by tie strength), each after an exponential
    delay (mean ``burst_delay_days``); those past the end are dropped. Kinds as on the ties."""
    end = target.num_days * DAY
    followers: SegmentSampler = latents["followers"]
    has = followers.totals() > 0
    rate = plan["burst_lambda"] * followers.totals()
    count = rng.poisson(rate[pays["user"]] * has[pays["user"]])
    purchase = np.repeat(np.arange(pays["user"].shape[0]), count)
    tie = followers.sample(rng, pays["user"][purchase])
    delay = np.floor(rng.exponential(model.burst_delay_days * DAY, purchase.shape[0])).astype(np.int64)
    ts = pays["ts"][purchase] + delay
    kind = categorical(rng, np.asarray(model.tie_kinds), purchase.shape[0])
    ok = ts < end
    kind_codes = np.array([SOCIAL_KINDS[k] for k in ("like", "comment", "repost", "trust")], dtype=np.int8)
    n = int(ok.sum())
    return {
        "src": latents["tie_src"][tie][ok],
        "dst": latents["tie_dst"][tie][ok],
        "ts": ts[ok],
        "kind": kind_codes[kind[ok]],
        "feedback": np.zeros(n, dtype=bool),
        "burst": np.ones(n, dtype=bool),
        "dropped": 0,
    }


def concat_interactions(social: dict[str, Any], bursts: dict[str, Any]) -> dict[str, Any]:
    """The rows of ``social`` then those of ``bursts`` (``burst`` flags: False, then True)."""
    out = {k: np.concatenate([social[k], bursts[k]]) for k in ("src", "dst", "ts", "kind", "feedback")}
    out["burst"] = np.concatenate([np.zeros(social["src"].shape[0], dtype=bool), bursts["burst"]])
    return out | {"dropped": social["dropped"] + bursts["dropped"]}


def rewire_interactions(social: dict[str, Any], rng: np.random.Generator, *, with_time: bool = False) -> dict[str, Any]:
    """Shuffle ``dst`` (degrees, times and kinds kept); each self-loop swaps ``dst`` with a random other row.

    ``with_time``: ``ts`` is shuffled too, by its own permutation (each row keeps its ``src`` and ``kind``, takes the
    ``dst`` of one row and the ``ts`` of another). Needed when interactions follow purchases (bursts): then the
    times of a user's outgoing events mark its influencers' purchases (which raise its own) and the times of its
    incoming events its own purchases, so ``(src, ts)`` or ``(dst, ts)`` would still carry consumption. Every
    user keeps its out- and in-degree; the times are kept as a whole, not per user."""
    src, dst = social["src"], social["dst"][rng.permutation(social["dst"].shape[0])]
    ts = social["ts"][rng.permutation(social["ts"].shape[0])] if with_time else social["ts"]
    for row in np.flatnonzero(src == dst):  # few: about sum(out * in) / E rows
        for other in rng.integers(0, dst.shape[0], 32):
            if src[row] != dst[other] and src[other] != dst[row]:
                dst[row], dst[other] = dst[other], dst[row]
                break
    keep = src != dst
    dropped = int((~keep).sum())
    out = {k: v[keep] for k, v in social.items() if k not in ("dst", "ts", "dropped")}
    return out | {"dst": dst[keep], "ts": ts[keep], "dropped": dropped}
