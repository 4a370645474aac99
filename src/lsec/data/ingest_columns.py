"""Which input column holds which field: explicit names first, then the usual names (case-insensitive).

Usual names: user ``user``, ``user_id``, ``uid``, ...; item ``item``, ``item_id``, ``iid``, ``product``, ...;
streamer ``streamer``, ``streamer_id``, ``sid``, ``author``, ``anchor``, ...; either end ``src`` / ``dst``;
timestamp ``ts``, ``timestamp``, ``time``, ``date``, ...; weight ``weight``, ``count``, ``sales``, ``amount``,
``rating``, .... A missing id column is an error; a missing timestamp or weight column just means the file
has none (unless it was named explicitly). Without a header, columns are the 1-based positions ``"1"``,
``"2"``, ... and default to 1 = source, 2 = destination, 3 = timestamp, 4 = weight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lsec.data.formats.common import RawTable
from lsec.data.schema import Relation
from lsec.errors import LsecDataError

ID_CANDIDATES: dict[str, tuple[str, ...]] = {
    "user": ("user", "user_id", "userid", "uid", "u"),
    "item": ("item", "item_id", "itemid", "iid", "i", "product", "product_id"),
    "streamer": ("streamer", "streamer_id", "streamerid", "sid", "s", "author", "author_id", "anchor", "anchor_id"),
}
SRC_CANDIDATES = ("src", "source", "from")
DST_CANDIDATES = ("dst", "target", "destination", "to")
TS_CANDIDATES = ("ts", "timestamp", "time", "t", "datetime", "date", "created_at", "event_time")
WEIGHT_CANDIDATES = ("weight", "w", "count", "sales", "amount", "quantity", "qty", "rating")
NONE = "none"
"""Column name meaning "this file has no such column" (e.g. ``ts=none``)."""


@dataclass
class ColumnMap:
    """Which input column holds each field; ``None`` = find it among the usual names."""

    src: str | None = None
    dst: str | None = None
    ts: str | None = None
    weight: str | None = None


def pick_column(
    columns: list[str],
    wanted: str | None,
    candidates: Sequence[str],
    what: str,
    path: Path,
    required: bool,
    header: bool,
) -> str | None:
    if wanted is not None:
        if wanted.lower() == NONE:
            return None
        if wanted in columns:
            return wanted
        raise LsecDataError(
            "missing required column" if required else "missing column",
            file=path,
            column=wanted,
            expected=f"a {what} column named {wanted!r}",
            found="columns " + ", ".join(repr(c) for c in columns),
        )
    lowered = {c.lower(): c for c in columns}
    for name in candidates:
        if name in lowered:
            return lowered[name]
    if not required:
        return None
    raise LsecDataError(
        "missing required column",
        file=path,
        expected=f"a {what} column (one of {', '.join(candidates[:5])}; name it with an option)",
        found="columns " + ", ".join(repr(c) for c in columns),
    )


def resolve_columns(table: RawTable, rel: Relation, wanted: ColumnMap) -> dict[str, str | None]:
    """Map src / dst / ts / weight to input columns (explicit names first, then the usual names)."""
    src_type, name, dst_type = rel
    cols, path = table.columns, table.path
    if not table.has_header:  # positional: 1 = src, 2 = dst, 3 = ts, 4 = weight
        positional = {"src": "1", "dst": "2", "ts": "3", "weight": "4"}
        for role in ("ts", "weight"):
            if positional[role] not in cols:
                positional[role] = NONE
        wanted = ColumnMap(
            wanted.src or positional["src"],
            wanted.dst or positional["dst"],
            wanted.ts or positional["ts"],
            wanted.weight or positional["weight"],
        )
    same = src_type == dst_type
    src_names = SRC_CANDIDATES + (() if same else ID_CANDIDATES.get(src_type, ()))
    dst_names = DST_CANDIDATES + (() if same else ID_CANDIDATES.get(dst_type, ()))
    src = pick_column(cols, wanted.src, src_names, f"{src_type} id ({name} source)", path, True, table.has_header)
    dst = pick_column(cols, wanted.dst, dst_names, f"{dst_type} id ({name} destination)", path, True, table.has_header)
    if src == dst:
        raise LsecDataError(
            "the same column is mapped to both ends of the relation",
            file=path,
            column=src,
            expected="two different id columns",
        )
    ts = pick_column(cols, wanted.ts, TS_CANDIDATES, "timestamp", path, wanted.ts is not None, table.has_header)
    weight = pick_column(
        cols, wanted.weight, WEIGHT_CANDIDATES, "weight", path, wanted.weight is not None, table.has_header
    )
    return {"src": src, "dst": dst, "ts": ts, "weight": weight}
