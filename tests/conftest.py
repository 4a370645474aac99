"""Shared fixtures: small graphs built in memory (tests never read ../shared/data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lsec.data.graph import EdgeTable, HeteroGraph


def cli(*args: object) -> int:
    """Run ``lsec ARGS`` in process and return its exit code (0 when it returns normally)."""
    from lsec.cli import main

    try:
        main([str(a) for a in args])
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1
    return 0


@pytest.fixture(scope="session")
def mmbee_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``lsec data simulate --preset mmbee --scale 0.02 --seed 0``, simulated once per session; tests only read it."""
    path = tmp_path_factory.mktemp("gifting") / "data"
    assert cli("data", "simulate", "--preset", "mmbee", "--scale", "0.02", "--seed", "0", "--out", path) == 0
    return path


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
