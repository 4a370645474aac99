"""Shared fixtures: small graphs built in memory (tests never read ../shared/data)."""

from __future__ import annotations

import numpy as np
import pytest

from lsec.data.graph import EdgeTable, HeteroGraph


def random_tripartite(
    num_users: int = 30, num_items: int = 40, num_streamers: int = 6, num_edges: int = 200, seed: int = 0
) -> HeteroGraph:
    rng = np.random.default_rng(seed)
    day = 86_400
    origin = 1_606_780_800  # 2020-12-01 UTC

    def table(n_src: int, n_dst: int, weighted: bool) -> EdgeTable:
        return EdgeTable(
            rng.integers(0, n_src, num_edges),
            rng.integers(0, n_dst, num_edges),
            origin + rng.integers(0, 50 * day, num_edges),
            rng.random(num_edges).astype(np.float32) * 50 if weighted else None,
        )

    return HeteroGraph(
        num_nodes={"user": num_users, "item": num_items, "streamer": num_streamers},
        edges={
            ("user", "buy", "item"): table(num_users, num_items, False),
            ("user", "follow", "streamer"): table(num_users, num_streamers, False),
            ("streamer", "sell", "item"): table(num_streamers, num_items, True),
        },
        name="tiny",
        time_origin=origin,
    )


@pytest.fixture
def tiny_graph() -> HeteroGraph:
    return random_tripartite()
