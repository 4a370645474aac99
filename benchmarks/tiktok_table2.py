"""Issue 14 point 3: MMBee's Table 2 setting (item recommendation) on the real TikTok multi-modal split.

    nice -n 10 flock /tmp/lsec-cpu.lock .venv/bin/python benchmarks/tiktok_table2.py [--seeds 0,1,2]
        [--data-root ../shared/data] [--work benchmarks/_work/tiktok_table2] [--rows mf-bpr,...]
    .venv/bin/python benchmarks/tiktok_table2.py --table RESULT.json [RESULT.json ...]   # merge: mean +- std table

One run: ``lsec data import tiktok-mm ../shared/data/tiktok-mm --out DS`` once (split ``given``: train / valid /
test as published, image and audio features; the text features of the original are not available), then per seed
and row, through the CLI (child processes, timed): ``lsec train --config CONFIG --data DS --out RUN -q
data.split=given train.seed=S train.num_threads=1 [overrides]`` (early stopping on recall@20 of the given valid
fold) and ``lsec evaluate RUN --split test --json`` (full sort over every item, training items masked; the
run's popularity prior chosen on valid). Rows (:data:`ROWS`):

- ``mf-bpr``, ``lightgcn-dot``: configs/mf-bpr.yaml and configs/lightgcn-dot.yaml unchanged (the Gowalla recipe);
- ``lightgcn-dot-uniform``: configs/lightgcn-dot.yaml with uniform negatives (``train.hard_candidates=1``), the
  recipe of configs/mmbee-rec.yaml, so that the MMBee rows differ from it by the model only;
- ``mmbee-rec``: configs/mmbee-rec.yaml (MFQ over image + audio, u2i2u / u2i2i expansions);
- ``mmbee-rec-no-mfq``, ``mmbee-rec-no-expansion``: the ablations (``model.hparams.use_mfq=false`` /
  ``use_expansion=false``; both false is LightGCN-dot-uniform).

Reports test recall@20 / precision@20 / ndcg@20, training and evaluation seconds, load averages, mean +- std over
seeds, and the published figures beside ours. Writes benchmarks/results/tiktok_table2.json after every run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generalisation import LSEC, ROOT, load, matrices, timed  # noqa: E402

ROWS: dict[str, tuple[str, list[str]]] = {
    "mmbee-rec": ("configs/mmbee-rec.yaml", []),
    "lightgcn-dot-uniform": ("configs/lightgcn-dot.yaml", ["train.hard_candidates=1"]),
    "lightgcn-dot": ("configs/lightgcn-dot.yaml", []),
    "mf-bpr": ("configs/mf-bpr.yaml", []),
    "mmbee-rec-no-mfq": ("configs/mmbee-rec.yaml", ["model.hparams.use_mfq=false"]),
    "mmbee-rec-no-expansion": ("configs/mmbee-rec.yaml", ["model.hparams.use_expansion=false"]),
}
PUBLISHED = {  # DiffMM (ACM MM 2024) Table 1, TikTok, recall@20 (image + audio + text)
    "MF-BPR": 0.0346, "LightGCN": 0.0653, "MMGCN": 0.0730, "GRCN": 0.0804, "LATTICE": 0.0843, "BM3": 0.0957,
    "DiffMM": 0.1129,
}  # fmt: skip
METRICS = ("recall@20", "precision@20", "ndcg@20")


def write(result: dict[str, Any], path: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=1) + "\n")


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and (sample) std over seeds of the test metrics and seconds."""
    out: dict[str, Any] = {"seeds": [r["seed"] for r in runs]}
    for key in (*METRICS, "train_seconds", "wall_seconds"):
        values = [float(r[key]) for r in runs]
        out[key] = {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}
    return out


def popularity_row(ds: Path) -> dict[str, Any]:
    """Test metrics of ranking every item by its training count (training items masked; no seed, no training)."""
    from lsec.evaluate.full_sort import full_sort_metrics, popularity_block

    start = time.perf_counter()
    train, _, test, _ = matrices(ds, "given")
    metrics = full_sort_metrics(popularity_block(train), train, test, ks=(20,))
    return {**{m: metrics[m] for m in METRICS}, "seconds": round(time.perf_counter() - start, 1)}


def table(paths: list[str]) -> str:
    """Markdown table of the runs of several result files (one run per row and seed: a later file's wins), mean +-
    std over seeds (sample std), with the popularity floor and the published figures."""
    runs: dict[str, dict[int, dict[str, Any]]] = {}
    popularity = None
    for path in paths:
        result = json.loads(Path(path).read_text())
        popularity = result.get("popularity", popularity)
        for row, entry in result["rows"].items():
            for run in entry["runs"]:
                runs.setdefault(row, {})[int(run["seed"])] = run
    lines = [
        "| row | seeds | recall@20 | precision@20 | ndcg@20 | train s | load before -> after |",
        "|---|---|---|---|---|---|---|",
    ]
    if popularity:
        lines.append(
            "| popularity (training counts) | - | " + " | ".join(f"{popularity[m]:.4f}" for m in METRICS) + " | - | - |"
        )
    for row in ROWS:
        if row not in runs:
            continue
        done = [runs[row][s] for s in sorted(runs[row])]
        summary = summarise(done)
        cells = [
            f"{summary[m]['mean']:.4f} ± {summary[m]['std']:.4f}" if len(done) > 1 else f"{summary[m]['mean']:.4f}"
            for m in METRICS
        ]
        seconds = f"{summary['train_seconds']['mean']:.0f} ± {summary['train_seconds']['std']:.0f}"
        loads = ", ".join(f"{r['load_average_before'][0]:.0f} -> {r['load_average_after'][0]:.0f}" for r in done)
        seeds = ",".join(str(r["seed"]) for r in done)
        lines.append(f"| {row} | {seeds} | " + " | ".join(cells) + f" | {seconds} | {loads} |")
    lines.append("")
    lines.append("Published recall@20 (DiffMM Table 1, three modalities): " + ", ".join(
        f"{k} {v}" for k, v in PUBLISHED.items()
    ))  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    if sys.argv[1:2] == ["--table"]:
        print(table(sys.argv[2:]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--work", default=str(HERE / "_work" / "tiktok_table2"))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--out", default=str(HERE / "results" / "tiktok_table2.json"))
    args = parser.parse_args()
    rows = args.rows.split(",")
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        raise SystemExit(f"unknown rows {unknown}: expected some of {', '.join(ROWS)}")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    ds = work / "ds"
    shutil.rmtree(ds, ignore_errors=True)
    import_cmd = [LSEC, "data", "import", "tiktok-mm", str(Path(args.data_root) / "tiktok-mm"), "--out", str(ds)]
    import_s, import_out = timed(import_cmd, work / "import.log")
    result: dict[str, Any] = {
        "machine": {"cpus": __import__("os").cpu_count(), "load_average_start": load()},
        "import": {"command": " ".join(import_cmd[1:]), "seconds": round(import_s, 1), "output": import_out.strip()},
        "popularity": popularity_row(ds),
        "published_recall@20": PUBLISHED,
        "published_source": "DiffMM (ACM MM 2024) Table 1, TikTok, three modalities",
        "rows": {r: {"config": ROWS[r][0], "overrides": ROWS[r][1], "runs": []} for r in rows},
    }
    for seed in (int(s) for s in args.seeds.split(",")):
        for row in rows:
            config, overrides = ROWS[row]
            run_dir = work / f"{row}-s{seed}"
            shutil.rmtree(run_dir, ignore_errors=True)
            before = load()
            train_cmd = [LSEC, "train", "--config", config, "--data", str(ds), "--out", str(run_dir), "-q",
                         "data.split=given", f"train.seed={seed}", "train.num_threads=1", *overrides]  # fmt: skip
            start = time.perf_counter()
            train_s, train_out = timed(train_cmd, work / f"{row}-s{seed}-train.log")
            eval_s, eval_out = timed(
                [LSEC, "evaluate", str(run_dir), "--split", "test", "--json"], work / f"{row}-s{seed}-eval.log"
            )
            wall = time.perf_counter() - start
            after = load()
            report = json.loads(eval_out)["tasks"]["buy"]
            info = json.loads((run_dir / "run.json").read_text())
            run = {
                "seed": seed,
                "command": " ".join(train_cmd[1:]),
                **{m: report["all"][m] for m in METRICS},
                "train_seconds": round(train_s, 1),
                "evaluate_seconds": round(eval_s, 1),
                "wall_seconds": round(wall, 1),
                "load_average_before": before,
                "load_average_after": after,
                "popularity_prior": (info.get("popularity_prior") or {}).get("kappa"),
                "run": {k: info.get(k) for k in ("best_epoch", "best_metrics", "epochs_run", "steps",
                                                  "stopped_early", "num_parameters", "warnings")},
            }  # fmt: skip
            result["rows"][row]["runs"].append(run)
            result["rows"][row]["summary"] = summarise(result["rows"][row]["runs"])
            print(
                f"seed {seed} {row:24s} " + "  ".join(f"{m} {run[m]:.4f}" for m in METRICS)
                + f"  train {train_s:6.1f} s  load {before[0]} -> {after[0]}",
                flush=True,
            )  # fmt: skip
            result["machine"]["load_average_end"] = load()
            write(result, args.out)


if __name__ == "__main__":
    main()
