"""Serving replicas (issue 16.4): memory of each forked worker and requests/s with 1 vs 2 workers.

    flock /tmp/lsec-cpu.lock .venv/bin/python benchmarks/serve_replicas.py [--seconds 15] [--clients 32]

Writes a synthetic artifact the size of lsec-large (202,850 users, 109,502 items, 7,395 streamers; dot tables
of width 64 for buy and follow; 3.06M buy and 5.44M follow training edges) to /tmp/lsec-serve-replicas, serves
it with ``lsec serve --workers N`` (N = 1, 2), and for each process reads /proc/PID/smaps_rollup: Rss, Pss
(shared pages divided among the processes that map them) and Private (pages only this process has). Then 32
concurrent clients (one asyncio process, keep-alive) send GET /v1/users/{id}/items?k=10 for ``--seconds``.
The clients run on the same cores as the server: requests/s is a lower bound of what the server does alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from lsec.serve.artifact import Artifact, Interactions, TaskTables, save_artifact

ROOT = Path("/tmp/lsec-serve-replicas")
USERS, ITEMS, STREAMERS, WIDTH = 202_850, 109_502, 7_395, 64
BUYS, FOLLOWS = 3_062_463, 5_439_288


def csr(rng: np.random.Generator, rows: int, cols: int, edges: int) -> Interactions:
    """Random training edges as the artifact stores them: distinct sorted targets per user row."""
    src, dst = rng.integers(0, rows, edges), rng.integers(0, cols, edges)
    keys = np.unique(src * cols + dst)
    users, targets = keys // cols, (keys % cols).astype(np.int32)
    indptr = np.searchsorted(users, np.arange(rows + 1)).astype(np.int64)
    return Interactions("", indptr, targets, np.bincount(dst, minlength=cols).astype(np.float32))


def write_artifact() -> Path:
    out = ROOT / "artifact"
    if (out / "artifact.json").is_file():
        return out
    rng = np.random.default_rng(0)
    ids = {
        "user": np.array([f"u{i}" for i in range(USERS)]),
        "item": np.array([f"i{i}" for i in range(ITEMS)]),
        "streamer": np.array([f"s{i}" for i in range(STREAMERS)]),
    }
    users = rng.standard_normal((USERS, WIDTH), dtype=np.float32)
    tasks = {
        "buy": TaskTables("buy", "dot", ("q",), ("t",), rng.standard_normal((ITEMS, WIDTH), dtype=np.float32), users),
        "follow": TaskTables(
            "follow", "dot", ("q",), ("t",), rng.standard_normal((STREAMERS, WIDTH), dtype=np.float32), users
        ),
    }
    buy, follow = csr(rng, USERS, ITEMS, BUYS), csr(rng, USERS, STREAMERS, FOLLOWS)
    interactions = {"buy": Interactions("buy", buy.indptr, buy.indices, buy.popularity)}
    interactions["follow"] = Interactions("follow", follow.indptr, follow.indices, follow.popularity)
    artifact = Artifact("synthetic-lsec-large", ids, tasks, interactions, {}, {}, {"benchmark": "serve_replicas"})
    shutil.rmtree(out, ignore_errors=True)
    return save_artifact(artifact, out)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def memory(pid: int) -> dict[str, float]:
    """Rss, Pss and Private (clean + dirty) of ``pid`` in MiB, from /proc/PID/smaps_rollup."""
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = float(value.split()[0]) / 1024
    return {
        "rss": round(fields["Rss"], 1),
        "pss": round(fields["Pss"], 1),
        "private": round(fields["Private_Clean"] + fields["Private_Dirty"], 1),
    }


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return sorted(int(p) for p in out)


async def load(base: str, clients: int, seconds: float) -> dict[str, float]:
    done, failed, latencies = 0, 0, []
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(http: httpx.AsyncClient, seed: int) -> None:
        nonlocal done, failed
        local = np.random.default_rng([1, seed])
        while time.monotonic() < stop:
            start = time.perf_counter()
            try:
                response = await http.get(f"/v1/users/u{int(local.integers(USERS))}/items", params={"k": 10})
            except httpx.HTTPError:
                failed += 1
                continue
            latencies.append(time.perf_counter() - start)
            if response.status_code == 200:
                done += 1
            else:
                failed += 1

    async with httpx.AsyncClient(base_url=base, timeout=300, limits=limits) as http:
        started = time.monotonic()
        await asyncio.gather(*(client(http, i) for i in range(clients)))
        wall = time.monotonic() - started
    ms = np.array(latencies) * 1000
    return {
        "requests_per_s": round(done / wall, 1),
        "failed": failed,
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
    }


def run(workers: int, artifact: Path, clients: int, seconds: float) -> dict[str, object]:
    port = free_port()
    lsec = Path(sys.executable).with_name("lsec")
    cmd = [str(lsec), "serve", str(artifact), "--port", str(port), "--workers", str(workers), "--watch", "0"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    try:
        pids: set[int] = set()
        while len(pids) < workers:  # every worker answered once (its pages are touched)
            try:
                pids.add(httpx.get(f"{base}/healthz", timeout=10).json()["serving"]["pid"])
            except httpx.TransportError:
                time.sleep(0.5)
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"server did not start: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        asyncio.run(load(base, clients, 3.0))  # warm: every worker scores, numba threads up
        before = {pid: memory(pid) for pid in [proc.pid, *children(proc.pid)]}
        result = asyncio.run(load(base, clients, seconds))
        after = {pid: memory(pid) for pid in [proc.pid, *children(proc.pid)]}
    finally:
        proc.terminate()
        proc.wait(30)
    return {"workers": workers, **result, "memory_after_warm_up": before, "memory_after_load": after}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15.0, help="Load duration per configuration.")
    parser.add_argument("--clients", type=int, default=32, help="Concurrent clients.")
    parser.add_argument("--out", type=Path, default=ROOT / "results.json", help="Where to write the figures.")
    args = parser.parse_args()
    ROOT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    artifact = write_artifact()
    size = sum(f.stat().st_size for f in artifact.rglob("*.npy")) / 2**20
    print(f"artifact {artifact}: {size:.0f} MiB of arrays ({time.perf_counter() - started:.0f} s)", flush=True)
    results = {"artifact_mib": round(size, 1), "load_average": os.getloadavg(), "runs": []}
    for workers in (1, 2):
        result = run(workers, artifact, args.clients, args.seconds)
        print(json.dumps(result), flush=True)
        results["runs"].append(result)  # type: ignore[attr-defined]
    results["load_average_end"] = os.getloadavg()
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
