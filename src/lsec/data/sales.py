"""Sell edges from raw sales logs: a (streamer, item) pair sells when its total sales reach a threshold.

A sales log is one row per sale (or per batch of sales) of an item in a streamer's live room::

    events/sales.parquet   streamer int32, item int32 (internal indices), ts int64 (unix seconds),
                           quantity (optional, numeric > 0; 1 per row when absent)

The LSEC-GNN slides keep a ``(streamer, item)`` pair as a sell edge when the streamer sold the item at least
``threshold`` times (20 in the slides). For a pair kept:

* ``weight`` = its total quantity (float32);
* ``ts`` = the first moment its running total reaches the threshold: the smallest log timestamp ``t`` with
  ``sum(quantity of the pair's rows with ts <= t) >= threshold``. Rows sharing a timestamp count together,
  so the result does not depend on the order of the log.

Rows that cannot be used are rejected with a reason and kept (``rejected``): a missing field, an index
outside ``[0, num_streamers)`` / ``[0, num_items)``, a quantity that is not a finite number > 0. Every row
read is either used or rejected. :mod:`lsec.distributed.spark.sales` is the same computation as a Spark job
and equals this one on the same log.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from lsec.data.graph import EdgeTable
from lsec.errors import LsecDataError

SALES_COLUMNS = ("streamer", "item", "ts")
"""Columns a sales log must have (``quantity`` is optional)."""

REASONS = {
    "missing": "missing streamer, item, ts or quantity",
    "streamer": "streamer index outside [0, num_streamers)",
    "item": "item index outside [0, num_items)",
    "quantity": "quantity is not a finite number > 0",
}
"""Rejection reasons, in the order they are checked (a row gets the first that applies)."""


@dataclass(frozen=True)
class SellEdges:
    """Sell edges derived from a sales log, sorted by ``(src, dst)``, and the rejected log rows.

    Attributes:
        edges: the kept pairs (``src`` streamer, ``dst`` item, ``ts`` threshold moment, ``weight`` total sales).
        rejected: rejected rows with their original columns and a ``reason`` column.
        counts: rows read / used / rejected, pairs seen / kept.
    """

    edges: EdgeTable
    rejected: pl.DataFrame
    counts: dict[str, int]


def sell_edges_from_sales(
    sales: pl.DataFrame, *, num_streamers: int, num_items: int, threshold: float = 20
) -> SellEdges:
    """Aggregate ``sales`` (module docstring) into sell edges: pairs whose total quantity reaches ``threshold``.

    Args:
        sales: the log, columns ``streamer``, ``item``, ``ts`` and optionally ``quantity``.
        num_streamers, num_items: node counts (indices outside them are rejected).
        threshold: minimum total quantity of a kept pair, ``> 0``.
    """
    missing = [c for c in SALES_COLUMNS if c not in sales.columns]
    if missing:
        raise LsecDataError(
            "sales log lacks columns", column=", ".join(missing), expected="streamer, item, ts [, quantity]",
            found=", ".join(sales.columns) or "no columns",
        )  # fmt: skip
    if not (isinstance(threshold, int | float) and np.isfinite(threshold) and threshold > 0):
        raise LsecDataError("the 'threshold' parameter is invalid", expected="a number > 0", found=threshold)
    log = sales if "quantity" in sales.columns else sales.with_columns(pl.lit(1.0).alias("quantity"))
    log = log.with_columns(pl.col("quantity").cast(pl.Float64, strict=False).alias("_quantity"))
    reason = (
        pl.when(pl.any_horizontal(pl.col(c).is_null() for c in (*SALES_COLUMNS, "_quantity")))
        .then(pl.lit(REASONS["missing"]))
        .when((pl.col("streamer") < 0) | (pl.col("streamer") >= num_streamers))
        .then(pl.lit(REASONS["streamer"]))
        .when((pl.col("item") < 0) | (pl.col("item") >= num_items))
        .then(pl.lit(REASONS["item"]))
        .when(~pl.col("_quantity").is_finite() | (pl.col("_quantity") <= 0))
        .then(pl.lit(REASONS["quantity"]))
        .otherwise(pl.lit(None, dtype=pl.Utf8))
        .alias("reason")
    )
    log = log.with_columns(reason)
    rejected = log.filter(pl.col("reason").is_not_null()).drop("_quantity")
    if "quantity" not in sales.columns:
        rejected = rejected.drop("quantity")
    used = log.filter(pl.col("reason").is_null()).select(
        pl.col("streamer").cast(pl.Int32), pl.col("item").cast(pl.Int32), pl.col("ts").cast(pl.Int64), "_quantity"
    )
    # Total per (pair, ts), running total over the pair's timestamps, first ts where it reaches the threshold.
    per_moment = used.group_by("streamer", "item", "ts").agg(pl.col("_quantity").sum()).sort("streamer", "item", "ts")
    per_moment = per_moment.with_columns(pl.col("_quantity").cum_sum().over("streamer", "item").alias("running"))
    pairs = per_moment.group_by("streamer", "item").agg(
        pl.col("_quantity").sum().alias("total"),
        pl.col("ts").filter(pl.col("running") >= threshold).min().alias("reached"),
    )
    kept = pairs.filter(pl.col("total") >= threshold).sort("streamer", "item")
    edges = EdgeTable(
        kept["streamer"].to_numpy(), kept["item"].to_numpy(), kept["reached"].to_numpy(), kept["total"].to_numpy()
    )
    counts = {
        "rows_read": int(sales.height),
        "rows_used": int(used.height),
        "rows_rejected": int(rejected.height),
        "pairs": int(pairs.height),
        "pairs_kept": int(kept.height),
    }
    return SellEdges(edges=edges, rejected=rejected, counts=counts)
