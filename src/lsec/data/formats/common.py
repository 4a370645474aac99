"""Reading delimited text (and Parquet) into string columns, with every row accounted for.

The importers (:mod:`lsec.data.formats.csv`, :mod:`lsec.data.formats.rechub_tsv`) share this reader. It
never drops a row silently: it returns every non-blank data line with its 1-based physical line number
(the header is line 1), its fields as strings, and a ``reason`` when the line itself is unusable (wrong
number of fields, bytes that are not UTF-8). Problems that make the whole file unusable raise
:class:`~lsec.errors.LsecDataError` naming the file, what was expected and what was found.

Reading rules:

* Encoding: UTF-8 (a UTF-8 byte-order mark is ignored). UTF-16/32 files, files with NUL bytes and files
  whose header is not UTF-8 are refused; a data line with invalid bytes is rejected on its own.
* ``.gz`` files are decompressed in memory.
* Delimiter: ``.csv`` -> ``,``; ``.tsv`` / ``.tab`` -> tab; other extensions: the most frequent of tab,
  ``,``, ``;``, ``|`` in the header line, else whitespace. ``delimiter=`` overrides. With whitespace,
  runs of spaces / tabs count as one separator.
* Quotes: a line containing ``"`` is parsed with the standard CSV rules (quoted fields may contain the
  delimiter); a field spanning several lines is not supported (its lines are rejected as ragged).
* Blank lines are skipped and counted (``blank_lines``); they are not rows.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from lsec.errors import LsecDataError

LINE = "line"
"""Name of the 1-based physical line number column."""
REASON = "reason"
RAW = "raw"

DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe", " ": "whitespace"}
SNIFF_CANDIDATES = ("\t", ",", ";", "|")


CHUNK_ROWS = 1_000_000
"""Rows split and checked at a time (bounds the memory of the intermediate columns)."""


@dataclass
class RawTable:
    """Every data row of one file as strings, split on demand (whole, or in chunks to bound memory).

    A split frame has ``line`` (int64), one Utf8 column per input column (named by the header, or ``"1"``,
    ``"2"``, ... without one), ``raw`` (the whole line, set only when the line could not be split) and
    ``reason`` (null for rows that split cleanly).
    """

    path: Path
    body: pl.DataFrame  # ``line`` and ``text`` (one row per data line), or an already split frame (Parquet)
    columns: list[str]
    delimiter: str | None
    has_header: bool
    blank_lines: int = 0

    @property
    def height(self) -> int:
        return self.body.height

    @property
    def frame(self) -> pl.DataFrame:
        """All rows split at once (fine for node lists and small files)."""
        return pl.concat(list(self.chunks()), how="vertical") if self.height > CHUNK_ROWS else next(self.chunks())

    def chunks(self, rows: int = CHUNK_ROWS) -> Iterator[pl.DataFrame]:
        for start in range(0, max(self.height, 1), rows):
            part = self.body.slice(start, rows)
            yield part if self.delimiter is None else _split_lines(part, self.delimiter, self.columns)


def delimiter_name(delimiter: str | None) -> str:
    if delimiter is None:
        return "none (Parquet)"
    return DELIMITER_NAMES.get(delimiter, repr(delimiter))


def parse_delimiter(text: str | None) -> str | None:
    """``"tab"``, ``"\\t"``, ``"comma"``, ``","``, ``"space"`` ... -> the delimiter character (None = auto)."""
    if text is None or text == "" or text == "auto":
        return None
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " ", "whitespace": " "}
    value = named.get(text.lower(), text)
    if len(value) != 1:
        raise LsecDataError(
            column="--delimiter", expected="one character or tab/comma/semicolon/pipe/space", found=text
        )
    return value


def _logical_suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def check_file(path: Path) -> None:
    if not path.exists():
        raise LsecDataError("file not found", file=path, expected="an existing file")
    if path.is_dir():
        raise LsecDataError("is a folder", file=path, expected="a file")
    if path.stat().st_size == 0:
        raise LsecDataError("empty file", file=path, expected="a header line and data rows", found="0 bytes")


def read_table(
    path: str | Path,
    *,
    delimiter: str | None = None,
    header: bool = True,
    min_columns: int = 1,
) -> RawTable:
    """Read a delimited text or Parquet file into a :class:`RawTable` (see the module docstring)."""
    path = Path(path)
    check_file(path)
    if _logical_suffix(path) == ".parquet":
        return _read_parquet(path, min_columns)
    with path.open("rb") as handle:
        head = handle.read(4096)
    source: Path | io.BytesIO = path
    if head[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(path.read_bytes())
        except (OSError, EOFError) as err:
            raise LsecDataError("corrupt gzip file", file=path, expected="a valid .gz stream", found=str(err)) from None
        if not data:
            raise LsecDataError("empty file", file=path, expected="a header line and data rows", found="0 bytes")
        head, source = data[:4096], io.BytesIO(data)
        del data
    _check_encoding(path, head)
    lines = pl.read_csv(
        source,
        has_header=False,
        separator="\x00",
        quote_char=None,
        new_columns=["text"],
        schema={"text": pl.Utf8},
        encoding="utf8-lossy",
        infer_schema=False,
    )
    del source
    lines = lines.with_row_index(LINE, offset=1).with_columns(pl.col(LINE).cast(pl.Int64))
    blank = lines.select(pl.col("text").is_null() | (pl.col("text").str.strip_chars() == "")).to_series()
    blank_lines = int(blank.sum())
    # Blank lines (anywhere, also before the header) are skipped and counted.
    non_blank = lines.filter(~blank) if blank_lines else lines
    del lines, blank
    if non_blank.height == 0:
        raise LsecDataError("empty file", file=path, expected="a header line and data rows", found="only blank lines")
    first = str(non_blank["text"][0])
    if first.startswith("\ufeff"):  # UTF-8 byte-order mark: not part of the first field
        first = first.lstrip("\ufeff")
        non_blank = non_blank.with_columns(pl.col("text").str.strip_prefix("\ufeff"))
    if "\ufffd" in first:
        raise LsecDataError(
            "unreadable encoding", file=path, expected="UTF-8 text in the first line", found="bytes that are not UTF-8"
        )
    if delimiter is None:
        delimiter = _guess_delimiter(path, first)
    first_fields = _split_one(first, delimiter)
    if header:
        columns = _header_names(first_fields)
        body = non_blank.slice(1)
    else:
        columns = [str(i + 1) for i in range(len(first_fields))]
        body = non_blank
    if len(columns) < min_columns:
        _raise_wrong_delimiter(path, first, delimiter, len(columns), min_columns)
    if body.height == 0:
        raise LsecDataError(
            "no data rows", file=path, expected="at least one data row after the header", found="only a header line"
        )
    return RawTable(path, body, columns, delimiter, header, blank_lines)


def peek(path: str | Path, count: int = 200) -> list[str]:
    """The first ``count`` non-blank lines of a text file (gzip aware, undecodable bytes replaced)."""
    path = Path(path)
    check_file(path)
    with path.open("rb") as handle:
        magic = handle.read(2)
    opener = gzip.open if magic == b"\x1f\x8b" else open
    lines: list[str] = []
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as text:  # type: ignore[operator]
        for line in text:
            line = line.rstrip("\r\n").lstrip("\ufeff")
            if line.strip():
                lines.append(line)
            if len(lines) >= count:
                break
    return lines


def split_fields(line: str, delimiter: str) -> list[str]:
    """Fields of one line under the reading rules of this module."""
    return _split_one(line, delimiter)


def sniff_delimiter(line: str) -> str:
    """Most frequent of tab, comma, semicolon, pipe in ``line``; whitespace when none occurs."""
    counts = {d: line.count(d) for d in SNIFF_CANDIDATES}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else " "


def _check_encoding(path: Path, data: bytes) -> None:
    head = data[:4096]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
        found = "a UTF-16/UTF-32 byte-order mark" if head[:2] in (b"\xff\xfe", b"\xfe\xff") else "NUL bytes"
        raise LsecDataError("unreadable encoding", file=path, expected="UTF-8 text", found=found)


def _guess_delimiter(path: Path, first_line: str) -> str:
    suffix = _logical_suffix(path)
    if suffix == ".csv":
        return ","
    if suffix in (".tsv", ".tab"):
        return "\t"
    return sniff_delimiter(first_line)


def _raise_wrong_delimiter(path: Path, first: str, delimiter: str, found: int, needed: int) -> None:
    message = "wrong delimiter"
    others = [d for d in SNIFF_CANDIDATES + (" ",) if d != delimiter and len(_split_one(first, d)) >= needed]
    if others:
        message += f"; the file seems to use {delimiter_name(others[0])} (pass --delimiter {others[0]!r})"
    raise LsecDataError(
        message,
        file=path,
        expected=f"a header with at least {needed} columns separated by {delimiter_name(delimiter)}",
        found=first[:60],
    )


def _split_one(line: str, delimiter: str) -> list[str]:
    if delimiter == " ":
        return line.split()
    if '"' in line:
        return next(csv.reader([line], delimiter=delimiter))
    return line.split(delimiter)


def _header_names(fields: list[str]) -> list[str]:
    names: list[str] = []
    for position, field in enumerate(fields, start=1):
        name = field.strip() or str(position)
        while name in names or name in (LINE, REASON, RAW):
            name = f"{name}_{position}"
        names.append(name)
    return names


def _split_lines(body: pl.DataFrame, delimiter: str, columns: list[str]) -> pl.DataFrame:
    """Split each line into ``len(columns)`` string fields; lines that do not split cleanly get a reason."""
    width = len(columns)
    text = pl.col("text")
    lazy = body.lazy()
    if delimiter == " ":
        lazy = lazy.with_columns(text.str.strip_chars().str.replace_all(r"\s+", " "))
    body = lazy.with_columns(text.str.contains('"', literal=True).alias("_quoted")).collect()
    quoted = body.filter(pl.col("_quoted")) if body["_quoted"].any() else None
    plain = body.lazy().filter(~pl.col("_quoted")) if quoted is not None else body.lazy()
    # One field more than needed: a non-null extra field means too many, a null last field too few.
    names = [*columns, "_extra"]
    fields = text.str.split_exact(delimiter, width).struct.rename_fields(names)
    split = plain.select(pl.col(LINE), text, fields.alias("_fields")).unnest("_fields")
    ragged = pl.col("_extra").is_not_null() | pl.col(columns[-1]).is_null()
    count = pl.when(ragged).then(text.str.count_matches(delimiter, literal=True) + 1).otherwise(pl.lit(width))
    out = split.with_columns(_row_reason(count, width)).drop("_extra").collect()
    if quoted is not None:
        slow = _split_quoted(quoted.drop("_quoted"), delimiter, columns).select(out.columns).cast(out.schema)
        out = out.merge_sorted(slow, key=LINE)
    return out.select(
        LINE,
        *columns,
        pl.when(pl.col(REASON).is_null()).then(None).otherwise(text).alias(RAW),
        REASON,
    )


def _row_reason(count: pl.Expr, width: int) -> pl.Expr:
    text = pl.col("text")
    return (
        pl.when(text.str.contains("\ufffd", literal=True))
        .then(pl.lit("invalid UTF-8 bytes"))
        .when(count < 0)
        .then(pl.lit("unbalanced quotes"))
        .when(count != width)
        .then(pl.format(f"ragged row: expected {width} fields, found {{}}", count))
        .otherwise(pl.lit(None, dtype=pl.Utf8))
        .alias(REASON)
    )


def _split_quoted(quoted: pl.DataFrame, delimiter: str, columns: list[str]) -> pl.DataFrame:
    width = len(columns)
    rows: dict[str, list[str | None]] = {c: [] for c in columns}
    counts: list[int] = []
    for line in quoted["text"].to_list():
        try:
            parsed = next(csv.reader([line], delimiter=delimiter, strict=True))
        except csv.Error:
            parsed = []
        counts.append(len(parsed) if parsed else -1)
        for i, column in enumerate(columns):
            rows[column].append(parsed[i] if i < len(parsed) else None)
    frame = quoted.with_columns(
        pl.Series("_count", counts, dtype=pl.Int64), *[pl.Series(c, rows[c], dtype=pl.Utf8) for c in columns]
    )
    return frame.with_columns(_row_reason(pl.col("_count"), width)).drop("_count")


def _read_parquet(path: Path, min_columns: int) -> RawTable:
    try:
        frame = pl.read_parquet(path)
    except Exception as err:  # polars raises several error types for corrupt files
        raise LsecDataError(
            "unreadable Parquet file", file=path, expected="a valid Parquet file", found=str(err)
        ) from None
    if frame.width < min_columns:
        raise LsecDataError(file=path, expected=f"at least {min_columns} columns", found=f"{frame.width}")
    if frame.height == 0:
        raise LsecDataError("no data rows", file=path, expected="at least one data row", found="0 rows")
    columns = [str(c) for c in frame.columns]
    converted = []
    for name in frame.columns:
        series = frame[name]
        if series.dtype == pl.Datetime:
            # Naive datetimes are taken as UTC; the string form is unix seconds.
            series = series.dt.epoch("s")
        converted.append(series.cast(pl.Utf8).alias(str(name)))
    out = (
        pl.DataFrame(converted)
        .with_row_index(LINE, offset=1)
        .with_columns(
            pl.col(LINE).cast(pl.Int64),
            pl.lit(None, dtype=pl.Utf8).alias(RAW),
            pl.lit(None, dtype=pl.Utf8).alias(REASON),
        )
    )
    return RawTable(path, out, columns, None, True, 0)
