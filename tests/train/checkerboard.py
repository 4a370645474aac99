"""A tiny tripartite graph where the right answer is known (shared by trainer, evaluation and contract tests).

Users, items and streamers fall into ``num_clusters`` clusters (cluster = index mod ``num_clusters``, the
"checkerboard"). Users follow the streamers of their cluster, streamers sell the items of their cluster, and
every user buys every item of its cluster: all but two in the training window (days 0-29), one in the
validation window (day 35) and one in the test window (day 45), rotating so that every item keeps training
buys. Negatives of a user's candidate list can only come from other clusters (it bought every item of its
own), so a model that learned the cluster structure ranks the held-out item first.
"""

from __future__ import annotations

import numpy as np

from lsec.data.graph import EdgeTable, HeteroGraph

DAY = 86_400
ORIGIN = 1_606_780_800  # 2020-12-01 UTC


def checkerboard(
    num_clusters: int = 4,
    users_per_cluster: int = 12,
    items_per_cluster: int = 8,
    streamers_per_cluster: int = 2,
    num_cold_users: int = 0,
    seed: int = 0,
) -> HeteroGraph:
    """The graph; ``num_cold_users`` extra users per cluster have valid/test buys but no training buy."""
    rng = np.random.default_rng(seed)
    n_users = num_clusters * (users_per_cluster + num_cold_users)
    n_items = num_clusters * items_per_cluster
    n_streamers = num_clusters * streamers_per_cluster
    items_of = [np.arange(c, n_items, num_clusters) for c in range(num_clusters)]
    streamers_of = [np.arange(c, n_streamers, num_clusters) for c in range(num_clusters)]
    buy_src, buy_dst, buy_ts = [], [], []
    follow_src, follow_dst = [], []
    for user in range(n_users):
        cluster = user % num_clusters
        rank = user // num_clusters  # position of the user inside its cluster
        items = items_of[cluster]
        test_item = items[rank % len(items)]
        valid_item = items[(rank + 1) % len(items)]
        cold = rank >= users_per_cluster
        for item in items:
            if item == test_item:
                day = 45
            elif item == valid_item:
                day = 35
            elif cold:
                continue
            else:
                day = int(rng.integers(0, 30))
            buy_src.append(user)
            buy_dst.append(item)
            buy_ts.append(ORIGIN + day * DAY + int(rng.integers(0, DAY)))
        for streamer in streamers_of[cluster]:
            follow_src.append(user)
            follow_dst.append(streamer)
    sell_src = [s for s in range(n_streamers) for _ in items_of[s % num_clusters]]
    sell_dst = [i for s in range(n_streamers) for i in items_of[s % num_clusters]]

    def table(src: list[int], dst: list[int], ts: list[int] | None = None, weighted: bool = False) -> EdgeTable:
        times = np.asarray(ts, np.int64) if ts is not None else ORIGIN + rng.integers(0, 30 * DAY, len(src))
        weight = np.full(len(src), 30.0, np.float32) if weighted else None
        return EdgeTable(np.asarray(src, np.int32), np.asarray(dst, np.int32), times, weight)

    return HeteroGraph(
        num_nodes={"user": n_users, "item": n_items, "streamer": n_streamers},
        edges={
            ("user", "buy", "item"): table(buy_src, buy_dst, buy_ts),
            ("user", "follow", "streamer"): table(follow_src, follow_dst),
            ("streamer", "sell", "item"): table(sell_src, sell_dst, weighted=True),
        },
        node_ids={
            "user": np.array([f"u{i}" for i in range(n_users)], dtype=object),
            "item": np.array([f"i{i}" for i in range(n_items)], dtype=object),
            "streamer": np.array([f"s{i}" for i in range(n_streamers)], dtype=object),
        },
        name="checkerboard",
        time_origin=ORIGIN,
    )


def checkerboard_split(graph: HeteroGraph, num_candidates: int = 16, seed: int = 0):  # type: ignore[no-untyped-def]
    """In-memory split: days 0-29 train, 30-39 valid, 40-49 test; buy candidate lists only."""
    from lsec.data.split import make_split, split_by_time

    return make_split(graph, split_by_time(graph, 30, 10, 10), tasks=("buy",), num_candidates=num_candidates, seed=seed)


def write_checkerboard_dataset(path, num_cold_users: int = 0, num_candidates: int = 16):  # type: ignore[no-untyped-def]
    """Save the checkerboard as a canonical dataset with a time split named "default"; returns the folder."""
    from lsec.data import store
    from lsec.data.split import split_by_time, write_split

    graph = checkerboard(num_cold_users=num_cold_users)
    store.save(graph, path)
    write_split(path, split_by_time(graph, 30, 10, 10), tasks=("buy",), num_candidates=num_candidates)
    return path
