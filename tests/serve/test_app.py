"""HTTP API in-process (TestClient): answers, strategies, named 4xx errors, and a random-request fuzz."""

from __future__ import annotations

import json
import random

import pytest
from fastapi.testclient import TestClient

from lsec.serve.app import MAX_BATCH, create_app
from lsec.serve.recommender import MAX_K
from tests.serve.tiny import tiny_setup


def same(served: list[dict], expected: list[tuple[str, float]]) -> bool:
    """Same ids in the same order, scores equal up to float32 rounding (batched passes sum in another order)."""
    return [x["id"] for x in served] == [i for i, _ in expected] and [x["score"] for x in served] == pytest.approx(
        [s for _, s in expected], abs=1e-5
    )


@pytest.fixture(scope="module")
def setup():
    _, _, graph, rec = tiny_setup()
    return rec, TestClient(create_app(rec), raise_server_exceptions=False)


def test_healthz_and_docs(setup):
    rec, client = setup
    got = client.get("/healthz").json()
    assert got["status"] == "ok" and got["tasks"] == ["buy", "follow"]
    assert got["nodes"] == {"user": 60, "item": 80, "streamer": 8}
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/healthz", "/v1/users/{user_id}/items", "/v1/users/{user_id}/streamers", "/v1/recommendations"} <= set(
        paths
    )


def test_get_items_and_streamers_match_the_library(setup):
    rec, client = setup
    got = client.get("/v1/users/u7/items", params={"k": 12}).json()
    assert got["strategy"] == "model" and got["task"] == "buy"
    assert same(got["recommendations"], rec.recommend(["u7"], k=12)[0])
    got = client.get("/v1/users/u7/streamers?k=3&exclude_seen=false").json()
    expected = rec.recommend(["u7"], k=3, task="follow", exclude_seen=False)[0]
    assert same(got["recommendations"], expected)


def test_batch_mixes_known_fold_in_and_popular(setup):
    rec, client = setup
    body = {
        "users": [
            {"user_id": "u1"},
            {"user_id": "newbie", "bought_items": ["i1", "i5"], "followed_streamers": ["s1"]},
            {"user_id": "stranger"},
        ],
        "k": 5,
    }
    got = client.post("/v1/recommendations", json=body).json()
    assert [r["strategy"] for r in got["results"]] == ["model", "fold-in", "popular"]
    fold = rec.recommend_user("newbie", k=5, bought_items=["i1", "i5"], followed_streamers=["s1"])
    assert [x["id"] for x in got["results"][1]["recommendations"]] == fold.ids
    assert not {"i1", "i5"} & {x["id"] for x in got["results"][1]["recommendations"]}
    got = client.post("/v1/recommendations", json={"users": [{"user_id": "x"}], "task": "follow", "k": 2}).json()
    assert got["results"][0]["strategy"] == "popular" and len(got["results"][0]["recommendations"]) == 2


@pytest.mark.parametrize(
    "method, url, body, status, fragment",
    [
        ("get", "/v1/users/nobody/items", None, 404, "unknown user id 'nobody'"),
        (
            "get",
            "/v1/users/u1/items?k=0",
            None,
            422,
            f"query parameter 'k': expected an integer from 1 to {MAX_K}, found '0'",
        ),
        ("get", f"/v1/users/u1/items?k={MAX_K + 1}", None, 422, f"from 1 to {MAX_K}"),
        ("get", "/v1/users/u1/items?k=ten", None, 422, "'k': expected an integer"),
        ("get", "/v1/users/u1/streamers?exclude_seen=maybe", None, 422, "'exclude_seen': expected a boolean"),
        ("post", "/v1/recommendations", "{not json", 422, "malformed JSON at position"),
        ("post", "/v1/recommendations", "[]", 422, "body"),
        ("post", "/v1/recommendations", {"users": []}, 422, f"'users': expected a list of 1 to {MAX_BATCH}"),
        (
            "post",
            "/v1/recommendations",
            {"users": [{"user_id": 5}]},
            422,
            "'users[0].user_id': expected a non-empty string",
        ),
        ("post", "/v1/recommendations", {"users": [{"user_id": "a"}], "k": -1}, 422, "'k': expected an integer from 1"),
        ("post", "/v1/recommendations", {"users": [{"user_id": "a"}], "task": "gift"}, 422, "'task': expected 'buy'"),
        (
            "post",
            "/v1/recommendations",
            {"users": [{"user_id": "a", "age": 3}]},
            422,
            "'users[0].age': expected no such field",
        ),
        (
            "post",
            "/v1/recommendations",
            {"users": [{"user_id": "a", "bought_items": "i1"}]},
            422,
            "'users[0].bought_items'",
        ),
        (
            "post",
            "/v1/recommendations",
            {"users": [{"user_id": "u1"}, {"user_id": "n", "bought_items": ["i1", "zz"], "followed_streamers": []}]},
            422,
            "users[1].bought_items: unknown item id 'zz'",
        ),
        (
            "post",
            "/v1/recommendations",
            {"users": [{"user_id": "n", "followed_streamers": ["s1", "s99", "q"]}]},
            422,
            "users[0].followed_streamers: unknown streamer ids 's99', 'q'",
        ),
    ],
)
def test_bad_requests_name_the_field(setup, method, url, body, status, fragment):
    _, client = setup
    if isinstance(body, str):
        response = client.post(url, content=body, headers={"content-type": "application/json"})
    elif body is not None:
        response = client.post(url, json=body)
    else:
        response = getattr(client, method)(url)
    assert response.status_code == status, response.text
    payload = response.json()
    assert fragment in payload["detail"], payload
    assert payload["errors"] and payload["errors"][0]["field"]


def test_streamers_endpoint_of_a_buy_only_model_is_404():
    _, _, _, rec = tiny_setup(tasks=("buy",), relations=("buy",))
    client = TestClient(create_app(rec))
    response = client.get("/v1/users/u1/streamers")
    assert response.status_code == 404 and "does not rank streamers" in response.json()["detail"]


def random_request(rng: random.Random) -> tuple[str, str, object]:
    """A random, mostly malformed, request: wrong types, out-of-range values, junk bodies, odd paths."""
    junk = [None, -1, 0, 1, 3.5, 10**12, "", "x" * 300, "u1", "i1", "s1", [], {}, ["i1"], True, "💥", "\x00"]
    which = rng.random()
    if which < 0.35:
        user = rng.choice(["u1", "u59", "nobody", "", "%20", "u1/x", "ü", "x" * 300, "..", "u1?k=2"])
        endpoint = rng.choice(["items", "streamers", "other"])
        params = "&".join(
            f"{rng.choice(['k', 'exclude_seen', 'task', 'zzz'])}={rng.choice(['0', '5', '-3', 'abc', '1e9', 'true', 'no', ''])}"
            for _ in range(rng.randint(0, 3))
        )
        return "GET", f"/v1/users/{user}/{endpoint}?{params}", None
    if which < 0.5:
        raw = rng.choice(["", "{", "null", "[1,2]", '{"users": ', "\xff\xfe", '{"users": [{}]}', "1" * 50])
        return "RAW", "/v1/recommendations", raw
    body: dict[str, object] = {}
    if rng.random() < 0.9:
        users = []
        for _ in range(rng.randint(0, 4)):
            user: dict[str, object] = {"user_id": rng.choice(["u1", "u2", "new", rng.choice(junk)])}
            if rng.random() < 0.5:
                user["bought_items"] = rng.choice([["i1", "i2"], ["i1", "nope"], [1, 2], "i1", None, [None]])
            if rng.random() < 0.5:
                user["followed_streamers"] = rng.choice([["s1"], ["s999"], [[]], {}, ["i1"]])
            if rng.random() < 0.1:
                user[rng.choice(["extra", "age"])] = rng.choice(junk)
            users.append(user)
        body["users"] = users if rng.random() < 0.9 else rng.choice(junk)
    for key in ("k", "task", "exclude_seen"):
        if rng.random() < 0.4:
            body[key] = rng.choice([*junk, "buy", "follow", 10, MAX_K + 1, "false"])
    return "POST", "/v1/recommendations", body


def test_thousands_of_random_requests_never_get_a_5xx(setup):
    _, client = setup
    rng = random.Random(0)
    statuses: dict[int, int] = {}
    for _ in range(3000):
        method, url, body = random_request(rng)
        if method == "GET":
            response = client.get(url)
        elif method == "RAW":
            response = client.post(
                url, content=str(body).encode("utf-8", "surrogatepass"), headers={"content-type": "application/json"}
            )
        else:
            response = client.post(url, content=json.dumps(body), headers={"content-type": "application/json"})
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, (method, url, body, response.text)
        if response.status_code in (404, 422) and response.headers.get("content-type", "").startswith(
            "application/json"
        ):
            assert response.json()["detail"]
    assert statuses.get(200, 0) > 100 and statuses.get(422, 0) > 1000 and statuses.get(404, 0) > 100, statuses
    assert client.get("/healthz").status_code == 200
