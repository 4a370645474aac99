"""``lsec experiment``: reproduce the paper's tables (Table 3 models, Table 5 ablation) over several seeds."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command(
        "experiment",
        help=(
            "Train and test every row of a paper table for seeds 0..R-1, then write OUT/<table>.md, .csv and .json "
            "(mean and std over seeds; raw per-run metrics). Finished runs are reused, so re-running continues.\n\n"
            "TABLE: table3 (NCF, GCN-RS, LightGCN, GAT-RS, LSEC-GCN, LSEC-LightGCN, LSEC-GAT) or table5 "
            "(LSEC-GCN ablation; rows are labelled 'relations / tasks', 0 buy, 1 follow, 2 sell) or dmgnn (DM-GNN, "
            "DM-GNN without decay, link task alone, tier task alone, TGAT, static GNN, plus the popularity / "
            "persistence baselines; link AUC / AP with random and historical negatives, tier macro-F1 / accuracy, "
            "transductive and inductive apart; a dataset without consumption takes --row 'link task alone' --row "
            "TGAT --row 'static GNN' model.hparams.tasks=[link]).\n\n"
            "Example: lsec experiment table3 --data data/lsec-small --repeats 5 --out experiments/t3 train.epochs=30"
        ),
    )(experiment)


def experiment(
    table: str = typer.Argument(..., help="table3, table5 or dmgnn."),
    overrides: Optional[list[str]] = typer.Argument(None, help="Dotted overrides for every run, e.g. train.epochs=30."),
    data: Path = typer.Option(..., "--data", "-d", help="Dataset folder with a split (lsec data split)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (tables + one run folder per row and seed)."),
    repeats: int = typer.Option(5, "--repeats", "-r", help="Seeds 0..R-1 per row."),
    rows: Optional[list[str]] = typer.Option(None, "--row", help="Only these rows (label or recipe name); repeatable."),
    configs: Optional[Path] = typer.Option(None, "--configs", help="Folder of the YAML recipes (default: configs/)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-epoch progress bars."),
    no_train: bool = typer.Option(False, "--no-train", help="Train nothing: tabulate the finished runs only."),
) -> None:
    from lsec.evaluate.experiments import run_table, to_markdown

    summary = run_table(
        table,
        data,
        out,
        repeats=repeats,
        configs_dir=configs,
        overrides=list(overrides or []),
        rows=rows or None,
        show_progress=not quiet,
        echo=lambda message: typer.echo(message, err=True),
        train_missing=not no_train,
    )
    typer.echo(to_markdown(summary))
