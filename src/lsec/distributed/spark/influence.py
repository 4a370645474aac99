"""Spark job ``influence``: the counts behind the streamers' influence tests (:mod:`lsec.analysis.influence`).

The tests sample users and anchors; what grows with the graph is counting. This job counts for *every* unit:

* ``users_items.parquet`` (pattern 1), per user who buys and follows: ``followed`` = ``|F(u)|``,
  ``offered`` = ``sum_{s in F(u)} |S(s)|``, ``hits`` = ``sum_{s in F(u)} |B(u) ∩ S(s)|`` (the purchase rate is
  ``hits / offered``; :func:`lsec.analysis.influence.purchase_counts` in-process). With a second follow table
  (``--random-follow``, e.g. the rewiring the test uses) the same three counts follow as ``*_random``.
  Joins: ``B join S`` on the item gives, per (user, streamer), the items the user bought that the streamer
  sells (``sum_i buyers(i) * sellers(i)`` rows), kept where the user follows the streamer.
* ``user_pairs.parquet`` / ``item_pairs.parquet`` (patterns 2 and 3), for the pairs given (columns ``a``,
  ``b``): ``common`` = ``|B(a) ∩ B(b)|`` and both degrees (Jaccard = ``common / (deg_a + deg_b - common)``;
  :func:`lsec.analysis.sparse.intersection_sizes` in-process), for users over bought items and for items
  over their buyers.
* ``degrees.parquet``: distinct neighbours per node and relation side (the tests' eligibility).

Edges are sets here as in-process (duplicates count once).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsec.distributed.spark import io

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

BUY, FOLLOW, SELL = ("user", "buy", "item"), ("user", "follow", "streamer"), ("streamer", "sell", "item")


def _pairs(edges: DataFrame, left: str, right: str) -> DataFrame:
    from pyspark.sql import functions as F

    return edges.select(F.col("src").cast("int").alias(left), F.col("dst").cast("int").alias(right)).distinct()


def users_items(
    buy: DataFrame, follow: DataFrame, sell: DataFrame, random_follow: DataFrame | None = None
) -> DataFrame:
    """Pattern 1's counts of every user with a purchase and a follow (module docstring), sorted by user."""
    from pyspark.sql import functions as F

    b, s = _pairs(buy, "user", "item"), _pairs(sell, "streamer", "item")
    offered_by = s.groupBy("streamer").agg(F.count("*").alias("size"))
    bought_sold = b.join(s, "item").groupBy("user", "streamer").agg(F.count("*").alias("common"))
    buyers = b.select("user").distinct()

    def counts(table: DataFrame, suffix: str) -> DataFrame:
        f = _pairs(table, "user", "streamer")
        return (
            f.join(buyers, "user")
            .join(offered_by, "streamer", "left")
            .join(bought_sold, ["user", "streamer"], "left")
            .groupBy("user")
            .agg(
                F.count("*").cast("int").alias(f"followed{suffix}"),
                F.coalesce(F.sum("size"), F.lit(0)).cast("bigint").alias(f"offered{suffix}"),
                F.coalesce(F.sum("common"), F.lit(0)).cast("bigint").alias(f"hits{suffix}"),
            )
        )

    out = counts(follow, "")
    if random_follow is not None:
        out = out.join(counts(random_follow, "_random"), "user", "full")
    return out.orderBy("user")


def pair_overlaps(edges: DataFrame, pairs: DataFrame, *, by: str) -> DataFrame:
    """``common`` and degrees of the pairs ``(a, b)``: users over their items (``by="src"``) or items over their
    users (``by="dst"``), sorted by (a, b)."""
    from pyspark.sql import functions as F

    other = "dst" if by == "src" else "src"
    e = edges.select(F.col(by).cast("int").alias("node"), F.col(other).cast("int").alias("x")).distinct()
    degree = e.groupBy("node").agg(F.count("*").alias("degree"))
    p = pairs.select(F.col("a").cast("int"), F.col("b").cast("int")).distinct()
    left = e.withColumnRenamed("node", "a")
    right = e.withColumnRenamed("node", "b")
    common = p.join(left, "a").join(right, ["b", "x"]).groupBy("a", "b").agg(F.count("*").alias("common"))
    return (
        p.join(common, ["a", "b"], "left")
        .join(degree.withColumnRenamed("node", "a").withColumnRenamed("degree", "degree_a"), "a", "left")
        .join(degree.withColumnRenamed("node", "b").withColumnRenamed("degree", "degree_b"), "b", "left")
        .select(
            "a",
            "b",
            *(F.coalesce(F.col(c), F.lit(0)).cast("bigint").alias(c) for c in ("common", "degree_a", "degree_b")),
        )  # fmt: skip
        .orderBy("a", "b")
    )


def degrees(tables: dict[str, DataFrame]) -> DataFrame:
    """Distinct neighbours per node: columns ``relation``, ``side`` (src / dst), ``node``, ``degree``."""
    from functools import reduce

    from pyspark.sql import functions as F

    parts = []
    for name, table in tables.items():
        pairs = _pairs(table, "src", "dst")
        for side in ("src", "dst"):
            parts.append(
                pairs.groupBy(F.col(side).alias("node")).agg(F.count("*").cast("bigint").alias("degree"))
                .select(F.lit(name).alias("relation"), F.lit(side).alias("side"), "node", "degree")
            )  # fmt: skip
    return reduce(lambda x, y: x.unionByName(y), parts).orderBy("relation", "side", "node")


def run(
    spark: SparkSession, dataset: str, out: str, *, random_follow: str | None = None, user_pairs: str | None = None,
    item_pairs: str | None = None, single_file: bool = True,
) -> dict[str, int]:  # fmt: skip
    """Read buy / follow / sell of ``dataset`` (and the optional tables), write ``out/influence/*.parquet``."""
    buy, follow, sell = (io.read_edges(spark, dataset, r) for r in (BUY, FOLLOW, SELL))
    shuffled = None if random_follow is None else io.read_table(spark, random_follow, what="the rewired follow edges")
    report = {}
    outputs = {
        "users_items": users_items(buy, follow, sell, shuffled),
        "degrees": degrees({"buy": buy, "follow": follow, "sell": sell}),
    }
    if user_pairs is not None:
        outputs["user_pairs"] = pair_overlaps(buy, io.read_table(spark, user_pairs, what="the user pairs"), by="src")
    if item_pairs is not None:
        outputs["item_pairs"] = pair_overlaps(buy, io.read_table(spark, item_pairs, what="the item pairs"), by="dst")
    for name, frame in outputs.items():
        frame = frame.cache()
        io.write_table(frame, io.join(out, "influence", f"{name}.parquet"), single_file=single_file)
        report[name] = frame.count()
        frame.unpersist()
    io.write_json(spark, io.join(out, "influence", "report.json"), {"rows": report})
    return report
