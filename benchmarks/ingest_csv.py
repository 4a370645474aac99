"""Ingestion speed: `lsec data import csv` on a generated 10-million-row edge CSV (issue 2).

Generates (seeded) ``benchmarks/_work/ingest/buys.csv``: columns ``user_id,item_id,ts,weight`` with string
ids (``u<n>`` / ``i<n>``, Zipf-like popularity), unix-second timestamps over 50 days from 2020-12-01 and
small integer weights; about 1% of the rows are bad on purpose (empty ids, unparseable timestamps,
negative weights) and about 1% are exact duplicates, so the run exercises the rejection and merge paths.

Each run is a fresh ``lsec data import csv`` process under ``/usr/bin/time -v`` (wall time and peak RSS
of the child). Reported: the median of ``--runs`` runs. Anchor in the same run: the time polars itself
takes to read the same CSV with its default reader (``pl.read_csv``), also in a fresh process, so the
ratio importer / plain read is comparable across machines and contention.

    .venv/bin/python benchmarks/ingest_csv.py --rows 10000000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parent
WORK = ROOT / "_work" / "ingest"
RESULTS = ROOT / "results"
ORIGIN = 1_606_780_800


def generate(path: Path, rows: int, seed: int, chunk: int = 2_000_000) -> dict[str, int]:
    """Write the edge CSV in chunks; returns the number of planted bad and duplicate rows."""
    rng = np.random.default_rng(seed)
    num_users, num_items = max(rows // 10, 10), max(rows // 20, 10)
    planted = {"bad": 0, "duplicates": 0}
    with path.open("wb") as handle:
        handle.write(b"user_id,item_id,ts,weight\n")
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            users = np.minimum(rng.zipf(1.3, n), num_users) - 1
            users = (users * 2_654_435_761 + rng.integers(0, num_users, n) * (users >= 50)) % num_users
            items = (np.minimum(rng.zipf(1.2, n), num_items) - 1 + rng.integers(0, num_items, n)) % num_items
            ts = ORIGIN + rng.integers(0, 50 * 86_400, n)
            weight = rng.integers(1, 5, n)
            frame = pl.DataFrame(
                {
                    "user_id": pl.Series(users).cast(pl.Utf8).str.replace(r"^", "u"),
                    "item_id": pl.Series(items).cast(pl.Utf8).str.replace(r"^", "i"),
                    "ts": pl.Series(ts).cast(pl.Utf8),
                    "weight": pl.Series(weight).cast(pl.Utf8),
                }
            )
            kind = rng.random(n)
            bad = kind < 0.01
            dup = (kind >= 0.01) & (kind < 0.02)
            frame = frame.with_columns(
                pl.when(pl.Series(kind < 0.0033)).then(pl.lit("")).otherwise(pl.col("user_id")).alias("user_id"),
                pl.when(pl.Series((kind >= 0.0033) & (kind < 0.0066)))
                .then(pl.lit("soon"))
                .otherwise(pl.col("ts"))
                .alias("ts"),
                pl.when(pl.Series((kind >= 0.0066) & bad))
                .then(pl.lit("-1"))
                .otherwise(pl.col("weight"))
                .alias("weight"),
            )
            # Exact duplicates: copy the previous row.
            index = np.arange(n)
            index[1:][dup[1:]] = index[:-1][dup[1:]]
            index = index[index]  # collapse chains of duplicates
            frame = frame[index]
            planted["bad"] += int(bad.sum())
            planted["duplicates"] += int(dup[1:].sum())
            frame.write_csv(handle, include_header=False)
    return planted


def timed(command: list[str]) -> dict[str, float]:
    """Wall seconds and peak RSS (MiB) of one child process, via /usr/bin/time -v."""
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"command failed: {' '.join(command)}")
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    rss = int(match.group(1)) / 1024 if match else float("nan")
    cpu = sum(float(m) for m in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", done.stderr))
    return {"seconds": wall, "cpu_seconds": cpu, "peak_rss_mib": rss, "stdout": done.stdout[-2000:]}  # type: ignore[dict-item]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--regenerate", action="store_true")
    args = parser.parse_args()

    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    csv_path = WORK / f"buys_{args.rows}_{args.seed}.csv"
    planted: dict[str, int] | None = None
    if args.regenerate or not csv_path.exists():
        t0 = time.perf_counter()
        planted = generate(csv_path, args.rows, args.seed)
        print(f"generated {csv_path} ({csv_path.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t0:.1f}s")

    load_at_start = list(__import__("os").getloadavg())
    lsec = str(Path(sys.executable).parent / "lsec")
    out = WORK / "dataset"
    import_cmd = [lsec, "data", "import", "csv", "--buy", str(csv_path), "--out", str(out), "--force", "--no-progress"]
    anchor_cmd = [
        sys.executable,
        "-c",
        f"import polars as pl; print(pl.read_csv({str(csv_path)!r}, infer_schema=False).height)",
    ]
    runs, anchors = [], []
    for run in range(args.runs):
        anchors.append(timed(anchor_cmd))
        runs.append(timed(import_cmd))
        print(
            f"run {run + 1}: import {runs[-1]['seconds']:.1f}s wall, {runs[-1]['cpu_seconds']:.1f}s cpu, "
            f"{runs[-1]['peak_rss_mib']:.0f} MiB peak; "
            f"plain pl.read_csv {anchors[-1]['seconds']:.1f}s, {anchors[-1]['peak_rss_mib']:.0f} MiB"
        )
    meta = json.loads((out / "meta.json").read_text())
    totals = meta["ingestion"]["totals"]
    median_import = statistics.median(r["seconds"] for r in runs)
    median_anchor = statistics.median(r["seconds"] for r in anchors)
    result = {
        "rows": args.rows,
        "seed": args.seed,
        "file_mib": round(csv_path.stat().st_size / 2**20, 1),
        "command": " ".join(import_cmd),
        "import_seconds": [round(r["seconds"], 2) for r in runs],
        "import_cpu_seconds": [round(r["cpu_seconds"], 2) for r in runs],
        "import_peak_rss_mib": [round(r["peak_rss_mib"], 1) for r in runs],
        "anchor_read_csv_seconds": [round(r["seconds"], 2) for r in anchors],
        "anchor_cpu_seconds": [round(r["cpu_seconds"], 2) for r in anchors],
        "anchor_peak_rss_mib": [round(r["peak_rss_mib"], 1) for r in anchors],
        "median_import_seconds": round(median_import, 2),
        "max_import_peak_rss_mib": round(max(r["peak_rss_mib"] for r in runs), 1),
        "median_import_cpu_seconds": round(statistics.median(r["cpu_seconds"] for r in runs), 2),
        "median_anchor_seconds": round(median_anchor, 2),
        "ratio_import_over_read_csv": round(median_import / median_anchor, 2),
        "rows_per_second": round(args.rows / median_import),
        "ingestion_totals": totals,
        "planted": planted,
        "target": {"seconds": 60, "peak_rss_gib": 4},
        "met": median_import <= 60 and max(r["peak_rss_mib"] for r in runs) <= 4096,
        "machine": {
            "python": platform.python_version(),
            "polars": pl.__version__,
            "cpus": __import__("os").cpu_count(),
        },
        "load_average_at_start": load_at_start,
        "load_average_at_end": list(__import__("os").getloadavg()),
        "last_stdout": runs[-1]["stdout"],
    }
    (RESULTS / "ingest_csv.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "last_stdout"}, indent=2))


if __name__ == "__main__":
    main()
