"""Spark job ``sales``: raw sales logs -> sell edges with the threshold (:mod:`lsec.data.sales`, same rules).

Two shuffles: the log grouped by ``(streamer, item, ts)``, then a window per pair ordered by ``ts`` for the
running total; the result has one row per kept pair.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsec.data.sales import REASONS, SALES_COLUMNS
from lsec.distributed.spark import io
from lsec.errors import LsecDataError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def sell_edges(
    log: DataFrame, *, num_streamers: int, num_items: int, threshold: float = 20
) -> tuple[DataFrame, DataFrame, DataFrame]:
    """``(edges, rejected, pairs)``: sell edges (src, dst, ts, weight) sorted by (src, dst), rejected rows with
    a ``reason``, and every pair's total (for the counts)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    missing = [c for c in SALES_COLUMNS if c not in log.columns]
    if missing:
        raise LsecDataError(
            "sales log lacks columns", column=", ".join(missing), expected="streamer, item, ts [, quantity]",
            found=", ".join(log.columns) or "no columns",
        )  # fmt: skip
    if not threshold > 0:
        raise LsecDataError("the 'threshold' parameter is invalid", expected="a number > 0", found=threshold)
    has_quantity = "quantity" in log.columns
    quantity = F.col("quantity").try_cast("double") if has_quantity else F.lit(1.0)
    frame = log.withColumn("_quantity", quantity)
    nulls = F.lit(False)
    for column in (*SALES_COLUMNS, "_quantity"):
        nulls = nulls | F.col(column).isNull()
    reason = (
        F.when(nulls, F.lit(REASONS["missing"]))
        .when((F.col("streamer") < 0) | (F.col("streamer") >= num_streamers), F.lit(REASONS["streamer"]))
        .when((F.col("item") < 0) | (F.col("item") >= num_items), F.lit(REASONS["item"]))
        .when(F.isnan("_quantity") | (F.abs("_quantity") == float("inf")) | (F.col("_quantity") <= 0), F.lit(REASONS["quantity"]))
    )  # fmt: skip
    frame = frame.withColumn("reason", reason)
    rejected = frame.filter(F.col("reason").isNotNull()).drop("_quantity")
    used = frame.filter(F.col("reason").isNull()).select(
        F.col("streamer").cast("int"), F.col("item").cast("int"), F.col("ts").cast("bigint"), "_quantity"
    )
    per_moment = used.groupBy("streamer", "item", "ts").agg(F.sum("_quantity").alias("_quantity"))
    running = Window.partitionBy("streamer", "item").orderBy("ts").rowsBetween(Window.unboundedPreceding, 0)
    per_moment = per_moment.withColumn("running", F.sum("_quantity").over(running))
    pairs = per_moment.groupBy("streamer", "item").agg(
        F.sum("_quantity").alias("total"),
        F.min(F.when(F.col("running") >= threshold, F.col("ts"))).alias("reached"),
    )
    edges = (
        pairs.filter(F.col("total") >= threshold)
        .select(
            F.col("streamer").cast("int").alias("src"),
            F.col("item").cast("int").alias("dst"),
            F.col("reached").cast("bigint").alias("ts"),
            F.col("total").cast("float").alias("weight"),
        )
        .orderBy("src", "dst")
    )
    return edges, rejected, pairs


def run(
    spark: SparkSession,
    dataset: str,
    out: str,
    *,
    threshold: float = 20,
    log: str | None = None,
    single_file: bool = True,
) -> dict[str, int]:
    """Read ``dataset``'s ``events/sales.parquet`` (or ``log``), write ``out/edges/streamer__sell__item.parquet``
    and ``out/rejected/sales.parquet``; returns the counts (as :func:`lsec.data.sales.sell_edges_from_sales`)."""
    counts = io.dataset_counts(spark, dataset)
    for node_type in ("streamer", "item"):
        if node_type not in counts:
            raise LsecDataError(f"dataset has no {node_type} nodes", file=io.join(dataset, "meta.json"),
                                expected="node counts for streamer and item", found=", ".join(counts) or "none")  # fmt: skip
    source = log or io.join(dataset, "events", "sales.parquet")
    frame = io.read_table(spark, source, what="the sales log").cache()
    edges, rejected, pairs = sell_edges(
        frame, num_streamers=counts["streamer"], num_items=counts["item"], threshold=threshold
    )
    edges = edges.cache()
    io.write_table(edges, io.edge_file(out, ("streamer", "sell", "item")), single_file=single_file)
    io.write_table(rejected, io.join(out, "rejected", "sales.parquet"), single_file=single_file)
    report = {
        "rows_read": frame.count(),
        "rows_rejected": rejected.count(),
        "pairs": pairs.count(),
        "pairs_kept": edges.count(),
    }
    report["rows_used"] = report["rows_read"] - report["rows_rejected"]
    io.write_json(spark, io.join(out, "sales_report.json"), {"threshold": threshold, **report})
    frame.unpersist()
    edges.unpersist()
    return report
