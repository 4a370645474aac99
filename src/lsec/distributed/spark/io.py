"""Reading and writing the canonical dataset folder (DESIGN section 3) from Spark.

Paths are local paths or URLs Spark understands (``hdfs://``, ``s3a://``, ...). Spark writes a table as a
folder of part files; on a local path :func:`write_table` then collapses the parts, in order, into the one
Parquet file the canonical format names (``single_file=False`` keeps the folder, as a cluster would). Every
reader here accepts either form.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from lsec.errors import LsecDataError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

EDGE_TYPES = {"src": "int", "dst": "int", "ts": "bigint", "weight": "float", "kind": "tinyint"}
"""Spark SQL types of the canonical edge columns (int32, int32, int64, float32, int8)."""


def is_local(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is on this machine's file system (no scheme, or ``file:``)."""
    return urlparse(str(path)).scheme in ("", "file")


def join(root: str | os.PathLike[str], *parts: str) -> str:
    return "/".join([str(root).rstrip("/"), *parts])


def read_json(spark: SparkSession, path: str) -> dict[str, Any]:
    """A JSON file (``meta.json``, ``split.json``) read on the driver."""
    try:
        if is_local(path):
            local = Path(urlparse(path).path if path.startswith("file:") else path)
            text = local.read_text()
        else:
            text = "".join(row.value for row in spark.read.text(path, wholetext=True).collect())
        data: dict[str, Any] = json.loads(text)
    except (OSError, json.JSONDecodeError) as err:
        raise LsecDataError("cannot read JSON", file=path, expected="a readable JSON file", found=str(err)) from None
    return data


def write_json(spark: SparkSession, path: str, data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=2) + "\n"
    if is_local(path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)
    else:  # a one-line text file through Spark's file system layer
        jvm: Any = spark.sparkContext._jvm
        hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
        fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())  # type: ignore[attr-defined]
        stream = fs.create(hadoop_path, True)
        stream.write(text.encode())
        stream.close()


def dataset_counts(spark: SparkSession, dataset: str) -> dict[str, int]:
    """Node counts of a dataset folder (its ``meta.json``)."""
    meta = read_json(spark, join(dataset, "meta.json"))
    return {str(t): int(n) for t, n in meta.get("nodes", {}).items()}


def edge_file(dataset: str, relation: tuple[str, str, str]) -> str:
    return join(dataset, "edges", "__".join(relation) + ".parquet")


def read_table(spark: SparkSession, path: str, *, what: str) -> DataFrame:
    """A Parquet file or a folder of parts; a missing one is an :class:`LsecDataError` naming ``what``."""
    from pyspark.errors import AnalysisException

    try:
        return spark.read.parquet(path)
    except AnalysisException as err:
        raise LsecDataError(
            f"cannot read {what}", file=path, expected="a Parquet file or folder", found=str(err).split("\n")[0]
        ) from None


def read_edges(spark: SparkSession, dataset: str, relation: tuple[str, str, str]) -> DataFrame:
    """The edge table of ``relation`` with the canonical column types."""
    frame = read_table(spark, edge_file(dataset, relation), what=f"the {relation[1]} edges")
    return frame.select(
        [frame[c].cast(EDGE_TYPES.get(c, frame.schema[c].dataType.simpleString())).alias(c) for c in frame.columns]
    )


def write_table(frame: DataFrame, path: str, *, single_file: bool = True) -> None:
    """Write ``frame`` at ``path``: one Parquet file when local and ``single_file``, else Spark's part folder."""
    if not (single_file and is_local(path)):
        frame.write.mode("overwrite").parquet(path)
        return
    import polars as pl

    target = Path(urlparse(path).path if path.startswith("file:") else path)
    parts = target.with_name(f".{target.name}.parts")
    frame.write.mode("overwrite").parquet(str(parts))
    files = sorted(parts.glob("part-*.parquet"))
    if files:
        pl.scan_parquet(files).sink_parquet(target)  # in part order: the order of the frame
    else:
        pl.DataFrame(schema=_polars_schema(frame)).write_parquet(target)
    shutil.rmtree(parts, ignore_errors=True)


def _polars_schema(frame: DataFrame) -> dict[str, Any]:
    import polars as pl

    types = {"int": pl.Int32, "bigint": pl.Int64, "float": pl.Float32, "double": pl.Float64, "tinyint": pl.Int8,
             "boolean": pl.Boolean, "string": pl.Utf8, "smallint": pl.Int16}  # fmt: skip
    return {f.name: types.get(f.dataType.simpleString(), pl.Utf8) for f in frame.schema.fields}
