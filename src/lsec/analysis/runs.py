"""Read training run folders (contract 6) for reports: run.json, log.jsonl and results/*.json.

Only the JSON files are read (no torch, no checkpoints), so a report works on runs that are still
training or that crashed: an unreadable log line is skipped and reported as a warning.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsec.errors import LsecDataError

RUN_FILE = "run.json"
LOG_FILE = "log.jsonl"


@dataclass
class RunRecord:
    path: Path
    label: str
    info: dict[str, Any]
    loss: tuple[list[float], list[float]]  # (epochs, train loss)
    metrics: dict[str, tuple[list[float], list[float]]]  # validation metric -> (epochs, values)
    results: dict[str, dict[str, Any]]  # split -> content of results/<split>.json
    warnings: list[str] = field(default_factory=list)

    def curve(self) -> dict[str, Any]:
        return {"label": self.label, "loss": self.loss, "metrics": self.metrics}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def flatten_numbers(tree: Any, prefix: str = "") -> dict[str, float]:
    """``{"buy": {"auc": 0.9}}`` -> ``{"buy/auc": 0.9}`` (non-numeric leaves are dropped)."""
    out: dict[str, float] = {}
    if isinstance(tree, dict):
        for key, value in tree.items():
            out.update(flatten_numbers(value, f"{prefix}/{key}" if prefix else str(key)))
    else:
        number = _number(tree)
        if number is not None and prefix:
            out[prefix] = number
    return out


def read_run(run_dir: str | os.PathLike[str], label: str | None = None) -> RunRecord:
    root = Path(run_dir)
    info_path = root / RUN_FILE
    if not root.is_dir():
        raise LsecDataError("run folder not found", file=root, expected="a folder written by `lsec train`")
    if not info_path.is_file():
        raise LsecDataError("not a run folder", file=root, expected=f"a {RUN_FILE} file", found="no such file")
    try:
        info = json.loads(info_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise LsecDataError(
            "unreadable run description", file=info_path, expected="valid JSON", found=str(err)
        ) from None
    if not isinstance(info, dict):
        raise LsecDataError(file=info_path, expected="a JSON object", found=type(info).__name__)

    warnings: list[str] = []
    loss: tuple[list[float], list[float]] = ([], [])
    metrics: dict[str, tuple[list[float], list[float]]] = {}
    log_path = root / LOG_FILE
    if log_path.is_file():
        for row, line in enumerate(log_path.read_text(errors="replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                warnings.append(f"{log_path.name}, row {row}: not valid JSON, skipped")
                continue
            if not isinstance(event, dict):
                continue
            epoch = _number(event.get("epoch"))
            if epoch is None:
                continue
            if event.get("event") == "epoch" and _number(event.get("train_loss")) is not None:
                loss[0].append(epoch)
                loss[1].append(float(event["train_loss"]))
            elif event.get("event") == "eval" and event.get("split", "valid") == "valid":
                for name, value in flatten_numbers(event.get("metrics", {})).items():
                    metrics.setdefault(name, ([], []))
                    metrics[name][0].append(epoch)
                    metrics[name][1].append(value)
    else:
        warnings.append(f"no {LOG_FILE}: no learning curves")

    results: dict[str, dict[str, Any]] = {}
    results_dir = root / "results"
    if results_dir.is_dir():
        for path in sorted(results_dir.glob("*.json")):
            try:
                content = json.loads(path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError):
                warnings.append(f"results/{path.name}: not valid JSON, skipped")
                continue
            if isinstance(content, dict):
                results[path.stem] = content
    # what training itself flagged (best validation at or below random or below popularity), first
    learned = [f"training: {w}" for w in info.get("warnings", []) if isinstance(w, str)]
    return RunRecord(root.resolve(), label or root.name, info, loss, metrics, results, learned + warnings)


def read_runs(run_dirs: Sequence[str | os.PathLike[str]]) -> list[RunRecord]:
    """Read several runs; labels are folder names, made unique with the parent folder when needed."""
    if not run_dirs:
        raise LsecDataError("no run folder given", expected="at least one run folder")
    paths = [Path(p) for p in run_dirs]
    names = [p.resolve().name for p in paths]
    labels = [f"{p.resolve().parent.name}/{n}" if names.count(n) > 1 else n for p, n in zip(paths, names, strict=True)]
    return [read_run(p, label) for p, label in zip(paths, labels, strict=True)]


def metric_tables(runs: list[RunRecord]) -> list[dict[str, Any]]:
    """One table per (split, task): rows (run, user group), columns metrics; the best value per column marked.

    ``results/<split>.json`` as written by ``lsec evaluate`` is ``{"tasks": {task: {group: {metric: v},
    "users": {group: n}}}}``; any other JSON object is shown flattened as a single ``all`` row.
    """
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in runs:
        for split, content in run.results.items():
            listed = content.get("tasks")
            tasks: dict[str, Any] = listed if isinstance(listed, dict) else {"-": content}
            for task, report in tasks.items():
                if not isinstance(report, dict):
                    continue
                users = report.get("users", {}) if isinstance(report.get("users"), dict) else {}
                groups = {g: v for g, v in report.items() if g != "users" and isinstance(v, dict)}
                if not groups:
                    groups = {"all": {k: v for k, v in report.items() if k != "users"}}
                for group, values in groups.items():
                    numbers = flatten_numbers(values)
                    if numbers:
                        grouped.setdefault((split, str(task)), []).append(
                            {"run": run.label, "group": group, "users": users.get(group), "values": numbers}
                        )
    tables = []
    group_order = {"all": 0, "warm": 1, "cold": 2}
    for (split, task), rows in sorted(grouped.items()):
        rows.sort(key=lambda row: group_order.get(row["group"], 3))  # stable: runs stay in command-line order
        columns: list[str] = []
        for row in rows:
            columns += [c for c in row["values"] if c not in columns]
        best: dict[tuple[str, str], float] = {}
        competitors: dict[tuple[str, str], int] = {}
        for row in rows:
            for column, value in row["values"].items():
                key = (row["group"], column)
                best[key] = max(best.get(key, -math.inf), value)
                competitors[key] = competitors.get(key, 0) + 1
        for row in rows:  # marked only where at least two runs are compared
            row["best"] = {
                c
                for c, v in row["values"].items()
                if competitors[(row["group"], c)] > 1 and v == best[(row["group"], c)]
            }
        tables.append({"split": split, "task": task, "columns": columns, "rows": rows})
    return tables
