"""Epinions trust network with coarse time steps (Tang et al., eTrust; the hTrust ``.mat`` as CSV).

One file, comma-separated, with a header (``.gz`` or plain)::

    DIR/trust_with_step.csv       truster,trustee,step        (step 1..11: the time step of the statement)

Each row becomes one ``social`` edge truster -> trustee of kind ``trust`` (3,
:data:`lsec.data.schema.SOCIAL_KINDS`). The layout has no clock time, only the step, so the timestamp is
synthetic and keeps the step exactly::

    ts = step * 86_400        (step s = day s after 1970-01-01 UTC; step = ts // 86_400)

and ``time_origin`` is 0; ``meta.json`` -> ``time`` says so (``synthetic: true``). Temporal samplers see the
steps in order, one day apart; durations in seconds mean "steps x 86,400", not real time.

Nothing is lost: rows read = kept + merged (exact duplicate rows) + rejected (``rejected/<file>.parquet``:
empty ids, a step that is not a positive integer, self-loops), each with a reason naming the column, what was
expected and what was found.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import polars as pl

from lsec.data.formats.common import read_table
from lsec.data.formats.social_events import check_rows, find_file, id_rule, int_rule, write_dataset
from lsec.data.graph import HeteroGraph
from lsec.data.schema import SOCIAL_KINDS

PathLike = str | os.PathLike[str]
LAYOUT = "Epinions trust (truster,trustee,step)"
FILE = "trust_with_step.csv"
COLUMNS = ("truster", "trustee", "step")
SECONDS_PER_STEP = 86_400


def _step_order(entry: tuple[str, int]) -> tuple[int, str]:
    return (int(entry[0]) if entry[0].isdigit() else 1 << 30, entry[0])


def import_epinions_trust(folder: PathLike, out: PathLike, *, name: str | None = None) -> HeteroGraph:
    """Import an Epinions trust folder (see the module docstring); returns the graph that was written."""
    from lsec.data.formats.social_events import require_header

    started = time.perf_counter()
    path = find_file(folder, [FILE, "trust_with_step.tsv", "trust_with_step.txt"], LAYOUT)
    table = read_table(path, header=True, min_columns=3)
    require_header(table, COLUMNS, LAYOUT)
    src, src_reason = id_rule(table.columns[0], "user")
    dst, dst_reason = id_rule(table.columns[1], "user")
    step, step_reason = int_rule(table.columns[2], "a positive integer time step", low=1, high=10**6)
    rows = check_rows(
        table,
        target="social",
        values={
            "src": src,
            "dst": dst,
            "ts": step * SECONDS_PER_STEP,
            "kind": pl.lit(SOCIAL_KINDS["trust"], dtype=pl.Int8),
        },
        reasons=[src_reason, dst_reason, step_reason],
        self_loop=("src", "dst"),
    )
    steps = rows.kept.group_by(pl.col("ts") // SECONDS_PER_STEP).len().sort("ts")
    rows.report["edges_per_step"] = {str(s): int(n) for s, n in steps.iter_rows()}
    read = table.frame.group_by(pl.col(table.columns[2]).str.strip_chars().alias("step")).len()
    rows.report["rows_read_per_step"] = dict(sorted(((str(s), int(n)) for s, n in read.iter_rows()), key=_step_order))
    rows.report["pairs_at_several_steps"] = int(rows.kept.select("src", "dst").is_duplicated().sum())
    return write_dataset(
        out,
        parts=[rows],
        name=name,
        time_conventions={
            "social": "synthetic: ts = step * 86400 (step s = day s after 1970-01-01 UTC); step = ts // 86400",
            "synthetic": True,
            "time_known": True,
            "seconds_per_step": SECONDS_PER_STEP,
        },
        provenance={"format": "epinions_trust", "folder": str(Path(folder).resolve()), "kind": "trust"},
        time_origin=0,
        started=started,
    )
