"""Spark job ``split``: the time split and its fixed candidate lists, as :func:`lsec.data.split.hashed.write_hashed_split`.

Folds: consecutive day windows from the start (default the dataset's time origin), exactly as
:func:`lsec.data.split.split_by_time`; each fold file is aligned with its edge file's rows (Parquet's
``_metadata.row_index``, files in name order). Candidate lists: the hashing rules of
:mod:`lsec.data.split.hashed` (each user's list depends only on that user's edges, so it is computed where
the user's rows are), the hashes computed by the same numpy functions inside ``mapInPandas``:

1. positives = distinct fold pairs; users over ``num_candidates // 2`` keep the smallest pair hashes;
2. ``needed`` and ``dense`` per user from the count of distinct pairs over all folds;
3. dense users: their complement listed (``users x targets`` minus seen), bottom-``needed`` by hash;
4. sparse users: rounds of ``ceil(needed * oversample) + 8`` more counters per user, draws minus seen, first
   counter per distinct target, until each user has ``needed`` (oversample 1.25, then doubled).

Output: ``OUT/splits/<name>/split.json``, ``folds/<relation>.parquet`` and ``candidates/<task>__<fold>.parquet``,
the layout :func:`lsec.data.split.load_split` reads.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from lsec.data.schema import relation
from lsec.data.split.folds import DAY, EVAL_FOLDS, FOLD_NAMES, OUTSIDE, TEST, TRAIN, VALID, iso_utc, to_unix_seconds
from lsec.data.split.hashed import base_key, draw_targets, pair_hash
from lsec.distributed.spark import io
from lsec.errors import LsecDataError

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession


def boundaries(
    time_origin: int, train_days: float, valid_days: float, test_days: float, start: Any = None
) -> list[int]:
    """Window edges ``[start, train_end, valid_end, test_end]`` as :func:`lsec.data.split.split_by_time`."""
    origin = time_origin if start is None else to_unix_seconds(start)
    edges = [origin + round(d * DAY) for d in (0, train_days, train_days + valid_days)]
    return [*edges, edges[-1] + round(test_days * DAY)]


def fold_column(bounds: Sequence[int]) -> Any:
    from pyspark.sql import functions as F

    b0, b1, b2, b3 = bounds
    ts = F.col("ts")
    return (
        F.when(ts < b0, OUTSIDE).when(ts < b1, TRAIN).when(ts < b2, VALID).when(ts < b3, TEST).otherwise(OUTSIDE)
    ).cast("tinyint")


def _hash_frame(frame: DataFrame, base: int, value: str, out: str, *, modulo: int | None = None) -> DataFrame:
    """``frame`` plus ``out`` = :func:`~lsec.data.split.hashed.pair_hash` of (``user``, ``value``) as a signed
    bigint (same order as uint64 after flipping the sign bit), or the drawn target when ``modulo`` is given."""
    import numpy as np
    from pyspark.sql.types import LongType, StructField, StructType

    schema = StructType([*frame.schema.fields, StructField(out, LongType(), False)])

    def apply(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            user, other = batch["user"].to_numpy(), batch[value].to_numpy()
            if modulo is None:
                h = pair_hash(base, user, other)
                batch[out] = (h ^ np.uint64(1 << 63)).view(np.int64)  # order-preserving uint64 -> int64
            else:
                batch[out] = draw_targets(base, user, other, modulo)
            yield batch

    return frame.mapInPandas(apply, schema)


def candidates(
    edges: DataFrame, folds: DataFrame, *, task: str, fold: int, num_targets: int, num_candidates: int, seed: int
) -> tuple[DataFrame, dict[str, int]]:
    """One task's candidate rows in ``fold`` (``user``, ``target``, ``label``, ``cold``, sorted) and their counts.

    ``edges``: the task relation (src, dst); ``folds``: the same rows with their ``fold``."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    spark = edges.sparkSession
    seen = (
        edges.select(F.col("src").cast("int").alias("user"), F.col("dst").cast("int").alias("target"))
        .distinct()
        .cache()
    )
    pos = (
        folds.filter(F.col("fold") == fold)
        .select(F.col("src").cast("int").alias("user"), F.col("dst").cast("int").alias("target"))
        .distinct()
    )
    max_positives = max(num_candidates // 2, 1)
    per_user = Window.partitionBy("user")
    # Truncation: users over max_positives keep their smallest pair hashes (the others keep every positive).
    keyed = _hash_frame(pos, base_key(seed, task, fold, "positive"), "target", "h")
    order = Window.partitionBy("user").orderBy("h", "target")
    pos = (
        keyed.withColumn("r", F.row_number().over(order))
        .withColumn("raw_count", F.count("*").over(per_user))
        .filter(F.col("r") <= max_positives)
        .select("user", "target", "raw_count")
        .cache()
    )
    users = pos.groupBy("user").agg(F.count("*").alias("count"), F.first("raw_count").alias("raw_count"))
    seen_count = seen.groupBy("user").agg(F.count("*").alias("seen"))
    trained = folds.filter(F.col("fold") == TRAIN).select(F.col("src").cast("int").alias("user")).distinct()
    trained = trained.withColumn("trained", F.lit(True))
    plan = (
        users.join(seen_count, "user")
        .join(trained, "user", "left")
        .withColumn("available", F.lit(num_targets) - F.col("seen"))
        .withColumn("needed", F.least(F.lit(num_candidates) - F.col("count"), F.col("available")))
        .cache()
    )
    totals = plan.agg(
        F.count("*").alias("evaluated_users"),
        F.count_if(F.col("trained").isNull()).alias("cold_users"),
        F.sum("count").alias("positives"),
        F.sum(F.col("count") + F.col("needed")).alias("rows"),
        F.count_if(F.col("raw_count") > max_positives).alias("truncated_users"),
        F.count_if(F.col("needed") < F.lit(num_candidates) - F.col("count")).alias("short_lists"),
    ).first()  # each user gets exactly `needed` negatives, so the rows are known before they are drawn
    stats = {key: int(value or 0) for key, value in (totals.asDict() if totals else {}).items()}
    stats["hashed"] = 1
    dense_users = plan.filter(2 * F.col("needed") > F.col("available")).filter(F.col("needed") > 0)
    sparse_users = plan.filter(2 * F.col("needed") <= F.col("available")).filter(F.col("needed") > 0)

    # Dense: the complement listed, bottom-`needed` by hash.
    grid = dense_users.select("user", "needed").crossJoin(
        spark.range(num_targets).select(F.col("id").cast("int").alias("target"))
    )
    grid = grid.join(seen, ["user", "target"], "left_anti")
    grid = _hash_frame(grid, base_key(seed, task, fold, "dense"), "target", "h")
    dense = (
        grid.withColumn("r", F.row_number().over(order)).filter(F.col("r") <= F.col("needed")).select("user", "target")
    )

    # Sparse: rounds of hashed draws until every user has its `needed` distinct unseen targets. The result
    # does not depend on the round sizes (each round extends every user's counter prefix).
    base = base_key(seed, task, fold, "negative")
    pending = sparse_users.select("user", "needed", F.lit(0).cast("bigint").alias("start"))
    found = spark.createDataFrame([], "user int, j bigint, target int")
    done_parts = []
    oversample = 2.0
    while True:
        pending = pending.withColumn("draws", F.ceil(F.col("needed") * oversample).cast("bigint") + 8)
        counters = pending.select(
            "user", F.explode(F.sequence("start", F.col("start") + F.col("draws") - 1)).alias("j")
        )
        drawn = _hash_frame(counters, base, "j", "t", modulo=num_targets).select(
            "user", "j", F.col("t").cast("int").alias("target")
        )
        drawn = drawn.join(seen, ["user", "target"], "left_anti")
        first = found.unionByName(drawn).groupBy("user", "target").agg(F.min("j").alias("j"))
        ranked = (
            first.join(pending.select("user", "needed"), "user")
            .withColumn("r", F.row_number().over(Window.partitionBy("user").orderBy("j")))
            .withColumn("have", F.count("*").over(per_user))
            .cache()
        )
        complete = F.col("have") >= F.col("needed")
        done_parts.append(ranked.filter(complete & (F.col("r") <= F.col("needed"))).select("user", "target"))
        found = ranked.filter(~complete).select("user", "j", "target")
        finished = ranked.filter(complete).select("user").distinct()
        pending = (
            pending.join(finished, "user", "left_anti")  # users with nothing found yet stay pending too
            .select("user", "needed", (F.col("start") + F.col("draws")).alias("start"))
            .cache()
        )
        if pending.count() == 0:
            break
        oversample *= 2
    negatives = dense
    for part in done_parts:
        negatives = negatives.unionByName(part)
    rows = pos.select("user", "target", F.lit(1).cast("tinyint").alias("label")).unionByName(
        negatives.select("user", "target", F.lit(0).cast("tinyint").alias("label"))
    )
    rows = (
        rows.join(trained, "user", "left")
        .select("user", "target", "label", F.col("trained").isNull().alias("cold"))
        .orderBy("user", "target")
    )
    return rows, stats


def run(
    spark: SparkSession, dataset: str, out: str, *, name: str = "default", tasks: Sequence[str] = ("buy", "follow"),
    train_days: float = 30, valid_days: float = 10, test_days: float = 10, start: Any = None,
    num_candidates: int = 500, seed: int = 0, single_file: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """Write ``out/splits/<name>/`` for ``dataset`` (module docstring); returns the ``split.json`` written."""

    meta = io.read_json(spark, io.join(dataset, "meta.json"))
    counts = {str(t): int(n) for t, n in meta.get("nodes", {}).items()}
    bounds = boundaries(int(meta.get("time_origin", 0)), train_days, valid_days, test_days, start)
    root = io.join(out, "splits", name)
    relations = [(e["src_type"], e["name"], e["dst_type"]) for e in meta.get("relations", [])]
    fold_frames: dict[tuple[str, str, str], DataFrame] = {}
    edge_counts: dict[str, dict[str, int]] = {}
    for rel in relations:
        frame = io.read_table(spark, io.edge_file(dataset, rel), what=f"the {rel[1]} edges")
        frame = frame.select("src", "dst", "ts", "_metadata.file_path", "_metadata.row_index")
        folded = frame.withColumn("fold", fold_column(bounds)).cache()
        fold_frames[rel] = folded
        io.write_table(
            folded.orderBy("file_path", "row_index").select("fold"),
            io.join(root, "folds", "__".join(rel) + ".parquet"),
            single_file=single_file,
        )
        tally = {int(r["fold"]): int(r["count"]) for r in folded.groupBy("fold").count().collect()}
        edge_counts[rel[1]] = {
            **{FOLD_NAMES[f]: tally.get(f, 0) for f in (TRAIN, VALID, TEST)},
            "outside": tally.get(OUTSIDE, 0),
        }
    task_names = []
    summary: dict[str, dict[str, dict[str, int]]] = {}
    by_name = {rel[1]: rel for rel in relations}
    for task in tasks:
        rel = relation(task)
        if rel not in fold_frames:
            raise LsecDataError(
                f"task {rel[1]!r} needs a {rel[1]!r} relation",
                expected=f"one of: {', '.join(by_name) or 'none'}",
                found=task,
            )
        for needed_fold in (TRAIN, TEST):
            if edge_counts[rel[1]][FOLD_NAMES[needed_fold]] == 0:
                raise LsecDataError(
                    f"task {rel[1]!r} has no {FOLD_NAMES[needed_fold]} edges in this time split",
                    file=dataset, expected="windows that overlap the data",
                    found=f"windows {iso_utc(bounds[0])} .. {iso_utc(bounds[3])}",
                )  # fmt: skip
        task_names.append(rel[1])
        for fold in EVAL_FOLDS:
            if edge_counts[rel[1]][FOLD_NAMES[fold]] == 0:
                summary.setdefault(rel[1], {})[FOLD_NAMES[fold]] = {
                    "evaluated_users": 0,
                    "cold_users": 0,
                    "positives": 0,
                    "rows": 0,
                }
                continue
            folded = fold_frames[rel]
            rows, stats = candidates(
                folded.select("src", "dst"), folded.select("src", "dst", "fold"), task=rel[1], fold=fold,
                num_targets=counts[rel[2]], num_candidates=num_candidates, seed=seed,
            )  # fmt: skip
            io.write_table(
                rows, io.join(root, "candidates", f"{rel[1]}__{FOLD_NAMES[fold]}.parquet"), single_file=single_file
            )
            summary.setdefault(rel[1], {})[FOLD_NAMES[fold]] = stats
    names = ("start", "train_end", "valid_end", "test_end")
    window = {n: int(b) for n, b in zip(names, bounds, strict=True)}
    info = {
        "name": name,
        "mode": "time",
        "boundaries": {"train_days": train_days, "valid_days": valid_days, "test_days": test_days, **window,
                       "iso": {n: iso_utc(b) for n, b in window.items()}},
        "tasks": task_names,
        "num_candidates": int(num_candidates),
        "seed": int(seed),
        "relations": [{"src_type": r[0], "name": r[1], "dst_type": r[2], "file": f"folds/{'__'.join(r)}.parquet"} for r in relations],
        "edges": edge_counts,
        "candidates": summary,
        "info": {"sampler": "hashed", "engine": "spark"},
    }  # fmt: skip
    io.write_json(spark, io.join(root, "split.json"), info)
    for frame in fold_frames.values():
        frame.unpersist()
    return info
