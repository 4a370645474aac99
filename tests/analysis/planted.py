"""A tiny tripartite generator with planted streamers' influence, independent of lsec.data.simulate.

Users, items and streamers each get one of ``num_topics`` topics and a heavy-tailed activity. With
``influence > 0``: streamers sell mostly items of their topic, users follow mostly streamers of their topic
and buy a share ``influence`` of their items from followed streamers' catalogues. ``null`` shuffles the
destination column of one relation (degree-preserving), which destroys exactly the signal it carries.
"""

from __future__ import annotations

import numpy as np

from lsec.data.graph import EdgeTable, HeteroGraph

ORIGIN = 1_606_780_800  # 2020-12-01 UTC
DAY = 86_400


def _heavy_tail(rng: np.random.Generator, n: int, mean: float) -> np.ndarray:
    weights = rng.lognormal(0.0, 1.0, n)
    return np.maximum(1, np.round(weights / weights.mean() * mean)).astype(np.int64)


def planted_graph(
    num_users: int = 1500,
    num_items: int = 1200,
    num_streamers: int = 120,
    num_topics: int = 12,
    influence: float = 0.5,
    null: str | None = None,
    seed: int = 0,
) -> HeteroGraph:
    rng = np.random.default_rng(seed)
    topic_user = rng.integers(0, num_topics, num_users)
    topic_item = rng.integers(0, num_topics, num_items)
    topic_streamer = rng.integers(0, num_topics, num_streamers)
    item_popularity = rng.lognormal(0.0, 1.0, num_items)

    def pick(candidates_topic: np.ndarray, topic: int, k: int, weights: np.ndarray | None = None) -> np.ndarray:
        same = np.flatnonzero(candidates_topic == topic)
        k_same = rng.binomial(k, influence) if same.size else 0
        pool_all = np.arange(candidates_topic.size)
        p_all = None if weights is None else weights / weights.sum()
        chosen = [rng.choice(pool_all, size=k - k_same, p=p_all)]
        if k_same:
            p_same = None if weights is None else weights[same] / weights[same].sum()
            chosen.append(rng.choice(same, size=k_same, p=p_same))
        return np.unique(np.concatenate(chosen))

    sell_src, sell_dst = [], []
    for s, k in enumerate(_heavy_tail(rng, num_streamers, 25)):
        items = pick(topic_item, topic_streamer[s], int(min(k, num_items)))
        sell_src.append(np.full(items.size, s))
        sell_dst.append(items)
    sell_s, sell_i = np.concatenate(sell_src), np.concatenate(sell_dst)
    catalogue = [sell_i[sell_s == s] for s in range(num_streamers)]

    follow_src, follow_dst, buy_src, buy_dst = [], [], [], []
    follows_per_user = _heavy_tail(rng, num_users, 6)
    buys_per_user = _heavy_tail(rng, num_users, 8)
    for u in range(num_users):
        followed = pick(topic_streamer, topic_user[u], int(min(follows_per_user[u], num_streamers)))
        follow_src.append(np.full(followed.size, u))
        follow_dst.append(followed)
        k = int(buys_per_user[u])
        k_influenced = rng.binomial(k, influence)
        offered = np.concatenate([catalogue[s] for s in followed])
        bought = [rng.choice(num_items, size=k - k_influenced, p=item_popularity / item_popularity.sum())]
        if k_influenced and offered.size:
            bought.append(rng.choice(offered, size=k_influenced))
        items = np.unique(np.concatenate(bought))
        buy_src.append(np.full(items.size, u))
        buy_dst.append(items)

    def table(src: list[np.ndarray], dst: list[np.ndarray]) -> EdgeTable:
        s, d = np.concatenate(src), np.concatenate(dst)
        return EdgeTable(s, d, ORIGIN + rng.integers(0, 50 * DAY, s.size))

    follow = table(follow_src, follow_dst)
    sell = EdgeTable(sell_s, sell_i, ORIGIN + rng.integers(0, 50 * DAY, sell_s.size), np.full(sell_s.size, 20.0))
    if null == "follow":
        follow = EdgeTable(follow.src, rng.permutation(follow.dst), follow.ts)
    elif null == "sell":
        sell = EdgeTable(sell.src, rng.permutation(sell.dst), sell.ts, sell.weight)
    elif null is not None:
        raise ValueError(f"null must be None, 'follow' or 'sell'. Got {null!r}.")
    return HeteroGraph(
        num_nodes={"user": num_users, "item": num_items, "streamer": num_streamers},
        edges={
            ("user", "buy", "item"): table(buy_src, buy_dst),
            ("user", "follow", "streamer"): follow,
            ("streamer", "sell", "item"): sell,
        },
        name=f"planted-{influence}-{null or 'none'}",
        time_origin=ORIGIN,
    )
