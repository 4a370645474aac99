"""GPU check of issue 11 point 8, run on a lent accelerator (the workplace's device tool), one script, one call.

Steps (each timed, each a subprocess so one failure does not stop the rest; a global deadline skips what is
left): the CLI on Gowalla with ``train.device=cuda`` (40 epochs) and ``lsec evaluate --device cuda`` against
``--device cpu``; serving's scoring on the GPU against the CPU kernels (same top-20 lists); LSEC-LightGCN on
lsec-small scale 1.0 (seconds per epoch); one epoch of the gift (MMBee SIM) and temporal (DM-GNN) objectives
on the GPU; ``benchmarks/gowalla_lightgcn.py --device cuda`` (time to recall@20 0.18); and, with the time left,
LightGCN and LSEC-LightGCN on a sharper simulator setting at scale 1.0 against popularity (issue 12 point 4).

    python3 benchmarks/gpu_check.py --gowalla .gpudata/gowalla --out "$OUT" --deadline 470

Every result is one JSON line in OUT/gpu_check.jsonl; logs go to OUT/*.log. The CPU figures it is compared
with are the 2-core machine's, recorded in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARP = {  # the sharper setting of benchmarks/README.md "Simulator learnability"
    "item_popularity_sigma": 1.0,
    "num_topics": 128,
    "organic_primary": 0.95,
    "organic_secondary": 0.04,
    "topic_concentration": 10.0,
    "follow_in_topic": 0.95,
    "sell_in_topic": 0.97,
}


class Check:
    def __init__(self, out: Path, logs: Path, deadline: float) -> None:
        self.out, self.logs, self.deadline, self.started = out, logs, deadline, time.time()
        self.results = out / "gpu_check.jsonl"

    def left(self) -> float:
        return self.deadline - (time.time() - self.started)

    def record(self, **row: object) -> None:
        row["t"] = round(time.time() - self.started, 1)
        print(json.dumps(row), flush=True)
        with self.results.open("a") as f:
            f.write(json.dumps(row) + "\n")

    def run(self, name: str, args: list[str], *, need: float = 30.0, limit: float | None = None) -> bool:
        """Run ``args`` (a command line) with a time limit; record wall seconds and the exit code."""
        if self.left() < need:
            self.record(step=name, skipped=f"{self.left():.0f} s left, needs ~{need:.0f}")
            return False
        budget = max(5.0, min(limit or self.left(), self.left() - 5))
        start = time.perf_counter()
        with (self.logs / f"{name}.log").open("w") as log:
            try:
                rc = subprocess.run(args, stdout=log, stderr=subprocess.STDOUT, timeout=budget, cwd=ROOT).returncode
            except subprocess.TimeoutExpired:
                rc = -9
        self.record(step=name, rc=rc, wall_s=round(time.perf_counter() - start, 2))
        return rc == 0


def epochs_of(run: Path) -> list[dict]:
    log = run / "log.jsonl"
    if not log.is_file():
        return []
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    keep = []
    for r in rows:
        if r.get("event") in ("epoch", "eval"):
            row = {k: r[k] for k in ("event", "epoch", "step", "elapsed") if k in r}
            row.update(
                {k: round(v, 4) for k, v in r.get("metrics", {}).items() if k in ("auc", "recall@50", "recall@20")}
            )
            keep.append(row)
    return keep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gowalla", required=True, help="folder with Gowalla's train.txt(.gz) and test.txt(.gz)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--deadline", type=float, default=470.0, help="seconds for the whole check")
    parser.add_argument("--work", default="/tmp/gpu-check")
    parser.add_argument("--device", default="cuda", help="cuda here; cpu for a dry run of the script")
    parser.add_argument("--epochs", type=int, default=40, help="Gowalla epochs")
    parser.add_argument("--scale", type=float, default=1.0, help="lsec-small scale")
    parser.add_argument("--steps", default="gowalla,s100,smoke,benchmark,sharp", help="which parts to run")
    args = parser.parse_args()
    out, work = Path(args.out), Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    (work / "logs").mkdir(parents=True, exist_ok=True)
    check = Check(out, work / "logs", args.deadline)
    try:
        steps(check, args, work)
    finally:  # the device tool brings back 8 files at most: the logs travel as one archive
        subprocess.run(["tar", "czf", str(out / "logs.tar.gz"), "-C", str(work), "logs"], check=False)


def steps(check: Check, args: argparse.Namespace, work: Path) -> None:
    out, dev, scale = Path(args.out), args.device, str(args.scale)
    wanted = set(args.steps.split(","))
    py = sys.executable
    lsec = [py, "-m", "lsec"]
    import torch

    check.record(
        step="env",
        torch=torch.__version__,
        cuda=torch.cuda.is_available(),
        gpu=torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        cpus=os.cpu_count(),
        python=sys.version.split()[0],
    )
    if not check.run("cli_help", [*lsec, "--help"], need=5, limit=60):
        return  # the package does not import here: nothing else can run

    # 1. Gowalla through the CLI on the GPU, 40 epochs (the recipe of benchmarks/gowalla_cli.py).
    gw, gw_run = work / "gowalla", work / "gowalla-run"
    if "gowalla" in wanted and check.run(
        "gowalla_import", [*lsec, "data", "import", "lightgcn", args.gowalla, "--out", str(gw)], need=10
    ):
        ok = check.run(
            "gowalla_cli_train",
            [*lsec, "train", "--config", "configs/lightgcn-dot.yaml", "--data", str(gw), "--out", str(gw_run), "-q",
             "data.split=given", "train.validate=false", f"train.epochs={args.epochs}", "train.min_steps=0", f"train.device={dev}"],
            need=60, limit=200,
        )  # fmt: skip
        rows = epochs_of(gw_run)
        if rows:
            check.record(step="gowalla_cli_epochs", epochs=len(rows), elapsed=[r.get("elapsed") for r in rows])
        if ok:
            for device in dict.fromkeys((dev, "cpu")):
                check.run(
                    f"gowalla_evaluate_{device}",
                    [*lsec, "evaluate", str(gw_run), "--split", "test", "--device", device, "--json"],
                    need=20, limit=120,
                )  # fmt: skip
                result = work / f"gowalla_eval_{device}.json"
                src = gw_run / "results" / "test.json"
                if src.is_file():
                    result.write_text(src.read_text())
                    metrics = json.loads(src.read_text())["tasks"]["buy"]
                    check.record(step=f"gowalla_test_{device}", metrics=metrics.get("all", metrics))
            check.run("serve_scoring", [py, __file__, "--serve-check", str(gw_run), dev], need=30, limit=90)

    # 2. LSEC-LightGCN on lsec-small scale 1.0 (the default recipe), seconds per epoch on the GPU.
    s100, s100_run = work / "s100", work / "s100-run"
    if "s100" in wanted and check.run(
        "s100_data", [py, "benchmarks/lsec_data.py", "--scale", scale, "--influence", "0.5", "--out", str(s100)]
    ):
        check.run(
            "s100_lsec_lightgcn",
            [*lsec, "train", "--config", "configs/lsec-lightgcn.yaml", "--data", str(s100), "--out", str(s100_run),
             "-q", "train.epochs=3", "train.min_steps=0", f"train.device={dev}"],
            need=60, limit=150,
        )  # fmt: skip
        check.record(step="s100_epochs", rows=epochs_of(s100_run))

    # 3. The gift and temporal objectives, one epoch each, and their evaluation, on the GPU.
    for preset, config in (("mmbee", "configs/mmbee/sim.yaml"), ("dmgnn", "configs/dmgnn/dmgnn.yaml")):
        data, run = work / preset, work / f"{preset}-run"
        if "smoke" in wanted and check.run(f"{preset}_data", [*lsec, "data", "simulate", "--preset", preset, "--scale", "0.05",
                                        "--out", str(data)], need=40, limit=60):  # fmt: skip
            if check.run(f"{preset}_train", [*lsec, "train", "--config", config, "--data", str(data), "--out", str(run),
                                             "-q", "train.epochs=1", "train.min_steps=0", f"train.device={dev}"], need=30, limit=90):  # fmt: skip
                check.run(f"{preset}_evaluate", [*lsec, "evaluate", str(run), "--split", "test", "--device", dev],
                          need=20, limit=60)  # fmt: skip

    # 4. Time to paper quality: the benchmark script on the GPU (evaluates on test every 2 epochs).
    "benchmark" in wanted and check.run(
        "gowalla_benchmark",
        [py, "benchmarks/gowalla_lightgcn.py", "--data-dir", args.gowalla, "--epochs", str(args.epochs),
         "--eval-every", "2", "--device", dev, "--out", str(out / "gowalla_lightgcn_gpu.json")],
        need=90, limit=240,
    )  # fmt: skip

    # 5. With what is left: the sharper simulator setting at scale 1.0, default recipes, against popularity.
    sharp = work / "sharp"
    knobs = [item for k, v in SHARP.items() for item in ("--set", f"{k}={v}")]
    if "sharp" in wanted and check.run("sharp_data", [py, "benchmarks/lsec_data.py", "--scale", scale, "--influence", "0.5", *knobs,
                                "--out", str(sharp)], need=120):  # fmt: skip
        for share, name in ((0.5, "lightgcn"), (1.0, "lsec-lightgcn")):
            run = work / f"sharp-{name}"
            check.run(name=f"sharp_{name}", args=[*lsec, "train", "--config", f"configs/{name}.yaml", "--data",
                      str(sharp), "--out", str(run), "-q", f"train.device={dev}"], need=60, limit=share * check.left())  # fmt: skip
            info = run / "run.json"
            check.record(
                step=f"sharp_{name}_result",
                rows=[r for r in epochs_of(run) if r["event"] == "eval"],
                baselines=json.loads(info.read_text()).get("baselines") if info.is_file() else None,
            )


def serve_check(run: str, device: str) -> None:
    """Top-20 lists of 4,096 users from the GPU scorer and the CPU kernel: same items, and time per user."""
    import numpy as np

    from lsec.serve.recommender import Recommender

    lists: dict[str, list] = {}
    for where in dict.fromkeys(("cpu", device)):
        rec = Recommender.from_run(run, device=where)
        users = [str(u) for u in rec.artifact.ids["user"][:4096].tolist()]
        rec.recommend(users[:8], k=20)  # warm-up (kernel compile, table copy)
        start = time.perf_counter()
        lists[where] = rec.recommend(users, k=20)
        seconds = time.perf_counter() - start
        print(json.dumps({"device": where, "kernel": rec.kernel, "users": len(users), "seconds": seconds}))
    same = [[i for i, _ in a] == [i for i, _ in b] for a, b in zip(lists["cpu"], lists[device], strict=True)]
    print(json.dumps({"identical_lists": float(np.mean(same))}))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--serve-check":
        serve_check(sys.argv[2], sys.argv[3])
    else:
        main()
