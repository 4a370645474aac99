"""Spark jobs over the canonical Parquet files: the graph preprocessing of lsec on a cluster (DESIGN section 8).

Each job is the Spark form of an in-process function and gives the same result on the same data (ids and
counts exactly, floats to 1e-6; tests in ``tests/distributed/spark``):

=============== ========================================== ===============================================
job             in-process equal                           reads -> writes
=============== ========================================== ===============================================
``sales``       :func:`lsec.data.sales.sell_edges_from_    ``events/sales.parquet`` -> ``edges/streamer__sell
                sales`` (sales threshold)                  __item.parquet``, ``rejected/sales.parquet``
``swing``       :func:`lsec.graph.swing.swing` (eq. 8,     ``edges/user__gift__streamer.parquet`` ->
                exact or bounded with the same draw)       ``edges/streamer__swing__streamer.parquet``
``expansions``  :func:`lsec.serve.expansion_store.expand`  gift edges (+ swing edges) -> ``expansions/
                (the five bounded metapaths)               <metapath>.parquet``
``influence``   the counts of :mod:`lsec.analysis.         buy, follow, sell (+ a rewired follow) ->
                influence` (purchase rate, overlaps)       ``influence/*.parquet``
``split``       :func:`lsec.data.split.split_by_time` +    every edge file -> ``splits/<name>/folds/*``,
                :func:`lsec.data.split.hashed.hashed_      ``candidates/*``, ``split.json``
                candidates`
=============== ========================================== ===============================================

Run one with ``python -m lsec.distributed.spark <job> --in DATASET --out FOLDER [options]`` (``--help`` per
job), locally or under ``spark-submit`` (docs/scale-out.md). pyspark is an optional extra
(``pip install "lsec[spark]"``, Java 17) and is imported only when a job runs.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import TYPE_CHECKING, Any

from lsec.errors import LsecError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

JOBS = ("sales", "swing", "expansions", "influence", "split")


def spark_session(
    *,
    master: str | None = None,
    app_name: str = "lsec",
    partitions: int | None = None,
    conf: dict[str, Any] | None = None,
) -> SparkSession:
    """A SparkSession (the active one if any). ``master=None`` leaves it to ``spark-submit`` (``local[*]`` when
    run outside it); ``partitions`` sets ``spark.sql.shuffle.partitions``."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise LsecError('pyspark is not installed: pip install "lsec[spark]" (pyspark 4 needs Java 17).') from None
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise LsecError(
            "Spark needs Java 17 and no `java` was found (Debian: apt-get install openjdk-17-jre-headless)."
        )
    launched_here = "PYSPARK_GATEWAY_PORT" not in os.environ  # not under spark-submit: a local JVM is started
    if (master or "local").startswith("local") and launched_here:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # local workers use this interpreter (and its pyarrow)
    builder = SparkSession.builder.appName(app_name)
    if master is not None:  # otherwise spark-submit's --master, or local[*] for a plain `python -m`
        builder = builder.master(master)
    if partitions is not None:
        builder = builder.config("spark.sql.shuffle.partitions", str(partitions))
    for key, value in (conf or {}).items():
        builder = builder.config(key, str(value))
    return builder.getOrCreate()


__all__ = ["JOBS", "spark_session"]
