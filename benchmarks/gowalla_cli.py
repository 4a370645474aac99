"""`lsec train` on Gowalla against benchmarks/gowalla_lightgcn.py, in one run: same numbers, wall time ratio.

    flock /tmp/lsec-cpu.lock .venv/bin/python benchmarks/gowalla_cli.py [--data-dir ../shared/data/gowalla]
        [--work benchmarks/_work/gowalla-cli] [--epochs 40]

1. Imports the LightGCN folder with `lsec data import lightgcn` (timed apart; a user does it once).
2. Runs `benchmarks/gowalla_lightgcn.py --epochs N` (its recipe: hardest of 16 draws, L2 3e-3, lr 0.05 cosine
   to 10%, evaluation every 2 epochs) as a child process and times it.
3. Runs `lsec train --config configs/lightgcn-dot.yaml --data DS --out RUN data.split=given train.validate=false
   train.epochs=N` then `lsec evaluate RUN --split test --json`, as child processes, and times both.
Prints and writes (benchmarks/results/gowalla_cli.json) both sides' recall@20 / ndcg@20, wall seconds and the
ratio CLI / benchmark. The two sides draw their batches from the same seed but over the training pairs in a
different order (file order vs sorted), so their numbers agree within seed noise, not to the last digit.
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

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LSEC = str(Path(sys.executable).parent / "lsec")


def timed(cmd: list[str], log: Path) -> tuple[float, str]:
    start = time.perf_counter()
    with open(log, "w") as fh:
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=fh, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}); see {log}")
    return time.perf_counter() - start, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "gowalla"))
    parser.add_argument("--work", default=str(HERE / "_work" / "gowalla-cli"))
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--out", default=str(HERE / "results" / "gowalla_cli.json"))
    args = parser.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    load = os.getloadavg()[0]
    import_s, _ = timed(
        [LSEC, "data", "import", "lightgcn", args.data_dir, "--out", str(work / "ds")], work / "import.log"
    )
    bench_s, bench_out = timed(
        [sys.executable, str(HERE / "gowalla_lightgcn.py"), "--data-dir", args.data_dir, "--epochs", str(args.epochs),
         "--out", str(work / "bench.json")], work / "bench.log",
    )  # fmt: skip
    bench = json.loads(bench_out.strip().splitlines()[-1])
    train_s, _ = timed(
        [LSEC, "train", "--config", "configs/lightgcn-dot.yaml", "--data", str(work / "ds"), "--out", str(work / "run"),
         "-q", "data.split=given", "train.validate=false", f"train.epochs={args.epochs}"], work / "train.log",
    )  # fmt: skip
    eval_s, eval_out = timed([LSEC, "evaluate", str(work / "run"), "--split", "test", "--json"], work / "eval.log")
    cli = json.loads(eval_out)["tasks"]["buy"]["all"]
    result = {
        "epochs": args.epochs,
        "load_average_start": load,
        "load_average_end": os.getloadavg()[0],
        "import_seconds": import_s,
        "benchmark": {"recall@20": bench["recall@20"], "ndcg@20": bench["ndcg@20"], "wall_seconds": bench_s},
        "cli": {"recall@20": cli["recall@20"], "ndcg@20": cli["ndcg@20"], "wall_seconds": train_s + eval_s,
                "train_seconds": train_s, "evaluate_seconds": eval_s},
        "wall_ratio_cli_over_benchmark": (train_s + eval_s) / bench_s,
    }  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
