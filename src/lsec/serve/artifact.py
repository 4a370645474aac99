"""Serving artifact: everything a trained model needs at query time, as plain arrays (export / load).

``lsec export RUN --out ARTIFACT`` writes a self-contained folder; loading it needs numpy only (no torch,
no training data, no pickle: every array is read with ``np.load(allow_pickle=False)``)::

    ARTIFACT/artifact.json                      format version, model, tasks, node counts, source, file list
    ARTIFACT/ids/<node_type>.npy                external ids (fixed-width unicode) in internal-index order
    ARTIFACT/tasks/<task>/target_part.npy       mlp: W_t t for every target (T, hidden); dot: t (T, d)
    ARTIFACT/tasks/<task>/query_part.npy        mlp: W_q q + b1 for every user (U, hidden); dot: q (U, d)
    ARTIFACT/tasks/<task>/query_weight.npy      mlp: W_q (hidden, d_query) and query_bias.npy b1 (fold-in)
    ARTIFACT/tasks/<task>/layer<i>_weight.npy   mlp: the layers after the first (and layer<i>_bias.npy)
    ARTIFACT/interactions/<relation>_indptr.npy  training edges user -> target as CSR (+ _indices.npy)
    ARTIFACT/popularity/<relation>.npy          training interaction count per target (popular fallback)
    ARTIFACT/embeddings/<key>.npy               final per-graph neighbour embeddings used by fold-in
    ARTIFACT/foldin/<key>_weight.npy            fold-in affine maps (+ _empty.npy), see lsec.serve.foldin

:func:`build_artifact` makes the same object in memory from a model and its encoding, so
``Recommender.from_run`` and ``Recommender.load`` share one code path.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lsec.data.manifest import checked_array
from lsec.data.manifest import read_manifest as _read_manifest
from lsec.data.schema import RELATIONS
from lsec.data.store import create_folder
from lsec.errors import LsecError
from lsec.serve.foldin import FoldIn, fit_fold_in, foldable_relation
from lsec.serve.scoring import MLPRest

if TYPE_CHECKING:
    from lsec.data.graph import HeteroGraph
    from lsec.nn.models.base import Encoded, RecommenderModel

FORMAT = "lsec-artifact"
FORMAT_VERSION = 1
TASK_TARGET = {"buy": "item", "follow": "streamer"}
MANIFEST = "artifact.json"


@dataclass
class TaskTables:
    """Precomputed query-time tables of one task.

    Attributes:
        task: ``"buy"`` or ``"follow"``.
        kind: ``"mlp"`` (concat + MLP scorer, first layer split) or ``"dot"``.
        query_keys, target_keys: the encoding keys concatenated on each side (model contract).
        target_part: ``(T, h)`` contiguous float32, ``W_t t`` (mlp) or ``t`` (dot).
        query_part: ``(U, h)`` float32, ``W_q q + b1`` (mlp) or ``q`` (dot) of every training user.
        query_weight, query_bias: ``W_q`` (h, d_query) and ``b1`` (h,) to project folded-in users (mlp only).
        rest: the MLP after its first linear map (mlp only).
    """

    task: str
    kind: str
    query_keys: tuple[str, ...]
    target_keys: tuple[str, ...]
    target_part: np.ndarray
    query_part: np.ndarray
    query_weight: np.ndarray | None = None
    query_bias: np.ndarray | None = None
    rest: MLPRest | None = None

    @property
    def target_type(self) -> str:
        return TASK_TARGET[self.task]

    def project(self, query: np.ndarray) -> np.ndarray:
        """Query vectors (B, d_query) -> query parts (B, h), as :attr:`query_part` holds them."""
        if self.kind == "dot":
            return np.asarray(query, dtype=np.float32)
        assert self.query_weight is not None and self.query_bias is not None
        return np.asarray(query @ self.query_weight.T + self.query_bias, dtype=np.float32)


@dataclass
class Interactions:
    """Training edges of one relation from users, as CSR rows per user (distinct targets, sorted)."""

    relation: str
    indptr: np.ndarray  # (U + 1,) int64
    indices: np.ndarray  # (nnz,) int32
    popularity: np.ndarray  # (T,) float32: training edges per target, duplicates counted

    def row(self, user: int) -> np.ndarray:
        return self.indices[self.indptr[user] : self.indptr[user + 1]]

    @cached_property
    def degree(self) -> np.ndarray:
        """(T,) distinct users per target."""
        return np.bincount(self.indices, minlength=self.popularity.shape[0]).astype(np.float64)


@dataclass
class Artifact:
    """An exported model: ids, task tables, training interactions, fold-in maps (see the module doc)."""

    model: str
    ids: dict[str, np.ndarray]
    tasks: dict[str, TaskTables]
    interactions: dict[str, Interactions]
    embeddings: dict[str, np.ndarray]
    fold_ins: dict[str, FoldIn]
    source: dict[str, Any] = field(default_factory=dict)

    def num_nodes(self, node_type: str) -> int:
        return int(self.ids[node_type].shape[0]) if node_type in self.ids else 0


# --------------------------------------------------------------------------------------------- building
def interactions_from_graph(graph: HeteroGraph, relation_name: str) -> Interactions:
    """CSR of the training edges of ``relation_name`` (from users), duplicates merged, plus popularity."""
    src_type, _, dst_type = RELATIONS[relation_name]
    num_src, num_dst = graph.num_nodes.get(src_type, 0), graph.num_nodes.get(dst_type, 0)
    if graph.has(relation_name):
        table = graph[relation_name]
        src, dst = table.src.astype(np.int64), table.dst.astype(np.int64)
    else:
        src = dst = np.zeros(0, dtype=np.int64)
    popularity = np.bincount(dst, minlength=num_dst).astype(np.float32)
    pairs = np.unique(src * max(num_dst, 1) + dst)
    rows, cols = pairs // max(num_dst, 1), pairs % max(num_dst, 1)
    indptr = np.zeros(num_src + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=num_src), out=indptr[1:])
    return Interactions(relation_name, indptr, cols.astype(np.int32), popularity)


def build_artifact(
    model: RecommenderModel,
    enc: Encoded,
    train_graph: HeteroGraph,
    *,
    model_name: str,
    node_ids: Mapping[str, np.ndarray] | None = None,
    source: Mapping[str, Any] | None = None,
) -> Artifact:
    """Precompute the query-time tables of every task of ``model`` from its encoding ``enc``.

    Args:
        model: a :class:`~lsec.nn.models.base.RecommenderModel` (eval mode).
        enc: ``model.encode(graphs)`` over the training graphs.
        train_graph: the training-window graph (seen items, popularity, fold-in neighbours).
        model_name: registry name, recorded in the manifest.
        node_ids: external ids per node type (default: ``train_graph.ids(type)``).
        source: provenance recorded in the manifest (run folder, dataset, split, ...).
    """
    import torch

    ids = {
        t: _id_array(node_ids[t] if node_ids and t in node_ids else train_graph.ids(t)) for t in train_graph.num_nodes
    }
    tasks: dict[str, TaskTables] = {}
    user_keys: list[str] = []
    with torch.no_grad():
        for task in model.tasks:
            if task not in TASK_TARGET:
                continue
            kind = model.scoring_kind(task)
            if kind not in ("mlp", "dot"):
                raise LsecError(
                    f"model {model_name!r} scores task {task!r} with a custom scorer that does not split into a "
                    f"user part and a {TASK_TARGET[task]} part; serving supports concat + MLP and dot-product scorers."
                )
            query, target = model.query(task, enc), model.target(task, enc)
            tables = TaskTables(
                task,
                kind,
                tuple(model.query_keys(task)),
                tuple(model.target_keys(task)),
                target_part=_np(target),
                query_part=_np(query),
            )
            head = model.scorer(task)
            if head is not None:
                linears = [layer for layer in head.rest if isinstance(layer, torch.nn.Linear)]
                tables.target_part = _np(head.target_part(target))
                tables.query_part = _np(head.query_part(query))
                tables.query_weight = _np(head.query_proj.weight)
                tables.query_bias = _np(head.query_proj.bias)
                tables.rest = MLPRest(tuple(_np(x.weight) for x in linears), tuple(_np(x.bias) for x in linears))
            tasks[task] = tables
            user_keys += [k for k in tables.query_keys if k not in user_keys]
    if not tasks:
        raise LsecError(f"model {model_name!r} has no task serving can rank (expected 'buy' and/or 'follow').")

    relations = [t for t in tasks] + [r for r in map(foldable_relation, user_keys) if r is not None]
    interactions = {r: interactions_from_graph(train_graph, r) for r in dict.fromkeys(relations)}
    embeddings: dict[str, np.ndarray] = {}
    fold_ins: dict[str, FoldIn] = {}
    for key in user_keys:
        relation_name = foldable_relation(key)
        neighbour_key = None if relation_name is None else f"{relation_name}.{RELATIONS[relation_name][2]}"
        if relation_name is None or neighbour_key not in enc:
            fold_ins[key] = fit_fold_in(key, _np(enc[key]))
            continue
        assert neighbour_key is not None
        embeddings[neighbour_key] = _np(enc[neighbour_key])
        rel = interactions[relation_name]
        fold_ins[key] = fit_fold_in(
            key,
            _np(enc[key]),
            neighbour_key=neighbour_key,
            neighbours=embeddings[neighbour_key],
            indptr=rel.indptr,
            indices=rel.indices,
            degree=rel.degree,
        )
    meta = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **(source or {})}
    return Artifact(model_name, ids, tasks, interactions, embeddings, fold_ins, meta)


def _np(tensor: Any) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().cpu().numpy(), dtype=np.float32)


def _id_array(ids: Any) -> np.ndarray:
    return np.asarray([str(x) for x in ids], dtype=np.str_)


# ---------------------------------------------------------------------------------------------- save/load
def save_artifact(artifact: Artifact, out: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write ``artifact`` as a folder (atomically: a temporary folder renamed at the end)."""
    root = Path(out)
    if root.exists() and not overwrite and (not root.is_dir() or any(root.iterdir())):
        raise LsecError(f"{root}: exists and is not empty (choose another --out or pass --overwrite).")
    tmp = root.with_name(root.name + ".tmp-export")
    shutil.rmtree(tmp, ignore_errors=True)
    create_folder(tmp, shown=root)  # under a file, in /proc, read-only: the error names --out
    files: dict[str, dict[str, Any]] = {}

    def put(name: str, array: np.ndarray) -> None:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, np.ascontiguousarray(array), allow_pickle=False)
        files[name] = {"shape": list(array.shape), "dtype": array.dtype.str}

    for node_type, ids in artifact.ids.items():
        put(f"ids/{node_type}.npy", ids)
    tasks_meta = {}
    for task, tables in artifact.tasks.items():
        put(f"tasks/{task}/target_part.npy", tables.target_part)
        put(f"tasks/{task}/query_part.npy", tables.query_part)
        num_layers = 0
        if tables.kind == "mlp":
            assert tables.query_weight is not None and tables.query_bias is not None and tables.rest is not None
            put(f"tasks/{task}/query_weight.npy", tables.query_weight)
            put(f"tasks/{task}/query_bias.npy", tables.query_bias)
            for i, (w, b) in enumerate(zip(tables.rest.weights, tables.rest.biases, strict=True)):
                put(f"tasks/{task}/layer{i}_weight.npy", w)
                put(f"tasks/{task}/layer{i}_bias.npy", b)
            num_layers = len(tables.rest.weights)
        tasks_meta[task] = {
            "kind": tables.kind,
            "target_type": tables.target_type,
            "query_keys": list(tables.query_keys),
            "target_keys": list(tables.target_keys),
            "width": int(tables.target_part.shape[1]),
            "rest_layers": num_layers,
        }
    for name, rel in artifact.interactions.items():
        put(f"interactions/{name}_indptr.npy", rel.indptr)
        put(f"interactions/{name}_indices.npy", rel.indices)
        put(f"popularity/{name}.npy", rel.popularity)
    for key, array in artifact.embeddings.items():
        put(f"embeddings/{key}.npy", array)
    fold_meta = {}
    for key, spec in artifact.fold_ins.items():
        put(f"foldin/{key}_empty.npy", spec.empty)
        if spec.weight is not None:
            put(f"foldin/{key}_weight.npy", spec.weight)
        fold_meta[key] = {"relation": spec.relation, "neighbour_key": spec.neighbour_key}
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": artifact.model,
        "nodes": {t: int(len(ids)) for t, ids in artifact.ids.items()},
        "tasks": tasks_meta,
        "interactions": list(artifact.interactions),
        "fold_in": fold_meta,
        "source": artifact.source,
        "files": files,
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    if root.exists():
        shutil.rmtree(root)
    os.replace(tmp, root)
    return root


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    return _read_manifest(
        Path(path),
        MANIFEST,
        FORMAT,
        FORMAT_VERSION,
        "a serving artifact",
        "create one with `lsec export RUN --out DIR`",
    )


def load_artifact(path: str | os.PathLike[str], *, mmap: bool = False) -> Artifact:
    """Read an artifact folder written by :func:`save_artifact` (numpy only, no pickle).

    ``mmap``: map the arrays read-only (``np.load(mmap_mode="r")``) instead of reading them: processes serving
    the same folder share its pages through the page cache (``lsec serve --workers N``).
    """
    root = Path(path)
    manifest = read_manifest(root)
    files: dict[str, dict[str, Any]] = manifest["files"]

    def get(name: str) -> np.ndarray:
        return checked_array(root, files, name, mmap)

    ids = {t: get(f"ids/{t}.npy") for t in manifest["nodes"]}
    tasks = {}
    for task, meta in manifest["tasks"].items():
        tables = TaskTables(
            task,
            meta["kind"],
            tuple(meta["query_keys"]),
            tuple(meta["target_keys"]),
            target_part=np.ascontiguousarray(get(f"tasks/{task}/target_part.npy")),
            query_part=get(f"tasks/{task}/query_part.npy"),
        )
        if meta["kind"] == "mlp":
            tables.query_weight = get(f"tasks/{task}/query_weight.npy")
            tables.query_bias = get(f"tasks/{task}/query_bias.npy")
            layers = range(int(meta["rest_layers"]))
            tables.rest = MLPRest(
                tuple(get(f"tasks/{task}/layer{i}_weight.npy") for i in layers),
                tuple(get(f"tasks/{task}/layer{i}_bias.npy") for i in layers),
            )
        tasks[task] = tables
    interactions = {
        name: Interactions(
            name,
            get(f"interactions/{name}_indptr.npy"),
            get(f"interactions/{name}_indices.npy"),
            get(f"popularity/{name}.npy"),
        )
        for name in manifest["interactions"]
    }
    fold_ins = {}
    embeddings = {}
    for key, meta in manifest["fold_in"].items():
        weight_name = f"foldin/{key}_weight.npy"
        fold_ins[key] = FoldIn(
            key,
            meta["relation"],
            meta["neighbour_key"],
            get(weight_name) if weight_name in files else None,
            get(f"foldin/{key}_empty.npy"),
        )
        if meta["neighbour_key"]:
            embeddings[meta["neighbour_key"]] = get(f"embeddings/{meta['neighbour_key']}.npy")
    return Artifact(manifest["model"], ids, tasks, interactions, embeddings, fold_ins, dict(manifest.get("source", {})))


def export_run(run_dir: str | os.PathLike[str], out: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """``lsec export``: load a run (best weights), encode once, write the artifact folder."""
    return save_artifact(artifact_from_run(run_dir), out, overwrite=overwrite)


def artifact_from_run(run_dir: str | os.PathLike[str], *, checkpoint: str = "best") -> Artifact:
    """The in-memory artifact of a run folder (contract 6: :func:`lsec.train.runs.load_run`)."""
    from lsec.train.runs import load_run

    run = load_run(run_dir, checkpoint=checkpoint)
    enc = run.encode()
    source = {
        "run": str(Path(run_dir).resolve()),
        "dataset": run.info.get("dataset"),
        "split": run.info.get("split"),
        "checkpoint": checkpoint,
        "best_epoch": run.info.get("best_epoch"),
        "best_metric": run.info.get("best_metric"),
    }
    if run.info.get("engine") in ("bpr", "closed_form"):  # full-sort runs: rank as `lsec evaluate` does
        from lsec.evaluate.protocols import run_popularity_prior

        source["ranking"] = {
            "buy": {"popularity_prior": run_popularity_prior(run), "cold_fallback": bool(run.config.eval.cold_fallback)}
        }
    graph = run.graph
    node_ids = {t: graph.ids(t) for t in graph.num_nodes}
    model_name = str(run.info.get("model") or run.config.model.name)
    return build_artifact(
        run.model, enc, run.split.train_graph(), model_name=model_name, node_ids=node_ids, source=source
    )
