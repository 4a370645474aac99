"""One LightGCN propagation step, forward + backward, on the Gowalla graph: ours vs PyG vs plain torch.

    .venv/bin/python benchmarks/propagation.py [--data-dir ../shared/data/gowalla] [--repeats 7] [--dim 64]

Methods (same normalised symmetric adjacency, N = 70,839 nodes, 1.62M stored entries, float32, d = 64):

- ``lsec``: :func:`lsec.graph.adjacency.propagate` (int32 CSR, MKL product, one-product custom backward);
- ``torch_csr_autograd``: ``A @ x`` on the int64 CSR tensor with autograd's generic backward (what the
  adjacency module did before this work);
- ``torch_sparse_mm_coo``: ``torch.sparse.mm(A_coo, x)``, the usual hand-written LightGCN;
- ``pyg_lgconv``: ``torch_geometric.nn.LGConv()(x, edge_index)`` (normalises on every call, message passing);
- ``pyg_lgconv_sparse``: ``LGConv(normalize=False)(x, A_t)`` with the pre-normalised sparse adjacency.

Each round runs every method once, in turn (so contention hits them alike); the figure is the median
over rounds of wall and process-CPU seconds, and ratios against ``lsec`` in the same run.
The loss is ``(y * g).sum()`` with a fixed random ``g``; outputs are checked to agree.
Results: benchmarks/results/propagation.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _gowalla import DEFAULT_DIR, load_gowalla  # noqa: E402
from lsec.graph.adjacency import bipartite_adjacency, propagate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=str(DEFAULT_DIR))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--skip", nargs="*", default=[], help="methods to leave out")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "propagation.json"))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    split, _, _ = load_gowalla(args.data_dir)
    adj = bipartite_adjacency(split.train_users, split.train_items, split.num_users, split.num_items)
    n = adj.num_nodes
    crow, col, val = adj.matrix.crow_indices(), adj.matrix.col_indices(), adj.matrix.values()
    csr64 = torch.sparse_csr_tensor(crow.long(), col.long(), val, (n, n))
    coo = csr64.to_sparse_coo().coalesce()
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(n, args.dim, generator=gen)
    upstream = torch.randn(n, args.dim, generator=gen)

    methods = {
        "lsec": lambda x: propagate(adj, x),
        "torch_csr_autograd": lambda x: csr64 @ x,
        "torch_sparse_mm_coo": lambda x: torch.sparse.mm(coo, x),
    }
    try:
        from torch_geometric.nn import LGConv

        rows = torch.repeat_interleave(torch.arange(n), crow[1:].long() - crow[:-1].long())
        edge_index = torch.stack([rows, col.long()])
        conv, conv_raw = LGConv(), LGConv(normalize=False)
        methods["pyg_lgconv"] = lambda x: conv(x, edge_index)
        methods["pyg_lgconv_sparse"] = lambda x: conv_raw(x, csr64)  # PyG's sparse path (adj_t = A, symmetric)
        import torch_geometric

        pyg_version = torch_geometric.__version__
    except ImportError:
        pyg_version = None
    for name in args.skip:
        methods.pop(name, None)

    reference = None
    times: dict[str, dict[str, list[float]]] = {m: {"wall": [], "cpu": []} for m in methods}
    for _ in range(args.repeats):
        for name, fn in methods.items():
            x = x0.clone().requires_grad_(True)
            wall, cpu = time.perf_counter(), time.process_time()
            y = fn(x)
            (y * upstream).sum().backward()
            times[name]["wall"].append(time.perf_counter() - wall)
            times[name]["cpu"].append(time.process_time() - cpu)
            if reference is None:
                reference = (y.detach(), x.grad)
            else:
                torch.testing.assert_close(y.detach(), reference[0], rtol=1e-4, atol=1e-5)
                torch.testing.assert_close(x.grad, reference[1], rtol=1e-4, atol=1e-5)
    result: dict[str, object] = {
        "nodes": n,
        "nnz": adj.num_edges,
        "dim": args.dim,
        "repeats": args.repeats,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "torch_geometric": pyg_version,
    }
    base_wall = float(np.median(times["lsec"]["wall"]))
    base_cpu = float(np.median(times["lsec"]["cpu"]))
    for name, t in times.items():
        wall, cpu = float(np.median(t["wall"])), float(np.median(t["cpu"]))
        result[name] = {
            "median_wall_s": wall,
            "median_cpu_s": cpu,
            "wall_ratio_vs_lsec": wall / base_wall,
            "cpu_ratio_vs_lsec": cpu / base_cpu,
            "runs_wall_s": t["wall"],
        }
        print(json.dumps({"method": name, **{k: v for k, v in result[name].items() if k != "runs_wall_s"}}))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
