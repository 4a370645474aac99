"""How long does the streamers' influence report take on lsec-large, and what does it find on real logs?

1. lsec-large at scale 1.0 (simulated, 200k users, 3M buys, 5.4M follows, 2M sells): time the stages of
   ``lsec analyze influence`` (load, the three tests, overview, figures + HTML), several repeats, medians,
   and an anchor measured in the same run (sorting 5.4M int64 keys) to turn seconds into ratios on a
   shared, noisy machine. Budget: <= 120 s for the whole report.
2. Real data (../shared/data, read-only): the Twitch follow graph (user -> streamer, no times, no items)
   and the driver-live room entries (user enters a streamer's room, treated as follow). Both are read
   here into the canonical graph (small readers below) and analysed: with no buy or sell relation none of
   the three patterns can be tested, the report says so, and the overview (statistics, degrees, activity)
   is what they give.

Usage:
    .venv/bin/python benchmarks/influence_speed.py [--large /tmp/lsec-large] [--real-data ../shared/data]
        [--repeats 3] [--samples 20000] [--report-dir /tmp/lsec-influence-reports]
The simulated dataset is written to --large on first use (simulation time reported apart).
Raw figures: benchmarks/results/influence_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import polars as pl

from lsec.analysis.influence import analyze_influence
from lsec.analysis.overview import dataset_overview
from lsec.analysis.report import influence_report, render_influence_report
from lsec.data.graph import EdgeTable, HeteroGraph
from lsec.data.store import load, save

RESULTS = Path(__file__).parent / "results" / "influence_speed.json"


def anchor_seconds(repeats: int) -> float:
    """Median time to sort 5.4M random int64 keys (the size of lsec-large's follow relation)."""
    keys = np.random.default_rng(0).integers(0, 2**40, 5_439_288)
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        np.sort(keys)
        times.append(time.perf_counter() - tic)
    return statistics.median(times)


def large_dataset(path: Path) -> tuple[HeteroGraph, float | None]:
    simulated = None
    if not (path / "meta.json").is_file():
        from lsec.data.simulate import simulate_lsec

        tic = time.perf_counter()
        graph = simulate_lsec("lsec-large", scale=1.0, influence=0.5, seed=0)
        simulated = time.perf_counter() - tic
        save(graph, path)
    return load(path), simulated


def time_large(path: Path, repeats: int, samples: int, report_dir: Path) -> dict:
    graph, simulated = large_dataset(path)
    stages: dict[str, list[float]] = {"load": [], "patterns": [], "overview": [], "figures_html": [], "total": []}
    per_pattern: dict[str, list[float]] = {}
    found = None
    for repeat in range(repeats):
        start = time.perf_counter()
        graph = load(path)
        loaded = time.perf_counter()
        result = analyze_influence(graph, samples=samples, seed=0)
        analysed = time.perf_counter()
        overview = dataset_overview(graph)
        overviewed = time.perf_counter()
        html = render_influence_report(result, overview, dataset_path=str(path))
        (report_dir / "lsec-large.html").write_text(html)
        done = time.perf_counter()
        for name, value in (
            ("load", loaded - start),
            ("patterns", analysed - loaded),
            ("overview", overviewed - analysed),
            ("figures_html", done - overviewed),
            ("total", done - start),
        ):
            stages[name].append(value)
        for pattern in result.patterns:
            per_pattern.setdefault(pattern.key, []).append(pattern.seconds)
        found = result.to_dict()
        print(f"repeat {repeat}: total {done - start:.1f} s (patterns {analysed - loaded:.1f} s)", flush=True)
    return {
        "dataset": str(path),
        "graph": repr(graph),
        "simulation_seconds": simulated,
        "samples": samples,
        "seconds": {k: v for k, v in stages.items()},
        "median_seconds": {k: statistics.median(v) for k, v in stages.items()},
        "pattern_median_seconds": {k: statistics.median(v) for k, v in per_pattern.items()},
        "influence": found,
    }


# ------------------------------------------------------------------------------ real logs -> canonical graph
def read_twitch(folder: Path) -> HeteroGraph:
    """user_streamer_follow.csv.gz: user_idx, streamer_idx, streamer_name (no timestamps)."""
    frame = pl.read_csv(folder / "user_streamer_follow.csv.gz", columns=["user_idx", "streamer_idx"])
    users, user_index = np.unique(frame["user_idx"].to_numpy(), return_inverse=True)
    streamers, streamer_index = np.unique(frame["streamer_idx"].to_numpy(), return_inverse=True)
    follow = EdgeTable(user_index, streamer_index, np.zeros(frame.height, dtype=np.int64))
    return HeteroGraph(
        num_nodes={"user": users.size, "item": 0, "streamer": streamers.size},
        edges={("user", "follow", "streamer"): follow},
        node_ids={"user": users.astype(str).astype(object), "streamer": streamers.astype(str).astype(object)},
        name="twitch-follow",
        meta={"provenance": str(folder)},
    )


def read_driver_live(folder: Path) -> HeteroGraph:
    """train/test.csv.gz: user_id, room_id, t_seconds_rel = a user entered a streamer's room (as follow)."""
    frame = pl.concat([pl.read_csv(folder / f"{part}.csv.gz") for part in ("train", "test")])
    users, user_index = np.unique(frame["user_id"].to_numpy(), return_inverse=True)
    rooms, room_index = np.unique(frame["room_id"].to_numpy(), return_inverse=True)
    follow = EdgeTable(user_index, room_index, frame["t_seconds_rel"].to_numpy().astype(np.int64))
    return HeteroGraph(
        num_nodes={"user": users.size, "item": 0, "streamer": rooms.size},
        edges={("user", "follow", "streamer"): follow},
        node_ids={"user": users.astype(str).astype(object), "streamer": rooms.astype(str).astype(object)},
        name="driver-live (room entries as follow)",
        time_origin=0,  # times are seconds since the start of the log
        meta={"provenance": str(folder)},
    )


def real_data(root: Path, samples: int, report_dir: Path) -> dict:
    out = {}
    for name, reader, folder in (
        ("twitch-follow", read_twitch, root / "twitch-follow"),
        ("driver-live", read_driver_live, root / "driver-live"),
    ):
        if not folder.is_dir():
            out[name] = {"skipped": f"{folder} not found"}
            continue
        tic = time.perf_counter()
        graph = reader(folder)
        read = time.perf_counter() - tic
        tic = time.perf_counter()
        _, result, overview = influence_report(graph, report_dir / f"{name}.html", samples=samples, seed=0)
        out[name] = {
            "read_seconds": read,
            "report_seconds": time.perf_counter() - tic,
            "overview": overview.to_dict(),
            "patterns": {p.key: p.skipped or "tested" for p in result.patterns},
            "report": str(report_dir / f"{name}.html"),
        }
        follow = overview.relations[0]
        print(
            f"{name}: {follow.edges:,} follow edges, {follow.unique_pairs:,} distinct pairs, density {follow.density:.4%}, "
            f"user degree mean {follow.src_degree.mean:.1f} max {follow.src_degree.max}, "
            f"streamer degree mean {follow.dst_degree.mean:.1f} max {follow.dst_degree.max}; "
            f"patterns: {out[name]['patterns']}",
            flush=True,
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--large", type=Path, default=Path("/tmp/lsec-large"))
    parser.add_argument("--real-data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--report-dir", type=Path, default=Path("/tmp/lsec-influence-reports"))
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args()
    args.report_dir.mkdir(parents=True, exist_ok=True)

    record: dict = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__},
        "load_average_at_start": os.getloadavg(),
        "anchor_sort_5.4M_int64_seconds": anchor_seconds(5),
    }
    if not args.skip_large:
        record["lsec_large"] = time_large(args.large, args.repeats, args.samples, args.report_dir)
        record["lsec_large"]["total_over_anchor"] = (
            record["lsec_large"]["median_seconds"]["total"] / record["anchor_sort_5.4M_int64_seconds"]
        )
    record["real_data"] = real_data(args.real_data, args.samples, args.report_dir)
    record["load_average_at_end"] = os.getloadavg()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(json.dumps({k: v for k, v in record.items() if k != "real_data"}, indent=1, default=str)[:3000])


if __name__ == "__main__":
    main()
