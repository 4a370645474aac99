"""Import speed of `lsec data import kuailive` on a simulated KuaiLive-shaped folder (issue 13 point 1).

KuaiLive itself cannot be reached here, so the gifting simulator's ``kuailive`` preset (KuaiLive's 23,772 users,
452,621 streamers, 21 days at scale 1) is written in the KuaiLive layout by
:func:`lsec.data.formats.kuailive_export.export_kuailive`: user.csv, streamer.csv (every node), room.csv (the
rooms of the written segments), gift.csv (ms timestamps, gift_price), click.csv / negative.csv (the written
label-0 impressions split by a seeded coin), title_embeddings.npy (one 128-d row per room, KuaiLive's PCA width).
``--negative-rate`` sets how many label-0 impressions the simulator writes (default 0.03: about a million rows
at scale 1, the order of KuaiLive's 4.9 M clicks / 5.4 M interactions, while the simulation stays within ~2 GB).
Generation is not timed and is cached under ``benchmarks/_work/kuailive/``.

Each run is a fresh ``lsec data import kuailive RAW --out OUT --force --no-progress`` under ``/usr/bin/time -v``
(wall, user+sys CPU, peak RSS of the child). Anchor, also a fresh process in the same run: polars reading the
same CSV files as strings (``pl.read_csv(f, infer_schema=False)``), so the ratio importer / plain read is
comparable across machines and contention. Median of ``--runs`` runs; time it holding the lock:

    flock /tmp/lsec-cpu.lock .venv/bin/python benchmarks/kuailive_import.py --scale 1.0 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import polars as pl

from ingest_csv import timed  # same directory: one way of timing a child process

ROOT = Path(__file__).resolve().parent
WORK = ROOT / "_work" / "kuailive"
RESULTS = ROOT / "results"
CSV_FILES = ("user.csv", "streamer.csv", "room.csv", "gift.csv", "click.csv", "negative.csv")


def generate(raw: Path, scale: float, negative_rate: float, seed: int) -> dict[str, object]:
    """Simulate, save and export to the KuaiLive layout; returns the counts written and the seconds taken."""
    from lsec.data.events import save_dataset
    from lsec.data.formats.kuailive_export import export_kuailive
    from lsec.data.simulate.gifting import simulate_gifting

    started = time.perf_counter()
    sim = raw.parent / f"{raw.name}-canonical"
    dataset = simulate_gifting("kuailive", scale=scale, seed=seed, negative_rate=negative_rate, progress=True)
    save_dataset(dataset.graph, sim, events=dataset.events, features={})  # the layout has no segment features
    del dataset
    written = export_kuailive(sim, raw, seed=seed, title_dim=128)
    return {"rows": written, "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--negative-rate", type=float, default=0.03)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--regenerate", action="store_true")
    args = parser.parse_args()

    raw = WORK / f"raw_{args.scale}_{args.negative_rate}_{args.seed}"
    generated = None
    if args.regenerate or not (raw / "gift.csv").is_file():
        generated = generate(raw, args.scale, args.negative_rate, args.seed)
        print(f"generated {raw} in {generated['seconds']} s: {generated['rows']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    files = [raw / name for name in CSV_FILES]
    size_mib = sum(p.stat().st_size for p in raw.iterdir()) / 2**20
    load_at_start = list(os.getloadavg())
    lsec = str(Path(sys.executable).parent / "lsec")
    out = WORK / "imported"
    import_cmd = [lsec, "data", "import", "kuailive", str(raw), "--out", str(out), "--force", "--no-progress"]
    reads = "; ".join(f"pl.read_csv({str(p)!r}, infer_schema=False)" for p in files)
    anchor_cmd = [sys.executable, "-c", f"import polars as pl; {reads}"]
    runs, anchors = [], []
    for run in range(args.runs):
        anchors.append(timed(anchor_cmd))
        runs.append(timed(import_cmd))
        print(
            f"run {run + 1}: import {runs[-1]['seconds']:.1f} s wall, {runs[-1]['cpu_seconds']:.1f} s cpu, "
            f"{runs[-1]['peak_rss_mib']:.0f} MiB peak; plain pl.read_csv {anchors[-1]['seconds']:.1f} s"
        )
    meta = json.loads((out / "meta.json").read_text())
    totals = meta["ingestion"]["totals"]
    median_import = statistics.median(r["seconds"] for r in runs)
    median_cpu = statistics.median(r["cpu_seconds"] for r in runs)
    result = {
        "scale": args.scale,
        "negative_rate": args.negative_rate,
        "seed": args.seed,
        "input_mib": round(size_mib, 1),
        "rows_per_file": {name: meta["ingestion"]["files"][name]["rows_read"] for name in CSV_FILES},
        "command": " ".join(import_cmd),
        "import_seconds": [round(r["seconds"], 2) for r in runs],
        "import_cpu_seconds": [round(r["cpu_seconds"], 2) for r in runs],
        "import_peak_rss_mib": [round(r["peak_rss_mib"], 1) for r in runs],
        "anchor_read_csv_seconds": [round(r["seconds"], 2) for r in anchors],
        "median_import_seconds": round(median_import, 2),
        "median_import_cpu_seconds": round(median_cpu, 2),
        "max_import_peak_rss_mib": round(max(r["peak_rss_mib"] for r in runs), 1),
        "median_anchor_seconds": round(statistics.median(r["seconds"] for r in anchors), 2),
        "rows_per_cpu_second": round(totals["rows_read"] / median_cpu),
        "ingestion_totals": totals,
        "in_process_seconds": meta["ingestion"].get("seconds"),
        "gifting": meta["gifting"],
        "generated": generated,
        "machine": {"python": platform.python_version(), "polars": pl.__version__, "cpus": os.cpu_count()},
        "load_average_at_start": load_at_start,
        "load_average_at_end": list(os.getloadavg()),
        "last_stdout": runs[-1]["stdout"],
    }
    (RESULTS / "kuailive_import.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "last_stdout"}, indent=2))


if __name__ == "__main__":
    main()
