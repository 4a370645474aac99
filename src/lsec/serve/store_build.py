"""The expansion store of a gifting dataset, end to end: the offline job behind ``lsec mmbee build-store``.

Steps: the dataset's user -> streamer gift edges (those of the training days of the GTR time split with
``until="train"``, every gift with ``until="all"``), the gift graph (weight = amount), bounded Swing (eq. 8), the
five metapath neighbourhoods, GraphCL pre-training (Algorithm 1: u2a2u / a2u2a positives), then the store
(:func:`lsec.serve.expansion_store.build_store`). One function, :func:`build_dataset_store`, called by the CLI
command and by the MMBee experiment tables (:mod:`lsec.evaluate.mmbee_tables`), so both build the same store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lsec.data.expansion_store import ExpansionStore
from lsec.errors import LsecDataError, LsecError

UNTIL = ("train", "all")


@dataclass(frozen=True)
class StoreOptions:
    """Options of :func:`build_dataset_store` (the CLI's ``--k`` ... ``--until``; defaults are the CLI's)."""

    k: int = 20
    epochs: int = 10
    seed: int = 0
    dim: int = 64
    tau: float = 0.1
    nce_weight: float = 1.0
    negatives: int = 64
    batch_size: int = 1024
    lr: float = 0.01
    max_users_per_streamer: int = 100
    until: str = "train"


def build_dataset_store(
    data: str | Path,
    out: str | Path,
    options: StoreOptions,
    *,
    device: Any = "cpu",
    overwrite: bool = False,
    echo: Callable[[str], None] = lambda _message: None,
) -> ExpansionStore:
    """Build the expansion store of dataset ``data`` into ``out`` (module docstring) and open it.

    ``out`` must be new or empty unless ``overwrite``; it is checked before the dataset is read, and a folder
    created here is removed again when the build fails. ``device``: a ``torch.device`` or its name (GraphCL).
    ``echo`` receives the report lines (what was kept, sizes, timings).
    """
    from lsec.data.store import create_folder

    started = time.perf_counter()
    root = Path(out)
    if root.exists() and not overwrite and (not root.is_dir() or any(root.iterdir())):
        raise LsecError(f"{root}: exists and is not empty (choose another --out or pass --overwrite).")
    if options.until not in UNTIL:
        raise LsecError(f"--until must be train or all. Got {options.until!r} instead.")
    created = not root.exists()
    create_folder(root)  # left empty until the store replaces it
    try:
        return _build(Path(data), root, options, device, started, echo)
    except BaseException:
        if created and root.is_dir() and not any(root.iterdir()):
            root.rmdir()
        raise


def _build(
    data: Path, out: Path, o: StoreOptions, device: Any, started: float, echo: Callable[[str], None]
) -> ExpansionStore:
    import torch

    from lsec.data.store import load
    from lsec.graph.swing import gift_graph, swing
    from lsec.serve.expansion_store import build_store, expand
    from lsec.train.gie import pretrain_graphcl

    torch_device = device if isinstance(device, torch.device) else torch.device(str(device))
    dataset = load(data)
    relation = ("user", "gift", "streamer")
    if relation not in dataset.edges:
        have = ", ".join("__".join(r) for r in dataset.edges) or "none"
        raise LsecDataError(
            "no gift edges", file=data, expected="a user -> streamer 'gift' relation (lsec data simulate --preset "
            "mmbee writes one)", found=f"relations: {have}",
        )  # fmt: skip
    edges = dataset.edges[relation]
    if o.until == "train":
        edges = training_gifts(data, dataset, edges, echo)
    seconds: dict[str, float] = {}
    tick = time.perf_counter()
    graph = gift_graph(
        src=edges.src, dst=edges.dst, num_users=dataset.num_users, num_streamers=dataset.num_streamers,
        weight=edges.weight,
    )  # fmt: skip
    similar = swing(graph=graph, k=o.k, mode="bounded", max_users_per_streamer=o.max_users_per_streamer, seed=o.seed)
    seconds["swing"] = time.perf_counter() - tick
    tick = time.perf_counter()
    neighbours = expand(graph=graph, swing=similar, k=o.k)
    seconds["metapaths"] = time.perf_counter() - tick
    tick = time.perf_counter()
    model = pretrain_graphcl(
        user_positives=neighbours["u2a2u"].indices,
        streamer_positives=neighbours["a2u2a"].indices,
        num_users=graph.num_users,
        num_streamers=graph.num_streamers,
        embedding_dim=o.dim,
        epochs=o.epochs,
        tau=o.tau,
        nce_weight=o.nce_weight,
        num_negatives=o.negatives,
        batch_size=o.batch_size,
        lr=o.lr,
        seed=o.seed,
        device=torch_device,
    )
    seconds["graphcl"] = time.perf_counter() - tick
    tick = time.perf_counter()
    provenance = {
        "dataset": str(data.resolve()),
        "dataset_name": dataset.name,
        "swing": {"mode": "bounded", "max_users_per_streamer": o.max_users_per_streamer, "alpha": 1.0, "k": o.k},
        "graphcl": {
            "epochs": o.epochs, "seed": o.seed, "embedding_dim": o.dim, "tau": o.tau, "nce_weight": o.nce_weight,
            "num_negatives": o.negatives, "batch_size": o.batch_size, "lr": o.lr,
            "positives": {"user": "u2a2u", "streamer": "a2u2a"},
        },
    }  # fmt: skip
    store = build_store(
        out,
        graph=graph,
        swing=similar,
        user_embeddings=model.user.weight.detach().cpu().numpy(),
        streamer_embeddings=model.streamer.weight.detach().cpu().numpy(),
        k=o.k,
        neighbours=neighbours,
        provenance=provenance,
        overwrite=True,  # the folder is empty, or overwrite was asked for
    )
    seconds["write"] = time.perf_counter() - tick
    size = sum(p.stat().st_size for p in store.path.rglob("*") if p.is_file())
    echo(
        f"wrote {store.path}: {store.num_users:,} users, {store.num_streamers:,} streamers, "
        f"{graph.num_edges:,} gift pairs, k={o.k}, dim={o.dim}, {len(store.arrays)} arrays ({size / 2**20:.1f} MiB)"
    )
    for name, entry in store.manifest["metapaths"].items():
        rows = store.num_users if entry["source"] == "user" else store.num_streamers
        echo(
            f"  {name:<8} {entry['source']:>8} -> {entry['target']:<8} {entry['neighbours']:>10,} neighbours, "
            f"{rows - entry['empty_rows']:,} of {rows:,} rows non-empty"
        )
    timing = ", ".join(f"{name} {value:.1f} s" for name, value in seconds.items())
    echo(f"done in {time.perf_counter() - started:.1f} s ({timing}; GraphCL {o.epochs} epochs on {torch_device})")
    return store


def training_gifts(data: Path, dataset: Any, edges: Any, echo: Callable[[str], None] = lambda _m: None) -> Any:
    """The gift edges of the training days of the split ``lsec train`` makes of the impressions (gtr engine):
    those before :func:`lsec.train.gtr.training_end`, the same cut the held-out behaviour sequences use."""
    from lsec.data.events import read_events
    from lsec.train.gtr import training_end

    ts = read_events(data, "impressions", columns=["ts"])["ts"]
    end = training_end(np.asarray(ts), int(dataset.time_origin))
    keep = np.asarray(edges.ts) < end
    echo(f"gifts of the training days only (--until train): {int(keep.sum()):,} of {len(keep):,} gift edges")
    return edges.select(keep)
