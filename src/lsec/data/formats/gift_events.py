"""Shared assembly of the gifting importers: checked impression rows -> the canonical gift dataset.

The layout importers (:mod:`~lsec.data.formats.kuailive`, :mod:`~lsec.data.formats.impressions_csv`) read
their files with :func:`lsec.data.formats.common.read_table` and the row rules of
:func:`lsec.data.formats.social_events.check_rows` (every row kept, merged as an exact duplicate, or rejected
with a reason). Each kept impression row carries, as strings and integers::

    user, streamer      external ids
    room                the room key (unique per room; see the importer for what names a room)
    segment             the segment key inside its room (a 30-second slot number, or a given segment id)
    segment_ts          unix seconds at which the segment starts (the minimum over its rows is taken)
    ts                  unix seconds of the exposure or gift
    label, amount       1 and the gift's amount (> 0) for a gift, 0 and 0 otherwise

:func:`write_gift_dataset` turns them into what the gifting simulator writes (:mod:`lsec.data.simulate.gifting`),
so every downstream command (``lsec mmbee build-store``, ``lsec train --config configs/mmbee/...``) reads an
imported dataset as it reads a simulated one:

* **One exposure per (user, segment).** A label-0 row (a click, an exposure) whose user sent a gift in the
  same segment of the same room is the same exposure as the gift: it is merged into the gift's row and counted
  in its file's report (``merged`` and ``merged_into_gift``), so ``rows_read = kept + merged + rejected`` holds.
  Every gift row stays an impression of its own (one per gift, as in the simulator).
* ``events/impressions.parquet``: user, streamer, segment, ts, label, amount, sorted by (ts, user, streamer).
* ``edges/user__gift__streamer.parquet``: one edge per gift impression, ts = its ts, weight = its amount.
* ``events/segments.parquet``: segment, streamer, room, ts; segments are those of the impressions, numbered by
  (start, room, key). ``events/rooms.parquet``: room (int32), id (the external room id), streamer (int32), start
  and end (unix seconds), and the layout's room columns.
* ``features/segment__<name>.npy``: a per-room feature (e.g. KuaiLive's title embedding) as a sequence of one
  frame per segment, shape (num_segments, 1, dim); rooms without one give zeros (counted).
* Nodes: users and streamers of the node files first (their order, their profile columns as text), then those
  first seen in the impression files, in the order of the files. A streamer ``category`` (int16) comes from its
  rooms' categories when the layout has them: 0 = unknown, 1.. = the category names in sorted order
  (``meta.json`` -> ``categories``), the most frequent over the streamer's rooms (ties: the first name).
* ``time_origin``: local midnight (UTC + ``utc_offset_hours``) of the day of the earliest impression, so the
  days of ``lsec train``'s time split are the layout's local days.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from lsec.data.events import save_dataset
from lsec.data.formats.social_events import CheckedRows
from lsec.data.graph import EdgeTable, HeteroGraph
from lsec.errors import LsecDataError

PathLike = str | os.PathLike[str]
DAY = 86_400
SEGMENT_SECONDS = 30
GIFT = ("user", "gift", "streamer")
IMPRESSION_VALUES = ("user", "streamer", "room", "segment", "segment_ts", "ts", "label", "amount")


def local_midnight(ts: int, utc_offset_hours: float) -> int:
    """Unix seconds of the local midnight (UTC + offset) that starts the day of ``ts``."""
    offset = int(round(utc_offset_hours * 3600))
    return int(ts) - (int(ts) + offset) % DAY


def _number(columns: Sequence[pl.Series]) -> pl.Series:
    parts = [c.cast(pl.Utf8) for c in columns if c.len()]
    return pl.concat(parts).unique(maintain_order=True) if parts else pl.Series("id", [], dtype=pl.Utf8)


def _codes(values: pl.Series, categories: pl.Series) -> np.ndarray:
    """Position of each value in ``categories`` (distinct; every value is one of them), by a hash join."""
    if values.len() == 0:
        return np.zeros(0, dtype=np.int32)
    index = pl.DataFrame({"v": categories}).with_row_index("i")
    found = values.alias("v").to_frame().join(index, on="v", how="left", maintain_order="left")["i"]
    return found.cast(pl.Int32).to_numpy()


def merge_into_gifts(parts: Sequence[CheckedRows]) -> pl.DataFrame:
    """All kept impression rows, label-0 rows that share (user, room, segment) with a gift merged into it.

    Updates each part's report (``kept``, ``merged``, ``merged_into_gift``).
    """
    frames = [
        p.kept.select(IMPRESSION_VALUES).with_columns(pl.lit(i, pl.Int32).alias("_file")) for i, p in enumerate(parts)
    ]
    rows = pl.concat(frames).with_row_index("_r")
    key = ["user", "room", "segment"]
    gifts = rows.filter(pl.col("label") == 1).select(key).unique()
    covered = rows.filter(pl.col("label") == 0).join(gifts, on=key, how="semi")
    counts = dict(covered.group_by("_file").len().iter_rows())
    for i, part in enumerate(parts):
        n = int(counts.get(i, 0))
        part.report["kept"] -= n
        part.report["merged"] += n
        part.report["merged_into_gift"] = n
    return rows.filter(~pl.col("_r").is_in(covered["_r"].implode())).drop("_r", "_file")


def _derived_rooms(rows: pl.DataFrame) -> pl.DataFrame:
    """Rooms seen in the impressions when the layout has no room file: first seen order, observed span."""
    return (
        rows.group_by("room", maintain_order=True)
        .agg(
            pl.col("room_id").first().alias("id"),
            pl.col("streamer").first(),
            pl.col("segment_ts").min().alias("start"),
            pl.col("ts").max().alias("end"),
        )
        .rename({"room": "key"})
    )


def _categories(rooms: pl.DataFrame, streamers: pl.Series) -> tuple[np.ndarray, list[str]] | None:
    if "category" not in rooms.columns:
        return None
    named = rooms.filter(pl.col("category") != "")
    names = sorted(named["category"].unique().to_list())
    code = {name: i + 1 for i, name in enumerate(names)}
    best = (
        named.group_by("streamer", "category")
        .len()
        .sort(["streamer", "len", "category"], descending=[False, True, False])
        .unique("streamer", keep="first", maintain_order=True)
    )
    out = np.zeros(streamers.len(), dtype=np.int16)
    if best.height:
        index = _codes(best["streamer"], streamers)
        out[index] = np.array([code[c] for c in best["category"].to_list()], dtype=np.int16)
    return out, names


def _node_features(rows: CheckedRows | None, ids: pl.Series) -> dict[str, np.ndarray]:
    """Profile columns (text) of a node file in internal order; nodes without a row get ""."""
    if rows is None or rows.kept.width <= 1:
        return {}
    table = pl.DataFrame({"id": ids}).join(rows.kept, on="id", how="left", maintain_order="left")
    return {c: table[c].cast(pl.Utf8).fill_null("").to_numpy().astype(object) for c in rows.kept.columns if c != "id"}


def write_gift_dataset(
    out: PathLike,
    *,
    impressions: Sequence[CheckedRows],
    users: CheckedRows | None = None,
    streamers: CheckedRows | None = None,
    rooms: CheckedRows | None = None,
    titles: np.ndarray | None = None,
    title_name: str = "title",
    utc_offset_hours: float = 0.0,
    name: str | None = None,
    provenance: Mapping[str, Any],
    extra_meta: Mapping[str, Any] | None = None,
    started: float | None = None,
) -> HeteroGraph:
    """Assemble and write the canonical gift dataset (module docstring); returns the graph written.

    ``impressions`` are checked rows with the columns of :data:`IMPRESSION_VALUES` plus ``room_id`` (the
    external room id); ``rooms`` (optional) has ``key``, ``id``, ``streamer``, ``start``, ``end`` and optionally
    ``category`` / ``title`` and other columns; ``titles`` is the (rows, dim) table ``title`` indexes.
    """
    rows = merge_into_gifts(impressions)
    room_ids = pl.concat([p.kept.select("room", "room_id") for p in impressions])
    parts: list[CheckedRows] = [p for p in (users, streamers, rooms) if p is not None] + list(impressions)
    if rows.height == 0:
        reasons: dict[str, int] = {}
        for part in impressions:
            for reason, count in part.report["rejected_by_reason"].items():
                reasons[reason] = reasons.get(reason, 0) + count
        top = max(reasons, key=lambda r: reasons[r]) if reasons else "the files hold no data rows"
        raise LsecDataError(
            f"no impression left to import: every row was rejected, most often for {top}",
            file=Path(impressions[0].report["file"]).parent,
            expected="at least one kept gift / exposure row",
        )
    room_frame = rooms.kept if rooms is not None else _derived_rooms(rows.join(room_ids.unique("room"), on="room"))

    user_ids = _number(([users.kept["id"]] if users is not None else []) + [rows["user"]])
    streamer_ids = _number(
        ([streamers.kept["id"]] if streamers is not None else []) + [room_frame["streamer"], rows["streamer"]]
    )
    room_keys = room_frame["key"]

    # Segments of the impressions, numbered by (start, room, key).
    segments = rows.group_by("room", "segment", maintain_order=True).agg(
        pl.col("segment_ts").min(), pl.col("streamer").first()
    )
    segments = (
        segments.with_columns(_room=pl.Series(_codes(segments["room"], room_keys)))
        .sort("segment_ts", "_room", "segment")
        .with_row_index("_segment")
    )
    rows = rows.join(
        segments.select("room", "segment", "_segment"), on=["room", "segment"], how="left", maintain_order="left"
    )
    user_index = _codes(rows["user"], user_ids)
    streamer_index = _codes(rows["streamer"], streamer_ids)
    ts = rows["ts"].to_numpy().astype(np.int64)
    order = np.lexsort((streamer_index, user_index, ts))
    label = rows["label"].to_numpy().astype(np.int8)[order]
    amount = rows["amount"].to_numpy().astype(np.float32)[order]
    impressions_out = {
        "user": user_index[order],
        "streamer": streamer_index[order],
        "segment": rows["_segment"].to_numpy().astype(np.int32)[order],
        "ts": ts[order],
        "label": label,
        "amount": amount,
    }
    segments_out = {
        "segment": segments["_segment"].to_numpy().astype(np.int32),
        "streamer": _codes(segments["streamer"], streamer_ids),
        "room": segments["_room"].to_numpy().astype(np.int32),
        "ts": segments["segment_ts"].to_numpy().astype(np.int64),
    }
    rooms_out: dict[str, np.ndarray] = {
        "room": np.arange(room_frame.height, dtype=np.int32),
        "id": room_frame["id"].to_numpy().astype(object),
        "streamer": _codes(room_frame["streamer"], streamer_ids),
        "start": room_frame["start"].to_numpy().astype(np.int64),
        "end": room_frame["end"].to_numpy().astype(np.int64),
    }
    for column in room_frame.columns:  # the layout's other room columns, as text
        if column not in ("key", "id", "streamer", "start", "end", "title"):
            rooms_out[column] = room_frame[column].cast(pl.Utf8).fill_null("").to_numpy().astype(object)
    meta: dict[str, Any] = dict(extra_meta or {})
    features: dict[str, np.ndarray] = {}
    if "title" in room_frame.columns:
        title = room_frame["title"].fill_null(-1).to_numpy().astype(np.int64)
        rooms_out["title"] = title
        if titles is not None:
            known = (title >= 0) & (title < titles.shape[0])
            meta["rooms_title_out_of_range"] = int(((title >= 0) & ~known).sum())
            seg_title = np.where(known, title, -1)[segments_out["room"]]  # (S,)
            has = seg_title >= 0
            table = np.zeros((seg_title.shape[0], 1, titles.shape[1]), dtype=np.float16)
            table[has, 0] = np.asarray(titles[seg_title[has]], dtype=np.float16)
            features[f"segment__{title_name}"] = table
            meta["segments_without_title"] = int((~has).sum())
    categories = _categories(room_frame, streamer_ids)
    node_features: dict[str, dict[str, np.ndarray]] = {}
    for node_type, node_rows, ids in (("user", users, user_ids), ("streamer", streamers, streamer_ids)):
        cols = _node_features(node_rows, ids)
        if node_type == "streamer" and categories is not None:
            cols["category"] = categories[0]
            meta["categories"] = {"0": "unknown"} | {str(i + 1): n for i, n in enumerate(categories[1])}
        if cols:
            node_features[node_type] = cols

    positive = label == 1
    gift = EdgeTable(
        impressions_out["user"][positive],
        impressions_out["streamer"][positive],
        impressions_out["ts"][positive],
        amount[positive],
    )
    report = {p.label: p.report for p in parts}
    meta.update(
        {
            "provenance": dict(provenance, created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
            "ingestion": {
                "files": report,
                "totals": {
                    k: sum(int(r[k]) for r in report.values()) for k in ("rows_read", "kept", "merged", "rejected")
                },
            },
            "gifting": {
                "impressions": int(label.shape[0]),
                "gifts": int(positive.sum()),
                "positive_rate": float(positive.mean()),
                "segments": int(segments.height),
                "rooms": int(room_frame.height),
                "segment_seconds": SEGMENT_SECONDS,
                "utc_offset_hours": utc_offset_hours,
                "gift_edges": "one per gift impression: ts = its ts, weight = its amount",
                "impression_rule": "one row per gift; a click / exposure in the segment of a gift of the same user "
                "is merged into it",
            },
        }
    )
    if started is not None:
        meta["ingestion"]["seconds"] = round(time.perf_counter() - started, 3)
    graph = HeteroGraph(
        num_nodes={"user": user_ids.len(), "streamer": streamer_ids.len()},
        edges={GIFT: gift},
        node_ids={"user": user_ids.to_numpy().astype(object), "streamer": streamer_ids.to_numpy().astype(object)},
        name=name or Path(out).name,
        time_origin=local_midnight(int(ts.min()), utc_offset_hours),
        meta=meta,
        node_features=node_features,
    )
    graph.validate()
    events = {"impressions": impressions_out, "segments": segments_out, "rooms": rooms_out}
    save_dataset(graph, out, events=events, features=features)
    graph.meta["events"] = [  # as save_dataset lists them in meta.json
        {"name": n, "file": f"events/{n}.parquet", "rows": len(next(iter(c.values())))} for n, c in events.items()
    ]
    rejected_dir = Path(out) / "rejected"
    for part in parts:
        if part.rejected.height:
            rejected_dir.mkdir(exist_ok=True)
            part.rejected.write_parquet(rejected_dir / f"{part.label}.parquet")
    return graph
