"""Property-based fuzzing of the live service from its own OpenAPI schema (schemathesis + hypothesis).

One uvicorn server on 127.0.0.1 serves an LSEC model and a gift model together; schemathesis generates
requests for every operation of ``/openapi.json`` (valid ones and, for bodies, schema-violating ones) and sends
them over HTTP. No answer may be a 5xx, every 4xx must carry ``errors[].field``, and the server must still
answer ``/healthz`` afterwards. Bounded: a fixed number of examples per operation, derandomized.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")

from lsec.serve.app import create_app  # noqa: E402
from tests.serve.gift_tiny import tiny_gift_ranker  # noqa: E402
from tests.serve.tiny import tiny_setup  # noqa: E402

EXAMPLES_PER_OPERATION = 50  # 5 operations (one without inputs): about 200 requests


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[str]:
    import uvicorn

    _, _, _, rec = tiny_setup()
    gifts = tiny_gift_ranker(tmp_path_factory.mktemp("gift-store"))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(rec, gifts=gifts), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise AssertionError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_every_operation_of_the_schema_survives_generated_requests(live):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    schema = schemathesis.openapi.from_url(f"{live}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    paths = {op.path for op in operations}
    assert {"/v1/gifts/rank", "/v1/recommendations", "/v1/users/{user_id}/items", "/healthz"} <= paths
    statuses: dict[str, list[int]] = {}
    session = httpx.Client(base_url=live, timeout=30)

    for operation in operations:
        seen = statuses.setdefault(f"{operation.method.upper()} {operation.path}", [])
        # valid requests and schema-violating ones (wrong types, missing / extra fields, out-of-range values)
        strategy = st.one_of(
            operation.as_strategy(),
            operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE),
        )

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case) -> None:
            kwargs = case.as_transport_kwargs(base_url=live)
            answer = session.request(
                kwargs["method"],
                kwargs["url"],
                params=kwargs.get("params"),
                json=kwargs.get("json"),
                content=kwargs.get("data") if isinstance(kwargs.get("data"), (bytes, str)) else None,
                headers={k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() != "content-length"},
            )
            seen.append(answer.status_code)
            assert answer.status_code < 500, (case.method, case.path, kwargs.get("json"), answer.text[:500])
            if 400 <= answer.status_code < 500:
                errors = answer.json().get("errors") or []
                assert errors and all(e["field"] for e in errors), answer.text[:500]

        run()
    session.close()
    total = sum(len(v) for v in statuses.values())
    assert total >= 200, statuses
    assert all(len(codes) >= EXAMPLES_PER_OPERATION for op, codes in statuses.items() if op != "GET /healthz")
    assert any(400 <= code < 500 for code in statuses["POST /v1/gifts/rank"])  # bad gift requests refused
    # alive after it, and still serving both models
    assert httpx.get(f"{live}/healthz", timeout=10).json()["status"] == "ok"
    body = {"user_id": "u1", "ts": 2_000, "candidates": [{"segment_id": "3"}, {"segment_id": "7"}]}
    answer = httpx.post(f"{live}/v1/gifts/rank", json=body, timeout=10)
    assert answer.status_code == 200 and len(answer.json()["ranking"]) == 2
