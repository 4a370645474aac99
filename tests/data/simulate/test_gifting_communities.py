"""The gifting simulator's co-gifting communities (step 8 of lsec.data.simulate.gifting): default bytes
unchanged, gifts follow communities, co-gifters' streamers predict a user's next new streamer, and the graph
null removes it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from lsec.data.events import save_dataset
from lsec.data.simulate.gifting import DAY, NEW_KNOBS, TIME_ORIGIN, GiftingDataset, GiftingModel, simulate_gifting
from lsec.data.store import load
from lsec.errors import LsecConfigError
from lsec.graph.metapath import metapath_neighbours
from lsec.graph.swing import gift_graph

SCALE = 0.1  # mmbee: 2,000 users
KNOBS = GiftingModel(communities_per_category=4, community_boost=5.0, streamer_share=0.2)  # 160 streamers
SPLIT_DAY = 5


@pytest.fixture(scope="module")
def communities() -> GiftingDataset:
    return simulate_gifting("mmbee", scale=SCALE, seed=3, model=KNOBS)


@pytest.fixture(scope="module")
def communities_null() -> GiftingDataset:
    return simulate_gifting("mmbee", scale=SCALE, seed=3, model=KNOBS, null="graph")


def folder_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*.*"))}


def test_default_knobs_write_the_same_bytes(tmp_path: Path) -> None:
    explicit = GiftingModel(**NEW_KNOBS)  # type: ignore[arg-type]
    digests = []
    for name, model in (("none", None), ("default", GiftingModel()), ("explicit", explicit)):
        data = simulate_gifting("mmbee", scale=0.02, seed=5, model=model)
        assert not set(NEW_KNOBS) & set(data.graph.meta["simulation"]["model"])  # meta.json as before the knobs
        assert "user_community" not in data.truth
        save_dataset(data.graph, tmp_path / name, events=data.events, features=data.features)
        digests.append(folder_digest(tmp_path / name))
    assert digests[0] == digests[1] == digests[2]
    on = simulate_gifting("mmbee", scale=0.02, seed=5, model=KNOBS)
    assert on.graph.meta["simulation"]["model"]["communities_per_category"] == 4  # recorded when set
    assert on.graph.num_nodes["streamer"] == round(0.2 * round(0.02 * 8000))


def later_new(data: GiftingDataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Impressions from SPLIT_DAY on whose target the user did not gift before it: user, streamer, label;
    and the u2a2u2a lists (k = 20) of the gift graph before SPLIT_DAY."""
    imp = data.events["impressions"]
    ns = data.graph.num_nodes["streamer"]
    split = TIME_ORIGIN + SPLIT_DAY * DAY
    gift = data.graph["gift"]
    early = gift.ts < split
    graph = gift_graph(
        src=gift.src[early], dst=gift.dst[early], num_users=data.graph.num_nodes["user"], num_streamers=ns
    )
    before = np.unique(gift.src[early].astype(np.int64) * ns + gift.dst[early])
    later = imp["ts"] >= split
    user, streamer, label = imp["user"][later], imp["streamer"][later], imp["label"][later].astype(bool)
    new = ~np.isin(user.astype(np.int64) * ns + streamer, before)
    lists = metapath_neighbours(metapath="u2a2u2a", graph=graph, k=20).indices
    return user[new], streamer[new], label[new], lists


def reach(data: GiftingDataset) -> tuple[float, float]:
    """Share of new-target gifts / non-gifts whose target is in the user's u2a2u2a list."""
    user, streamer, label, lists = later_new(data)
    hit = (lists[user] == streamer[:, None]).any(1)
    return float(hit[label].mean()), float(hit[~label].mean())


def test_gifts_follow_communities(communities: GiftingDataset) -> None:
    imp = communities.events["impressions"]
    user_c, streamer_c = communities.truth["user_community"], communities.truth["streamer_community"]
    same = user_c[imp["user"]] == streamer_c[imp["streamer"]]
    gift = imp["label"].astype(bool)
    # communities nest in categories: 12 x 4 ids, a streamer's community inside its category
    assert streamer_c.max() < 12 * 4
    category = np.asarray(communities.graph.node_features["streamer"]["category"])
    np.testing.assert_array_equal(streamer_c // 4, category)
    assert same[gift].mean() > 3 * same[~gift].mean()  # measured 0.998 vs 0.243 (seed 3)


def test_co_gifters_reach_new_gifts_unless_null_graph(
    communities: GiftingDataset, communities_null: GiftingDataset
) -> None:
    gifts, negatives = reach(communities)
    assert gifts > 3 * negatives  # the expansion finds the next new streamer: measured 0.043 vs 0.007
    null_gifts, null_negatives = reach(communities_null)
    assert null_gifts < 2 * null_negatives  # under the null it does not: 0.041 vs 0.039
    assert gifts / negatives > 3 * null_gifts / null_negatives


@pytest.mark.parametrize(
    ("knobs", "needle"),
    [
        ({"communities_per_category": -1}, "'communities_per_category'"),
        ({"community_boost": 2.0}, "'community_boost'"),
        ({"communities_per_category": 2, "community_boost": float("nan")}, "'community_boost'"),
        ({"streamer_share": 0.0}, "'streamer_share'"),
        ({"streamer_share": 1.5}, "'streamer_share'"),
    ],
)
def test_bad_knobs_are_named(knobs: dict[str, float], needle: str) -> None:
    with pytest.raises(LsecConfigError, match=needle):
        simulate_gifting("mmbee", scale=0.02, model=GiftingModel(**knobs))  # type: ignore[arg-type]


def run_cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str]:
    from lsec.cli import main

    capsys.readouterr()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_cli_knobs_reach_the_dataset_and_bad_ones_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ("data", "simulate", "--preset", "mmbee", "--scale", "0.02", "--seed", "1", "--no-progress")
    knobs = ("--communities", 2, "--community-boost", 3.0, "--streamer-share", 0.5)
    code, _ = run_cli(capsys, *base, *knobs, "--out", tmp_path / "on")
    assert code == 0
    written = load(tmp_path / "on")
    recorded = written.meta["simulation"]["model"]
    assert (recorded["communities_per_category"], recorded["community_boost"], recorded["streamer_share"]) == (
        2,
        3.0,
        0.5,
    )
    assert written.num_nodes["streamer"] == round(0.5 * round(0.02 * 8000))
    code, output = run_cli(capsys, *base, "--community-boost", 3.0, "--out", tmp_path / "bad")
    assert code == 2 and "'community_boost'" in output and "Traceback" not in output
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())
