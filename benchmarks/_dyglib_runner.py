"""DyGLib's TGAT on an exported dataset: the child process of dyglib_side_by_side.py (runs in DyGLib's venv).

Not part of lsec and never imports it: it runs under ``/work/peers/dyglib-venv/bin/python`` with DyGLib's
checkout on ``sys.path`` and uses DyGLib's own classes unchanged (``models.TGAT.TGAT``,
``models.modules.MergeLayer``, ``utils.utils.get_neighbor_sampler`` / ``NegativeEdgeSampler`` /
``create_optimizer`` / ``set_random_seed``, ``utils.DataLoader.Data`` / ``get_idx_data_loader``,
``utils.metrics.get_link_prediction_metrics``). Nothing of DyGLib is copied here.

What differs from ``train_link_prediction.py`` and why:

- The files are read as ``utils.DataLoader.get_link_prediction_data`` reads them (``ml_<name>.csv`` with
  u, i, ts, label, idx; ``ml_<name>.npy`` edge and ``ml_<name>_node.npy`` node features, row 0 = padding), but
  (a) its padding of both feature arrays to 172 columns is skipped, so both sides have the same widths (the
  exported ones); (b) the folds are the parent's (lsec's chronological 70 / 15 / 15 split, given as one fold
  code per CSV row) instead of DyGLib's quantile split, and no 10 % of nodes are held out of training for its
  inductive setting, so both sides train on the same events (that loader also calls ``random.sample`` on a
  set, which Python >= 3.11 refuses).
- No validation pass after each epoch (the parent times training epochs only, on both sides).
- The test pairs (positive, random negative) come from the parent, so both sides are scored on the same pairs.

The training loop per batch is the one of ``train_link_prediction.py`` for TGAT: random negative
destinations from the training destinations (``NegativeEdgeSampler``), embeddings of (src, dst) and of
(src, negative dst) by ``compute_src_dst_node_temporal_embeddings``, ``MergeLayer`` + sigmoid, ``BCELoss``, the
per-batch train metrics, Adam. The neighbour sampler's ``get_historical_neighbors`` is wrapped on the instance
(not edited) to time its calls.

Output: a JSON file (seconds per epoch, sampler seconds per epoch, set-up and test seconds, peak resident
memory over training and test, versions) and an
``.npz`` with the test scores (``positive``, ``negative``; probabilities).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dyglib", type=Path, required=True, help="DyGLib checkout (has models/TGAT.py)")
    parser.add_argument("--root", type=Path, required=True, help="folder holding processed_data/<name>/")
    parser.add_argument("--name", required=True, help="dataset name (ml_<name>.csv)")
    parser.add_argument(
        "--folds", type=Path, required=True, help=".npy int8 fold per CSV row (0 train, 1 valid, 2 test)"
    )
    parser.add_argument(
        "--pairs", type=Path, required=True, help=".npz src, dst, neg, ts of the test pairs (DyGLib ids)"
    )
    parser.add_argument("--epochs", type=int, default=3, help="training epochs")
    parser.add_argument("--batch-size", type=int, default=200, help="events per batch")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    parser.add_argument("--num-neighbors", type=int, default=20, help="neighbours per node and layer")
    parser.add_argument("--num-layers", type=int, default=2, help="TGAT layers")
    parser.add_argument("--num-heads", type=int, default=2, help="attention heads")
    parser.add_argument("--time-dim", type=int, default=100, help="time encoding width")
    parser.add_argument("--dropout", type=float, default=0.1, help="dropout")
    parser.add_argument("--seed", type=int, default=0, help="random seed (set_random_seed)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--out", type=Path, required=True, help="JSON result file")
    parser.add_argument("--scores", type=Path, required=True, help=".npz of test scores")
    args = parser.parse_args()

    sys.path.insert(0, str(args.dyglib))
    import numpy as np
    import pandas as pd
    import torch
    from models.modules import MergeLayer
    from models.TGAT import TGAT
    from torch import nn
    from utils.DataLoader import Data, get_idx_data_loader
    from utils.metrics import get_link_prediction_metrics
    from utils.utils import NegativeEdgeSampler, create_optimizer, get_neighbor_sampler, set_random_seed

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    folder = args.root / "processed_data" / args.name
    graph_df = pd.read_csv(folder / f"ml_{args.name}.csv")
    edge_raw_features = np.load(folder / f"ml_{args.name}.npy")
    node_raw_features = np.load(folder / f"ml_{args.name}_node.npy")
    folds = np.load(args.folds)
    if len(folds) != len(graph_df):
        raise SystemExit(f"{args.folds}: {len(folds)} fold codes for {len(graph_df)} CSV rows")

    def subset(mask: np.ndarray) -> Data:
        return Data(
            src_node_ids=graph_df.u.values.astype(np.longlong)[mask],
            dst_node_ids=graph_df.i.values.astype(np.longlong)[mask],
            node_interact_times=graph_df.ts.values.astype(np.float64)[mask],
            edge_ids=graph_df.idx.values.astype(np.longlong)[mask],
            labels=graph_df.label.values[mask],
        )

    full_data = subset(np.ones(len(folds), bool))
    train_data = subset(folds == 0)
    train_sampler = get_neighbor_sampler(data=train_data, sample_neighbor_strategy="recent", seed=0)
    full_sampler = get_neighbor_sampler(data=full_data, sample_neighbor_strategy="recent", seed=1)
    sampler_seconds = [0.0]
    for sampler in (train_sampler, full_sampler):
        _time_calls(sampler, sampler_seconds)
    train_negatives = NegativeEdgeSampler(src_node_ids=train_data.src_node_ids, dst_node_ids=train_data.dst_node_ids)
    loader = get_idx_data_loader(
        indices_list=list(range(len(train_data.src_node_ids))), batch_size=args.batch_size, shuffle=False
    )
    setup_seconds = time.perf_counter() - started

    set_random_seed(seed=args.seed)
    backbone = TGAT(
        node_raw_features=node_raw_features,
        edge_raw_features=edge_raw_features,
        neighbor_sampler=train_sampler,
        time_feat_dim=args.time_dim,
        num_layers=args.num_layers,
        num_heads=args.num_heads,
        dropout=args.dropout,
        device="cpu",
    )
    width = node_raw_features.shape[1]
    predictor = MergeLayer(input_dim1=width, input_dim2=width, hidden_dim=width, output_dim=1)
    model = nn.Sequential(backbone, predictor)
    optimizer = create_optimizer(model=model, optimizer_name="Adam", learning_rate=args.lr, weight_decay=0.0)
    loss_func = nn.BCELoss()

    rss_start = _reset_peak_rss()
    epochs = []
    for epoch in range(args.epochs):
        model.train()
        model[0].set_neighbor_sampler(train_sampler)
        sampler_seconds[0] = 0.0
        losses = []
        epoch_start, cpu_start = time.perf_counter(), time.process_time()
        for indices in loader:
            indices = indices.numpy()
            src = train_data.src_node_ids[indices]
            dst = train_data.dst_node_ids[indices]
            times = train_data.node_interact_times[indices]
            _, neg_dst = train_negatives.sample(size=len(src))
            src_z, dst_z = model[0].compute_src_dst_node_temporal_embeddings(
                src_node_ids=src, dst_node_ids=dst, node_interact_times=times, num_neighbors=args.num_neighbors
            )
            neg_src_z, neg_dst_z = model[0].compute_src_dst_node_temporal_embeddings(
                src_node_ids=src, dst_node_ids=neg_dst, node_interact_times=times, num_neighbors=args.num_neighbors
            )
            positive = model[1](input_1=src_z, input_2=dst_z).squeeze(dim=-1).sigmoid()
            negative = model[1](input_1=neg_src_z, input_2=neg_dst_z).squeeze(dim=-1).sigmoid()
            predicts = torch.cat([positive, negative], dim=0)
            labels = torch.cat([torch.ones_like(positive), torch.zeros_like(negative)], dim=0)
            loss = loss_func(input=predicts, target=labels)
            losses.append(loss.item())
            get_link_prediction_metrics(predicts=predicts, labels=labels)  # as the original loop does per batch
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        seconds, cpu_seconds = time.perf_counter() - epoch_start, time.process_time() - cpu_start
        epochs.append(
            {
                "epoch": epoch + 1,
                "seconds": round(seconds, 3),
                "cpu_seconds": round(cpu_seconds, 3),
                "sampler_seconds": round(sampler_seconds[0], 3),
                "train_loss": float(np.mean(losses)),
                "batches": len(losses),
            }
        )
        print(f"dyglib epoch {epoch + 1}: {seconds:.1f} s, sampler {sampler_seconds[0]:.1f} s", flush=True)

    pairs = np.load(args.pairs)
    model.eval()
    model[0].set_neighbor_sampler(full_sampler)
    sampler_seconds[0] = 0.0
    test_start = time.perf_counter()
    pos_scores, neg_scores = [], []
    with torch.no_grad():
        for start in range(0, len(pairs["src"]), args.batch_size):
            part = slice(start, start + args.batch_size)
            src, dst, neg, times = pairs["src"][part], pairs["dst"][part], pairs["neg"][part], pairs["ts"][part]
            src_z, dst_z = model[0].compute_src_dst_node_temporal_embeddings(
                src_node_ids=src, dst_node_ids=dst, node_interact_times=times, num_neighbors=args.num_neighbors
            )
            neg_src_z, neg_dst_z = model[0].compute_src_dst_node_temporal_embeddings(
                src_node_ids=src, dst_node_ids=neg, node_interact_times=times, num_neighbors=args.num_neighbors
            )
            pos_scores.append(model[1](input_1=src_z, input_2=dst_z).squeeze(dim=-1).sigmoid().numpy())
            neg_scores.append(model[1](input_1=neg_src_z, input_2=neg_dst_z).squeeze(dim=-1).sigmoid().numpy())
    test_seconds = time.perf_counter() - test_start
    np.savez(args.scores, positive=np.concatenate(pos_scores), negative=np.concatenate(neg_scores))
    result = {
        "setup_seconds": round(setup_seconds, 3),
        "epochs": epochs,
        "test_seconds": round(test_seconds, 3),
        "test_sampler_seconds": round(sampler_seconds[0], 3),
        "memory_mib": {
            "rss_at_start": rss_start,
            "peak_rss": _status_mib("VmHWM"),
            "what": "process VmHWM over training and test, reset by /proc/self/clear_refs after set-up",
        },
        "parameters": int(sum(p.numel() for p in model.parameters() if p.requires_grad)),
        "widths": {"node": int(width), "edge": int(edge_raw_features.shape[1]), "time": args.time_dim},
        "train_events": int(len(train_data.src_node_ids)),
        "versions": {"torch": torch.__version__, "numpy": np.__version__, "pandas": pd.__version__},
        "threads": torch.get_num_threads(),
    }
    args.out.write_text(json.dumps(result, indent=1))


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def _reset_peak_rss() -> float:
    """Reset this process's peak resident set (Linux ``clear_refs`` 5); the current RSS in MiB."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return _status_mib("VmRSS")


def _time_calls(sampler: object, clock: list[float]) -> None:
    """Accumulate the wall seconds of ``sampler.get_historical_neighbors`` calls into ``clock[0]``."""
    inner = sampler.get_historical_neighbors  # type: ignore[attr-defined]

    def timed(*args: object, **kwargs: object) -> object:
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            clock[0] += time.perf_counter() - start

    sampler.get_historical_neighbors = timed  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
