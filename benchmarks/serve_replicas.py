"""Serving replicas (issue 16.4): memory of each forked worker, requests/s with N workers, hot swap under load.

    .venv/bin/python benchmarks/serve_replicas.py --workers 1,2,4 --seconds 0            # memory only
    flock /tmp/lsec-cpu.lock .venv/bin/python benchmarks/serve_replicas.py --workers 1,2 --seconds 20 --swap

Serves ``--artifact`` (default: a synthetic artifact the size of lsec-large, 202,850 users, 109,502 items,
7,395 streamers, dot tables of width 64 for buy and follow, 3.06M buy and 5.44M follow training edges, written
to /tmp/lsec-serve-replicas) with ``lsec serve --workers N`` for every N of ``--workers``. After a warm-up at
``--clients`` concurrent clients and again after the timed load it reads /proc/PID/smaps_rollup of the parent
and every worker: Rss, Pss (shared pages divided among the processes that map them; the sum over the processes
is what the service occupies) and Private (pages only this process has, anonymous and file-backed). The
figure of issue 16.4 is the memory an extra worker adds: (sum of Pss with N workers - Pss of one worker) /
(N - 1), as a share of one worker's Pss. Load: ``--clients`` concurrent clients (one asyncio process,
keep-alive) send GET /v1/users/{id}/items?k=10 for ``--seconds`` (random users, seeded); the clients run on
the same cores as the server, so requests/s is a lower bound of what the server does alone.

``--swap``: with the largest N, serve a symlink to the artifact with ``--watch 1``, and halfway through the
load repoint the symlink (atomic rename) to a second export (the same arrays, hard-linked, another model name)
and POST /admin/reload; every request must answer 200, and afterwards every worker must report the new
export (``/healthz``, generation 1).
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
    """Rss, Pss and Private (clean + dirty) of ``pid`` in MiB, from /proc/PID/smaps_rollup; ``pss_npy``: the Pss
    of the mapped .npy files (the artifact's pages in the page cache: how many of them are resident depends on
    how many users the load happened to touch, not on the number of workers), and ``private_anon``: the
    private pages that are not file mappings (what a worker allocated or copied)."""
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = float(value.split()[0]) / 1024
    npy, anon, name = 0.0, 0.0, ""
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if head and not head[0].endswith(":"):  # the first line of a mapping: address range ... [path]
            name = head[5] if len(head) > 5 else ""
        elif head and head[0] == "Pss:" and name.endswith(".npy"):
            npy += float(head[1]) / 1024
        elif head and head[0] in ("Private_Clean:", "Private_Dirty:") and not name.startswith("/"):
            anon += float(head[1]) / 1024
    return {
        "rss": round(fields["Rss"], 1),
        "pss": round(fields["Pss"], 1),
        "private": round(fields["Private_Clean"] + fields["Private_Dirty"], 1),
        "pss_npy": round(npy, 1),
        "private_anon": round(anon, 1),
    }


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return sorted(int(p) for p in out)


async def load(
    base: str, users: np.ndarray, clients: int, seconds: float, swap: Path | None = None
) -> dict[str, object]:
    """``clients`` concurrent keep-alive clients for ``seconds``; with ``swap`` (the symlink served), the symlink
    moves to its ``.v2`` sibling halfway and POST /admin/reload is sent."""
    done, failed, latencies = 0, 0, []
    stop = time.monotonic() + seconds
    swap_report: dict[str, object] = {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(http: httpx.AsyncClient, seed: int) -> None:
        nonlocal done, failed
        local = np.random.default_rng([1, seed])
        while time.monotonic() < stop:
            start = time.perf_counter()
            try:
                response = await http.get(f"/v1/users/{users[local.integers(len(users))]}/items", params={"k": 10})
            except httpx.HTTPError:
                failed += 1
                continue
            latencies.append(time.perf_counter() - start)
            if response.status_code == 200:
                done += 1
            else:
                failed += 1

    async def swapper(http: httpx.AsyncClient) -> None:
        assert swap is not None
        await asyncio.sleep(seconds / 2)
        swap_report["answered_before_swap"] = done
        tmp = swap.with_name(swap.name + ".tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(swap.with_name(swap.name + ".v2").name)
        os.replace(tmp, swap)  # atomic: the watchers of the other workers follow within a second
        reply = await http.post("/admin/reload")
        swap_report["reload"] = {"status": reply.status_code, **reply.json()}
        swap_report["answered_at_reload"] = done

    async with httpx.AsyncClient(base_url=base, timeout=300, limits=limits) as http:
        started = time.monotonic()
        tasks = [client(http, i) for i in range(clients)]
        if swap is not None:
            tasks.append(swapper(http))
        await asyncio.gather(*tasks)
        wall = time.monotonic() - started
    ms = np.array(latencies) * 1000
    return {
        "requests": done + failed,
        "requests_per_s": round(done / wall, 1),
        "failed": failed,
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        **({"swap": swap_report} if swap is not None else {}),
    }


def pss_summary(memory: dict[int, dict[str, float]], parent: int) -> dict[str, float]:
    workers = [m for pid, m in memory.items() if pid != parent]
    return {
        "total_pss": round(sum(m["pss"] for m in memory.values()), 1),
        "total_pss_without_npy": round(sum(m["pss"] - m["pss_npy"] for m in memory.values()), 1),
        "worker_private_anon_max": max((m["private_anon"] for m in workers), default=0.0),
    }


def run(workers: int, artifact: Path, clients: int, seconds: float, swap: bool = False) -> dict[str, object]:
    """Serve ``artifact`` with ``--workers workers``; memory after a warm-up and after ``seconds`` of load."""
    port = free_port()
    lsec = Path(sys.executable).with_name("lsec")
    served = artifact
    if swap:  # a symlink to the artifact, and a second export (same arrays, hard-linked) to swap to
        served = ROOT / "current"
        second = ROOT / "current.v2"
        shutil.rmtree(second, ignore_errors=True)
        shutil.copytree(artifact, second, copy_function=os.link)
        manifest = json.loads((second / "artifact.json").read_text())
        manifest["model"] = f"{manifest['model']}-v2"
        (second / "artifact.json").unlink()  # hard-linked to the first export's: write a new file
        (second / "artifact.json").write_text(json.dumps(manifest, indent=2))
        served.unlink(missing_ok=True)
        served.symlink_to(artifact.resolve())
    cmd = [str(lsec), "serve", str(served), "--port", str(port), "--workers", str(workers)]
    cmd += ["--watch", "1" if swap else "0"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    users = np.load(artifact / "ids" / "user.npy")
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
        asyncio.run(load(base, users, clients, 3.0))  # warm: every worker scores
        tree = [proc.pid, *children(proc.pid)]
        before = {pid: memory(pid) for pid in tree}
        result: dict[str, object] = {}
        after = before
        if seconds > 0:
            result = asyncio.run(load(base, users, clients, seconds, served if swap else None))
            after = {pid: memory(pid) for pid in [proc.pid, *children(proc.pid)]}
        if swap:  # every worker serves the new export (the watcher of each follows the symlink)
            seen: dict[int, dict[str, object]] = {}
            for _ in range(50 * workers):
                health = httpx.get(f"{base}/healthz", timeout=10).json()
                seen[health["serving"]["pid"]] = {
                    "model": health["model"],
                    "generation": health["serving"]["generation"],
                }
            result["workers_after_swap"] = seen
    finally:
        proc.terminate()
        proc.wait(30)
    return {
        "workers": workers,
        "parent_pid": proc.pid,
        **result,
        "memory_after_warm_up": before,
        "memory_after_load": after,
        "summary_after_warm_up": pss_summary(before, proc.pid),
        "summary_after_load": pss_summary(after, proc.pid),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", type=Path, default=None, help="An lsec export (default: the synthetic one).")
    parser.add_argument("--workers", default="1,2", help="Comma-separated worker counts (1 comes first).")
    parser.add_argument("--seconds", type=float, default=15.0, help="Load duration per configuration (0: memory only).")
    parser.add_argument("--clients", type=int, default=32, help="Concurrent clients.")
    parser.add_argument("--swap", action="store_true", help="Hot swap under load with the largest worker count.")
    parser.add_argument("--out", type=Path, default=ROOT / "results.json", help="Where to write the figures.")
    args = parser.parse_args()
    counts = sorted({int(w) for w in args.workers.split(",")})
    if counts[0] != 1 or args.clients < 1 or args.seconds < 0:
        parser.error("--workers must include 1 (the reference); --clients >= 1; --seconds >= 0")
    ROOT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    artifact = args.artifact.resolve() if args.artifact is not None else write_artifact()
    size = sum(f.stat().st_size for f in artifact.rglob("*.npy")) / 2**20
    print(f"artifact {artifact}: {size:.0f} MiB of arrays ({time.perf_counter() - started:.0f} s)", flush=True)
    results: dict[str, object] = {"artifact": str(artifact), "artifact_mib": round(size, 1)}
    results["load_average"] = os.getloadavg()
    runs = []
    for workers in counts:
        swap = args.swap and workers == counts[-1]
        result = run(workers, artifact, args.clients, args.seconds, swap=swap)
        print(json.dumps(result), flush=True)
        runs.append(result)
    key = "summary_after_load"
    for field in ("total_pss", "total_pss_without_npy"):
        one = runs[0][key][field]  # type: ignore[index]
        for result in runs[1:]:
            extra = (result[key][field] - one) / (int(result["workers"]) - 1)  # type: ignore[index, operator]
            result[f"extra_per_worker_{field}"] = round(extra, 1)
            result[f"extra_per_worker_{field}_share_of_one"] = round(extra / one, 3)
            print(
                f"{result['workers']} workers, {field}: {result[key][field]} MiB (1 worker {one}): "  # type: ignore[index]
                f"{extra:.1f} MiB per extra worker = {100 * extra / one:.1f} % of one",
                flush=True,
            )
    results["runs"] = runs
    results["load_average_end"] = os.getloadavg()
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
