"""``lsec evaluate``: candidate-list metrics of a trained run on a split fold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command(
        "evaluate",
        help=(
            "Score the fixed candidate lists of a fold with a run's best checkpoint and report auc, mrr, ndcg@k, "
            "recall@k and mrr_first@k for all, warm and cold users; on a split without candidate lists (or with "
            "--protocol full_sort) rank every item, training items masked, and report recall@k, ndcg@k and "
            "precision@k. Writes RUN/results/<split>.json.\n\n"
            "Example: lsec evaluate runs/lsec-gcn --split test --scores-out scores.parquet"
        ),
    )(evaluate)


def evaluate(
    run: Path = typer.Argument(..., help="Run folder written by `lsec train`."),
    split: str = typer.Option("test", "--split", "-s", help="Fold to evaluate: valid or test."),
    task: Optional[list[str]] = typer.Option(None, "--task", help="Task(s) to evaluate (default: the model's tasks)."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON instead of a table."),
    scores_out: Optional[Path] = typer.Option(
        None,
        "--scores-out",
        help="Write every ranked row (user, item|streamer, label, cold, score; external ids) "
        "as Parquet. With several tasks, the task name is added before the suffix.",
    ),
    data: Optional[Path] = typer.Option(None, "--data", help="Dataset folder, if it moved since training."),
    protocol: Optional[str] = typer.Option(
        None,
        "--protocol",
        help="candidates (the split's fixed lists), full_sort (every item, training items masked) or auto "
        "(lists when the split has them). Default: the run's eval.protocol.",
    ),
    device: str = typer.Option(
        "auto", "--device", help="Where to score: auto (CUDA when torch sees a GPU, else CPU), cpu, cuda or cuda:N."
    ),
) -> None:
    from lsec.errors import LsecError
    from lsec.evaluate.protocols import evaluate_run, format_report, scored_rows
    from lsec.train.runs import load_run, write_json

    if split not in ("valid", "test"):
        raise LsecError(f"--split must be 'valid' or 'test'. Got {split!r} instead.")
    if protocol is not None and protocol not in ("auto", "candidates", "full_sort"):
        raise LsecError(f"--protocol must be auto, candidates or full_sort. Got {protocol!r} instead.")
    loaded = load_run(run, dataset=None if data is None else str(data), device=device)
    results, scores = evaluate_run(loaded, split, tasks=task or None, protocol=protocol)
    (run / "results").mkdir(exist_ok=True)
    write_json(run / "results" / f"{split}.json", results)
    if scores_out is not None:
        for name, task_scores in scores.items():
            path = scores_out
            if len(scores) > 1:
                path = scores_out.with_name(f"{scores_out.stem}.{name}{scores_out.suffix or '.parquet'}")
            path.parent.mkdir(parents=True, exist_ok=True)
            if results.get("engine") == "gtr":
                from lsec.train.gtr_runs import gtr_scored_rows

                gtr_scored_rows(loaded, name, split, task_scores).write_parquet(path)
            else:
                scored_rows(loaded, name, split, task_scores).write_parquet(path)
    if as_json:
        typer.echo(json.dumps(results, indent=2))
        return
    if results.get("engine") == "temporal":
        from lsec.train.temporal_runs import format_temporal_report

        typer.echo(f"{loaded.config.model.name} | links and tiers | {split} | chronological")
        typer.echo(format_temporal_report(results))
        return
    if results.get("engine") == "gtr":
        from lsec.train.gtr_runs import format_gtr_report

        days = results["days"]
        typer.echo(f"{loaded.config.model.name} | gift impressions | {split} | days {days} of the time split")
        typer.echo(format_gtr_report(results))
        return
    for name, report in results["tasks"].items():
        how = results["protocol"].get(name, "candidates")
        typer.echo(f"{loaded.config.model.name} | task {name} | {split} | {how.replace('_', ' ')}")
        typer.echo(format_report(report))
        ranking = report.get("ranking")
        if ranking:  # full sort: how the popularity prior and the cold fallback ranked (lsec.evaluate.full_sort)
            by = "popularity" if ranking["cold_fallback"] or ranking["popularity_prior"] else "the model"
            typer.echo(
                f"popularity prior kappa {ranking['popularity_prior']:g}; "
                f"{ranking['users_without_training_pair']} evaluated users without a training pair, ranked by {by}"
            )
