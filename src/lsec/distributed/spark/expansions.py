"""Spark job ``expansions``: the five bounded metapath neighbourhoods of MMBee's expansion store.

The same walks as :func:`lsec.graph.metapath.metapath_neighbours` (module docstring there): per hop, each
frontier node follows its top ``fanout`` edges (gift amount or Swing score, equal weights by lower index),
the reached nodes are summed per source (``visits``, ``weight``) after the metapath's exclusions, ranked by
visits, weight (descending), index (ascending), and cut to ``max_frontier`` (intermediate hop) or ``k``
(last hop). As joins: ``frontier(source, node, visits) join hop(node, next, weight)``, an anti-join for the
exclusions, a group-by per ``(source, next)`` and a window rank per source. The shuffled volume of a hop is
about ``sources * max_frontier * fanout`` rows; ``u2a2u2a``'s last hop is the largest.

Output per metapath, ``expansions/<metapath>.parquet``: ``source`` int32, ``rank`` int32 (0-based),
``neighbour`` int32, ``visits`` int32, ``weight`` float32, sorted by (source, rank); sources without
neighbours have no rows. :func:`read_expansions` turns the files back into
:class:`~lsec.graph.metapath.MetapathNeighbours` for :func:`lsec.serve.expansion_store.build_store`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lsec.distributed.spark import io
from lsec.distributed.spark.swing import GIFT, SWING, gift_pairs, swing_edges
from lsec.graph.metapath import HOPS, METAPATHS, MetapathNeighbours

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SOURCE_TYPE = {"u2a2u": "user", "u2a2u2a": "user", "u2a2a": "user", "a2a": "streamer", "a2u2a": "streamer"}


def hop_table(pairs: DataFrame, swing: DataFrame, hop: str, fanout: int) -> DataFrame:
    """``(node, next, weight)``: every node's top ``fanout`` edges of ``hop`` (weight descending, next ascending)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if hop == "a2a":  # the Swing lists are already ranked
        return swing.filter(F.col("rank") < fanout).select(
            F.col("src").alias("node"), F.col("dst").alias("next"), F.col("weight").cast("double").alias("weight")
        )
    node, other = ("user", "streamer") if hop == "u2a" else ("streamer", "user")
    edges = pairs.select(
        F.col(node).alias("node"), F.col(other).alias("next"), F.col("weight").cast("double").alias("weight")
    )
    order = Window.partitionBy("node").orderBy(F.col("weight").desc(), F.col("next").asc())
    return edges.withColumn("r", F.row_number().over(order)).filter(F.col("r") <= fanout).drop("r")


def walk(
    metapath: str, pairs: DataFrame, swing: DataFrame, sources: DataFrame, *, k: int, max_frontier: int,
    fanouts: Sequence[int] | None = None,
) -> DataFrame:  # fmt: skip
    """The ``k`` best neighbours of each row of ``sources`` (column ``source``) along ``metapath``."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    hops = HOPS[metapath]
    widths = [k] * len(hops) if fanouts is None else list(fanouts)
    frontier = sources.select("source", F.col("source").alias("node"), F.lit(1.0).alias("visits"))
    for h, hop in enumerate(hops):
        last = h == len(hops) - 1
        table = hop_table(pairs, swing, hop, widths[h])
        reached = frontier.join(table, "node").select(
            "source", F.col("next").alias("node"), "visits", (F.col("visits") * F.col("weight")).alias("weight")
        )
        if (metapath in ("u2a2u", "a2u2a") and last) or (metapath == "u2a2u2a" and h == 1):
            reached = reached.filter(F.col("node") != F.col("source"))
        elif metapath == "u2a2u2a" and last:  # drop every streamer the source user gifted
            gifted = pairs.select(F.col("user").alias("source"), F.col("streamer").alias("node"))
            reached = reached.join(gifted, ["source", "node"], "left_anti")
        summed = reached.groupBy("source", "node").agg(F.sum("visits").alias("visits"), F.sum("weight").alias("weight"))
        order = Window.partitionBy("source").orderBy(
            F.col("visits").desc(), F.col("weight").desc(), F.col("node").asc()
        )
        ranked = summed.withColumn("rank", F.row_number().over(order) - 1).filter(
            F.col("rank") < (k if last else max_frontier)
        )
        frontier = ranked if last else ranked.select("source", "node", "visits")
    return frontier.select(
        F.col("source").cast("int"), F.col("rank").cast("int"), F.col("node").cast("int").alias("neighbour"),
        F.col("visits").cast("int"), F.col("weight").cast("float"),
    )  # fmt: skip


def expansions(
    gifts: DataFrame, *, num_users: int, num_streamers: int, k: int, max_frontier: int = 64,
    swing: DataFrame | None = None, metapaths: Sequence[str] = METAPATHS, swing_options: dict | None = None,
) -> dict[str, DataFrame]:  # fmt: skip
    """Every metapath's neighbours from raw gift edges; ``swing`` (a swing edge table with ``rank``) is computed
    with ``k`` and ``swing_options`` (:func:`lsec.distributed.spark.swing.swing_edges`) when not given."""
    spark = gifts.sparkSession
    pairs = gift_pairs(gifts).cache()
    if swing is None and any("a2a" in HOPS[m] for m in metapaths):
        swing = swing_edges(gifts, k=k, **(swing_options or {}))
    if swing is not None:
        swing = swing.cache()
    ids = {"user": spark.range(num_users).withColumnRenamed("id", "source"),
           "streamer": spark.range(num_streamers).withColumnRenamed("id", "source")}  # fmt: skip
    empty = spark.createDataFrame([], "src int, dst int, ts bigint, weight float, rank int")
    return {
        name: walk(name, pairs, swing if swing is not None else empty, ids[SOURCE_TYPE[name]], k=k,
                   max_frontier=max_frontier).orderBy("source", "rank")
        for name in metapaths
    }  # fmt: skip


def read_expansions(folder: str, *, num_users: int, num_streamers: int, k: int) -> dict[str, MetapathNeighbours]:
    """The files of an ``expansions`` run (local folder) as padded :class:`MetapathNeighbours` (no Spark needed)."""
    import polars as pl

    out = {}
    for name in METAPATHS:
        path = Path(folder) / f"{name}.parquet"
        frame = pl.read_parquet(
            sorted(path.glob("part-*.parquet")) if path.is_dir() else path
        )  # --keep-parts: a folder
        rows = num_users if SOURCE_TYPE[name] == "user" else num_streamers
        indices = np.full((rows, k), -1, dtype=np.int32)
        visits = np.zeros((rows, k), dtype=np.int32)
        weights = np.zeros((rows, k), dtype=np.float32)
        source, rank = frame["source"].to_numpy(), frame["rank"].to_numpy()
        indices[source, rank] = frame["neighbour"].to_numpy()
        visits[source, rank] = frame["visits"].to_numpy()
        weights[source, rank] = frame["weight"].to_numpy()
        out[name] = MetapathNeighbours(
            metapath=name, sources=np.arange(rows, dtype=np.int64), indices=indices, visits=visits, weights=weights
        )
    return out


def run(
    spark: SparkSession, dataset: str, out: str, *, k: int = 20, max_frontier: int = 64, swing: str | None = None,
    swing_options: dict | None = None, single_file: bool = True,
) -> dict[str, int]:  # fmt: skip
    """Read ``dataset``'s gift edges (and ``swing``, a swing edge file, if given), write ``out/expansions/``."""
    counts = io.dataset_counts(spark, dataset)
    gifts = io.read_edges(spark, dataset, GIFT)
    swing_frame = None if swing is None else io.read_table(spark, swing, what="the swing edges")
    if swing_frame is None:
        swing_frame = swing_edges(gifts, k=k, **(swing_options or {})).cache()
        io.write_table(swing_frame, io.edge_file(out, SWING), single_file=single_file)
    frames = expansions(
        gifts, num_users=counts.get("user", 0), num_streamers=counts.get("streamer", 0), k=k, max_frontier=max_frontier,
        swing=swing_frame,
    )  # fmt: skip
    report = {}
    for name, frame in frames.items():
        frame = frame.cache()
        io.write_table(frame, io.join(out, "expansions", f"{name}.parquet"), single_file=single_file)
        report[name] = frame.count()
        frame.unpersist()
    io.write_json(spark, io.join(out, "expansions", "report.json"), {
        "k": k, "max_frontier": max_frontier, "swing": swing or "computed", "neighbours": report,
        "counts": {"user": counts.get("user", 0), "streamer": counts.get("streamer", 0)},
    })  # fmt: skip
    return report
