"""``lsec serve --workers N`` (issue 16.4): the workers share the artifact's pages and answer as one process does.

Not a timing test: it reads /proc/PID/smaps of each forked worker (Linux) to check that the artifact's tables
are mappings of the files themselves (their pages are the page cache's, one copy for every process) with no
page copied into the process (no anonymous or dirty page), and that the forked workers' one-thread kernels
rank exactly as an in-process recommender.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from lsec.serve.artifact import save_artifact
from lsec.serve.ids import IdIndex
from tests.serve.test_app import same
from tests.serve.test_uvicorn import free_port
from tests.serve.tiny import clustered_graph, tiny_setup

WORKERS = 2


def mappings(pid: int, folder: Path) -> dict[str, dict[str, int]]:
    """Per file of ``folder`` mapped by ``pid``: its inode and Rss, Anonymous, Private_Dirty... (kB), summed over
    the file's mappings, from /proc/PID/smaps."""
    out: dict[str, dict[str, int]] = {}
    current: dict[str, int] | None = None
    root = str(folder.resolve())
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and not head[0].endswith(":"):  # address perms offset dev inode path
            name = head[5] if len(head) > 5 else ""
            current = out.setdefault(name[len(root) + 1 :], {}) if name.startswith(root + "/") else None
            if current is not None:
                current["inode"] = int(head[4])
        elif current is not None and head and head[0].endswith(":") and len(head) >= 2 and head[1].isdigit():
            current[head[0][:-1]] = current.get(head[0][:-1], 0) + int(head[1])
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/smaps")
def test_forked_workers_share_the_memory_mapped_artifact_and_rank_as_one_process(tmp_path: Path) -> None:
    _, _, _, rec = tiny_setup(clustered_graph(users=400, items=3000, streamers=40, seed=0), seed=0)
    artifact = save_artifact(rec.artifact, tmp_path / "artifact")
    tables = {"tasks/buy/target_part.npy", "tasks/follow/target_part.npy", "interactions/buy_indices.npy"}
    assert tables <= {str(p.relative_to(artifact)) for p in artifact.rglob("*.npy")}
    port = free_port()
    cmd = [sys.executable, "-m", "lsec", "serve", str(artifact), "--port", str(port), "--workers", str(WORKERS)]
    process = subprocess.Popen([*cmd, "--watch", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    users = [f"u{i}" for i in range(0, 400, 47)]
    answers: dict[int, int] = {}
    try:
        deadline = time.monotonic() + 90
        with httpx.Client(base_url=base, timeout=30) as http:
            # new connections until every worker has answered every user (the kernel spreads them)
            while len(answers) < WORKERS or min(answers.values()) < len(users):
                assert process.poll() is None and time.monotonic() < deadline, process.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
                try:
                    with httpx.Client(base_url=base, timeout=30) as one:
                        pid = one.get("/healthz").json()["serving"]["pid"]
                        if pid in answers:
                            continue  # a worker already checked: open another connection
                        for i, user in enumerate(users):
                            for task in ("items", "streamers")[: 2 if i < 2 else 1]:
                                got = one.get(f"/v1/users/{user}/{task}", params={"k": 7}).json()["recommendations"]
                                expected = rec.recommend([user], k=7, task="buy" if task == "items" else "follow")[0]
                                assert same(got, expected), (pid, user, task)
                        answers[pid] = len(users)
                except httpx.TransportError:
                    time.sleep(0.2)
            assert http.get("/healthz").status_code == 200
        workers = [pid for pid in answers if pid != process.pid]
        assert len(workers) == WORKERS  # forked children, not the parent
        seen = {pid: mappings(pid, artifact) for pid in workers}
    finally:
        process.terminate()
        process.wait(30)
    for pid, files in seen.items():
        for name in tables:  # a read-only mapping of the file itself holds only page-cache pages: shared, never copied
            pages = files.get(name)
            assert pages is not None, f"worker {pid}: {name} is not memory-mapped (copied into the process?)"
            assert pages["inode"] == (artifact / name).stat().st_ino, (pid, name, pages)
            assert pages.get("Anonymous", 0) == 0 and pages.get("Private_Dirty", 0) == 0, (pid, name, pages)


def test_id_index_finds_what_a_dict_finds() -> None:
    rng = np.random.default_rng(0)
    ids = np.array([f"x{v}" for v in rng.permutation(5000)])
    index = IdIndex(ids)
    expected = {x: i for i, x in enumerate(ids.tolist())}
    keys = [*rng.choice(ids, 300).tolist(), "x5000", "", "y1", "x1\x00", "x12345678901234", "x"]
    got = index.lookup(keys)
    assert got.tolist() == [expected.get(k, -1) for k in keys]
    assert index.get("x17") == expected["x17"] and index.get("nope") is None and "x3" in index and "x" not in index
    assert len(index) == 5000 and index.lookup([]).shape == (0,)
    assert IdIndex(np.array([10, 3, 7])).lookup(["7", "3", 7, "1"]).tolist() == [2, 1, 2, -1]  # non-text ids
    assert IdIndex(np.array([], dtype=str)).lookup(["a"]).tolist() == [-1]
    with pytest.raises(KeyError):
        index["missing"]


def test_id_index_keeps_the_mapped_array(tmp_path: Path) -> None:
    np.save(tmp_path / "ids.npy", np.array(["b", "a", "c"]))
    mapped = np.load(tmp_path / "ids.npy", mmap_mode="r")
    index = IdIndex(mapped)
    assert index.ids is mapped and index.lookup(["c", "a"]).tolist() == [2, 1]
    assert os.path.getsize(tmp_path / "ids.npy") > 0
