"""``lsec report RUN [RUN ...]``: learning curves and metric tables of training runs in one HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def report(
    runs: list[Path] = typer.Argument(..., help="One or several run folders written by `lsec train`."),
    out: Path = typer.Option(Path("report.html"), "--out", "-o", help="HTML report to write."),
    null: Optional[Path] = typer.Option(
        None,
        "--null",
        help="A DM-GNN run trained on the null-control dataset (lsec data simulate --null social): its influence "
        "figure is drawn next to each temporal run's.",
    ),
) -> None:
    """Learning curves (log.jsonl) and metric tables (results/*.json, run.json) of one or several runs side by side."""
    from lsec.analysis.report import write_runs_report

    html = write_runs_report(list(runs), out, null_run=null)
    typer.echo(f"report: {html}")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
