"""``lsec data split``: time or ratio split of a dataset folder, with fixed candidate lists.

Library imports happen inside the command so that ``lsec --help`` stays fast.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Optional

import typer

_HELP = """Split a dataset into train / valid / test folds and draw the fixed candidate lists.

By default the split is by time, in consecutive windows of whole days starting at the dataset's time origin (the LSEC-GNN protocol: 30 days train, 10 valid, 10 test). --ratio 0.6,0.2,0.2 instead places the window boundaries at time quantiles so that about those fractions of the edges fall in each; with --random, each edge's fold is drawn at random instead (for data without timestamps).

For each task (buy, follow) and each of valid / test, every user with a positive in that fold gets a list of --candidates targets: its positives plus targets it never interacted with, sampled once with --seed and saved, so that every model is evaluated on the same lists. Users without training edges in the task's relation are flagged cold.

Writes DIR/splits/NAME/ (split.json, folds/, candidates/); an existing split of that name is replaced.

Example: lsec data split data/lsec-small --train-days 30 --valid-days 10 --test-days 10 """


def split_command(
    dataset: Path = typer.Argument(..., help="Dataset folder (canonical format).", show_default=False),
    train_days: Optional[float] = typer.Option(None, "--train-days", help="Days in the train window (default 30)."),
    valid_days: Optional[float] = typer.Option(
        None, "--valid-days", help="Days in the valid window, 0 for none (default 10)."
    ),
    test_days: Optional[float] = typer.Option(None, "--test-days", help="Days in the test window (default 10)."),
    start: Optional[str] = typer.Option(
        None,
        "--start",
        help="First day of the train window: ISO date or unix seconds (default: the dataset's time origin).",
    ),
    ratio: Optional[str] = typer.Option(
        None, "--ratio", help="Split by time quantiles instead of days, e.g. 0.6,0.2,0.2 (train,valid,test)."
    ),
    per_relation: bool = typer.Option(
        False, "--per-relation", help="With --ratio: quantiles per relation instead of one set of dates."
    ),
    random: bool = typer.Option(
        False, "--random", help="With --ratio: draw each edge's fold at random (data without timestamps)."
    ),
    name: str = typer.Option("default", "--name", help="Split name (folder under DIR/splits/)."),
    tasks: Optional[str] = typer.Option(
        None, "--tasks", help="Comma-separated tasks to draw candidate lists for (default: buy,follow when present)."
    ),
    candidates: int = typer.Option(500, "--candidates", min=2, help="Candidate list length per evaluated user."),
    seed: int = typer.Option(0, "--seed", help="Seed of the candidate sampling (and of --random)."),
    progress: Optional[bool] = typer.Option(
        None, "--progress/--no-progress", help="Show progress (default: when stderr is a terminal)."
    ),
) -> None:
    from lsec.data.split import split_by_ratio, split_by_time, split_random, write_split
    from lsec.data.store import load
    from lsec.errors import LsecDataError, LsecError

    show = sys.stderr.isatty() if progress is None else progress

    def note(message: str) -> None:
        if show:
            typer.echo(message, err=True)

    try:
        began = time.perf_counter()
        note(f"reading {dataset} ...")
        graph = load(dataset)
        if ratio is not None:
            if any(v is not None for v in (train_days, valid_days, test_days, start)):
                raise LsecDataError(
                    "--ratio cannot be combined with --train-days / --valid-days / --test-days / --start",
                    expected="either day windows or ratios",
                )
            if random and per_relation:
                raise LsecDataError("--random and --per-relation cannot be combined")
            if random:
                folds = split_random(graph, _parse_ratios(ratio), seed=seed)
            else:
                folds = split_by_ratio(graph, _parse_ratios(ratio), per_relation=per_relation)
        else:
            if per_relation or random:
                raise LsecDataError("--per-relation and --random only apply to --ratio splits")
            folds = split_by_time(
                graph,
                train_days=30 if train_days is None else train_days,
                valid_days=10 if valid_days is None else valid_days,
                test_days=10 if test_days is None else test_days,
                start=start,
            )
        if tasks is None:
            task_list = [t for t in ("buy", "follow") if graph.has(t)]
        else:
            task_list = [t.strip() for t in tasks.split(",") if t.strip()]
        note(f"drawing candidate lists for {', '.join(task_list) or 'no task'} ...")
        split = write_split(
            dataset,
            folds,
            name=name,
            tasks=task_list,
            num_candidates=candidates,
            seed=seed,
            graph=graph,
            show_progress=show,
        )
    except LsecError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    _print_summary(split.info, split.root, time.perf_counter() - began)


def _parse_ratios(text: str) -> list[float]:
    from lsec.errors import LsecDataError

    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise LsecDataError("invalid --ratio", expected="three numbers like 0.6,0.2,0.2", found=text) from None


def _print_summary(info: dict[str, Any], root: Path | None, seconds: float) -> None:
    bounds = info.get("boundaries", {})
    typer.echo(f"split {info['name']!r} ({info['mode']}), seed {info['seed']}, {info['num_candidates']} candidates")
    if "iso" in bounds:
        iso = bounds["iso"]
        typer.echo(
            f"  train {iso['start']} .. {iso['train_end']}   valid .. {iso['valid_end']}   test .. {iso['test_end']}"
        )
    elif info["mode"] == "random":
        typer.echo(f"  folds drawn at random with ratios {', '.join(str(r) for r in bounds.get('ratios', []))}")
    elif "relations" in bounds:
        for rel_name, window in bounds["relations"].items():
            iso = window["iso"]
            typer.echo(
                f"  {rel_name}: train {iso['start']} .. {iso['train_end']}   valid .. {iso['valid_end']}"
                f"   test .. {iso['test_end']}"
            )
    typer.echo("")
    rows = [["relation", "train", "valid", "test", "outside"]]
    for rel_name, counts in info["edges"].items():
        rows.append([rel_name] + [f"{counts[k]:,}" for k in ("train", "valid", "test", "outside")])
    _table(rows)
    if info["candidates"]:
        typer.echo("")
        rows = [["task", "fold", "users", "cold users", "positives", "rows", "truncated", "short lists"]]
        for task, per_fold in info["candidates"].items():
            for fold, stats in per_fold.items():
                rows.append(
                    [task, fold]
                    + [
                        f"{stats.get(k, 0):,}"
                        for k in (
                            "evaluated_users",
                            "cold_users",
                            "positives",
                            "rows",
                            "truncated_users",
                            "short_lists",
                        )
                    ]
                )
        _table(rows)
        if any(s.get("evaluated_users", 0) == 0 for f in info["candidates"].values() for s in f.values()):
            typer.echo("note: a fold without positives has no candidate lists (it cannot be evaluated)")
        if any(s.get("short_lists", 0) for f in info["candidates"].values() for s in f.values()):
            typer.echo("note: short lists: the catalogue has fewer untouched targets than needed; all are used")
    typer.echo(f"\nwrote {root} in {seconds:.1f} s")


def _table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        typer.echo("  " + "  ".join(cells))


def register(data_app: typer.Typer) -> None:
    data_app.command("split", help=_HELP)(split_command)
