"""Generic CSV / TSV / Parquet of impressions: one row per (user, streamer) exposure or gift.

Columns (found by name, case-insensitive, or named with the ``*_col`` arguments / ``--*-col`` options)::

    user        user, user_id, uid                                   required
    streamer    streamer, streamer_id, author, author_id, anchor     required
    ts          ts, timestamp, time, ...                             required (ts_format: auto, s, ms, iso, strftime)
    label       label, gift, is_gift, y                              0 / 1 (also false / true)
    amount      amount, gift_price, price, value, coins              a number >= 0
    segment     segment, segment_id                                  optional: the segment's own id
    room        room, room_id, live_id                               optional: the room's id

At least one of label and amount: without a label a row is a gift when its amount is > 0; without an
amount a gift counts 1. A label-1 row needs an amount > 0 and a label-0 row an amount of 0 (rejected otherwise).

**Rooms and segments.** Ids are scoped by streamer (the same room or segment id under two streamers names two
rooms / segments). A room is the ``room`` column's id, or without one the streamer's day (local midnight,
UTC + ``utc_offset_hours``). A segment is the ``segment`` column's id inside its room (it starts at its
earliest row), or without one the 30-second slice of the unix time grid (``floor(ts / 30)``) inside its room.
Rows are mapped to the canonical gift data by :func:`lsec.data.formats.gift_events.write_gift_dataset` (a
label-0 row in the segment of a gift of the same user is merged into it), as the KuaiLive importer does.

Rejected rows (``rejected/<file>.parquet``, reason naming the column, what was expected and what was found):
empty / null-marker ids, unusable timestamps (rules of :mod:`lsec.data.ingest_rules`), labels other than
0 / 1, amounts that are not finite numbers >= 0, labels and amounts that disagree. Exact duplicates are
merged and counted; ``rows_read = kept + merged + rejected``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import polars as pl

from lsec.data import ingest_rules as rules
from lsec.data.formats.common import read_table
from lsec.data.formats.gift_events import DAY, SEGMENT_SECONDS, write_gift_dataset
from lsec.data.formats.social_events import check_rows, expected, id_rule, reason_if, time_rule
from lsec.data.graph import HeteroGraph
from lsec.data.ingest_columns import TS_CANDIDATES, pick_column
from lsec.errors import LsecDataError

PathLike = str | os.PathLike[str]
USER_NAMES = ("user", "user_id", "uid", "userid")
STREAMER_NAMES = ("streamer", "streamer_id", "author", "author_id", "anchor", "anchor_id")
LABEL_NAMES = ("label", "gift", "is_gift", "y")
AMOUNT_NAMES = ("amount", "gift_price", "price", "value", "coins")
SEGMENT_NAMES = ("segment", "segment_id")
ROOM_NAMES = ("room", "room_id", "live_id")
LABELS = {"0": 0, "1": 1, "false": 0, "true": 1}


def import_impressions_csv(
    path: PathLike,
    out: PathLike,
    *,
    user_col: str | None = None,
    streamer_col: str | None = None,
    ts_col: str | None = None,
    label_col: str | None = None,
    amount_col: str | None = None,
    segment_col: str | None = None,
    room_col: str | None = None,
    ts_format: str = "auto",
    delimiter: str | None = None,
    utc_offset_hours: float = 0.0,
    name: str | None = None,
    now: int | None = None,
) -> HeteroGraph:
    """Import one impression file (module docstring); returns the graph that was written.

    A ``*_col`` argument names the column of that field; ``"none"`` for label, amount, segment or room says
    the file has no such column.
    """
    started = time.perf_counter()
    file = Path(path)
    table = read_table(file, delimiter=delimiter, header=True, min_columns=3)
    columns = table.columns

    def pick(given: str | None, names: tuple[str, ...], what: str, required: bool) -> str | None:
        if given is not None and given.lower() == "none" and required:
            raise LsecDataError(f"the {what} column is required", file=file, expected=f"a column name, not {given!r}")
        return pick_column(columns, given, names, what, file, required, True)

    user_c = pick(user_col, USER_NAMES, "user id", True)
    streamer_c = pick(streamer_col, STREAMER_NAMES, "streamer id", True)
    ts_c = pick(ts_col, TS_CANDIDATES, "timestamp", True)
    label_c = pick(label_col, LABEL_NAMES, "label", False)
    amount_c = pick(amount_col, AMOUNT_NAMES, "amount", False)
    segment_c = pick(segment_col, SEGMENT_NAMES, "segment id", False)
    room_c = pick(room_col, ROOM_NAMES, "room id", False)
    assert user_c is not None and streamer_c is not None and ts_c is not None  # required=True raised otherwise
    if label_c is None and amount_c is None:
        raise LsecDataError(
            "no label and no amount column",
            file=file,
            expected=f"a label column ({', '.join(LABEL_NAMES)}) and / or an amount column ({', '.join(AMOUNT_NAMES)})",
            found=", ".join(columns),
        )
    user, user_reason = id_rule(user_c, "user")
    streamer, streamer_reason = id_rule(streamer_c, "streamer")
    fmt = rules.resolve_ts_format(table.frame[ts_c].head(100_000), ts_format)
    ts, ts_reason = time_rule(ts_c, fmt, rules.describe_ts_format(fmt), now)
    reasons = [user_reason, streamer_reason, ts_reason]
    if amount_c is not None:
        amount = rules.strip(amount_c).cast(pl.Float64, strict=False)
        bad = amount.is_null() | amount.is_nan() | amount.is_infinite() | (amount < 0)
        reasons.append(reason_if(bad, expected(amount_c, "a number >= 0")))
    if label_c is not None:
        label = rules.strip(label_c).str.to_lowercase().replace_strict(LABELS, default=None, return_dtype=pl.Int8)
        reasons.append(reason_if(label.is_null(), expected(label_c, "0 or 1")))
    else:
        label = (amount > 0).cast(pl.Int8)
    if amount_c is None:
        amount = label.cast(pl.Float64)
    else:
        reasons.append(reason_if((label == 1) & (amount <= 0), expected(amount_c, "an amount > 0 on a gift (label 1)")))
        reasons.append(reason_if((label == 0) & (amount > 0), expected(amount_c, "0 on a label-0 row")))
    offset = int(round(utc_offset_hours * 3600))
    if room_c is not None:
        room_id, room_reason = id_rule(room_c, "room")
        reasons.append(room_reason)
    else:  # the streamer's local day
        room_id = pl.format("{}@day{}", streamer, (ts + offset) // DAY)
    room = pl.concat_str([streamer, room_id], separator="\x1f")
    if segment_c is not None:
        segment, segment_reason = id_rule(segment_c, "segment")
        reasons.append(segment_reason)
        segment_ts = ts
    else:
        slot = ts // SEGMENT_SECONDS
        segment, segment_ts = slot.cast(pl.Utf8), slot * SEGMENT_SECONDS
    values = {
        "user": user,
        "streamer": streamer,
        "room": room,
        "segment": segment,
        "segment_ts": segment_ts,
        "ts": ts,
        "label": label,
        "amount": amount,
        "room_id": room_id,
    }
    rows = check_rows(table, target="impressions", values=values, reasons=reasons)
    rows.report["columns"] = {
        "user": user_c, "streamer": streamer_c, "ts": ts_c, "label": label_c, "amount": amount_c,
        "segment": segment_c, "room": room_c,
    }  # fmt: skip
    rows.report["timestamps"] = rules.describe_ts_format(fmt)
    return write_gift_dataset(
        out,
        impressions=[rows],
        utc_offset_hours=utc_offset_hours,
        name=name,
        provenance={"format": "impressions_csv", "file": str(file.resolve()), "ts_format": ts_format},
        extra_meta={
            "rooms_are": f"column {room_c!r}" if room_c else "the streamer's local day",
            "segments_are": f"column {segment_c!r}" if segment_c else "30-second slices of the unix time grid",
        },
        started=started,
    )
