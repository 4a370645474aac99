"""Write a canonical gift dataset (e.g. a simulated one) in the KuaiLive layout, for tests and benchmarks.

The inverse of :mod:`lsec.data.formats.kuailive` on what that layout can hold, so a simulated dataset can be
imported as if it were KuaiLive (``benchmarks/kuailive_import.py`` times exactly that)::

    user.csv / streamer.csv   every node in internal order (its external id, one profile column)
    room.csv                  one row per room of ``events/segments``: live_id = the room index, the
                              streamer, start = its first segment's start, end = its last segment's end - 1 ms,
                              live_content_category = ``c<category>`` (zero-padded), live_name_id = room index
    gift.csv                  label-1 impressions: timestamp = ts * 1000 + a seeded 0..999 ms, gift_price = amount
    click.csv / negative.csv  label-0 impressions, each to one of the two by a seeded coin (``click_share``)
    title_embeddings.npy      (num_rooms, title_dim) float32, seeded normal

Importing the result gives back the impressions (ts, label, amount, user, streamer: the node files fix the
order) and the segments (a room starts at its first segment, so 30-second slots fall where they were).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl

from lsec.data.events import read_events
from lsec.data.store import create_folder, load


def export_kuailive(
    dataset: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    seed: int = 0,
    click_share: float = 0.5,
    title_dim: int = 8,
) -> dict[str, int]:
    """Write ``dataset`` (a folder with ``events/impressions`` and ``events/segments``) to ``out``; rows per file."""
    graph = load(dataset)
    impressions = read_events(dataset, "impressions")
    segments = read_events(dataset, "segments")
    rng = np.random.default_rng([seed, 0x4B4C])
    root = Path(out)
    create_folder(root)
    users = np.asarray(graph.node_ids["user"]).astype(str)
    streamers = np.asarray(graph.node_ids["streamer"]).astype(str)
    category = graph.node_features.get("streamer", {}).get("category")
    counts: dict[str, int] = {}

    def write(name: str, frame: pl.DataFrame) -> None:
        frame.write_csv(root / name)
        counts[name] = frame.height

    write("user.csv", pl.DataFrame({"user_id": users, "onehot_feat0": rng.integers(0, 2, users.shape[0])}))
    tags = np.char.add("tag", (np.arange(streamers.shape[0]) % 5).astype(str))
    write("streamer.csv", pl.DataFrame({"streamer_id": streamers, "live_operation_tag": tags}))

    room = segments["room"].astype(np.int64)
    num_rooms = int(room.max()) + 1 if room.size else 0
    start = np.full(num_rooms, np.iinfo(np.int64).max)
    np.minimum.at(start, room, segments["ts"])
    end = np.zeros(num_rooms, np.int64)
    np.maximum.at(end, room, segments["ts"] + 30)
    room_streamer = np.zeros(num_rooms, np.int64)
    room_streamer[room] = segments["streamer"]
    names = (
        np.char.add("c", np.char.zfill(np.asarray(category)[room_streamer].astype(str), 2))
        if category is not None
        else np.full(num_rooms, "", dtype=object)
    )
    local = (start + 8 * 3600).astype("datetime64[s]").astype("datetime64[D]").astype(str)
    write(
        "room.csv",
        pl.DataFrame(
            {
                "p_date": np.char.replace(local, "-", ""),
                "live_id": np.arange(num_rooms),
                "streamer_id": streamers[room_streamer],
                "live_type": np.ones(num_rooms, np.int64),
                "start_timestamp": start * 1000,
                "end_timestamp": end * 1000 - 1,
                "live_content_category": names,
                "live_name_id": np.arange(num_rooms),
            }
        ),
    )
    np.save(root / "title_embeddings.npy", rng.standard_normal((num_rooms, title_dim)).astype(np.float32))

    label = impressions["label"] > 0
    ms = impressions["ts"] * 1000 + rng.integers(0, 1000, label.shape[0])
    rows = {
        "user_id": users[impressions["user"]],
        "live_id": room[impressions["segment"]],
        "streamer_id": streamers[impressions["streamer"]],
        "timestamp": ms,
    }
    gift = pl.DataFrame({k: v[label] for k, v in rows.items()}).with_columns(
        gift_price=pl.Series(np.round(impressions["amount"][label]).astype(np.int64))
    )
    write("gift.csv", gift)
    click = ~label & (rng.random(label.shape[0]) < click_share)
    watch = rng.integers(1000, 600_000, int(click.sum()))
    write("click.csv", pl.DataFrame({k: v[click] for k, v in rows.items()}).with_columns(watch_live_time=watch))
    write("negative.csv", pl.DataFrame({k: v[~label & ~click] for k, v in rows.items()}))
    return counts
