"""Gift ranking service latency (issue 14 point 5; MMBee Figure 6): one user and 200 candidate live segments.

What it measures (figures go to benchmarks/results/gift_serve_latency.json and the README section):

1. Setup (reused when present): ``lsec data simulate --preset mmbee --scale S``, an expansion store of every gift
   (``lsec mmbee build-store --epochs 0 --until all``: random tables; latency does not depend on the weights),
   and gift artifacts of UNTRAINED models built by the GTR objective from that data and store
   (:func:`lsec.serve.gifts.write_gift_artifact`): SIM + GIE + MFQ (configs/mmbee/sim-gie-mfq.yaml) and
   SIM + GIE (configs/mmbee/sim-gie.yaml).
2. In process, per request of 200 stored segments (out of 2,000 live ones) for a random known user (p50 / p99
   over ``--calls``, wall and process CPU): ``GiftRanker.rank`` end to end with MFQ's ``h_m`` cached per
   segment (computed once when a segment is first seen) and with it fused on every request; the same request with the expansion rows replaced by zeros (the backbone
   alone: every cost but the store read); the store read alone; and per metapath the expansion of the request
   (the user for u2a2u / u2a2u2a / u2a2a, the 200 streamers for a2a / a2u2a) read from the store versus walked
   on the fly on the gift graph (:func:`lsec.graph.metapath.metapath_neighbours` + mean pooling, the numba
   kernel on one thread).
3. HTTP on loopback: ``lsec serve ARTIFACT`` in a subprocess, 32 concurrent keep-alive clients (raw asyncio
   streams, the machinery of benchmarks/serve_latency.py) POSTing /v1/gifts/rank with 200 segment ids;
   throughput, p50 / p99, errors, server CPU per request.

Usage::

    flock /tmp/lsec-cpu.lock .venv/bin/python benchmarks/gift_serve_latency.py --work /tmp/gift-latency --scale 0.25
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CANDIDATES = 200


def cli(*args: object) -> None:
    subprocess.run([sys.executable, "-m", "lsec", *map(str, args)], check=True, cwd=REPO)


def setup(work: Path, scale: float, seed: int) -> dict[str, Path]:
    import torch

    from lsec.config import load_config
    from lsec.serve.gifts import is_gift_artifact, write_gift_artifact
    from lsec.train.gtr import gtr_objective

    data, store = work / "data", work / "store"
    if not (data / "meta.json").is_file():
        cli("data", "simulate", "--preset", "mmbee", "--scale", scale, "--seed", seed, "--out", data)
    if not (store / "manifest.json").is_file():
        args = ("--k", 20, "--epochs", 0, "--dim", 64, "--until", "all", "--device", "cpu", "--seed", seed)
        cli("mmbee", "build-store", "--data", data, "--out", store, *args)
    out = {}
    for name in ("sim-gie-mfq", "sim-gie"):
        artifact = work / f"artifact-{name}"
        if not is_gift_artifact(artifact):
            overrides = [
                f"data.dataset={data}",
                f"model.hparams.store={store}",
                "train.validate=false",
                f"train.seed={seed}",
            ]
            cfg = load_config(REPO / "configs" / "mmbee" / f"{name}.yaml", overrides)
            torch.manual_seed(seed)
            objective, _ = gtr_objective(cfg, torch.device("cpu"))
            objective.model.eval()
            write_gift_artifact(
                artifact, objective.model, objective, data, model_name=cfg.model.name, source={"untrained": True}
            )
        out[name] = artifact
    out["data"], out["store"] = data, store
    return out


LIVE_SEGMENTS = 2_000  # segments live at the moment of the requests (candidates are drawn from them)


def requests_for(ranker, count: int, seed: int) -> list[tuple[int, list[int], int]]:
    """(user, 200 segment rows, ts) per request: users with at least one gift, 200 distinct segments of the
    LIVE_SEGMENTS live ones, ts after every gift."""
    rng = np.random.default_rng(seed)
    givers = np.unique(np.asarray(ranker.artifact.gifts.gift_keys) >> 32)
    ts = int(np.asarray(ranker.artifact.gifts.gift_ts).max()) + 60
    n = max(ranker.num_stored_segments, 1)  # a model without MFQ stores no segments (its candidates are streamers)
    live = rng.choice(n, min(LIVE_SEGMENTS, n), replace=False)
    picks = min(CANDIDATES, live.size)
    return [(int(rng.choice(givers)), rng.choice(live, picks, replace=False).tolist(), ts) for _ in range(count)]


def in_process(paths: dict[str, Path], calls: int, seed: int) -> dict[str, object]:
    from lsec.data.store import load
    from lsec.graph.metapath import mean_pool, metapath_neighbours
    from lsec.graph.swing import gift_graph, swing
    from lsec.serve.gifts import STREAMER_METAPATHS, USER_METAPATHS, Candidate, GiftRanker
    from serve_latency import percentiles, timed

    out: dict[str, object] = {}
    for name in ("sim-gie-mfq", "sim-gie"):
        ranker = GiftRanker.load(paths[f"{name}"])
        content = ranker.artifact.content
        reqs = requests_for(ranker, calls, seed)

        def candidates(i: int) -> list[Candidate]:
            rows = reqs[i][1]
            if content is None:  # no MFQ: the segment still names the streamer
                streamers = np.random.default_rng([seed, i]).integers(
                    0, len(ranker.artifact.ids["streamer"]), CANDIDATES
                )
                return [Candidate(streamer=int(s)) for s in streamers]
            return [Candidate(streamer=int(content.streamers[r]), segment=int(r)) for r in rows]

        cands = [candidates(i) for i in range(calls)]
        user_ids = ranker.artifact.ids["user"]
        for _ in range(5):  # warm-up
            ranker.rank(str(user_ids[reqs[0][0]]), cands[0], ts=reqs[0][2])
        uncached = {}
        if content is not None:  # MFQ fused on every request (no content cache): the cost the cache removes
            cold = GiftRanker(ranker.artifact, content_cache=0)
            wall, cpu = timed(
                lambda i: cold.rank(str(user_ids[reqs[i][0]]), cands[i], ts=reqs[i][2]), max(calls // 5, 20)
            )
            uncached = {"wall": percentiles(wall), "cpu": percentiles(cpu)}
            for i in range(calls):  # the serving pipeline embeds each live segment once, when it goes live
                ranker.batch(reqs[i][0], cands[i], reqs[i][2])
        full, full_cpu = timed(lambda i: ranker.rank(str(user_ids[reqs[i][0]]), cands[i], ts=reqs[i][2]), calls)
        zeros, zeros_cpu = timed(
            lambda i: ranker.logits(ranker.batch(reqs[i][0], cands[i], reqs[i][2], expansions="zeros")), calls
        )
        store = ranker.artifact.store
        assert store is not None
        lookup, _ = timed(
            lambda i: store.lookup(users=np.array([reqs[i][0]]), streamers=np.array([c.streamer for c in cands[i]])),
            calls,
        )
        out[name] = {
            "end_to_end_content_fused_per_request": uncached,
            "end_to_end_cpu": percentiles(full_cpu),
            "backbone_alone_cpu": percentiles(zeros_cpu),
            "end_to_end": percentiles(full),
            "backbone_alone_zero_expansions": percentiles(zeros),
            "store_lookup": percentiles(lookup),
            "store_adds_p99_ms": percentiles(full)["p99_ms"] - percentiles(zeros)["p99_ms"],
            "store_adds_p50_ms": percentiles(full)["p50_ms"] - percentiles(zeros)["p50_ms"],
        }
    # per metapath: store read vs walking the graph on the fly (the same sources as a request)
    ranker = GiftRanker.load(paths["sim-gie-mfq"])
    store = ranker.artifact.store
    assert store is not None
    dataset = load(paths["data"])
    edges = dataset.edges[("user", "gift", "streamer")]
    graph = gift_graph(
        src=edges.src,
        dst=edges.dst,
        num_users=dataset.num_users,
        num_streamers=dataset.num_streamers,
        weight=edges.weight,
    )
    similar = swing(graph=graph, k=store.k, mode="bounded", max_users_per_streamer=100, seed=seed)
    tables = {t: np.asarray(store.embeddings(t)) for t in ("user", "streamer")}
    reqs = requests_for(ranker, calls, seed)
    streamers = [np.array([ranker.segment_streamer(r) for r in rows]) for _, rows, _ in reqs]
    per_metapath = {}
    from lsec.data.expansion_store import SOURCE, TARGET

    for metapath in (*USER_METAPATHS, *STREAMER_METAPATHS):
        side = SOURCE[metapath]

        def sources(i: int) -> np.ndarray:
            return np.array([reqs[i][0]]) if side == "user" else streamers[i]

        def walk(i: int) -> np.ndarray:
            found = metapath_neighbours(
                metapath=metapath, graph=graph, k=store.k, swing=similar, sources=sources(i), num_threads=1
            )
            return mean_pool(table=tables[TARGET[metapath]], indices=found.indices)

        entry = store.manifest["metapaths"][metapath]

        def read(i: int) -> np.ndarray:
            return np.asarray(store.arrays[entry["pooled"]][sources(i)])

        walk(0)  # compile the kernel outside the timing
        walked, _ = timed(walk, calls)
        stored, _ = timed(read, calls)
        per_metapath[metapath] = {
            "sources_per_request": 1 if side == "user" else CANDIDATES,
            "walk": percentiles(walked),
            "store": percentiles(stored),
        }
    out["per_metapath"] = per_metapath
    return out


def http_load(artifact: Path, clients: int, requests: int, limit_s: float, seed: int) -> dict[str, object]:
    import httpx

    from lsec.serve.gifts import GiftRanker
    from serve_latency import free_port, percentiles, process_tree_cpu_seconds

    ranker = GiftRanker.load(artifact)
    reqs = requests_for(ranker, requests, seed)
    user_ids = ranker.artifact.ids["user"]
    bodies = [
        json.dumps(
            {"user_id": str(user_ids[u]), "ts": ts, "candidates": [{"segment_id": str(r)} for r in rows]}
        ).encode()
        for u, rows, ts in reqs
    ]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "lsec", "serve", str(artifact), "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO)
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
        for body in bodies[:10]:  # warm-up
            httpx.post(f"{base}/v1/gifts/rank", content=body, headers={"content-type": "application/json"}, timeout=60)
        latencies: list[float] = []
        errors: dict[str, int] = {}
        cpu_before = process_tree_cpu_seconds(server.pid)
        wall = asyncio.run(drive_post(base, bodies, clients, limit_s, latencies, errors))
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
        "clients": clients,
        "client": "raw asyncio sockets (HTTP/1.1 keep-alive)",
        "requests_ok": done,
        "errors": errors,
        "wall_s": wall,
        "throughput_rps": done / wall,
        "server_cpu_ms_per_request": server_cpu / max(done, 1) * 1e3,
        "latency": percentiles(latencies) if latencies else {},
        "alive_after": alive,
    }


async def drive_post(
    base: str, bodies: list[bytes], clients: int, limit_s: float, latencies: list[float], errors: dict[str, int]
) -> float:
    """``clients`` keep-alive connections, each POSTing one request at a time until bodies or time run out."""
    from serve_latency import drive_requests

    host = base.removeprefix("http://").split(":")[0]
    requests = [
        (
            f"POST /v1/gifts/rank HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for body in bodies
    ]
    return await drive_requests(
        base, requests, lambda body: len(json.loads(body)["ranking"]) == CANDIDATES, clients, limit_s, latencies, errors
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/gift-latency"), help="data, store and artifacts")
    parser.add_argument(
        "--scale", type=float, default=0.25, help="mmbee preset scale (1: 20,000 users, 8,000 streamers)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--calls", type=int, default=300, help="in-process requests per measurement")
    parser.add_argument("--requests", type=int, default=3000, help="HTTP requests (upper bound)")
    parser.add_argument("--time-limit", type=float, default=30.0, help="seconds of HTTP load (upper bound)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="torch threads in process (the server uses its default)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "gift_serve_latency.json")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    import torch

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    started = time.perf_counter()
    paths = setup(args.work, args.scale, args.seed)
    result: dict[str, object] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__},
        "scale": args.scale,
        "candidates_per_request": CANDIDATES,
        "torch_threads_in_process": args.threads,
        "load_average_before": load_before,
    }
    result["in_process"] = in_process(paths, args.calls, args.seed)
    print(json.dumps(result["in_process"], indent=1))
    result["http"] = http_load(paths["sim-gie-mfq"], args.clients, args.requests, args.time_limit, args.seed)
    print(json.dumps(result["http"], indent=1))
    result["load_average_after"] = os.getloadavg()
    result["wall_s"] = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
