"""Data-parallel training (issue 16.3): one process vs ``torchrun --nproc-per-node 2 ... train.distributed=ddp``.

    flock /tmp/lsec-cpu.lock .venv/bin/python benchmarks/ddp_training.py [--seeds 5] [--epochs 20]

Accuracy: LSEC-LightGCN (embedding 16, batch 64, lr 0.003) on the checkerboard dataset of the tests (48 users,
32 items, 8 streamers in 4 clusters, tests/train/checkerboard.py) for ``--epochs`` epochs, seeds 0..4, once in
one process (2 threads) and once as 2 gloo ranks of 1 thread; test-fold AUC / MRR of the best checkpoint
(``lsec evaluate``'s protocol). Throughput: 2 epochs (batch 256) without validation on the lsec-small simulation at scale
0.05 of benchmarks/loop_reproducibility.py (/tmp/repro/data; run that script once first), batches per second
of 1 process x 2 threads vs 2 processes x 1 thread (each process's wall, torchrun start-up excluded).
Writes /tmp/lsec-ddp/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path("/tmp/lsec-ddp")
BIN = Path(sys.executable).parent
MODEL = ["model.name=lsec-lightgcn", "model.hparams.embedding_dim=16", "train.lr=0.003", "train.batch_size=64"]


def train(run: Path, data: Path, ddp: bool, overrides: list[str]) -> float:
    shutil.rmtree(run, ignore_errors=True)
    if ddp:
        head = [str(BIN / "torchrun"), "--nproc-per-node", "2", "-m", "lsec", "train"]
        extra = ["train.num_threads=1", "train.distributed=ddp"]
    else:
        head, extra = [str(BIN / "lsec"), "train"], ["train.num_threads=2"]
    cmd = [*head, "--data", str(data), "--out", str(run), "-q", *overrides, *extra]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def test_metrics(run: Path) -> dict[str, float]:
    from lsec.evaluate.protocols import evaluate_run
    from lsec.train.runs import load_run

    results, _ = evaluate_run(load_run(run), "test")
    report = results["tasks"]["buy"]["all"]
    return {k: round(float(report[k]), 4) for k in ("auc", "mrr", "ndcg@10", "recall@10")}


def epochs_of(run: Path) -> list[dict]:
    lines = (run / "log.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["event"] == "epoch"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5, help="Seeds 0..N-1 of each mode.")
    parser.add_argument("--epochs", type=int, default=20, help="Epochs of the accuracy runs.")
    parser.add_argument("--modes", default="single,ddp", help="Which of single, ddp to run.")
    parser.add_argument(
        "--ddp-lr-scale", type=float, default=1.0, help="DDP lr = this x 0.003 (2 = linear scaling for 2 ranks)."
    )
    parser.add_argument("--tag", default="", help="Suffix of the run folders and results file.")
    parser.add_argument("--no-throughput", action="store_true", help="Accuracy runs only.")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.train.checkerboard import write_checkerboard_dataset

    ROOT.mkdir(parents=True, exist_ok=True)
    board = ROOT / "board"
    if not board.exists():
        write_checkerboard_dataset(board, num_cold_users=2)
    out: dict = {"load_average_start": os.getloadavg(), "accuracy": {}, "throughput": {}}
    modes = [m for m in args.modes.split(",") if m in ("single", "ddp")]
    for mode in modes:
        rows = []
        for seed in range(args.seeds):
            run = ROOT / f"acc-{mode}-{seed}{args.tag}"
            overrides = [*MODEL, f"train.epochs={args.epochs}", f"train.seed={seed}", "train.eval_every=5"]
            if mode == "ddp" and args.ddp_lr_scale != 1.0:
                overrides.append(f"train.lr={0.003 * args.ddp_lr_scale}")
            wall = train(run, board, mode == "ddp", overrides)
            rows.append({"seed": seed, "wall_s": round(wall, 1), **test_metrics(run)})
            print(mode, rows[-1], flush=True)
        auc = np.array([r["auc"] for r in rows])
        out["accuracy"][mode] = {
            "runs": rows,
            "auc_mean": round(float(auc.mean()), 4),
            "auc_std": round(float(auc.std(ddof=1)), 4),
        }
    small = Path("/tmp/repro/data")
    if small.is_dir() and not args.no_throughput:
        for mode in ("single", "ddp"):
            run = ROOT / f"speed-{mode}"
            overrides = ["model.name=lsec-lightgcn", "train.epochs=2", "train.validate=false", "train.min_steps=0"]
            overrides.append("train.batch_size=256")  # ~10 batches per epoch: both ranks busy every round
            wall = train(run, small, mode == "ddp", overrides)
            epochs = epochs_of(run)
            batches, seconds = epochs[-1]["step"], epochs[-1]["elapsed"]
            out["throughput"][mode] = {
                "batches": batches,
                "train_s": seconds,
                "batches_per_s": round(batches / seconds, 3),
                "command_wall_s": round(wall, 1),
            }
            print(mode, out["throughput"][mode], flush=True)
    out["load_average_end"] = os.getloadavg()
    (ROOT / f"results{args.tag}.json").write_text(json.dumps(out, indent=1))
    print(json.dumps({k: v for k, v in out.items() if k != "accuracy"}))
    print({m: (v["auc_mean"], v["auc_std"]) for m, v in out["accuracy"].items()})


if __name__ == "__main__":
    main()
