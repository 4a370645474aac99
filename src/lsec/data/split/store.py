"""The :class:`Split` object and its on-disk layout (``DIR/splits/<name>/``)."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from tqdm.auto import tqdm

from lsec.data.graph import EdgeTable, HeteroGraph
from lsec.data.schema import Relation, edge_file_stem, relation
from lsec.data.split.candidates import Candidates, build_candidates, given_candidates
from lsec.data.split.folds import (
    EVAL_FOLDS,
    FOLD_NAMES,
    OUTSIDE,
    TEST,
    TRAIN,
    VALID,
    FoldKey,
    SplitFolds,
    fold_index,
    iso_utc,
    normalise_folds,
)
from lsec.data.store import create_folder
from lsec.data.store import load as load_dataset
from lsec.errors import LsecDataError

SPLIT_FILE = "split.json"
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# --------------------------------------------------------------------------------------------- split
class Split:
    """A dataset with its folds and fixed candidate lists (from :func:`load_split` or :func:`make_split`).

    Attributes:
        graph: the full dataset graph.
        folds: int8 fold array per relation, aligned with ``graph.edges[rel]``.
        info: the content of ``split.json``.
    """

    def __init__(
        self,
        graph: HeteroGraph,
        folds: Mapping[Relation, np.ndarray],
        info: dict[str, Any],
        candidates: Mapping[tuple[str, str], Candidates] | None = None,
        root: Path | None = None,
    ) -> None:
        self.graph = graph
        self.folds = dict(folds)
        self.info = info
        self.root = root
        self._candidates: dict[tuple[str, str], Candidates] = dict(candidates or {})
        self._train_graph: HeteroGraph | None = None

    @property
    def name(self) -> str:
        return str(self.info.get("name", "default"))

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.info.get("tasks", ()))

    def fold(self, rel: str | Relation) -> np.ndarray:
        """The int8 fold array of a relation."""
        return self.folds[self._relation(rel)]

    def edges(self, rel: str | Relation, fold: FoldKey) -> EdgeTable:
        """Edges of ``rel`` in ``fold`` (``"train"``, ``"valid"``, ``"test"`` or 0 / 1 / 2)."""
        triple = self._relation(rel)
        return self.graph.edges[triple].select(self.folds[triple] == fold_index(fold))

    def train_graph(self) -> HeteroGraph:
        """Same nodes, training-fold edges only (what message passing may see)."""
        if self._train_graph is None:
            self._train_graph = self.graph.with_edges({rel: self.edges(rel, TRAIN) for rel in self.graph.edges})
        return self._train_graph

    def candidates(self, task: str, fold: FoldKey) -> Candidates:
        """The fixed candidate rows of ``task`` in ``fold`` (``"valid"`` or ``"test"``)."""
        if task not in self.tasks:
            raise LsecDataError(
                f"split {self.name!r} has no task {task!r}",
                file=self.root,
                expected="one of: " + ", ".join(self.tasks),
                found=task,
            )
        fold_id = fold_index(fold)
        if fold_id not in EVAL_FOLDS:
            raise LsecDataError("candidate lists exist for evaluation folds only", expected="valid or test", found=fold)
        key = (task, FOLD_NAMES[fold_id])
        if key not in self._candidates:
            self._candidates[key] = self._load_candidates(*key)
        return self._candidates[key]

    def cold_users(self, task: str, fold: FoldKey) -> np.ndarray:
        """Evaluated users of ``task`` in ``fold`` without any training edge in the task's relation."""
        return self.candidates(task, fold).cold_users()

    def _relation(self, rel: str | Relation) -> Relation:
        try:
            triple = relation(rel)
        except ValueError as err:
            raise LsecDataError(str(err)) from None
        if triple not in self.folds:
            have = ", ".join(r[1] for r in self.folds)
            raise LsecDataError(f"the dataset has no {triple[1]!r} relation", expected=f"one of: {have}", found=rel)
        return triple

    def _load_candidates(self, task: str, fold: str) -> Candidates:
        counts = self.info.get("candidates", {}).get(task, {}).get(fold, {})
        if self.root is None or not counts.get("evaluated_users"):
            raise LsecDataError(
                f"split {self.name!r} has no {fold} positives for task {task!r}, so no candidate lists",
                file=self.root,
            )
        path = self.root / "candidates" / f"{task}__{fold}.parquet"
        if not path.is_file():
            raise LsecDataError("candidate file listed in split.json is missing", file=path)
        frame = pl.read_parquet(path)
        return Candidates(
            task=task,
            fold=fold,
            user=frame["user"].to_numpy().astype(np.int32),
            target=frame["target"].to_numpy().astype(np.int32),
            label=frame["label"].to_numpy().astype(np.int8),
            cold=frame["cold"].to_numpy().astype(bool),
            stats=dict(counts),
        )

    def __repr__(self) -> str:
        return f"Split(name={self.name!r}, mode={self.info.get('mode')!r}, tasks={self.tasks}, graph={self.graph!r})"


def make_split(
    graph: HeteroGraph,
    folds: Mapping[Any, np.ndarray],
    name: str = "default",
    tasks: Sequence[str] = ("buy", "follow"),
    num_candidates: int = 500,
    seed: int = 0,
    info: Mapping[str, Any] | None = None,
    show_progress: bool = False,
    *,
    candidates: Mapping[tuple[str, str], Candidates] | None = None,
) -> Split:
    """Build a split in memory (candidate lists included), as :func:`write_split` would persist it."""
    return _build_split(graph, folds, name, tasks, num_candidates, seed, info, show_progress, None, candidates)


def _build_split(
    graph: HeteroGraph,
    folds: Mapping[Any, np.ndarray],
    name: str,
    tasks: Sequence[str],
    num_candidates: int,
    seed: int,
    info: Mapping[str, Any] | None,
    show_progress: bool,
    sink: Callable[[str, str, Candidates], None] | None,
    given: Mapping[tuple[str, str], Candidates] | None = None,
) -> Split:
    """Validate, draw every candidate list; each list goes to ``sink`` (then dropped) or into the split.

    Lists in ``given`` (keyed by ``(task, fold)``) are taken as they are instead of drawn.
    """
    if not _NAME_PATTERN.match(name):
        raise LsecDataError("invalid split name", expected="letters, digits, '.', '_' or '-'", found=name)
    if isinstance(num_candidates, bool) or not isinstance(num_candidates, int | np.integer) or num_candidates < 2:
        raise LsecDataError(
            "the 'num_candidates' parameter is invalid", expected="an integer >= 2", found=num_candidates
        )
    mode, boundaries = (folds.mode, folds.boundaries) if isinstance(folds, SplitFolds) else ("given", {})
    fold_arrays = normalise_folds(graph, folds)
    task_names = _check_tasks(graph, fold_arrays, tasks, mode, boundaries)
    given_lists = _check_given(given or {}, task_names)

    candidates: dict[tuple[str, str], Candidates] = {}
    summary: dict[str, dict[str, dict[str, int]]] = {}
    steps = [(t, f) for t in task_names for f in EVAL_FOLDS]
    for task, fold_id in tqdm(steps, desc="candidate lists", disable=not show_progress):
        fold = FOLD_NAMES[fold_id]
        rows = given_lists.get((task, fold))
        if rows is not None:
            cand = given_candidates(graph, fold_arrays, task, fold_id, rows.user, rows.target, rows.label)
        elif not (fold_arrays[relation(task)] == fold_id).any():
            summary.setdefault(task, {})[fold] = {"evaluated_users": 0, "cold_users": 0, "positives": 0, "rows": 0}
            continue
        else:
            cand = build_candidates(graph, fold_arrays, task, fold_id, int(num_candidates), seed)
        summary.setdefault(task, {})[fold] = cand.stats
        if sink is None:
            candidates[(task, fold)] = cand
        else:
            sink(task, fold, cand)  # written and released one at a time: bounded memory

    counts = {
        rel[1]: {
            **{FOLD_NAMES[f]: int((arr == f).sum()) for f in (TRAIN, VALID, TEST)},
            "outside": int((arr == OUTSIDE).sum()),
        }
        for rel, arr in fold_arrays.items()
    }
    meta = {
        "name": name,
        "mode": mode,
        "boundaries": boundaries,
        "tasks": task_names,
        "num_candidates": int(num_candidates),
        "seed": int(seed),
        "relations": [
            {"src_type": r[0], "name": r[1], "dst_type": r[2], "file": f"folds/{edge_file_stem(r)}.parquet"}
            for r in fold_arrays
        ],
        "edges": counts,
        "candidates": summary,
        "info": dict(info or {}),
    }
    return Split(graph, fold_arrays, meta, candidates)


def _check_given(
    given: Mapping[tuple[str, str], Candidates], tasks: Sequence[str]
) -> dict[tuple[str, str], Candidates]:
    """Given lists keyed by ``(task name, fold name)``; each must belong to an evaluated task and fold."""
    out: dict[tuple[str, str], Candidates] = {}
    for (task, fold), rows in given.items():
        try:
            task_name = relation(task)[1]
        except ValueError as err:
            raise LsecDataError(f"unknown task in the given candidate lists: {err}") from None
        fold_id = fold_index(fold)
        if task_name not in tasks or fold_id not in EVAL_FOLDS:
            raise LsecDataError(
                "candidate lists given for a task or fold the split does not evaluate",
                expected="tasks " + (", ".join(tasks) or "none") + " with fold valid or test",
                found=f"({task!r}, {fold!r})",
            )
        out[(task_name, FOLD_NAMES[fold_id])] = rows
    return out


def _check_tasks(
    graph: HeteroGraph,
    folds: dict[Relation, np.ndarray],
    tasks: Sequence[str],
    mode: str,
    boundaries: Mapping[str, Any],
) -> list[str]:
    names = []
    for task in tasks:
        try:
            rel = relation(task)
        except ValueError as err:
            raise LsecDataError(f"unknown task: {err}") from None
        if rel not in graph.edges:
            have = ", ".join(r[1] for r in graph.edges) or "none"
            raise LsecDataError(f"task {rel[1]!r} needs a {rel[1]!r} relation", expected=f"one of: {have}", found=task)
        fold = folds[rel]
        for fold_id in (TRAIN, TEST):
            if not (fold == fold_id).any():
                ts = graph.edges[rel].ts
                span = f"{iso_utc(int(ts.min()))} .. {iso_utc(int(ts.max()))}" if ts.size else "no edges at all"
                iso = boundaries.get("iso")
                windows = (
                    f" (windows: train {iso['start']} .. {iso['train_end']}, valid .. {iso['valid_end']},"
                    f" test .. {iso['test_end']}; set the start or the window lengths)"
                    if iso
                    else ""
                )
                raise LsecDataError(
                    f"task {rel[1]!r} has no {FOLD_NAMES[fold_id]} edges in this {mode} split{windows}",
                    file=graph.name,
                    expected="windows that overlap the data",
                    found=f"{rel[1]} edges spanning {span}",
                )
        names.append(rel[1])
    return names


# ------------------------------------------------------------------------------------------------ I/O
def write_split(
    dataset_dir: str | os.PathLike[str],
    folds: Mapping[Any, np.ndarray],
    name: str = "default",
    tasks: Sequence[str] = ("buy", "follow"),
    num_candidates: int = 500,
    seed: int = 0,
    info: Mapping[str, Any] | None = None,
    *,
    graph: HeteroGraph | None = None,
    show_progress: bool = False,
    candidates: Mapping[tuple[str, str], Candidates] | None = None,
) -> Split:
    """Build the split (see :func:`make_split`) and persist it under ``dataset_dir/splits/<name>/``.

    ``folds`` is a :class:`SplitFolds` or a plain mapping ``relation -> fold array`` (a "given" split).
    ``candidates`` supplies fixed lists per ``(task, fold)`` (e.g. ``("buy", "test")``) that are stored as they
    are instead of drawn (:func:`~lsec.data.split.given_candidates`: only ``user``, ``target`` and ``label`` are
    used; ``cold`` and the counts are derived from the split); the other evaluated lists are drawn as usual.
    ``graph`` skips re-reading the dataset when the caller has it in memory (it must be what is on disk).
    An existing split of the same name is replaced (only once the new one is complete). Each candidate list is
    written as soon as it is drawn, so at most one is in memory. Returns the split (lists read back lazily).
    """
    root = Path(dataset_dir)
    graph = load_dataset(root) if graph is None else graph
    target = root / "splits" / name
    staging = root / "splits" / f".{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    create_folder(staging / "folds", shown=root / "splits")  # a read-only dataset folder fails here, by name
    (staging / "candidates").mkdir()

    def write_candidates(task: str, fold: str, cand: Candidates) -> None:
        pl.DataFrame(
            {
                "user": pl.Series("user", cand.user, dtype=pl.Int32),
                "target": pl.Series("target", cand.target, dtype=pl.Int32),
                "label": pl.Series("label", cand.label, dtype=pl.Int8),
                "cold": pl.Series("cold", cand.cold, dtype=pl.Boolean),
            }
        ).write_parquet(staging / "candidates" / f"{task}__{fold}.parquet", statistics=False)

    try:
        split = _build_split(
            graph, folds, name, tasks, num_candidates, seed, info, show_progress, write_candidates, candidates
        )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for rel, arr in split.folds.items():
        pl.DataFrame({"fold": pl.Series("fold", arr, dtype=pl.Int8)}).write_parquet(
            staging / "folds" / f"{edge_file_stem(rel)}.parquet", statistics=False
        )
    (staging / SPLIT_FILE).write_text(json.dumps(split.info, indent=2, default=_json_default) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    split.root = target  # candidate lists are read back from disk on first use
    return split


def list_splits(dataset_dir: str | os.PathLike[str]) -> list[str]:
    folder = Path(dataset_dir) / "splits"
    return sorted(p.name for p in folder.glob("*") if (p / SPLIT_FILE).is_file()) if folder.is_dir() else []


def load_split(
    dataset_dir: str | os.PathLike[str], name: str = "default", *, graph: HeteroGraph | None = None
) -> Split:
    """Read ``dataset_dir/splits/<name>/`` (candidate lists are read on first use)."""
    root = Path(dataset_dir)
    folder = root / "splits" / name
    meta_path = folder / SPLIT_FILE
    if not meta_path.is_file():
        have = ", ".join(list_splits(root)) or "none (run `lsec data split`)"
        raise LsecDataError(f"no split named {name!r}", file=root, expected=f"one of: {have}", found=name)
    try:
        info = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise LsecDataError(
            "unreadable split description", file=meta_path, expected="valid JSON", found=str(err)
        ) from None
    graph = load_dataset(root) if graph is None else graph
    folds: dict[Relation, np.ndarray] = {}
    for rel, table in graph.items():
        path = folder / "folds" / f"{edge_file_stem(rel)}.parquet"
        if not path.is_file():
            raise LsecDataError(f"split {name!r} has no fold file for relation {rel[1]!r}", file=path)
        arr = pl.read_parquet(path)["fold"].to_numpy().astype(np.int8)
        if arr.shape != (len(table),):
            raise LsecDataError(
                f"split {name!r} is stale: relation {rel[1]!r} changed since the split was written (re-run the split)",
                file=path,
                expected=f"{len(table)} rows",
                found=arr.shape[0],
            )
        folds[rel] = arr
    return Split(graph, folds, info, root=folder)


def _json_default(value: object) -> object:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
