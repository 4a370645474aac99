"""Serving latency and load on an lsec-large-sized catalogue (issue 6).

What it measures (figures go to benchmarks/results/serve_latency.json and the README section):

1. Build (or reuse) an artifact of LSEC-Large's size (202,850 users, 109,502 items, 7,395 streamers, Table 2 of
   the slides) from a RANDOMLY INITIALISED LSEC-GCN with the slides' dimensions (embedding 200, GCN 128 -> 64,
   MLP 128 -> 1) over uniformly random edges with Table 2's edge counts. Latency depends on the catalogue size
   and the scorer width, not on the weights, so no training is needed to time it.
2. The memory-bandwidth floor: numpy copy bandwidth on an array the size of the item table (109,502 x 128
   float32 = 56 MB), floor = table bytes / bandwidth (one read pass).
3. In-process ``Recommender.recommend`` for one user (k=50, exclude_seen): p50 / p99 over random known users,
   wall and process CPU time (all threads), with the fused numba kernel (the default) and, as the in-run
   anchor, the numpy path; each kernel alone (numba on 2 threads and on 1); batches of 8 and 64 users per
   call (one pass over the table per batch); the same pass in torch (no autograd); fold-in requests.
4. HTTP on loopback: ``lsec serve`` in a subprocess on 127.0.0.1, 32 concurrent keep-alive clients (raw asyncio
   streams by default: httpx cost as much CPU per request as the server, on the same 2 cores; ``--httpx-client``
   to use it), a bounded number of requests and a time limit; throughput, p50 / p99, errors, server and
   client CPU per request.

Usage::

    .venv/bin/python benchmarks/serve_latency.py --artifact /tmp/lsec-large-artifact        # builds it once
    .venv/bin/python benchmarks/serve_latency.py --artifact /tmp/lsec-large-artifact --requests 6000 --workers 1 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

LARGE = {"user": 202_850, "item": 109_502, "streamer": 7_395, "buy": 3_062_463, "follow": 5_439_288, "sell": 1_953_881}


def build_artifact_dir(out: Path, seed: int = 0) -> None:
    import torch

    from lsec.data.graph import EdgeTable, HeteroGraph
    from lsec.nn.models.registry import build_model
    from lsec.serve.artifact import build_artifact, save_artifact
    from lsec.train.runs import build_graphs

    rng = np.random.default_rng(seed)
    n = LARGE

    def edges(src_type: str, dst_type: str, count: int) -> EdgeTable:
        return EdgeTable(rng.integers(0, n[src_type], count), rng.integers(0, n[dst_type], count), np.zeros(count))

    graph = HeteroGraph(
        num_nodes={"user": n["user"], "item": n["item"], "streamer": n["streamer"]},
        edges={
            ("user", "buy", "item"): edges("user", "item", n["buy"]),
            ("user", "follow", "streamer"): edges("user", "streamer", n["follow"]),
            ("streamer", "sell", "item"): edges("streamer", "item", n["sell"]),
        },
        node_ids={t: np.array([f"{t[0]}{i}" for i in range(n[t])], dtype=object) for t in ("user", "item", "streamer")},
        name="lsec-large-shaped-random",
    )
    torch.manual_seed(seed)
    model = build_model("lsec-gcn", num_users=n["user"], num_items=n["item"], num_streamers=n["streamer"]).eval()
    t0 = time.perf_counter()
    graphs = build_graphs(graph, model.relations, self_loops=True)
    with torch.no_grad():
        enc = model.encode(graphs)
    artifact = build_artifact(
        model, enc, graph, model_name="lsec-gcn", source={"note": "randomly initialised, lsec-large-sized"}
    )
    save_artifact(artifact, out, overwrite=True)
    print(f"built artifact in {time.perf_counter() - t0:.1f} s -> {out}", file=sys.stderr)


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1e3
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
        "n": len(ms),
    }


def copy_bandwidth(nbytes: int, repeats: int = 30) -> dict[str, float]:
    src = np.ones(nbytes // 4, dtype=np.float32)
    dst = np.empty_like(src)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - t0)
    t = float(np.median(times))
    # A copy reads and writes nbytes: bandwidth counts both directions.
    return {"copy_ms": t * 1e3, "bandwidth_gb_s": 2 * nbytes / t / 1e9}


def timed(fn, calls: int) -> tuple[list[float], list[float]]:
    """Wall and process CPU seconds (all threads: numba's workers included) of ``calls`` calls of ``fn(i)``."""
    wall, cpu = [], []
    for i in range(calls):
        c0, t0 = time.process_time(), time.perf_counter()
        fn(i)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def in_process(artifact: Path, calls: int, seed: int) -> dict[str, object]:
    from lsec.serve import kernels
    from lsec.serve.recommender import Recommender
    from lsec.serve.scoring import mlp_scores

    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    rec = Recommender.load(artifact)  # warms the numba kernels up (on-disk cache after the first time)
    load_s = time.perf_counter() - t0
    slow = Recommender(rec.artifact, kernel="numpy")
    tables = rec.artifact.tasks["buy"]
    assert tables.rest is not None
    rng = np.random.default_rng(seed)
    users = rec.artifact.ids["user"][rng.integers(0, rec.num_nodes("user"), calls)].tolist()
    rec.recommend([users[0]], k=50)  # page the table in
    t0 = time.perf_counter()
    rec.recommend([users[1]], k=50)
    first_call_ms = (time.perf_counter() - t0) * 1e3

    one, one_cpu = timed(lambda i: rec.recommend([users[i]], k=50, exclude_seen=True), calls)
    anchor_calls = max(20, calls // 4)
    np_one, np_one_cpu = timed(lambda i: slow.recommend([users[i]], k=50, exclude_seen=True), anchor_calls)
    np_kernel, np_kernel_cpu = timed(
        lambda i: mlp_scores(tables.query_part[i : i + 1], tables.target_part, tables.rest), anchor_calls
    )
    seen = [rec.artifact.interactions["buy"].row(i) for i in range(calls)]
    nb_kernel, nb_kernel_cpu = timed(
        lambda i: kernels.rank(
            "mlp", tables.target_part, tables.query_part[i : i + 1], tables.rest, 50, seen[i : i + 1]
        ),
        calls,
    )
    threads = kernels.num_threads()
    kernels.set_threads(1)
    nb1, nb1_cpu = timed(
        lambda i: kernels.rank(
            "mlp", tables.target_part, tables.query_part[i : i + 1], tables.rest, 50, seen[i : i + 1]
        ),
        calls,
    )
    kernels.set_threads(threads)
    batches = {}
    for size in (8, 64):
        reps = max(5, calls // size // 2)
        wall, cpu = timed(lambda i: rec.recommend(users[(i * size) % calls :][:size], k=50), reps)
        batches[f"batch_{size}_users"] = {
            "per_call": percentiles(wall),
            "per_user_p50_ms": float(np.median(wall)) * 1e3 / size,
            "cpu_per_user_p50_ms": float(np.median(cpu)) * 1e3 / size,
        }
    torch_times = torch_pass(tables, min(calls, 30))
    buy = rec.artifact.interactions["buy"]
    follow = rec.artifact.interactions["follow"]
    histories = []
    for _ in range(min(calls, 200)):
        u = int(rng.integers(0, rec.num_nodes("user")))
        histories.append(
            (rec.artifact.ids["item"][buy.row(u)].tolist(), rec.artifact.ids["streamer"][follow.row(u)].tolist())
        )
    fold, _ = timed(
        lambda i: rec.recommend_user("new", k=50, bought_items=histories[i][0], followed_streamers=histories[i][1]),
        len(histories),
    )
    return {
        "kernel": rec.kernel,
        "numba_threads": threads,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
        "recommender_load_s": load_s,
        "first_call_after_load_ms": first_call_ms,
        "recommend_one_user_k50": percentiles(one),
        "recommend_one_user_k50_cpu": percentiles(one_cpu),
        "numpy_recommend_one_user_k50": percentiles(np_one),
        "numpy_recommend_one_user_k50_cpu": percentiles(np_one_cpu),
        "numpy_kernel_only": percentiles(np_kernel),
        "numpy_kernel_only_cpu": percentiles(np_kernel_cpu),
        "numba_kernel_only": percentiles(nb_kernel),
        "numba_kernel_only_cpu": percentiles(nb_kernel_cpu),
        "numba_kernel_1_thread": percentiles(nb1),
        "numba_kernel_1_thread_cpu": percentiles(nb1_cpu),
        **batches,
        "torch_same_pass": percentiles(torch_times),
        "fold_in_k50": percentiles(fold),
        "table_shape": list(tables.target_part.shape),
        "table_bytes": int(tables.target_part.nbytes),
    }


def torch_pass(tables, calls: int) -> list[float]:
    """The same exact pass in torch without autograd (relu(T + p) @ w2 + b2), one user at a time."""
    import torch

    target = torch.from_numpy(tables.target_part)
    w = torch.from_numpy(tables.rest.weights[0][0])
    b = float(tables.rest.biases[0][0])
    times = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one request = one core, as in the numpy path (threads only fight here)
    with torch.inference_mode():
        for i in range(calls):
            q = torch.from_numpy(tables.query_part[i])
            t0 = time.perf_counter()
            scores = torch.relu(target + q) @ w + b
            torch.topk(scores, 50)
            times.append(time.perf_counter() - t0)
    torch.set_num_threads(threads)
    return times


def process_tree_cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its descendants (Linux /proc), in seconds."""
    total = 0.0
    stack = [pid]
    tick = os.sysconf("SC_CLK_TCK")
    while stack:
        current = stack.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_load(
    artifact: Path,
    workers: int,
    clients: int,
    requests: int,
    limit_s: float,
    seed: int,
    batching: bool = True,
    raw_client: bool = True,
) -> dict[str, object]:
    import httpx

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "lsec", "serve", str(artifact), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers), "--batching" if batching else "--no-batching"]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {server.communicate()[1].decode()[-2000:]}")
            time.sleep(0.3)
        num_users = httpx.get(f"{base}/healthz").json()["nodes"]["user"]
        rng = np.random.default_rng(seed)
        user_ids = [f"u{i}" for i in rng.integers(0, num_users, requests)]
        latencies: list[float] = []
        errors: dict[str, int] = {}
        # Warm-up, then the timed run: `clients` asyncio tasks on one connection pool, each one request at a time.
        with httpx.Client(base_url=base) as warm:
            for u in user_ids[:20]:
                warm.get(f"/v1/users/{u}/items", params={"k": 50})
        cpu_before = process_tree_cpu_seconds(server.pid)
        client_before = time.process_time()
        driver = drive_raw if raw_client else drive
        wall = asyncio.run(driver(base, user_ids, clients, limit_s, latencies, errors))
        client_cpu = time.process_time() - client_before
        server_cpu = process_tree_cpu_seconds(server.pid) - cpu_before
        alive = httpx.get(f"{base}/healthz").status_code == 200
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    done = len(latencies)
    return {
        "workers": workers,
        "batching": batching,
        "clients": clients,
        "client": "raw asyncio sockets (HTTP/1.1 keep-alive)" if raw_client else "httpx.AsyncClient",
        "requests_ok": done,
        "errors": errors,
        "wall_s": wall,
        "throughput_rps": done / wall,
        "server_cpu_s": server_cpu,
        "server_cpu_ms_per_request": server_cpu / max(done, 1) * 1e3,
        "client_cpu_ms_per_request": client_cpu / max(done, 1) * 1e3,
        "capacity_rps_if_2_free_cores": 2 / (server_cpu / max(done, 1)) if done and server_cpu else None,
        "latency": percentiles(latencies) if latencies else {},
        "alive_after": alive,
    }


async def drive(
    base: str, user_ids: list[str], clients: int, limit_s: float, latencies: list[float], errors: dict[str, int]
) -> float:
    import httpx

    next_index = iter(range(len(user_ids)))
    stop_at = time.monotonic() + limit_s
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

        async def one_client() -> None:
            for i in next_index:
                if time.monotonic() > stop_at:
                    return
                t0 = time.perf_counter()
                try:
                    response = await client.get(f"/v1/users/{user_ids[i]}/items", params={"k": 50})
                    ok = response.status_code == 200 and len(response.json()["recommendations"]) == 50
                    key = None if ok else f"status {response.status_code}"
                except httpx.HTTPError as err:
                    key = type(err).__name__
                if key is None:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors[key] = errors.get(key, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        return time.perf_counter() - t0


async def drive_raw(
    base: str, user_ids: list[str], clients: int, limit_s: float, latencies: list[float], errors: dict[str, int]
) -> float:
    """Like :func:`drive` with a minimal HTTP/1.1 keep-alive client on raw asyncio streams: httpx costs about as
    much CPU per request as the server, and the load generator shares the 2 cores with it."""
    host = base.removeprefix("http://").split(":")[0]
    requests = [f"GET /v1/users/{u}/items?k=50 HTTP/1.1\r\nHost: {host}\r\n\r\n".encode() for u in user_ids]
    return await drive_requests(
        base, requests, lambda body: len(json.loads(body)["recommendations"]) == 50, clients, limit_s, latencies, errors
    )


async def drive_requests(
    base: str,
    requests: list[bytes],
    accept: Callable[[bytes], bool],
    clients: int,
    limit_s: float,
    latencies: list[float],
    errors: dict[str, int],
) -> float:
    """``clients`` keep-alive connections on raw asyncio streams, each sending the next of ``requests`` (complete
    HTTP/1.1 requests) one at a time until they or ``limit_s`` run out. A 200 whose body ``accept`` takes adds its
    latency to ``latencies``; anything else is counted in ``errors``. Returns the wall seconds."""
    host, port = base.removeprefix("http://").split(":")
    next_index = iter(range(len(requests)))
    stop_at = time.monotonic() + limit_s

    async def one_client() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for i in next_index:
                if time.monotonic() > stop_at:
                    return
                t0 = time.perf_counter()
                writer.write(requests[i])
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                status = int(lines[0].split()[1])
                length = next(int(x.split(":")[1]) for x in lines if x.lower().startswith("content-length:"))
                body = await reader.readexactly(length)
                if status == 200 and accept(body):
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors[f"status {status}"] = errors.get(f"status {status}", 0) + 1
        except (OSError, asyncio.IncompleteReadError, ValueError) as err:
            errors[type(err).__name__] = errors.get(type(err).__name__, 0) + 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", type=Path, default=Path("/tmp/lsec-large-artifact"))
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--calls", type=int, default=400, help="in-process calls per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="in-process repetitions (medians reported)")
    parser.add_argument("--requests", type=int, default=6000, help="HTTP requests per load run (upper bound)")
    parser.add_argument("--time-limit", type=float, default=40.0, help="seconds per HTTP load run (upper bound)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--only-http", action="store_true", help="skip the in-process measurements")
    parser.add_argument("--httpx-client", action="store_true", help="load with httpx.AsyncClient (heavier client)")
    parser.add_argument("--compare-batching", action="store_true", help="also run each HTTP load without batching")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "serve_latency.json")
    args = parser.parse_args()
    load_at_start = os.getloadavg()

    if args.rebuild or not (args.artifact / "artifact.json").is_file():
        build_artifact_dir(args.artifact)
    table_bytes = (
        int(
            np.prod(
                json.loads((args.artifact / "artifact.json").read_text())["files"]["tasks/buy/target_part.npy"]["shape"]
            )
        )
        * 4
    )
    runs = []
    for r in range(0 if args.only_http else args.repeats):
        bandwidth = copy_bandwidth(table_bytes)
        measured = in_process(args.artifact, args.calls, seed=r)
        floor_ms = table_bytes / (bandwidth["bandwidth_gb_s"] * 1e9) * 1e3
        runs.append({"bandwidth": bandwidth, "floor_ms": floor_ms, **measured})
        p50 = measured["recommend_one_user_k50"]["p50_ms"]  # type: ignore[index]
        p99 = measured["recommend_one_user_k50"]["p99_ms"]  # type: ignore[index]
        anchor = measured["numpy_recommend_one_user_k50"]["p50_ms"]  # type: ignore[index]
        print(
            f"run {r}: recommend p50 {p50:.2f} ms p99 {p99:.2f} ms (numpy {anchor:.2f}), floor {floor_ms:.2f} ms, "
            f"load {os.getloadavg()[0]:.1f}",
            file=sys.stderr,
        )

    def med(path: list[str]) -> float:
        if not runs:
            return float("nan")
        values = []
        for run in runs:
            x: object = run
            for key in path:
                x = x[key]  # type: ignore[index]
            values.append(float(x))  # type: ignore[arg-type]
        return float(np.median(values))

    summary = {
        "table_bytes": table_bytes,
        "copy_bandwidth_gb_s": med(["bandwidth", "bandwidth_gb_s"]),
        "floor_ms": med(["floor_ms"]),
        "recommend_p50_ms": med(["recommend_one_user_k50", "p50_ms"]),
        "recommend_p99_ms": med(["recommend_one_user_k50", "p99_ms"]),
        "recommend_cpu_p50_ms": med(["recommend_one_user_k50_cpu", "p50_ms"]),
        "recommend_cpu_p99_ms": med(["recommend_one_user_k50_cpu", "p99_ms"]),
        "numpy_recommend_p50_ms": med(["numpy_recommend_one_user_k50", "p50_ms"]),
        "numpy_recommend_cpu_p50_ms": med(["numpy_recommend_one_user_k50_cpu", "p50_ms"]),
        "numpy_kernel_p50_ms": med(["numpy_kernel_only", "p50_ms"]),
        "numba_kernel_p50_ms": med(["numba_kernel_only", "p50_ms"]),
        "numba_kernel_p99_ms": med(["numba_kernel_only", "p99_ms"]),
        "numba_kernel_cpu_p50_ms": med(["numba_kernel_only_cpu", "p50_ms"]),
        "numba_kernel_1_thread_p50_ms": med(["numba_kernel_1_thread", "p50_ms"]),
        "batch_8_per_user_ms": med(["batch_8_users", "per_user_p50_ms"]),
        "batch_64_per_user_ms": med(["batch_64_users", "per_user_p50_ms"]),
        "torch_p50_ms": med(["torch_same_pass", "p50_ms"]),
        "fold_in_p50_ms": med(["fold_in_k50", "p50_ms"]),
        "fold_in_p99_ms": med(["fold_in_k50", "p99_ms"]),
    }
    summary["recommend_over_floor"] = summary["recommend_p50_ms"] / summary["floor_ms"]
    summary["recommend_cpu_over_floor"] = summary["recommend_cpu_p50_ms"] / summary["floor_ms"]
    summary["numpy_over_numba_recommend"] = summary["numpy_recommend_p50_ms"] / summary["recommend_p50_ms"]
    http = []
    if not args.skip_http:
        for workers in args.workers:
            for batching in (True, False) if args.compare_batching else (True,):
                result = http_load(
                    args.artifact,
                    workers,
                    args.clients,
                    args.requests,
                    args.time_limit,
                    seed=workers,
                    batching=batching,
                    raw_client=not args.httpx_client,
                )
                http.append(result)
                print(
                    f"http workers={workers} batching={batching}: {result['throughput_rps']:.0f} req/s, "
                    f"{result['latency']}, errors {result['errors']}",
                    file=sys.stderr,
                )
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "load_average_at_start": load_at_start,
            "load_average_at_end": os.getloadavg(),
            "note": "2 cores shared with teammates' training and tests while measuring",
        },
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "summary": summary,
        "in_process_runs": runs,
        "http": http,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({"summary": summary, "http": http}, indent=2))


if __name__ == "__main__":
    main()
