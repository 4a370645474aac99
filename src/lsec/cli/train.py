"""``lsec train``: train a model from a YAML recipe into a run folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command(
        "train",
        help=(
            "Train a model from a recipe into a run folder (config.yaml, run.json, log.jsonl, checkpoints/).\n\n"
            "Example: lsec train --config configs/lsec-gcn.yaml --data data/lsec-small --out runs/lsec-gcn "
            "train.lr=1e-3 train.epochs=20\n\n"
            "train.engine picks the objective of the one training loop: lsec (multi-task, candidate lists), bpr "
            "(large-batch BPR with full-sort validation: configs/lightgcn-dot.yaml, mf-bpr.yaml) or closed_form "
            "(configs/gf-cf.yaml, no training). Splits without a validation fold: the bpr and closed_form engines "
            "hold out 10% of each user's training pairs (train.valid_fraction, seeded), or train a fixed budget "
            "with train.validate=false.\n\n"
            "Data-parallel: torchrun --nproc-per-node 2 -m lsec train ... train.distributed=ddp (gloo on CPU, nccl "
            "on CUDA; rank 0 writes the run folder; --resume continues under torchrun)."
        ),
    )(train)


def train(
    overrides: Optional[list[str]] = typer.Argument(
        None, help="Dotted overrides, e.g. train.lr=1e-3 model.hparams.embedding_dim=64."
    ),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML recipe (configs/<model>.yaml)."),
    data: Optional[Path] = typer.Option(None, "--data", "-d", help="Dataset folder (overrides data.dataset)."),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder to create (or to continue with --resume)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from checkpoints/last.pt."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    from lsec.config import load_config
    from lsec.train.trainer import train_run

    extra = list(overrides or [])
    if data is not None:
        extra.append(f"data.dataset={data}")
    if resume and config is None and (out / "config.yaml").is_file():
        cfg = load_config(out / "config.yaml")  # resuming: the run's own resolved config
    else:
        cfg = load_config(config, extra)
    result = train_run(cfg, out, resume=resume, show_progress=not quiet, echo=lambda line: typer.echo(line, err=True))
    if os.environ.get("RANK", "0") != "0" and cfg.train.distributed == "ddp":
        return  # torchrun ranks: rank 0 reports
    if not cfg.train.validate or cfg.train.engine == "closed_form" and not result.best_metrics:
        typer.echo(f"{cfg.model.name}: trained {result.epochs_run} epochs ({result.steps} steps); run folder {out}")
        return
    how = "early stop" if result.stopped_early else "max epochs"
    typer.echo(
        f"{cfg.model.name}: best valid {cfg.train.metric} = {result.best_metric:.4f} at epoch {result.best_epoch} "
        f"({result.epochs_run} epochs, {result.steps} steps, {how}); run folder {out}"
    )
