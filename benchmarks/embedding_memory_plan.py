"""Embedding tables larger than one machine (issue 16.3): the memory plan, and whether TorchRec works here.

    .venv/bin/python benchmarks/embedding_memory_plan.py [--users 1e9] [--items 1e8] [--dim 64] [--hosts 8]

Prints, for the tables of a dot-product / LSEC model (user, item and streamer embeddings of width ``--dim``,
fp32), the bytes of the parameters and of the optimizer state (Adam: two moments per value; TorchRec's fused
row-wise Adagrad: one float per row), how many hosts of ``--host-gib`` usable memory row-wise sharding needs,
and the bytes one training step moves between hosts (the all-to-all of looked-up rows forward, of their
gradients backward). Then probes TorchRec (``--torchrec-python``, default: this interpreter): the sharded
example needs ``torchrec`` and ``fbgemm_gpu`` importable against the local torch; when they are not, it
says why and exits 0 (nothing in lsec depends on TorchRec).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys

GIB = 2**30


def plan(
    users: float, items: float, streamers: float, dim: int, batch: int, negatives: int, hosts: int, host_gib: float
) -> dict:
    rows = users + items + streamers
    params = rows * dim * 4
    adam = 2 * params
    rowwise = rows * 4
    looked_up = batch * (1 + 1 + negatives)  # per step: users, positive targets, negative targets
    step_bytes = 2 * looked_up * dim * 4  # forward rows + backward gradients (all-to-all, all hosts together)
    need_adam = math.ceil((params + adam) / (host_gib * GIB))
    need_rowwise = math.ceil((params + rowwise) / (host_gib * GIB))
    return {
        "rows": int(rows),
        "params_gib": round(params / GIB, 3),
        "adam_state_gib": round(adam / GIB, 3),
        "rowwise_adagrad_state_gib": round(rowwise / GIB, 3),
        "hosts_needed_adam": need_adam,
        "hosts_needed_rowwise_adagrad": need_rowwise,
        f"per_host_gib_rowwise_on_{hosts}_hosts": round((params + rowwise) / hosts / GIB, 1),
        "all_to_all_mib_per_step": round(step_bytes / 2**20, 2),
    }


PROBE = """
import torch, torchrec
from torchrec import EmbeddingBagCollection, EmbeddingBagConfig, KeyedJaggedTensor
tables = [EmbeddingBagConfig(name="user", embedding_dim=8, num_embeddings=100, feature_names=["user"])]
bags = EmbeddingBagCollection(tables=tables, device=torch.device("cpu"))
ids = KeyedJaggedTensor.from_lengths_sync(keys=["user"], values=torch.tensor([1, 2, 3]), lengths=torch.tensor([2, 1]))
print("ok", torch.__version__, torchrec.__version__, tuple(bags(ids).to_dict()["user"].shape))
"""


def probe(python: str) -> str:
    done = subprocess.run([python, "-c", PROBE], capture_output=True, text=True, timeout=600)
    if done.returncode == 0:
        return done.stdout.strip()
    lines = [line for line in done.stderr.strip().splitlines() if line.strip() and not line.startswith(" ")]
    return "unusable: " + (lines[-1] if lines else f"exit {done.returncode}")[:400]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=float, default=1e9, help="User rows.")
    parser.add_argument("--items", type=float, default=1e8, help="Item rows.")
    parser.add_argument("--streamers", type=float, default=1e7, help="Streamer rows.")
    parser.add_argument("--dim", type=int, default=64, help="Embedding width.")
    parser.add_argument("--batch", type=int, default=4096, help="Positives per step (train.batch_size).")
    parser.add_argument("--negatives", type=int, default=4, help="Negatives per positive (train.num_negatives).")
    parser.add_argument("--hosts", type=int, default=8, help="Hosts to shard over.")
    parser.add_argument("--host-gib", type=float, default=96.0, help="Memory per host usable for the tables (GiB).")
    parser.add_argument("--torchrec-python", default=sys.executable, help="Interpreter to probe TorchRec with.")
    args = parser.parse_args()
    out = {
        "lsec-large (202,850 users, 109,502 items, 7,395 streamers)": plan(
            202_850, 109_502, 7_395, args.dim, args.batch, args.negatives, args.hosts, args.host_gib
        ),
        f"{args.users:.0e} users, {args.items:.0e} items, {args.streamers:.0e} streamers": plan(
            args.users, args.items, args.streamers, args.dim, args.batch, args.negatives, args.hosts, args.host_gib
        ),
        "torchrec": probe(args.torchrec_python),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
