"""``lsec mmbee ...``: MMBee's offline jobs (graph-guided interest expansion).

Library imports happen inside the commands so that ``lsec --help`` stays fast.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    import torch

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
    from lsec.data.store import create_folder
    from lsec.errors import LsecError
    from lsec.train.loop import resolve_device

    started = time.perf_counter()
    if out.exists() and not overwrite and (not out.is_dir() or any(out.iterdir())):
        raise LsecError(f"{out}: exists and is not empty (choose another --out or pass --overwrite).")
    if until not in ("train", "all"):
        raise LsecError(f"--until must be train or all. Got {until!r} instead.")
    torch_device = resolve_device(device)
    created = not out.exists()
    create_folder(out)  # --out is checked before the input is read; left empty until the store replaces it
    try:
        _build(out, data, k, epochs, seed, dim, tau, nce_weight, negatives, batch_size, lr, max_users_per_streamer,
               torch_device, started, until)  # fmt: skip
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise


def _build(
    out: Path, data: Path, k: int, epochs: int, seed: int, dim: int, tau: float, nce_weight: float, negatives: int,
    batch_size: int, lr: float, max_users_per_streamer: int, torch_device: torch.device, started: float,
    until: str = "train",
) -> None:  # fmt: skip
    from lsec.data.store import load
    from lsec.errors import LsecDataError
    from lsec.graph.swing import gift_graph, swing
    from lsec.serve.expansion_store import build_store, expand
    from lsec.train.gie import pretrain_graphcl

    dataset = load(data)
    relation = ("user", "gift", "streamer")
    if relation not in dataset.edges:
        have = ", ".join("__".join(r) for r in dataset.edges) or "none"
        raise LsecDataError(
            "no gift edges", file=data, expected="a user -> streamer 'gift' relation (lsec data simulate --preset "
            "mmbee writes one)", found=f"relations: {have}",
        )  # fmt: skip
    edges = dataset.edges[relation]
    if until == "train":
        edges = _training_gifts(data, dataset, edges)
    seconds: dict[str, float] = {}
    tick = time.perf_counter()
    graph = gift_graph(
        src=edges.src, dst=edges.dst, num_users=dataset.num_users, num_streamers=dataset.num_streamers,
        weight=edges.weight,
    )  # fmt: skip
    similar = swing(graph=graph, k=k, mode="bounded", max_users_per_streamer=max_users_per_streamer, seed=seed)
    seconds["swing"] = time.perf_counter() - tick
    tick = time.perf_counter()
    neighbours = expand(graph=graph, swing=similar, k=k)
    seconds["metapaths"] = time.perf_counter() - tick
    tick = time.perf_counter()
    model = pretrain_graphcl(
        user_positives=neighbours["u2a2u"].indices,
        streamer_positives=neighbours["a2u2a"].indices,
        num_users=graph.num_users,
        num_streamers=graph.num_streamers,
        embedding_dim=dim,
        epochs=epochs,
        tau=tau,
        nce_weight=nce_weight,
        num_negatives=negatives,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        device=torch_device,
    )
    seconds["graphcl"] = time.perf_counter() - tick
    tick = time.perf_counter()
    provenance = {
        "dataset": str(data.resolve()),
        "dataset_name": dataset.name,
        "swing": {"mode": "bounded", "max_users_per_streamer": max_users_per_streamer, "alpha": 1.0, "k": k},
        "graphcl": {
            "epochs": epochs, "seed": seed, "embedding_dim": dim, "tau": tau, "nce_weight": nce_weight,
            "num_negatives": negatives, "batch_size": batch_size, "lr": lr,
            "positives": {"user": "u2a2u", "streamer": "a2u2a"},
        },
    }  # fmt: skip
    store = build_store(
        out,
        graph=graph,
        swing=similar,
        user_embeddings=model.user.weight.detach().cpu().numpy(),
        streamer_embeddings=model.streamer.weight.detach().cpu().numpy(),
        k=k,
        neighbours=neighbours,
        provenance=provenance,
        overwrite=True,  # the folder is empty, or --overwrite was given
    )
    seconds["write"] = time.perf_counter() - tick
    size = sum(p.stat().st_size for p in store.path.rglob("*") if p.is_file())
    typer.echo(
        f"wrote {store.path}: {store.num_users:,} users, {store.num_streamers:,} streamers, "
        f"{graph.num_edges:,} gift pairs, k={k}, dim={dim}, {len(store.arrays)} arrays ({size / 2**20:.1f} MiB)"
    )
    for name, entry in store.manifest["metapaths"].items():
        rows = store.num_users if entry["source"] == "user" else store.num_streamers
        typer.echo(
            f"  {name:<8} {entry['source']:>8} -> {entry['target']:<8} {entry['neighbours']:>10,} neighbours, "
            f"{rows - entry['empty_rows']:,} of {rows:,} rows non-empty"
        )
    timing = ", ".join(f"{name} {value:.1f} s" for name, value in seconds.items())
    typer.echo(f"done in {time.perf_counter() - started:.1f} s ({timing}; GraphCL {epochs} epochs on {torch_device})")


def _training_gifts(data: Path, dataset: Any, edges: Any) -> Any:
    """The gift edges of the training days of the split ``lsec train`` makes of the impressions (gtr engine)."""
    import numpy as np

    from lsec.data.events import read_events
    from lsec.train.gtr import DAY, time_folds

    ts = read_events(data, "impressions", columns=["ts"])["ts"]
    _, days = time_folds(np.asarray(ts), dataset.time_origin)
    first = (int(np.min(ts)) - int(dataset.time_origin)) // DAY
    end = int(dataset.time_origin) + (first + days["train"][1]) * DAY  # first second after the training days
    keep = np.asarray(edges.ts) < end
    typer.echo(f"gifts of the training days only (--until train): {int(keep.sum()):,} of {len(keep):,} gift edges")
    return edges.select(keep)
