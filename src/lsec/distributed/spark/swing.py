"""Spark job ``swing``: top-k Swing neighbours of every streamer (:func:`lsec.graph.swing.swing`, eq. 8).

With ``E`` the distinct (user, streamer) gift pairs and ``S`` the sampled pairs (all of ``E`` in exact mode,
at most ``cap`` users per streamer in bounded mode)::

    Q(i, u, v)  = pairs u <= v of sampled users of streamer i              (S join S on the streamer)
    X(u, v, j)  = streamers j shared by u and v, for the (u, v) of Q        (Q's pairs join E, twice)
    w(u, v)     = (1 if u = v else 2) / (alpha + |X(u, v, .)|)             (u = v once, (u, v) and (v, u) together)
    s(i, j)     = sum over Q(i, u, v) join X(u, v, j), j != i, of w(u, v)

which is the per-row kernel of :mod:`lsec.graph.swing` written as joins; the shuffled volume is ``|Q| +
|X| + |Q join X|`` rows (``sum_i |S_i|^2 / 2`` for Q). Scores are summed in float64, cast to float32 and
ranked (score descending, streamer ascending) as in-process.

Bounded mode draws the same users as in-process: the key of the gift pair at position ``p`` of the
(streamer, user) order is the ``p``-th double of ``numpy.random.default_rng(seed)``. Each partition holds a
range of streamers, i.e. a contiguous range of positions, and advances its own PCG64 copy to the start of
it (``PCG64.advance``), so no key leaves its partition and the draw costs ``O(E)`` in all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from lsec.distributed.spark import io
from lsec.errors import LsecDataError

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

GIFT = ("user", "gift", "streamer")
SWING = ("streamer", "swing", "streamer")


def gift_pairs(gifts: DataFrame) -> DataFrame:
    """Distinct (user, streamer) pairs with their summed amount: columns ``user``, ``streamer``, ``weight``
    (float32 of the float64 sum, as :func:`lsec.graph.swing.gift_graph`; 1 per gift without a weight)."""
    from pyspark.sql import functions as F

    amount = F.col("weight").cast("double") if "weight" in gifts.columns else F.lit(1.0)
    return (
        gifts.select(
            F.col("src").cast("int").alias("user"), F.col("dst").cast("int").alias("streamer"), amount.alias("w")
        )
        .groupBy("user", "streamer")
        .agg(F.sum("w").cast("float").alias("weight"))
    )


def sample_users(pairs: DataFrame, *, cap: int, seed: int, partitions: int) -> DataFrame:
    """At most ``cap`` users per streamer, the same ones as in-process bounded mode (module docstring)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    degree = pairs.groupBy("streamer").count().cache()
    row = degree.agg(F.max("count")).first()
    if row is None or row[0] is None or row[0] <= cap:
        return pairs.select("user", "streamer")
    # Position of each pair in (streamer, user) order: the streamer's offset (a running sum of the degrees in
    # streamer order, one row per streamer with gifts), plus the user's rank within its streamer.
    before = Window.orderBy("streamer").rowsBetween(Window.unboundedPreceding, -1)
    offset_frame = degree.select(
        "streamer", F.coalesce(F.sum("count").over(before), F.lit(0)).cast("bigint").alias("offset")
    )
    within = Window.partitionBy("streamer").orderBy("user")
    positioned = (
        pairs.select("user", "streamer")
        .join(offset_frame, "streamer")
        .withColumn("position", F.col("offset") + F.row_number().over(within) - 1)
        .select("user", "streamer", "position")
        .repartitionByRange(partitions, "streamer")
    )

    def keys(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import pandas as pd

        frames = list(batches)  # one partition: a contiguous range of positions
        if not frames:
            return
        part = pd.concat(frames, ignore_index=True)
        if part.empty:
            return
        low, high = int(part["position"].min()), int(part["position"].max())
        bits = np.random.PCG64(seed)
        bits.advance(low)
        draws = np.random.Generator(bits).random(high - low + 1)
        part["key"] = draws[part["position"].to_numpy() - low]
        yield part

    keyed = positioned.mapInPandas(keys, "user int, streamer int, position bigint, key double")
    ranked = Window.partitionBy("streamer").orderBy("key", "position")
    return keyed.withColumn("r", F.row_number().over(ranked)).filter(F.col("r") <= cap).select("user", "streamer")


def swing_scores(pairs: DataFrame, sampled: DataFrame, *, alpha: float) -> DataFrame:
    """All positive scores ``s(i, j)`` (module docstring): columns ``src``, ``dst``, ``score`` (float64)."""
    from pyspark.sql import functions as F

    a = sampled.select(F.col("streamer").alias("i"), F.col("user").alias("u"))
    b = sampled.select(F.col("streamer").alias("i"), F.col("user").alias("v"))
    q = a.join(b, "i").filter(F.col("u") <= F.col("v"))  # (i, u, v)
    users_pairs = q.select("u", "v").distinct()
    e_u = pairs.select(F.col("user").alias("u"), F.col("streamer").alias("j"))
    e_v = pairs.select(F.col("user").alias("v"), F.col("streamer").alias("j"))
    shared = users_pairs.join(e_u, "u").join(e_v, ["v", "j"])  # (u, v, j): j in I_u ∩ I_v
    weight = (
        shared.groupBy("u", "v")
        .count()
        .select(
            "u",
            "v",
            (F.when(F.col("u") == F.col("v"), 1.0).otherwise(2.0) / (F.lit(alpha) + F.col("count"))).alias("w"),
        )
    )
    terms = q.join(weight, ["u", "v"]).join(shared, ["u", "v"]).filter(F.col("i") != F.col("j"))
    return terms.groupBy(F.col("i").alias("src"), F.col("j").alias("dst")).agg(F.sum("w").alias("score"))


def top_k(scores: DataFrame, *, k: int) -> DataFrame:
    """The ``k`` best ``dst`` per ``src`` by float32 score (descending), then ``dst`` (ascending): the swing
    edge table ``src``, ``dst``, ``ts`` (0: a derived relation), ``weight`` (the score), ``rank`` (0-based)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    ranked = Window.partitionBy("src").orderBy(F.col("weight").desc(), F.col("dst").asc())
    return (
        scores.select(F.col("src").cast("int"), F.col("dst").cast("int"), F.col("score").cast("float").alias("weight"))
        .withColumn("rank", F.row_number().over(ranked) - 1)
        .filter(F.col("rank") < k)
        .select("src", "dst", F.lit(0).cast("bigint").alias("ts"), "weight", F.col("rank").cast("int"))
    )


def swing_edges(
    gifts: DataFrame, *, k: int, alpha: float = 1.0, mode: str = "bounded", max_users_per_streamer: int = 100,
    seed: int = 0, partitions: int = 8,
) -> DataFrame:  # fmt: skip
    """Swing neighbours of every streamer from raw gift edges (``src`` user, ``dst`` streamer), sorted by
    (src, rank); parameters as :func:`lsec.graph.swing.swing`."""
    if mode not in ("exact", "bounded"):
        raise LsecDataError("the 'mode' parameter of swing is invalid", expected="exact or bounded", found=mode)
    if not (isinstance(k, int) and k >= 1 and isinstance(max_users_per_streamer, int) and max_users_per_streamer >= 1):
        raise LsecDataError(
            "swing needs k >= 1 and max_users_per_streamer >= 1", found=f"{k}, {max_users_per_streamer}"
        )
    pairs = gift_pairs(gifts).cache()
    sampled = pairs.select("user", "streamer") if mode == "exact" else sample_users(
        pairs, cap=max_users_per_streamer, seed=seed, partitions=partitions
    )  # fmt: skip
    return top_k(swing_scores(pairs, sampled, alpha=alpha), k=k).orderBy("src", "rank")


def run(
    spark: SparkSession, dataset: str, out: str, *, k: int = 20, alpha: float = 1.0, mode: str = "bounded",
    max_users_per_streamer: int = 100, seed: int = 0, single_file: bool = True,
) -> dict[str, int]:  # fmt: skip
    """Read the gift edges of ``dataset``, write ``out/edges/streamer__swing__streamer.parquet``."""
    gifts = io.read_edges(spark, dataset, GIFT)
    partitions = int(spark.conf.get("spark.sql.shuffle.partitions") or 200)
    edges = swing_edges(
        gifts, k=k, alpha=alpha, mode=mode, max_users_per_streamer=max_users_per_streamer, seed=seed,
        partitions=partitions,
    ).cache()  # fmt: skip
    io.write_table(edges, io.edge_file(out, SWING), single_file=single_file)
    report = {"swing_edges": edges.count(), "streamers_with_neighbours": edges.select("src").distinct().count()}
    io.write_json(spark, io.join(out, "swing_report.json"), {
        "k": k, "alpha": alpha, "mode": mode, "max_users_per_streamer": max_users_per_streamer, "seed": seed, **report,
    })  # fmt: skip
    edges.unpersist()
    return report
