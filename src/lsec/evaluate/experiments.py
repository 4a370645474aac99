"""The paper's tables as experiments: train every row over several seeds, evaluate on test, aggregate.

``table3`` (model comparison) and ``table5`` (LSEC-GCN ablation over relations and tasks) each name a list
of rows, one YAML recipe per row (``configs/``). ``dmgnn`` (DM-GNN's comparison and ablation, issue 15) has
the rows DM-GNN, DM-GNN without decay, each task alone, TGAT and a static GNN (``configs/dmgnn/``), and its
metrics are the temporal objective's (:mod:`lsec.train.temporal`): link AUC / AP with random and with
historical negatives, tier macro-F1 and accuracy, for all, transductive and inductive test events apart; it
adds a row *popularity / persistence* (the evaluation's baselines on the same test pairs and queries:
links scored by the destination's number of earlier events, tiers by the previous window's amount).
``mmbee-table1`` (MMoE, SIM, each alone, + MFQ, + GIE and + both) and ``mmbee-table4`` (SIM+GIE with each expansion, the
pre-trained tables or all graph features removed) report the gift task's AUC / UAUC / GAUC on the test day's
impressions with a *popularity* row; each seed's expansion store is built from the training days' gifts
(:mod:`lsec.evaluate.mmbee_tables`). Each (row, seed) run is a normal run folder
(``OUT/runs/<recipe>/seed<k>``), trained with :func:`lsec.train.trainer.train_run` and evaluated on the test
candidate lists; a finished run is reused only when its resolved config (``config.yaml``, overrides included)
equals the requested one, so an interrupted experiment continues where it stopped, and a run of another
recipe is retrained (said in the log, :func:`config_changes`).

Outputs in ``OUT``: ``<table>.md`` and ``<table>.csv`` (mean and std over seeds per row and metric; std is
the sample standard deviation, ddof=1) and ``<table>.json`` (every run's raw metrics per user / event group).

**Gaps** (:data:`GAPS`): per metric, the per-seed difference ``better - baseline`` over the seeds both rows
have, its mean and sample std, and ``beyond_two_std``: ``mean > 2 x`` the larger of the two rows' stds.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lsec.errors import LsecConfigError
from lsec.evaluate import mmbee_tables

if TYPE_CHECKING:
    from lsec.config import Config

METRICS = ("auc", "mrr", "ndcg@10", "ndcg@50", "recall@10", "recall@50")
LINK_METRICS = ("link_auc_random", "link_ap_random", "link_auc_historical", "link_ap_historical")
TIER_METRICS = ("tier_macro_f1", "tier_accuracy")
TABLE_METRICS: dict[str, tuple[str, ...]] = {
    "dmgnn": LINK_METRICS + TIER_METRICS,
    "mmbee-table1": mmbee_tables.GTR_METRICS,  # of the gift task (lsec.evaluate.mmbee_tables)
    "mmbee-table4": mmbee_tables.GTR_METRICS,
}
"""Metric columns of a table (default :data:`METRICS`, the buy task's candidate-list metrics)."""
TABLE_GROUPS: dict[str, tuple[str, ...]] = {
    "dmgnn": ("all", "transductive", "inductive"),
    "mmbee-table1": ("all",),  # every test impression of the gift task
    "mmbee-table4": ("all",),
}
"""Groups reported apart (default all / warm / cold users)."""
BASELINE_ROW = "popularity / persistence"
"""The ``dmgnn`` table's baseline row: the test report's baselines (the same for every row of a seed)."""
BASELINE_ROWS = {"mmbee-table1": "popularity", "mmbee-table4": "popularity"}
"""Baseline row of other tables (default :data:`BASELINE_ROW`): the gift models' streamer popularity."""
GTR_TABLES = ("mmbee-table1", "mmbee-table4")
"""Tables of MMBee's gift models: per-seed expansion stores, recipes ``<recipe>@<store variant>``."""

TABLES: dict[str, list[tuple[str, str]]] = {
    "table3": [
        ("NCF", "ncf"),
        ("GCN-RS", "gcn-rs"),
        ("LightGCN", "lightgcn"),
        ("GAT-RS", "gat-rs"),
        ("LSEC-GCN", "lsec-gcn"),
        ("LSEC-LightGCN", "lsec-lightgcn"),
        ("LSEC-GAT", "lsec-gat"),
    ],
    "table5": [
        ("0 / 0", "ablation-r0-t0"),  # label: relations / tasks (0 buy, 1 follow, 2 sell)
        ("0,1 / 0", "ablation-r01-t0"),
        ("0,2 / 0", "ablation-r02-t0"),
        ("0,1,2 / 0", "ablation-r012-t0"),
        ("0,1,2 / 0,1", "ablation-r012-t01"),
    ],
    "dmgnn": [
        ("DM-GNN", "dmgnn/dmgnn"),
        ("DM-GNN without decay", "dmgnn/dmgnn-no-decay"),
        ("link task alone", "dmgnn/link-only"),
        ("tier task alone", "dmgnn/tier-only"),
        ("TGAT", "dmgnn/tgat"),  # no decay, link task alone
        ("static GNN", "dmgnn/static-gnn"),  # LightGCN on the aggregated training graph, both tasks
    ],
    "mmbee-table1": mmbee_tables.TABLE1,
    "mmbee-table4": mmbee_tables.TABLE4,
}
"""Rows of each table: (label, recipe file stem under configs/)."""

_GAP_LINK, _GAP_TIER = ("link_auc_historical", "link_auc_random"), ("tier_macro_f1", "tier_accuracy")
GAPS: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    "table3": [
        ("LSEC-LightGCN", "LightGCN", ("auc", "recall@50")),
        ("LSEC-GCN", "GCN-RS", ("auc", "recall@50")),
        ("LSEC-GAT", "GAT-RS", ("auc", "recall@50")),
    ],
    "table5": [("0,1,2 / 0,1", "0 / 0", ("auc", "recall@50")), ("0,1,2 / 0", "0 / 0", ("auc", "recall@50"))],
    "dmgnn": [
        ("DM-GNN", "link task alone", _GAP_LINK),  # multi-task minus single-task, links
        ("DM-GNN", "tier task alone", _GAP_TIER),  # multi-task minus single-task, tiers
        ("DM-GNN", "DM-GNN without decay", _GAP_LINK + _GAP_TIER),  # decay minus no decay, both tasks
        ("link task alone", "TGAT", _GAP_LINK),  # decay minus no decay, link task alone
        ("DM-GNN", "TGAT", _GAP_LINK),  # the paper's headline (+4.1 % link AUC)
        ("DM-GNN", "static GNN", _GAP_LINK + _GAP_TIER),
        ("DM-GNN", BASELINE_ROW, _GAP_LINK + _GAP_TIER),
    ],
    "mmbee-table1": mmbee_tables.GAPS1,
    "mmbee-table4": mmbee_tables.GAPS4,
}
"""(better, baseline, metrics) triples whose gap is reported as mean difference and its std over seeds."""


def table_metrics(table: str) -> tuple[str, ...]:
    return TABLE_METRICS.get(table, METRICS)


def table_groups(table: str) -> tuple[str, ...]:
    return TABLE_GROUPS.get(table, ("all", "warm", "cold"))


def row_report(table: str, results: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``(per-group metrics of the model, the same of the baselines or None)`` from a run's test results.

    Group dicts hold only the table's metrics with a value (NaN / None left out: e.g. no inductive event).
    """
    if table not in TABLE_METRICS:
        return results["tasks"]["buy"], None
    if table in GTR_TABLES:
        return mmbee_tables.gtr_row_report(results)
    names = table_metrics(table)

    def groups(metrics: dict[str, Any], by_group: dict[str, dict[str, Any]]) -> dict[str, Any]:
        out = {"all": _finite(metrics, names)}
        out.update({g: _finite(by_group.get(g, {}), names) for g in table_groups(table)[1:]})
        return out

    model = groups(results["metrics"], results["groups"])
    base = results["baselines"]["popularity_persistence"]
    baseline = groups(base["metrics"], base["groups"])
    tasks = {m for g in model.values() for m in g}  # the baseline row reports the tasks the model has
    return model, {g: {m: v for m, v in values.items() if m in tasks} for g, values in baseline.items()}


def _finite(metrics: dict[str, Any], names: Sequence[str]) -> dict[str, float]:
    return {m: float(metrics[m]) for m in names if metrics.get(m) is not None and np.isfinite(metrics[m])}


def default_configs_dir() -> Path:
    """``configs/`` of the source tree, else of the current directory."""
    here = Path(__file__).resolve().parents[3] / "configs"
    return here if here.is_dir() else Path.cwd() / "configs"


def run_table(
    table: str,
    data_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    repeats: int = 5,
    configs_dir: str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
    rows: Sequence[str] | None = None,
    show_progress: bool = False,
    echo: Callable[[str], None] | None = None,
    train_missing: bool = True,
    store_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train and test every row of ``table`` for seeds ``0..repeats-1``; write the tables; return the summary.

    With ``train_missing=False`` nothing is trained: the tables aggregate the finished runs only (a row
    reports how many seeds it has). The MMBee tables build the expansion store of each seed in
    ``OUT/stores`` (``store_options``: ``k``, ``epochs``, ``dim`` of ``lsec mmbee build-store``).
    """
    from lsec.config import load_config
    from lsec.data.store import create_folder
    from lsec.evaluate.protocols import evaluate_run
    from lsec.train.runs import load_run, read_run_info, write_json
    from lsec.train.trainer import train_run

    if table not in TABLES:
        raise LsecConfigError(f"Unknown experiment {table!r}. Valid: {', '.join(TABLES)}.")
    if repeats < 1:
        raise LsecConfigError(f"--repeats must be positive. Got {repeats} instead.")
    selected = TABLES[table]
    if rows:
        known = {label for label, _ in selected} | {recipe for _, recipe in selected}
        unknown = [r for r in rows if r not in known]
        if unknown:
            raise LsecConfigError(f"Unknown rows {unknown} for {table}. Valid: {sorted(known)}.")
        selected = [(label, recipe) for label, recipe in selected if label in rows or recipe in rows]
    configs = Path(configs_dir) if configs_dir is not None else default_configs_dir()
    out = create_folder(out_dir)
    say = echo or (lambda _message: None)
    raw: list[dict[str, Any]] = []
    baselines: dict[int, dict[str, Any]] = {}
    total = len(selected) * repeats
    done = 0
    for label, recipe in selected:
        recipe_name, store_variant = mmbee_tables.split_recipe(recipe)
        path = configs / f"{recipe_name}.yaml"
        for seed in range(repeats):
            done += 1
            run_dir = out / "runs" / recipe / f"seed{seed}"
            result_file = run_dir / "results" / "test.json"
            started = time.perf_counter()
            gie = table in GTR_TABLES and mmbee_tables.needs_store(path)
            extra = [f"model.hparams.store={mmbee_tables.store_path(out, seed, store_variant)}"] if gie else []
            cfg = load_config(path, [*overrides, f"data.dataset={data_dir}", f"train.seed={seed}", *extra])
            changed = config_changes(cfg, run_dir)
            if changed:  # a run folder trained with another recipe: never reused
                shown = "; ".join(changed[:4]) + (f"; ... ({len(changed)} fields)" if len(changed) > 4 else "")
                if not train_missing:
                    say(
                        f"[{done}/{total}] {label} seed {seed}: its config differs from the requested one ({shown}), left out"
                    )
                    continue
                say(
                    f"[{done}/{total}] {label} seed {seed}: its config differs from the requested one ({shown}): retraining"
                )
                shutil.rmtree(run_dir)
            if not result_file.is_file() and not train_missing:
                say(f"[{done}/{total}] {label} seed {seed}: not finished, left out")
                continue
            if not result_file.is_file():
                if gie:  # this seed's store (or a variant), built now when missing
                    mmbee_tables.seed_store(out, Path(data_dir), seed, store_variant, store_options)
                resume = (run_dir / "run.json").is_file()
                train_run(cfg, run_dir, resume=resume, show_progress=show_progress)
                loaded = load_run(run_dir)
                results, _ = evaluate_run(loaded, "test", tasks=None if table in TABLE_METRICS else ["buy"])
                (run_dir / "results").mkdir(exist_ok=True)
                write_json(result_file, results)
            results = json.loads(result_file.read_text())
            info = read_run_info(run_dir)
            report, baseline = row_report(table, results)
            if baseline is not None:  # one baseline row per seed: merge the tasks its rows report
                entry = baselines.setdefault(seed, {g: {} for g in baseline})
                for group, values in baseline.items():
                    entry[group].update(values)
            raw.append(
                {
                    "row": label,
                    "recipe": recipe,
                    "seed": seed,
                    "run": str(run_dir),
                    "best_epoch": info.get("best_epoch"),
                    "epochs_run": info.get("epochs_run"),
                    "train_seconds": _train_seconds(run_dir),
                    "test": report,
                }
            )
            shown = ", ".join(f"{m} {v:.4f}" for m, v in list(report["all"].items())[:2] if m in table_metrics(table))
            say(
                f"[{done}/{total}] {label} seed {seed}: test {shown} "
                f"(best epoch {info.get('best_epoch')}, {time.perf_counter() - started:.0f} s)"
            )
    baseline_row = BASELINE_ROWS.get(table, BASELINE_ROW)
    for seed, groups in sorted(baselines.items()):
        raw.append({"row": baseline_row, "recipe": None, "seed": seed, "train_seconds": None, "test": groups})
    labels = [label for label, _ in selected] + ([baseline_row] if baselines else [])
    summary = summarise(table, raw, [label for label in labels if any(r["row"] == label for r in raw)])
    summary["config_overrides"] = list(overrides)
    summary["dataset"] = str(Path(data_dir).resolve())
    write_json(out / f"{table}.json", {"summary": summary, "runs": raw})
    (out / f"{table}.md").write_text(to_markdown(summary))
    write_csv(summary, out / f"{table}.csv")
    return summary


def config_changes(requested: Config, run_dir: Path) -> list[str]:
    """``"<field>: run <value> != requested <value>"`` for every config field where the run folder's resolved
    config (``run_dir/config.yaml``, overrides included) differs from ``requested``; empty when they are equal or
    ``run_dir`` holds no run yet. ``data.dataset`` is compared resolved, as the trainer stores it."""
    from lsec.config import config_to_dict, load_config
    from lsec.train.runs import CONFIG_FILE

    file = run_dir / CONFIG_FILE
    if not file.is_file():
        return ["no config.yaml in the run folder"] if (run_dir / "run.json").is_file() else []
    want = config_to_dict(requested)
    want["data"]["dataset"] = str(Path(want["data"]["dataset"]).resolve())
    have = config_to_dict(load_config(file))
    flat_want, flat_have = _flatten(want), _flatten(have)
    return [
        f"{key}: run {flat_have.get(key, '(unset)')!r} != requested {flat_want.get(key, '(unset)')!r}"
        for key in sorted(set(flat_want) | set(flat_have))
        if flat_want.get(key) != flat_have.get(key)
    ]


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _train_seconds(run_dir: Path) -> float | None:
    from lsec.train.runs import read_log

    events = read_log(run_dir)
    return float(events[-1]["elapsed"]) if events else None


def summarise(table: str, raw: Sequence[dict[str, Any]], labels: Sequence[str]) -> dict[str, Any]:
    """Mean and std (ddof=1) per row, metric and user group; plus the gaps of :data:`GAPS`."""
    rows: dict[str, Any] = {}
    metrics = table_metrics(table)
    for label in labels:
        runs = [r for r in raw if r["row"] == label]
        entry: dict[str, Any] = {"seeds": len(runs)}
        for group in table_groups(table):
            values = {m: [r["test"][group][m] for r in runs if m in r["test"].get(group, {})] for m in metrics}
            entry[group] = {m: _mean_std(v) for m, v in values.items() if v}
        seconds = [r["train_seconds"] for r in runs if r.get("train_seconds") is not None]
        entry["train_seconds"] = _mean_std(seconds) if seconds else None
        rows[label] = entry
    gaps = []
    for better, base, gap_metrics in GAPS.get(table, []):
        if better not in rows or base not in rows:
            continue
        for metric in gap_metrics:
            if metric not in rows[better]["all"] or metric not in rows[base]["all"]:
                continue
            a = _per_seed(raw, better, metric)
            b = _per_seed(raw, base, metric)
            common = sorted(set(a) & set(b))
            diff = [a[s] - b[s] for s in common]
            if not diff:
                continue
            mean, std = _mean_std(diff)["mean"], _mean_std(diff)["std"]
            pooled = max(rows[better]["all"][metric]["std"], rows[base]["all"][metric]["std"])
            gaps.append(
                {
                    "better": better,
                    "baseline": base,
                    "metric": metric,
                    "mean_diff": mean,
                    "std_diff": std,
                    "max_row_std": pooled,
                    "beyond_two_std": bool(mean > 2 * pooled) if len(common) > 1 else None,
                }
            )
    return {"table": table, "rows": rows, "gaps": gaps}


def _per_seed(raw: Sequence[dict[str, Any]], label: str, metric: str) -> dict[int, float]:
    return {
        int(r["seed"]): float(r["test"]["all"][metric]) for r in raw if r["row"] == label and metric in r["test"]["all"]
    }


def _mean_std(values: Sequence[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64)
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return {"mean": float(arr.mean()), "std": std}


def to_markdown(summary: dict[str, Any], group: str = "all") -> str:
    """Markdown table ``mean ± std`` per row and metric (users / events of ``group``), then the gaps."""
    table = summary["table"]
    metrics, groups = table_metrics(table), table_groups(table)
    unit = "users" if table not in TABLE_GROUPS else "impressions" if table in GTR_TABLES else "events"
    header = "| row | seeds | " + " | ".join(metrics) + " | train s |"
    lines = [f"### {table} (test, {group} {unit}; mean ± std over seeds)", "", header]
    lines.append("|" + "---|" * (len(metrics) + 3))
    for label, entry in summary["rows"].items():
        if not entry.get(group):
            continue
        cells = [
            f"{entry[group][m]['mean']:.4f} ± {entry[group][m]['std']:.4f}" if m in entry[group] else "-"
            for m in metrics
        ]
        secs = entry.get("train_seconds")
        seconds = f"{secs['mean']:.0f}" if secs else "-"
        shown = label.replace("|", "\\|")  # a pipe would split the Markdown cell
        lines.append(f"| {shown} | {entry['seeds']} | " + " | ".join(cells) + f" | {seconds} |")
    for other in groups[1:] if group == "all" else ():
        if other != "warm" and any(entry.get(other) for entry in summary["rows"].values()):
            lines += ["", to_markdown({**summary, "gaps": []}, other).rstrip("\n")]
    if summary.get("gaps") and group == "all":
        lines += [
            "",
            "| better | baseline | metric | mean diff | std of diff | max row std | diff > 2 std |",
            "|---|---|---|---|---|---|---|",
        ]
        for gap in summary["gaps"]:
            lines.append(
                f"| {gap['better']} | {gap['baseline']} | {gap['metric']} | {gap['mean_diff']:+.4f} | "
                f"{gap['std_diff']:.4f} | {gap['max_row_std']:.4f} | {gap['beyond_two_std']} |"
            )
    return "\n".join(lines) + "\n"


def write_csv(summary: dict[str, Any], path: Path) -> None:
    """One line per (row, user group): mean and std columns per metric."""
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        metrics = table_metrics(summary["table"])
        writer.writerow(["row", "group", "seeds", *[f"{m}_{s}" for m in metrics for s in ("mean", "std")]])
        for label, entry in summary["rows"].items():
            for group in table_groups(summary["table"]):
                if not entry.get(group):
                    continue
                values = [entry[group][m][s] if m in entry[group] else "" for m in metrics for s in ("mean", "std")]
                writer.writerow([label, group, entry["seeds"], *values])
