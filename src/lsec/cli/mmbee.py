"""``lsec mmbee ...``: MMBee's offline jobs (graph-guided interest expansion).

Library imports happen inside the commands so that ``lsec --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer

mmbee_app = typer.Typer(help="MMBee gift prediction: offline graph jobs (expansion store).", no_args_is_help=True)

_BUILD_HELP = """Build MMBee's expansion store from a dataset's user -> streamer gift edges.

Steps: the gift graph (weight = amount), Swing streamer-streamer neighbours (eq. 8, bounded to --max-users-per-streamer users per streamer), the five metapath neighbourhoods u2a2u, u2a2u2a, u2a2a, a2a, a2u2a (k each), GraphCL pre-training of user and streamer embeddings (Algorithm 1: u2a2u / a2u2a positives, --negatives random negatives, cross-entropy + --nce-weight x InfoNCE at temperature --tau, --epochs epochs, seeded), then the store: per user and streamer the k neighbour ids of each metapath (-1 padded) and their mean-pooled embeddings, as memory-mapped .npy files with a manifest.json (counts, checksums). Ids are the dataset's internal indices.

Example: lsec mmbee build-store --data data/mmbee-0.05 --out stores/mmbee-0.05 --k 20 --epochs 10 --seed 0"""


def register(app: typer.Typer) -> None:
    mmbee_app.command("build-store", help=_BUILD_HELP)(build_store_command)
    app.add_typer(mmbee_app, name="mmbee")


def build_store_command(
    data: Path = typer.Option(..., "--data", help="Dataset folder with a user -> streamer 'gift' relation."),
    out: Path = typer.Option(..., "--out", "-o", help="Store folder to create."),
    k: int = typer.Option(20, "--k", min=1, help="Neighbours kept per metapath (and Swing neighbours per streamer)."),
    epochs: int = typer.Option(10, "--epochs", min=0, help="GraphCL pre-training epochs (0: random tables)."),
    seed: int = typer.Option(0, "--seed", help="Seeds Swing's user sampling and the pre-training."),
    dim: int = typer.Option(64, "--dim", min=1, help="Embedding width d."),
    tau: float = typer.Option(0.1, "--tau", min=1e-6, help="InfoNCE temperature."),
    nce_weight: float = typer.Option(1.0, "--nce-weight", min=0.0, help="Weight lambda of the InfoNCE loss."),
    negatives: int = typer.Option(64, "--negatives", min=1, help="Random negatives per anchor."),
    batch_size: int = typer.Option(1024, "--batch-size", min=1, help="Anchors per optimizer step."),
    lr: float = typer.Option(0.01, "--lr", min=0.0, help="Adam learning rate."),
    max_users_per_streamer: int = typer.Option(
        100, "--max-users-per-streamer", min=1, help="Swing: users sampled per streamer (bounded mode)."
    ),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when present), cpu, cuda or cuda:N."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing store folder."),
    until: str = typer.Option(
        "train",
        "--until",
        help="Which gifts the graph may see: train (those of the training days of `lsec train`'s split of the "
        "impressions, so validation and test gifts never leak into h_u / h_a) or all (every gift: a store to "
        "serve with after training).",
    ),
) -> None:
    from lsec.serve.store_build import StoreOptions, build_dataset_store
    from lsec.train.loop import resolve_device

    options = StoreOptions(
        k=k, epochs=epochs, seed=seed, dim=dim, tau=tau, nce_weight=nce_weight, negatives=negatives,
        batch_size=batch_size, lr=lr, max_users_per_streamer=max_users_per_streamer, until=until,
    )  # fmt: skip
    build_dataset_store(data, out, options, device=resolve_device(device), overwrite=overwrite, echo=typer.echo)
