"""In-process vs Spark ``local[2]`` for the graph preprocessing jobs (issue 16): wall time and peak memory.

    flock /tmp/lsec-cpu.lock .venv/bin/python benchmarks/spark_vs_inprocess.py \
        [--work benchmarks/_work/spark] [--lsec-scale 1.0] [--gift-edges 1000000] [--jobs sales,influence,split,swing,expansions]

1. Prepares (once, seeded) ``lsec-large`` (``simulate_lsec``, scale ``--lsec-scale``) plus a raw sales log derived
   from its sell pairs (every pair's total spread over 1-4 log rows at its sessions, plus 2 % of listings that
   stay under the threshold), and a heavy-tailed user -> streamer gift graph of ``--gift-edges`` edges
   (the generator of benchmarks/gie_speed.py: Zipf-like users and streamers).
2. Runs every (job, engine) in its own process, sampling the resident memory of the whole process tree (the
   JVM and Python workers included) every 0.2 s with psutil: peak RSS and wall time, from process start (so
   Spark's JVM start is in the figure; the job's own seconds are reported separately).
3. Checks that the two engines wrote the same result (``same_as_inprocess``) (ids and counts exactly, floats 1e-6) and writes
   benchmarks/results/spark_vs_inprocess.json with ``uptime`` load averages before and after each run.

Jobs: sales (lsec-large log, threshold 20), influence (pattern 1's counts for every eligible user), split
(time split 30/10/10 days, hashed candidate lists of 100 for buy and follow), swing (bounded, cap 100, k 20)
and expansions (the five metapaths, k 20, max_frontier 64) on the gift graph.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "spark_vs_inprocess.json"
SPARK_CONF = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false", "spark.driver.memory": "6g",
              "spark.sql.execution.arrow.pyspark.enabled": "true"}  # fmt: skip


# ------------------------------------------------------------------------------------------ data
def prepare(work: Path, lsec_scale: float, gift_edges: int) -> dict[str, str]:
    import polars as pl

    from lsec.data.graph import EdgeTable, HeteroGraph
    from lsec.data.simulate import simulate_lsec
    from lsec.data.store import save

    large = work / f"lsec-large-{lsec_scale}"
    if not (large / "meta.json").is_file():
        graph = simulate_lsec("lsec-large", scale=lsec_scale, seed=0)
        save(graph, large)
        sell = graph["sell"]
        rng = np.random.default_rng(1)
        rows = rng.integers(1, 5, len(sell))  # log rows per pair
        pair = np.repeat(np.arange(len(sell)), rows)
        # Vectorised split of each total into `rows` parts: the first rows - 1 parts floor(total / rows), the last the rest.
        first = np.repeat(np.cumsum(rows) - rows, rows)
        position = np.arange(pair.size) - first
        base = np.floor(np.repeat(sell.weight, rows) / np.repeat(rows, rows))
        quantity = np.where(
            position == np.repeat(rows, rows) - 1,
            np.repeat(sell.weight, rows) - base * (np.repeat(rows, rows) - 1),
            base,
        )
        ts = np.repeat(sell.ts, rows) - rng.integers(0, 3 * 86_400, pair.size) * (position < np.repeat(rows, rows) - 1)
        below = rng.integers(0, len(sell), len(sell) // 50)  # listings that never reach the threshold
        log = pl.DataFrame({
            "streamer": np.concatenate([sell.src[pair], sell.src[below]]).astype(np.int32),
            "item": np.concatenate([sell.dst[pair], rng.integers(0, graph.num_items, below.size)]).astype(np.int32),
            "ts": np.concatenate([ts, sell.ts[below]]).astype(np.int64),
            "quantity": np.concatenate([np.maximum(quantity, 1.0), np.ones(below.size)]),
        })  # fmt: skip
        (large / "events").mkdir(exist_ok=True)
        log.write_parquet(large / "events" / "sales.parquet")
    gift = work / f"gift-{gift_edges}"
    if not (gift / "meta.json").is_file():
        users, streamers = max(gift_edges // 10, 10), max(gift_edges // 100, 10)
        rng = np.random.default_rng(0)
        user_p = 1.0 / np.arange(1, users + 1) ** 0.6
        streamer_p = 1.0 / np.arange(1, streamers + 1) ** 0.9
        src = rng.permutation(users)[rng.choice(users, gift_edges, p=user_p / user_p.sum())]
        dst = rng.permutation(streamers)[rng.choice(streamers, gift_edges, p=streamer_p / streamer_p.sum())]
        amount = rng.integers(1, 100, gift_edges).astype(np.float32)
        graph = HeteroGraph(
            num_nodes={"user": users, "streamer": streamers},
            edges={("user", "gift", "streamer"): EdgeTable(src, dst, np.full(gift_edges, 1_606_780_800), amount)},
            name=f"gift-{gift_edges}", time_origin=1_606_780_800,
        )  # fmt: skip
        save(graph, gift)
    return {"lsec": str(large), "gift": str(gift)}


# ------------------------------------------------------------------------------------------ one run
def run_one(job: str, engine: str, data: str, out: str) -> dict:
    """One job on one engine (called in a child process); returns its own seconds and counts."""
    import polars as pl

    started = time.perf_counter()
    out_path = Path(out)
    out_path.mkdir(parents=True, exist_ok=True)
    if engine == "spark":
        from lsec.distributed.spark import spark_session

        spark = spark_session(master="local[2]", partitions=8, conf=SPARK_CONF)
        spark.sparkContext.setLogLevel("ERROR")
        session_s = time.perf_counter() - started
        tick = time.perf_counter()
        if job == "sales":
            from lsec.distributed.spark import sales

            report = sales.run(spark, data, out, threshold=20)
        elif job == "influence":
            from lsec.distributed.spark import influence

            report = influence.run(spark, data, out)
        elif job == "split":
            from lsec.distributed.spark import split

            report = split.run(spark, data, out, name="bench", num_candidates=100, seed=0)["candidates"]
        elif job == "swing":
            from lsec.distributed.spark import swing

            report = swing.run(spark, data, out, k=20, mode="bounded", max_users_per_streamer=100, seed=0)
        else:
            from lsec.distributed.spark import expansions

            report = expansions.run(spark, data, out, k=20, max_frontier=64,
                                    swing_options={"mode": "bounded", "max_users_per_streamer": 100, "seed": 0})  # fmt: skip
        return {"session_s": session_s, "job_s": time.perf_counter() - tick, "report": report}

    from lsec.data.store import load, save

    graph = load(data)
    tick = time.perf_counter()
    if job == "sales":
        from lsec.data.graph import HeteroGraph
        from lsec.data.sales import sell_edges_from_sales

        log = pl.read_parquet(Path(data) / "events" / "sales.parquet")
        result = sell_edges_from_sales(log, num_streamers=graph.num_streamers, num_items=graph.num_items, threshold=20)
        save(
            HeteroGraph(num_nodes=graph.num_nodes, edges={("streamer", "sell", "item"): result.edges}, name="sell"),
            out_path,
        )
        report = result.counts
    elif job == "influence":
        from lsec.analysis.influence import purchase_counts
        from lsec.analysis.sparse import BinaryCSR

        buy = BinaryCSR.from_table(graph["buy"], graph.num_users, graph.num_items)
        follow = BinaryCSR.from_table(graph["follow"], graph.num_users, graph.num_streamers)
        sell = BinaryCSR.from_table(graph["sell"], graph.num_streamers, graph.num_items)
        users = np.flatnonzero((follow.degree > 0) & (buy.degree > 0))
        hits, offered = purchase_counts(buy, follow, sell, users)
        pl.DataFrame({"user": users.astype(np.int32), "followed": follow.degree[users], "offered": offered.astype(np.int64),
                      "hits": hits.astype(np.int64)}).write_parquet(out_path / "users_items.parquet")  # fmt: skip
        report = {"users_items": int(users.size)}
    elif job == "split":
        import shutil

        from lsec.data.split import split_by_time
        from lsec.data.split.hashed import write_hashed_split

        shutil.copytree(data, out_path / "dataset", dirs_exist_ok=True)
        split = write_hashed_split(
            out_path / "dataset", split_by_time(graph), "bench", ("buy", "follow"), 100, 0, graph=graph
        )
        report = split.info["candidates"]
    else:
        from lsec.graph.swing import gift_graph, swing
        from lsec.serve.expansion_store import expand

        edges = graph["gift"]
        gifts = gift_graph(src=edges.src, dst=edges.dst, num_users=graph.num_users, num_streamers=graph.num_streamers,
                           weight=edges.weight)  # fmt: skip
        similar = swing(graph=gifts, k=20, mode="bounded", max_users_per_streamer=100, seed=0)
        np.save(out_path / "swing_indices.npy", similar.indices)
        report = {"swing_edges": int(similar.mask.sum())}
        if job == "expansions":
            neighbours = expand(graph=gifts, swing=similar, k=20, max_frontier=64)
            for name, found in neighbours.items():
                np.save(out_path / f"{name}.npy", found.indices)
            report = {name: int(found.mask.sum()) for name, found in neighbours.items()}
    return {"session_s": 0.0, "job_s": time.perf_counter() - tick, "report": report}


def compare(job: str, data: str, inprocess: Path, spark: Path) -> dict:
    """Whether the two engines wrote the same result (ids and counts exactly, floats 1e-6)."""
    import polars as pl

    def same_frames(a: pl.DataFrame, b: pl.DataFrame) -> bool:
        if a.columns != b.columns or a.height != b.height:
            return False
        return all(
            np.allclose(a[c].to_numpy(), b[c].to_numpy(), rtol=1e-6) if a[c].dtype.is_float()
            else np.array_equal(a[c].to_numpy(), b[c].to_numpy())
            for c in a.columns
        )  # fmt: skip

    try:
        if job == "sales":
            name = "edges/streamer__sell__item.parquet"
            return {"equal": same_frames(pl.read_parquet(inprocess / name), pl.read_parquet(spark / name))}
        if job == "influence":
            a = pl.read_parquet(inprocess / "users_items.parquet")
            b = pl.read_parquet(spark / "influence" / "users_items.parquet").select(a.columns)
            return {"equal": same_frames(a.cast(b.schema), b), "users": a.height}
        if job == "split":
            checked = 0
            for file in sorted((inprocess / "dataset" / "splits" / "bench").rglob("*.parquet")):
                relative = file.relative_to(inprocess / "dataset" / "splits" / "bench")
                if not same_frames(pl.read_parquet(file), pl.read_parquet(spark / "splits" / "bench" / relative)):
                    return {"equal": False, "first_difference": str(relative)}
                checked += 1
            return {"equal": checked > 0, "files": checked}
        meta = json.loads((Path(data) / "meta.json").read_text())
        users, streamers = int(meta["nodes"]["user"]), int(meta["nodes"]["streamer"])
        swing_rows = pl.read_parquet(spark / "edges" / "streamer__swing__streamer.parquet")
        index = np.full((streamers, 20), -1, dtype=np.int32)
        index[swing_rows["src"].to_numpy(), swing_rows["rank"].to_numpy()] = swing_rows["dst"].to_numpy()
        out = {"swing_equal": bool(np.array_equal(index, np.load(inprocess / "swing_indices.npy")))}
        if job == "expansions":
            from lsec.distributed.spark.expansions import read_expansions

            got = read_expansions(str(spark / "expansions"), num_users=users, num_streamers=streamers, k=20)
            out.update(
                {
                    name: bool(np.array_equal(found.indices, np.load(inprocess / f"{name}.npy")))
                    for name, found in got.items()
                }
            )
        out["equal"] = all(out.values())
        return out
    except Exception as err:  # a comparison that cannot run is recorded, not fatal
        return {"equal": None, "error": f"{type(err).__name__}: {err}"}


def measured(job: str, engine: str, data: str, out: str, timeout: float) -> dict:
    """Run ``job`` on ``engine`` in a child process; wall time and peak RSS of its process tree."""
    import psutil

    load_before = os.getloadavg()
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, __file__, "--one", job, engine, data, out], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    proc = psutil.Process(child.pid)
    peak = 0
    while child.poll() is None:
        try:
            tree = [proc, *proc.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        if time.perf_counter() - started > timeout:
            for process in [*proc.children(recursive=True), proc]:  # the JVM too
                try:
                    process.kill()
                except psutil.Error:
                    pass
            return {"job": job, "engine": engine, "timed_out": True, "wall_s": round(time.perf_counter() - started, 1)}
        time.sleep(0.2)
    output = child.stdout.read() if child.stdout else ""
    line = output.strip().splitlines()[-1] if output.strip() else "{}"
    own = json.loads(line) if line.startswith("{") else {"error": output[-2000:]}
    return {
        "job": job, "engine": engine, "wall_s": round(time.perf_counter() - started, 1),
        "peak_rss_gib": round(peak / 2**30, 2), "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()], "returncode": child.returncode, **own,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default=str(ROOT / "benchmarks" / "_work" / "spark"))
    parser.add_argument("--lsec-scale", type=float, default=1.0)
    parser.add_argument("--gift-edges", type=int, default=1_000_000)
    parser.add_argument("--jobs", default="sales,influence,split,swing,expansions")
    parser.add_argument("--engines", default="inprocess,spark")
    parser.add_argument("--timeout", type=float, default=1200, help="Seconds per (job, engine) run.")
    parser.add_argument("--tag", default="", help="Suffix of the results key (several scales in one file).")
    parser.add_argument(
        "--prepare-only", action="store_true", help="Write the data sets and stop (no timing: no lock needed)."
    )
    parser.add_argument("--one", nargs=4, metavar=("JOB", "ENGINE", "DATA", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(*args.one), default=int))
        return
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    tick = time.perf_counter()
    paths = prepare(work, args.lsec_scale, args.gift_edges)
    print(f"data ready in {time.perf_counter() - tick:.0f} s: {paths}", flush=True)
    if args.prepare_only:
        return
    key = f"lsec-{args.lsec_scale}_gift-{args.gift_edges}{args.tag}"
    runs: list[dict] = []
    for job in args.jobs.split(","):
        data = paths["gift" if job in ("swing", "expansions") else "lsec"]
        for engine in args.engines.split(","):
            out = str(work / "out" / f"{job}-{engine}")
            subprocess.run(["rm", "-rf", out], check=False)
            record = measured(job, engine, data, out, args.timeout)
            if engine == "spark" and "inprocess" in args.engines:
                record["same_as_inprocess"] = compare(job, data, work / "out" / f"{job}-inprocess", Path(out))
            print(json.dumps(record), flush=True)
            runs.append(record)
            results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}  # written after every run
            results[key] = {"machine": f"{os.cpu_count()} cores", "data": paths, "runs": runs,
                            "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}  # fmt: skip
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
