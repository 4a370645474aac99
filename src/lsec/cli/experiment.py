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
            "TGAT --row 'static GNN' model.hparams.tasks=[link]) or mmbee-table1 (MMoE and SIM, each alone, +MFQ, +GIE, +MFQ+GIE, "
            "plus popularity; gift AUC / UAUC / GAUC on the test day's impressions) or mmbee-table4 (SIM+GIE with "
            "each expansion removed, Θ(-) random tables, h_g(-) no graph feature). The MMBee tables build each "
            "seed's expansion store from the training days' gifts into OUT/stores; --control DATA runs the table "
            "on a control dataset too (e.g. --null graph) into OUT/control and writes OUT/<table>-control.md, the "
            "gaps side by side.\n\n"
            "Example: lsec experiment table3 --data data/lsec-small --repeats 5 --out experiments/t3 train.epochs=30"
        ),
    )(experiment)


def experiment(
    table: str = typer.Argument(..., help="table3, table5, dmgnn, mmbee-table1 or mmbee-table4."),
    overrides: Optional[list[str]] = typer.Argument(None, help="Dotted overrides for every run, e.g. train.epochs=30."),
    data: Path = typer.Option(..., "--data", "-d", help="Dataset folder with a split (lsec data split)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (tables + one run folder per row and seed)."),
    repeats: int = typer.Option(5, "--repeats", "-r", help="Seeds 0..R-1 per row."),
    rows: Optional[list[str]] = typer.Option(None, "--row", help="Only these rows (label or recipe name); repeatable."),
    configs: Optional[Path] = typer.Option(None, "--configs", help="Folder of the YAML recipes (default: configs/)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-epoch progress bars."),
    no_train: bool = typer.Option(False, "--no-train", help="Train nothing: tabulate the finished runs only."),
    control: Optional[Path] = typer.Option(
        None,
        "--control",
        help="A control dataset (e.g. simulated with --null graph): the same table on it, in OUT/control.",
    ),
    store_k: int = typer.Option(20, "--store-k", min=1, help="MMBee tables: neighbours per metapath in each store."),
    store_epochs: int = typer.Option(10, "--store-epochs", min=0, help="MMBee tables: GraphCL pre-training epochs."),
    store_dim: int = typer.Option(64, "--store-dim", min=1, help="MMBee tables: GraphCL embedding width."),
) -> None:
    from lsec.evaluate.experiments import run_table, to_markdown

    def run(dataset: Path, folder: Path) -> dict:
        return run_table(
            table,
            dataset,
            folder,
            repeats=repeats,
            configs_dir=configs,
            overrides=list(overrides or []),
            rows=rows or None,
            show_progress=not quiet,
            echo=lambda message: typer.echo(message, err=True),
            train_missing=not no_train,
            store_options={"k": store_k, "epochs": store_epochs, "dim": store_dim},
        )

    summary = run(data, out)
    typer.echo(to_markdown(summary))
    if control is not None:
        from lsec.evaluate.mmbee_tables import beside_control

        control_summary = run(control, out / "control")
        typer.echo(to_markdown(control_summary).replace(f"### {table}", f"### {table} on the control", 1))
        side_by_side = beside_control(summary, control_summary)
        (out / f"{table}-control.md").write_text(side_by_side)
        typer.echo(side_by_side)
