"""Hot swap (issue 16.4, :mod:`lsec.serve.live`): POST /admin/reload under load on loopback, no failed request."""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import uvicorn

from lsec.serve.app import create_app
from lsec.serve.artifact import save_artifact
from lsec.serve.live import Live
from lsec.serve.recommender import Recommender
from tests.serve.tiny import clustered_graph, tiny_setup

CLIENTS = 8
MAX_REQUESTS = 3000  # all clients together: the bound of the load loop
SWAP_AFTER = 150  # answered requests before the symlink moves
LATER = 50  # requests sent after the reload returned: the clients stop when these are answered


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def point(link: Path, target: Path) -> None:
    """Atomically repoint ``link`` at ``target`` (a new symlink renamed over the old one)."""
    tmp = link.with_name(link.name + ".tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(target.name, tmp)
    os.replace(tmp, link)


@pytest.fixture
def two_artifacts(tmp_path: Path) -> tuple[Path, Path, Path]:
    graph = clustered_graph(seed=0)
    v1 = save_artifact(tiny_setup(graph, seed=0)[3].artifact, tmp_path / "v1")
    second = tiny_setup(graph, seed=1)[3].artifact
    v2 = save_artifact(dataclasses.replace(second, model="tiny-v2"), tmp_path / "v2")
    link = tmp_path / "current"
    point(link, v1)
    return link, v1, v2


def test_reload_swaps_under_load_with_no_failed_request(two_artifacts: tuple[Path, Path, Path]) -> None:
    link, v1, v2 = two_artifacts
    old, new = Recommender.load(v1, mmap=True), Recommender.load(v2, mmap=True)
    users = [str(u) for u in old.artifact.ids["user"][:16]]
    answers = {
        name: {u: [i for i, _ in rec.recommend([u], k=5)[0]] for u in users} for name, rec in (("v1", old), ("v2", new))
    }
    assert sum(answers["v1"][u] != answers["v2"][u] for u in users) >= 12  # the two exports answer differently

    live = Live(old, None, artifact_path=link)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(None, live=live), port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)

    results: list[tuple[float, float, int, str, list[str]]] = []  # (sent, answered, status, user, ids)
    lock = threading.Lock()
    counter = iter(range(MAX_REQUESTS))
    swap_done = float("inf")  # when POST /admin/reload returned
    enough = threading.Event()  # LATER answers to requests sent after that (however slow the machine)

    def client() -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            for n in counter:
                if enough.is_set():
                    break
                user = users[n % len(users)]
                sent = time.monotonic()
                response = http.get(f"/v1/users/{user}/items", params={"k": 5})
                ids = [r["id"] for r in response.json()["recommendations"]] if response.status_code == 200 else []
                with lock:
                    results.append((sent, time.monotonic(), response.status_code, user, ids))
                    if sum(r[0] > swap_done for r in results[-LATER:]) >= LATER:
                        enough.set()

    try:
        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        while len(results) < SWAP_AFTER:
            time.sleep(0.01)
        unchanged = httpx.post(f"{base}/admin/reload", timeout=30).json()
        assert unchanged["swapped"] is False and unchanged["generation"] == 0
        swap_started = time.monotonic()
        point(link, v2)
        swapped = httpx.post(f"{base}/admin/reload", timeout=60)
        swap_done = time.monotonic()
        for t in threads:
            t.join(120)
        health = httpx.get(f"{base}/healthz", timeout=10).json()
        # a folder that is not an artifact: 409, and the service keeps answering from v2
        broken = link.parent / "broken"
        broken.mkdir()
        point(link, broken)
        refused = httpx.post(f"{base}/admin/reload", timeout=30)
        after = httpx.get(f"{base}/v1/users/{users[0]}/items", params={"k": 5}, timeout=10)
    finally:
        server.should_exit = True
        thread.join(30)

    assert swapped.status_code == 200 and swapped.json()["swapped"] is True and swapped.json()["generation"] == 1
    assert swapped.json()["sources"]["artifact"] == os.path.realpath(v2)
    assert health["model"] == "tiny-v2" and health["serving"]["generation"] == 1
    assert enough.is_set() and len(results) >= SWAP_AFTER + LATER, len(results)  # the loop ended by the rule
    assert [status for *_, status, _, _ in results].count(200) == len(results)  # zero failed requests
    served_by = []
    for sent, answered, _, user, ids in results:
        which = [name for name in ("v1", "v2") if answers[name][user] == ids]
        assert which, f"user {user}: {ids} is neither export's answer"
        served_by.append((sent, answered, which))
    before = [w for sent, answered, w in served_by if answered < swap_started]
    later = [w for sent, answered, w in served_by if sent > swap_done]
    assert before and all("v1" in w for w in before)
    assert len(later) >= LATER and all("v2" in w for w in later)  # answers switched to the new export
    assert refused.status_code == 409 and "broken" in refused.json()["detail"]
    assert after.status_code == 200
    assert [r["id"] for r in after.json()["recommendations"]] == answers["v2"][users[0]]


def test_memory_mapped_artifact_answers_like_a_loaded_one(two_artifacts: tuple[Path, Path, Path]) -> None:
    _, v1, _ = two_artifacts
    loaded, mapped = Recommender.load(v1), Recommender.load(v1, mmap=True)
    table = mapped.artifact.tasks["buy"].target_part
    assert isinstance(table.base, np.memmap) or isinstance(table, np.memmap)  # pages of the file, not a copy
    assert not isinstance(loaded.artifact.tasks["buy"].target_part, np.memmap)
    users = [str(u) for u in loaded.artifact.ids["user"]]
    for task in loaded.tasks:
        assert mapped.recommend(users, k=7, task=task) == loaded.recommend(users, k=7, task=task)
