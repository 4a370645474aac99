"""KuaiLive layout (Qu et al. 2025, https://imgkkk574.github.io/KuaiLive): live-room gifts, clicks and exposures.

One folder of comma-separated files with a header (plain or ``.gz``), timestamps in unix **milliseconds**::

    gift.csv       user_id, live_id, streamer_id, timestamp, gift_price    (required)
    click.csv      user_id, live_id, streamer_id, timestamp, watch_live_time
    negative.csv   user_id, live_id, streamer_id, timestamp                (exposures that were not clicked)
    room.csv       p_date, live_id, streamer_id, live_type, start_timestamp, end_timestamp,
                   live_content_category, live_name_id                     (live_name_id: row of the titles)
    user.csv       user_id, profile columns ...
    streamer.csv   streamer_id, profile columns ...
    title_embeddings*.npy | .npz                                           (title embeddings, one row each)

Column names are the published ones (the dataset's description page); ``author_id`` is read as
``streamer_id`` (an earlier release), ``author.csv`` as ``streamer.csv`` and ``mapped_room.csv`` as
``room.csv``. Other columns (``watch_live_time``, ...) are not used and are listed in the report; ``like.csv``
and ``comment.csv`` are not part of the gift data and are listed as not imported.

**Mapping** (to the canonical gift data of :mod:`lsec.data.formats.gift_events`, what the gifting simulator
writes): a ``gift.csv`` row is a gift impression (label 1, amount = ``gift_price``); a ``click.csv`` or
``negative.csv`` row is an exposure (label 0, amount 0), merged into a gift of the same user in the same
segment. Times are floored to seconds. A room is a ``live_id``; its segments are the 30-second slices from
``start_timestamp`` (``floor((timestamp - start) / 30 s)``), so the segment of a row is exact to the
millisecond. Without ``room.csv`` rooms are the (streamer, ``live_id``) pairs seen, sliced on the unix 30 s
grid, with their observed span as start / end. A room's title embedding becomes the one-frame feature
sequence ``features/segment__title.npy`` of its segments (float16); streamer ``category`` is the most frequent
``live_content_category`` of its rooms. Days start at local midnight, UTC+8 by default (Kuaishou's time zone:
KuaiLive's first day, 2025-05-05, begins at 1746374400000 ms).

**Rows rejected** (kept in ``rejected/<file>.parquet`` with the line and a reason naming the column, what was
expected and what was found): empty or null-marker ids; timestamps that are not unix milliseconds (not a
number, below 1e11, i.e. seconds by mistake, or later than now + 1 day); a ``gift_price`` that is not a
positive number; with ``user.csv`` / ``streamer.csv``, ids missing from them; with ``room.csv``, a ``live_id``
missing from it, a streamer other than the room's, a time outside the room's start and end; in ``room.csv``,
an end before the start, a ``live_name_id`` that is not an integer >= 0, a ``live_id`` repeated with other
values. Exact duplicate rows of a file are merged and counted. Per file ``rows_read = kept + merged +
rejected`` (``meta.json`` -> ``ingestion``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
from tqdm.auto import tqdm

from lsec.data import ingest_rules as rules
from lsec.data.formats.common import RawTable, read_table
from lsec.data.formats.gift_events import SEGMENT_SECONDS, write_gift_dataset
from lsec.data.formats.social_events import LOOKUP, CheckedRows, check_rows, expected, id_rule, reason_if
from lsec.data.graph import HeteroGraph
from lsec.errors import LsecDataError

PathLike = str | os.PathLike[str]
LAYOUT = "KuaiLive"
MIN_MS = 100_000_000_000
"""Smallest accepted millisecond timestamp (1973-03-03): smaller values are seconds written by mistake."""
SEGMENT_MS = SEGMENT_SECONDS * 1000
FILES = {
    "gift": ("gift.csv",),
    "click": ("click.csv",),
    "negative": ("negative.csv",),
    "room": ("room.csv", "mapped_room.csv"),
    "user": ("user.csv",),
    "streamer": ("streamer.csv", "author.csv"),
}
NOT_IMPORTED = ("like.csv", "comment.csv")
STREAMER_COLUMNS = ("streamer_id", "author_id")
INTERACTION = ("user_id", "live_id", "streamer_id", "timestamp")
ROOM_REQUIRED = ("live_id", "streamer_id", "start_timestamp", "end_timestamp")
ROOM_OPTIONAL = ("p_date", "live_type", "live_content_category", "live_name_id")


def find(folder: Path, kind: str) -> Path | None:
    for name in FILES[kind]:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def find_titles(folder: Path) -> Path | None:
    """The one ``title_embeddings*.npy`` / ``.npz`` of ``folder`` (None when there is none)."""
    found = sorted(p for p in folder.glob("title_embeddings*") if p.suffix in (".npy", ".npz") and p.is_file())
    if len(found) > 1:
        raise LsecDataError(
            "several title embedding files",
            file=folder,
            expected="one title_embeddings*.npy / .npz (or choose one with --titles)",
            found=", ".join(p.name for p in found),
        )
    return found[0] if found else None


def load_titles(path: Path) -> np.ndarray:
    """The (rows, dim) title embeddings of a ``.npy`` (memory-mapped) or a one-array ``.npz``."""
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                keys = list(archive.keys())
                if len(keys) != 1:
                    raise LsecDataError(
                        "ambiguous .npz", file=path, expected="one array of title embeddings", found=f"arrays {keys}"
                    )
                array = archive[keys[0]]
        else:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as err:
        raise LsecDataError(
            "unreadable title embeddings", file=path, expected="a .npy / .npz array", found=str(err)
        ) from None
    if array.ndim != 2 or array.dtype.kind != "f":
        raise LsecDataError(
            "title embeddings of the wrong shape or type",
            file=path,
            expected="a 2-d float array (one row per live_name_id)",
            found=f"shape {tuple(array.shape)}, dtype {array.dtype}",
        )
    return array


def _columns(table: RawTable, required: Sequence[str], optional: Sequence[str] = ()) -> dict[str, str]:
    """Layout column name -> the file's column (case and spaces ignored; author_id for streamer_id)."""
    have = {c.strip().lower(): c for c in table.columns}
    out: dict[str, str] = {}
    for name in (*required, *optional):
        spellings = STREAMER_COLUMNS if name == "streamer_id" else (name,)
        column = next((have[s] for s in spellings if s in have), None)
        if column is not None:
            out[name] = column
        elif name in required:
            raise LsecDataError(
                f"column {name!r} missing",
                file=table.path,
                expected=f"the {LAYOUT} header with {', '.join(required)}",
                found=", ".join(table.columns),
            )
    return out


def ms_rule(column: str, now: int | None = None) -> tuple[pl.Expr, pl.Expr]:
    """(Int64 unix milliseconds, reason) of a millisecond timestamp column."""
    value = rules.strip(column).cast(pl.Float64, strict=False)
    limit = ((int(time.time()) if now is None else now) + rules.FUTURE_SLACK) * 1000
    reason = (
        pl.when(value.is_null() | value.is_nan() | value.is_infinite())
        .then(expected(column, "unix milliseconds"))
        .when(value < MIN_MS)
        .then(expected(column, "unix milliseconds (13 digits; this looks like seconds)"))
        .when(value > limit)
        .then(expected(column, "unix milliseconds not later than now + 1 day"))
        .otherwise(pl.lit(None, dtype=pl.Utf8))
    )
    return value.floor().cast(pl.Int64, strict=False), reason


def _known(value: pl.Expr, column: str, rows: CheckedRows | None, what: str) -> list[pl.Expr]:
    if rows is None:
        return []
    text = f"column '{column}': expected {what} of {rows.label}, found '{{}}'"
    return [reason_if(~value.is_in(rows.kept["id"].implode()), pl.format(text, value))]


def read_nodes(path: Path, node_type: str) -> CheckedRows:
    """``user.csv`` / ``streamer.csv``: the id column, then profile columns kept as text."""
    table = read_table(path, header=True, min_columns=1)
    id_name = "user_id" if node_type == "user" else "streamer_id"
    columns = _columns(table, [id_name])
    node, reason = id_rule(columns[id_name], node_type)
    values: dict[str, pl.Expr] = {"id": node}
    for column in table.columns:
        if column != columns[id_name]:
            values[column.strip() if column.strip() not in ("id", "category") else f"profile_{column.strip()}"] = (
                rules.strip(column)
            )
    return check_rows(table, target=node_type, values=values, reasons=[reason], unique_id="id")


def read_rooms(path: Path, streamers: CheckedRows | None, now: int | None) -> CheckedRows:
    table = read_table(path, header=True, min_columns=len(ROOM_REQUIRED))
    c = _columns(table, ROOM_REQUIRED, ROOM_OPTIONAL)
    live, live_reason = id_rule(c["live_id"], "room")
    streamer, streamer_reason = id_rule(c["streamer_id"], "streamer")
    start, start_reason = ms_rule(c["start_timestamp"], now)
    end, end_reason = ms_rule(c["end_timestamp"], now)
    order = pl.format(
        f"column '{c['end_timestamp']}': expected a time not before start_timestamp {{}}, found {{}}", start, end
    )
    reasons = [live_reason, streamer_reason, start_reason, end_reason, reason_if(end < start, order)]
    reasons += _known(streamer, c["streamer_id"], streamers, "a streamer")
    values: dict[str, pl.Expr] = {"id": live, "streamer": streamer, "start_ms": start, "end_ms": end}
    if "live_name_id" in c:
        text = rules.strip(c["live_name_id"])
        row = text.cast(pl.Int64, strict=False)
        given = text.is_not_null() & (text != "")
        values["title"] = pl.when(given).then(row)
        what = "a row number of the title embeddings (an integer >= 0)"
        reasons.append(reason_if(given & (row.is_null() | (row < 0)), expected(c["live_name_id"], what)))
    for name, key in (("live_content_category", "category"), ("live_type", "live_type"), ("p_date", "p_date")):
        if name in c:
            values[key] = rules.strip(c[name]).fill_null("")
    rows = check_rows(table, target="rooms", values=values, reasons=reasons, unique_id="id")
    rows.report["columns_not_used"] = [x for x in table.columns if x not in c.values()]
    return rows


def read_interactions(
    path: Path,
    kind: str,
    *,
    users: CheckedRows | None,
    streamers: CheckedRows | None,
    rooms: CheckedRows | None,
    now: int | None,
) -> CheckedRows:
    """``gift.csv`` (label 1, amount = gift_price), ``click.csv`` / ``negative.csv`` (label 0) as impressions."""
    table = read_table(path, header=True, min_columns=len(INTERACTION))
    c = _columns(table, INTERACTION + (("gift_price",) if kind == "gift" else ()))
    user, user_reason = id_rule(c["user_id"], "user")
    streamer, streamer_reason = id_rule(c["streamer_id"], "streamer")
    live, live_reason = id_rule(c["live_id"], "room")
    ts_ms, ts_reason = ms_rule(c["timestamp"], now)
    reasons = [user_reason, streamer_reason, live_reason, ts_reason]
    if kind == "gift":
        amount = rules.strip(c["gift_price"]).cast(pl.Float64, strict=False)
        bad = amount.is_null() | amount.is_nan() | amount.is_infinite() | (amount <= 0)
        reasons.append(reason_if(bad, expected(c["gift_price"], "a positive number")))
    else:
        amount = pl.lit(0.0, dtype=pl.Float64)
    reasons += _known(user, c["user_id"], users, "a user")
    reasons += _known(streamer, c["streamer_id"], streamers, "a streamer")
    frame = table.frame
    if rooms is not None:  # the row's room from room.csv, by one join on the (normalised) live_id
        lookup = rooms.kept.select(
            pl.col("id").alias(f"{LOOKUP}live"),
            pl.col("streamer").alias(f"{LOOKUP}streamer"),
            pl.col("start_ms").alias(f"{LOOKUP}start"),
            pl.col("end_ms").alias(f"{LOOKUP}end"),
        )
        frame = frame.with_columns(live.alias(f"{LOOKUP}live")).join(
            lookup, on=f"{LOOKUP}live", how="left", maintain_order="left"
        )
        owner, start, end = (pl.col(f"{LOOKUP}{name}") for name in ("streamer", "start", "end"))
        room_text = f"column '{c['live_id']}': expected a room of {rooms.label}, found '{{}}'"
        owner_text = f"column '{c['streamer_id']}': expected '{{}}' (the streamer of room '{{}}'), found '{{}}'"
        time_text = f"column '{c['timestamp']}': expected a time inside room '{{}}' ({{}} to {{}} ms), found {{}}"
        reasons += [
            reason_if(owner.is_null(), pl.format(room_text, live)),
            reason_if(owner != streamer, pl.format(owner_text, owner, live, streamer)),
            reason_if((ts_ms < start) | (ts_ms > end), pl.format(time_text, live, start, end, ts_ms)),
        ]
        slot = (ts_ms - start) // SEGMENT_MS
        room, segment_ms = live, start + slot * SEGMENT_MS
    else:
        slot = ts_ms // SEGMENT_MS
        room, segment_ms = pl.concat_str([streamer, live], separator="\x1f"), slot * SEGMENT_MS
    values = {
        "user": user,
        "streamer": streamer,
        "room": room,
        "segment": slot.cast(pl.Utf8),
        "segment_ts": segment_ms // 1000,
        "ts": ts_ms // 1000,
        "label": pl.lit(1 if kind == "gift" else 0, dtype=pl.Int8),
        "amount": amount,
        "room_id": live,
        "ts_ms": ts_ms,
    }
    rows = check_rows(table, frame=frame, target="impressions", values=values, reasons=reasons)
    rows.report["label"] = 1 if kind == "gift" else 0
    rows.report["timestamps"] = "unix milliseconds, floored to seconds"
    rows.report["columns_not_used"] = [x for x in table.columns if x not in c.values()]
    return rows


def import_kuailive(
    folder: PathLike,
    out: PathLike,
    *,
    titles: PathLike | None = None,
    utc_offset_hours: float = 8.0,
    name: str | None = None,
    now: int | None = None,
    progress: bool = False,
) -> HeteroGraph:
    """Import a KuaiLive folder (module docstring); returns the graph that was written."""
    started = time.perf_counter()
    root = Path(folder)
    if not root.is_dir():
        raise LsecDataError("folder not found", file=root, expected=f"a {LAYOUT} folder (gift.csv, click.csv, ...)")
    paths = {kind: find(root, kind) for kind in FILES}
    if paths["gift"] is None:
        raise LsecDataError(
            "file not found", file=root / "gift.csv", expected=f"the {LAYOUT} gift file (optionally .gz)"
        )
    title_path = Path(titles) if titles is not None else find_titles(root)
    title_table = load_titles(title_path) if title_path is not None else None
    steps = [k for k in ("user", "streamer", "room", "gift", "click", "negative") if paths[k] is not None]
    bar = tqdm(total=len(steps), desc=f"import {LAYOUT}", unit="file", disable=not progress)
    read: dict[str, CheckedRows] = {}
    for kind in steps:
        path = paths[kind]
        assert path is not None
        bar.set_postfix_str(path.name)
        if kind in ("user", "streamer"):
            read[kind] = read_nodes(path, kind)
        elif kind == "room":
            read[kind] = read_rooms(path, read.get("streamer"), now)
        else:
            read[kind] = read_interactions(
                path, kind, users=read.get("user"), streamers=read.get("streamer"), rooms=read.get("room"), now=now
            )
        bar.update()
    bar.close()
    rooms = read.get("room")
    if rooms is not None:  # the room table in seconds, keyed by live_id (what the impressions' room names)
        rooms.kept = rooms.kept.with_columns(
            key=pl.col("id"), start=pl.col("start_ms") // 1000, end=pl.col("end_ms") // 1000
        ).drop("start_ms", "end_ms")
        if title_table is not None and "title" not in rooms.kept.columns:
            rooms.report["note"] = "no live_name_id column: the title embeddings are not used"
    impressions = [read[k] for k in ("gift", "click", "negative") if k in read]
    missing = [FILES[k][0] for k in ("click", "negative", "room", "user", "streamer") if paths[k] is None]
    return write_gift_dataset(
        out,
        impressions=impressions,
        users=read.get("user"),
        streamers=read.get("streamer"),
        rooms=rooms,
        titles=title_table,
        utc_offset_hours=utc_offset_hours,
        name=name,
        provenance={
            "format": "kuailive",
            "folder": str(root.resolve()),
            "files": {k: str(p.name) for k, p in paths.items() if p is not None},
            "titles": None if title_path is None else str(title_path.resolve()),
        },
        extra_meta={
            "files_missing": missing,
            "files_not_imported": [n for n in NOT_IMPORTED if (root / n).is_file() or (root / f"{n}.gz").is_file()],
        },
        started=started,
    )
