"""Delicious social-bookmarking contacts with timestamps (HetRec 2011, ``user_contacts-timestamps.dat``).

One file with a header (``.gz`` or plain; comma-separated, or tab-separated as HetRec ships it)::

    DIR/user_contacts_timestamps.csv      user,contact,timestamp_ms    (unix milliseconds)

Each row becomes one ``social`` edge user -> contact of kind ``contact`` (4,
:data:`lsec.data.schema.SOCIAL_KINDS`) with ``ts`` = the milliseconds floored to unix seconds.

Nothing is lost: rows read = kept + merged (exact duplicates after the conversion to seconds) + rejected
(``rejected/<file>.parquet``: empty ids, a timestamp that is not a non-negative number of milliseconds or
is later than now + 1 day, self-loops), each with a reason naming the column, what was expected and what
was found.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import polars as pl

from lsec.data.formats.common import read_table
from lsec.data.formats.social_events import check_rows, find_file, id_rule, require_header, time_rule, write_dataset
from lsec.data.graph import HeteroGraph
from lsec.data.schema import SOCIAL_KINDS

PathLike = str | os.PathLike[str]
LAYOUT = "Delicious contacts (user,contact,timestamp_ms)"
FILES = ("user_contacts_timestamps.csv", "user_contacts-timestamps.dat", "user_contacts_timestamps.tsv")
COLUMNS = ("user", "contact", "timestamp_ms")
HETREC_COLUMNS = ("userid", "contactid", "timestamp")


def import_delicious_contacts(
    folder: PathLike, out: PathLike, *, name: str | None = None, now: int | None = None
) -> HeteroGraph:
    """Import a Delicious contacts folder (see the module docstring); returns the graph that was written."""
    started = time.perf_counter()
    path = find_file(folder, FILES, LAYOUT)
    table = read_table(path, header=True, min_columns=3)
    if tuple(c.strip().lower() for c in table.columns) != HETREC_COLUMNS:
        require_header(table, COLUMNS, LAYOUT)
    user, contact, stamp = table.columns
    src, src_reason = id_rule(user, "user")
    dst, dst_reason = id_rule(contact, "user")
    ts, ts_reason = time_rule(stamp, "ms", "unix milliseconds", now)
    rows = check_rows(
        table,
        target="social",
        values={"src": src, "dst": dst, "ts": ts, "kind": pl.lit(SOCIAL_KINDS["contact"], dtype=pl.Int8)},
        reasons=[src_reason, dst_reason, ts_reason],
        self_loop=("src", "dst"),
    )
    return write_dataset(
        out,
        parts=[rows],
        name=name,
        time_conventions={
            "social": "unix milliseconds of the 'timestamp_ms' column floored to seconds",
            "time_known": True,
        },
        provenance={"format": "delicious_contacts", "folder": str(Path(folder).resolve()), "kind": "contact"},
        started=started,
    )
