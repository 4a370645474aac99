"""``lsec export RUN --out ARTIFACT``: write a self-contained serving artifact from a trained run."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command(
        "export",
        help=(
            "Export a trained run as a serving artifact: weights and precomputed tables as .npy, ids, seen "
            "items, popularity, fold-in maps and a JSON manifest. Loading it needs numpy only. A GTR run (MMBee "
            "gift model) exports weights as .npy, id maps, streamer queries, the gift log, stored segments and "
            "the expansion store of its fine-tuned tables, for POST /v1/gifts/rank.\n\n"
            "Example: lsec export runs/lsec-gcn --out artifacts/lsec-gcn"
        ),
    )(export)


def export(
    run: Path = typer.Argument(..., help="Run folder written by `lsec train`."),
    out: Path = typer.Option(..., "--out", "-o", help="Artifact folder to create."),
    checkpoint: str = typer.Option("best", "--checkpoint", help="'best' (default) or 'last' weights."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing artifact folder."),
) -> None:
    from lsec.errors import LsecError
    from lsec.serve.artifact import artifact_from_run, save_artifact

    if checkpoint not in ("best", "last"):
        raise LsecError(f"--checkpoint: expected 'best' or 'last', found {checkpoint!r}.")
    from lsec.train.runs import read_run_info

    if read_run_info(run).get("engine") == "gtr":  # MMBee gift model: a gift ranking artifact (lsec.serve.gifts)
        from lsec.serve.gifts import gift_artifact_from_run, load_gift_artifact

        root = gift_artifact_from_run(run, out, checkpoint=checkpoint, overwrite=overwrite)
        gifts = load_gift_artifact(root)
        size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        store = "with its expansion store" if gifts.store is not None else "no expansion store"
        typer.echo(f"exported gift model {gifts.model} ({store}) to {root} ({size / 2**20:.1f} MiB)")
        return
    artifact = artifact_from_run(run, checkpoint=checkpoint)
    root = save_artifact(artifact, out, overwrite=overwrite)
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    nodes = ", ".join(f"{artifact.num_nodes(t)} {t}s" for t in artifact.ids)
    typer.echo(
        f"exported {artifact.model} (tasks: {', '.join(artifact.tasks)}; {nodes}) to {root} ({size / 2**20:.1f} MiB)"
    )
