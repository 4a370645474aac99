"""The propagation part of LSEC-LightGCN on lsec-small (scale 1.0): before vs after the fast engine.

    .venv/bin/python benchmarks/propagation_lsec.py [--scale 1.0] [--repeats 5] [--model lsec-lightgcn]

Simulates lsec-small, builds the three training-free adjacencies (buy, follow, sell, all edges), and times
one full-graph ``encode`` of the model (what every training step does) forward + backward, with

- ``before``: the propagation as it was in the foundation (int64 CSR ``A @ x`` with autograd's generic
  sparse backward, which transposes ``A`` at every call), patched into the conv modules for the run;
- ``after``: :func:`lsec.graph.adjacency.propagate` as it is now.

Rounds alternate the two (contention hits both alike); medians of wall and process-CPU seconds and the
ratio. Also times the three graphs' propagation alone (one layer, d = 64). This measures the propagation
part of an epoch, not a whole training epoch (see benchmarks/README.md for why).
Results: benchmarks/results/propagation_lsec.json.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import lsec.nn.conv.gcn as conv_gcn
import lsec.nn.conv.lightgcn as conv_lightgcn
from lsec.data.simulate.lsec import simulate_lsec
from lsec.graph.adjacency import BipartiteAdjacency, bipartite_adjacency, propagate
from lsec.nn.models.registry import build_model

OLD_MATRICES: dict[int, torch.Tensor] = {}


def old_propagate(adjacency: BipartiteAdjacency, x: torch.Tensor) -> torch.Tensor:
    """The foundation's propagate: int64 CSR product, autograd's generic backward."""
    key = id(adjacency.matrix)
    if key not in OLD_MATRICES:
        m = adjacency.matrix
        OLD_MATRICES[key] = torch.sparse_csr_tensor(
            m.crow_indices().long(), m.col_indices().long(), m.values(), m.shape
        )
    return OLD_MATRICES[key] @ x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", default="lsec-lightgcn")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "propagation_lsec.json"))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    start = time.perf_counter()
    graph = simulate_lsec(preset="lsec-small", scale=args.scale, seed=0)
    simulate_s = time.perf_counter() - start
    graphs = {}
    for name in ("buy", "follow", "sell"):
        (src_type, _, dst_type), table = next((k, v) for k, v in graph.edges.items() if k[1] == name)
        graphs[name] = bipartite_adjacency(
            table.src, table.dst, graph.num_nodes[src_type], graph.num_nodes[dst_type], self_loops=False
        )
    sizes = {name: {"nodes": a.num_nodes, "nnz": a.num_edges} for name, a in graphs.items()}
    torch.manual_seed(0)
    model = build_model(
        args.model,
        num_users=graph.num_nodes["user"],
        num_items=graph.num_nodes["item"],
        num_streamers=graph.num_nodes["streamer"],
    )

    def encode_step() -> None:
        enc = model.encode(graphs)
        loss = sum((v * v).mean() for v in enc.values())
        model.zero_grad(set_to_none=True)
        loss.backward()

    def layer_step(which) -> None:
        for adjacency in graphs.values():
            x = torch.randn(adjacency.num_nodes, 64, requires_grad=True)
            which(adjacency, x).sum().backward()

    variants = {"before": old_propagate, "after": propagate}
    times = {f"{kind}_{v}": {"wall": [], "cpu": []} for kind in ("encode", "layer") for v in variants}
    for _ in range(args.repeats):
        for label, fn in variants.items():
            conv_lightgcn.propagate = fn  # type: ignore[assignment]
            conv_gcn.propagate = fn  # type: ignore[assignment]
            for kind, step in (("encode", encode_step), ("layer", lambda f=fn: layer_step(f))):
                wall, cpu = time.perf_counter(), time.process_time()
                step()
                times[f"{kind}_{label}"]["wall"].append(time.perf_counter() - wall)
                times[f"{kind}_{label}"]["cpu"].append(time.process_time() - cpu)
    conv_lightgcn.propagate = propagate  # type: ignore[assignment]
    conv_gcn.propagate = propagate  # type: ignore[assignment]
    result: dict[str, object] = {
        "scale": args.scale,
        "model": args.model,
        "graphs": sizes,
        "simulate_s": simulate_s,
        "threads": torch.get_num_threads(),
    }
    for key, t in times.items():
        result[key] = {"median_wall_s": float(np.median(t["wall"])), "median_cpu_s": float(np.median(t["cpu"]))}
    for kind in ("encode", "layer"):
        b, a = result[f"{kind}_before"], result[f"{kind}_after"]
        result[f"{kind}_speedup_wall"] = b["median_wall_s"] / a["median_wall_s"]  # type: ignore[index]
        result[f"{kind}_speedup_cpu"] = b["median_cpu_s"] / a["median_cpu_s"]  # type: ignore[index]
    print(json.dumps(result))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
