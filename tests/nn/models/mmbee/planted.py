"""A planted gift graph: two communities of users and streamers; users gift inside their own community."""

from __future__ import annotations

import numpy as np

from lsec.graph.swing import GiftGraph, gift_graph


def two_communities(
    *, num_users: int = 120, num_streamers: int = 40, gifts_per_user: int = 3, cross: float = 0.0, seed: int = 0
) -> tuple[GiftGraph, np.ndarray, np.ndarray]:
    """The graph, the community of each user and of each streamer (first halves 0, second halves 1).

    Each user gifts ``gifts_per_user`` distinct streamers of its community (a ``cross`` share of gifts goes to
    the other one), with amounts in [1, 10).
    """
    rng = np.random.default_rng(seed)
    user_community = (np.arange(num_users) >= num_users // 2).astype(np.int64)
    streamer_community = (np.arange(num_streamers) >= num_streamers // 2).astype(np.int64)
    half = num_streamers // 2
    src, dst = [], []
    for user, community in enumerate(user_community):
        target = community if rng.random() >= cross else 1 - community
        chosen = rng.choice(half, size=gifts_per_user, replace=False) + target * half
        src.extend([user] * gifts_per_user)
        dst.extend(chosen.tolist())
    weight = rng.uniform(1, 10, len(src))
    graph = gift_graph(
        src=np.array(src), dst=np.array(dst), num_users=num_users, num_streamers=num_streamers, weight=weight
    )
    return graph, user_community, streamer_community
