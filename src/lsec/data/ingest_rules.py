"""Row-level rules of ingestion: how ids, timestamps and weights are read, and why a row is rejected.

These rules are the same for every importer, so a dataset means the same thing whatever layout it came in.

Ids (external ids are strings):
    * surrounding whitespace is removed (``" u1 "`` is ``"u1"``);
    * an integral decimal such as ``"12.0"`` is written ``"12"``: such ids come from float-typed exports
      (a column with missing values written by pandas), and ``"12"`` / ``"12.0"`` name the same node;
      other decimals (``"12.5"``) stay as they are. Both normalisations are counted (``normalised_ids``);
    * an empty field is rejected (``empty <type> id ...``); so is a null marker, one of
      ``null``, ``none``, ``nan``, ``na``, ``n/a``, ``nil`` in any case (``missing <type> id ...``).

Timestamps (stored as int64 unix seconds, UTC):
    * formats: ``s`` (unix seconds, decimals floored), ``ms`` (unix milliseconds), ``iso`` (ISO-8601 date
      or date-time, ``T`` or space, optional fraction, optional ``Z`` / ``+hh:mm`` offset; no offset = UTC),
      or any strftime pattern containing ``%`` (taken as UTC unless it has ``%z``);
    * ``auto`` looks at the column: if most values are numbers they are unix seconds, or milliseconds when
      their median is above 1e11; otherwise ISO-8601. The chosen format is recorded in the report;
    * rejected: empty, unparseable, negative, or later than now + 1 day.

Weights (float32): rejected when empty, not a number, NaN / infinite, or negative.
"""

from __future__ import annotations

import time

import polars as pl

NULL_MARKERS = ("null", "none", "nan", "na", "n/a", "nil")
FUTURE_SLACK = 86_400
"""Timestamps later than now + this many seconds are rejected."""

TS_FORMATS = ("auto", "s", "ms", "iso")

_ISO_PATTERNS = (
    "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%d %H:%M:%S%.f%#z",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)
_NUMBER = r"^-?\d+(\.\d*)?$"


def strip(column: str) -> pl.Expr:
    """The column with surrounding whitespace removed (the rules below take stripped values)."""
    return pl.col(column).str.strip_chars()


def _spellings(word: str) -> list[str]:
    """Every upper / lower case spelling of ``word`` (cheaper to match than lower-casing every id)."""
    out = [""]
    for char in word:
        out = [prefix + c for prefix in out for c in sorted({char.lower(), char.upper()})]
    return out


_NULL_SPELLINGS = sorted({spelling for marker in NULL_MARKERS for spelling in _spellings(marker)})


def normalise_id(stripped: pl.Expr, may_have_decimals: bool = True) -> pl.Expr:
    """Id (already stripped) with an integral decimal written as an integer (see the module docstring).

    ``may_have_decimals=False`` (no ``.`` in the column, checked by the caller) skips the regular expressions.
    """
    if not may_have_decimals:
        return stripped
    return pl.when(stripped.str.contains(r"^-?\d+\.0+$")).then(stripped.str.replace(r"\.0+$", "")).otherwise(stripped)


def id_reason(stripped: pl.Expr, column: str, node_type: str) -> pl.Expr:
    """Reason an id (already stripped) from input column ``column`` is unusable, or null."""
    return (
        pl.when(stripped.is_null() | (stripped == ""))
        .then(pl.lit(f"empty {node_type} id in column '{column}'"))
        .when(stripped.is_in(_NULL_SPELLINGS))
        .then(pl.lit(f"missing {node_type} id in column '{column}' (null marker)"))
        .otherwise(pl.lit(None, dtype=pl.Utf8))
    )


def resolve_ts_format(values: pl.Series, ts_format: str) -> str:
    """``auto`` -> ``s`` / ``ms`` / ``iso`` by looking at the values; other formats pass through."""
    if ts_format != "auto":
        return ts_format
    stripped = values.str.strip_chars().drop_nulls()
    stripped = stripped.filter(stripped != "")
    if stripped.len() == 0:
        return "s"
    numeric = stripped.str.contains(_NUMBER)
    if numeric.sum() * 2 < stripped.len():
        return "iso"
    median = stripped.filter(numeric).cast(pl.Float64, strict=False).abs().median()
    return "ms" if median is not None and float(str(median)) > 1e11 else "s"


def describe_ts_format(ts_format: str) -> str:
    return {
        "s": "unix seconds",
        "ms": "unix milliseconds",
        "iso": "an ISO-8601 date or date-time",
    }.get(ts_format, f"a date matching {ts_format!r}")


def parse_ts(stripped: pl.Expr, ts_format: str) -> pl.Expr:
    """Unix seconds (Int64) from stripped strings, null where the value does not parse."""
    if ts_format in ("s", "ms"):
        value = stripped.cast(pl.Float64, strict=False)
        number: pl.Expr = pl.when(value.is_finite()).then(value)  # "inf" / "nan" are not timestamps
        if ts_format == "ms":
            number = number / 1000.0
        return number.floor().cast(pl.Int64, strict=False)
    patterns = _ISO_PATTERNS if ts_format == "iso" else (ts_format,)
    parsed = [_strptime(stripped, p) for p in patterns]
    return pl.coalesce(parsed) if len(parsed) > 1 else parsed[0]


def _strptime(values: pl.Expr, pattern: str) -> pl.Expr:
    has_zone = "%z" in pattern or "%#z" in pattern
    when = values.str.to_datetime(
        pattern, strict=False, time_unit="us", time_zone=None if has_zone else "UTC", exact=True
    )
    if has_zone:
        when = when.dt.convert_time_zone("UTC")
    return when.dt.epoch("s")


def ts_reason(stripped: pl.Expr, parsed: pl.Expr, column: str, ts_format: str, now: int | None = None) -> pl.Expr:
    """Reason a timestamp (stripped text and parsed value) from input column ``column`` is unusable, or null."""
    limit = (int(time.time()) if now is None else now) + FUTURE_SLACK
    return (
        pl.when(stripped.is_null() | (stripped == ""))
        .then(pl.lit(f"missing timestamp in column '{column}'"))
        .when(parsed.is_null())
        .then(pl.lit(f"unparseable timestamp in column '{column}' (expected {describe_ts_format(ts_format)})"))
        .when(parsed < 0)
        .then(pl.lit(f"negative timestamp in column '{column}'"))
        .when(parsed > limit)
        .then(pl.lit(f"timestamp in column '{column}' is later than now + 1 day"))
        .otherwise(pl.lit(None, dtype=pl.Utf8))
    )


def parse_weight(stripped: pl.Expr) -> pl.Expr:
    return stripped.cast(pl.Float64, strict=False)


def weight_reason(stripped: pl.Expr, parsed: pl.Expr, column: str) -> pl.Expr:
    """Reason a weight (stripped text and parsed value) from input column ``column`` is unusable, or null."""
    return (
        pl.when(stripped.is_null() | (stripped == ""))
        .then(pl.lit(f"missing weight in column '{column}'"))
        .when(parsed.is_null())
        .then(pl.lit(f"non-numeric weight in column '{column}'"))
        .when(parsed.is_nan() | parsed.is_infinite())
        .then(pl.lit(f"non-finite weight in column '{column}'"))
        .when(parsed < 0)
        .then(pl.lit(f"negative weight in column '{column}'"))
        .otherwise(pl.lit(None, dtype=pl.Utf8))
    )


def first_reason(reasons: list[pl.Expr]) -> pl.Expr:
    """The first non-null reason of a row (rules are checked in the order given)."""
    return pl.coalesce(reasons) if len(reasons) > 1 else reasons[0]
