"""One real `lsec serve` process on 127.0.0.1: random and malformed traffic, no 5xx, still alive afterwards."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from lsec.serve.artifact import save_artifact
from tests.serve.test_app import random_request, same
from tests.serve.tiny import tiny_setup


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path):
    _, _, _, rec = tiny_setup()
    artifact = save_artifact(rec.artifact, tmp_path / "artifact")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "lsec", "serve", str(artifact), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"server did not start: {process.communicate()[1].decode()[-2000:]}")
        time.sleep(0.2)
    yield base, rec
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_real_server_survives_random_traffic(server):
    base, rec = server
    rng = random.Random(1)
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + 120  # bounded: at most 600 requests or two minutes
    with httpx.Client(base_url=base, timeout=10) as client:
        for _ in range(600):
            if time.monotonic() > deadline:
                break
            method, url, body = random_request(rng)
            if method == "GET":
                response = client.get(url)
            else:
                content = str(body) if method == "RAW" else json.dumps(body)
                response = client.post(
                    url, content=content.encode("utf-8", "surrogatepass"), headers={"content-type": "application/json"}
                )
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            assert response.status_code < 500, (method, url, body, response.text)
        assert sum(statuses.values()) >= 100 and statuses.get(200, 0) > 0 and statuses.get(422, 0) > 0, statuses
        assert client.get("/healthz").json()["status"] == "ok"
        got = client.get("/v1/users/u4/items", params={"k": 5}).json()
        assert same(got["recommendations"], rec.recommend(["u4"], k=5)[0])
