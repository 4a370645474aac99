"""Gift ranking service: a GTR run (SIM + GIE + MFQ) exported and served equals the offline model."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from fastapi.testclient import TestClient

from lsec.cli import main
from lsec.data.events import save_dataset
from lsec.data.simulate.gifting import PRESETS, GiftingModel, GiftingPreset, simulate_gifting
from lsec.serve.app import create_app
from lsec.serve.gifts import MANIFEST, GiftRanker
from lsec.train.runs import load_run

PRESET = GiftingPreset("tiny-serve", 300, 30, 8, 20.0, positive_rate=0.015)


def cli(*args: object) -> int:
    try:
        main([str(a) for a in args])
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1
    return 0


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A trained SIM + GIE + MFQ run (1 epoch, random GIE tables), its export, the offline run and a client."""
    root = tmp_path_factory.mktemp("gifts")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(PRESETS, PRESET.name, PRESET)
        data = simulate_gifting(PRESET.name, seed=1, negative_rate=0.05, model=GiftingModel(dim=8))
    save_dataset(data.graph, root / "data", events=data.events, features=data.features)
    store = ("--k", 4, "--epochs", 0, "--dim", 4, "--device", "cpu")
    assert cli("mmbee", "build-store", "--data", root / "data", "--out", root / "store", *store) == 0
    overrides = [
        f"model.hparams.store={root / 'store'}",
        "model.hparams.mfq_dim=8",
        "model.hparams.mfq_queries=2",
        "model.hparams.mfq_segments=3",
        "train.epochs=1",
        "train.min_steps=0",
        "train.device=cpu",
        "train.num_threads=1",
    ]
    config = "configs/mmbee/sim-gie-mfq.yaml"
    assert cli("train", "-q", "--config", config, "--data", root / "data", "--out", root / "run", *overrides) == 0
    assert cli("export", root / "run", "--out", root / "artifact") == 0
    ranker = GiftRanker.load(root / "artifact")
    return (
        root,
        load_run(root / "run"),
        ranker,
        TestClient(create_app(None, gifts=ranker), raise_server_exceptions=False),
    )


def test_the_artifact_is_pickle_free_and_holds_weights_queries_ids_and_the_store(served):
    root, _, ranker, _ = served
    manifest = json.loads((root / "artifact" / MANIFEST).read_text())
    for name in manifest["files"]:
        np.load(root / "artifact" / name, allow_pickle=False)  # raises on a pickled object array
    assert "weights/mfq.queries.weight.npy" in manifest["files"]  # the streamer queries
    assert not any(name.startswith("weights/gie.") for name in manifest["files"])  # GIE lives in the store
    assert {"ids/user.npy", "ids/streamer.npy", "segments/visual.npy"} <= set(manifest["files"])
    assert (root / "artifact" / "store" / "manifest.json").is_file() and ranker.artifact.store is not None


def test_served_scores_equal_the_offline_model(served):
    _, run, ranker, client = served
    objective = run.split
    # The validation fold: held-out histories are frozen at the end of training, which is exactly the history the
    # artifact serves; on the test fold only users without validation-day gifts would match.
    rows = objective.data.indices("valid")
    users = objective.data.users[rows]
    checked = 0
    for user in np.unique(users)[:6]:
        mine = rows[users == user][:8]
        ts = int(objective.data.ts[mine].min())  # one request time: the history of the earliest impression
        offline_rows = mine[objective.data.ts[mine] == ts]
        offline = objective.scores(offline_rows)["gift"]
        body = {
            "user_id": str(ranker.artifact.ids["user"][user]),
            "ts": ts,
            "candidates": [{"segment_id": str(objective.data.segments[r])} for r in offline_rows],
        }
        answer = client.post("/v1/gifts/rank", json=body)
        assert answer.status_code == 200, answer.text
        got = answer.json()
        assert got["strategy"] == "known-user"
        scores = {entry["candidate"]: entry["score"] for entry in got["ranking"]}
        np.testing.assert_allclose([scores[i] for i in range(len(offline_rows))], offline, rtol=1e-5, atol=1e-5)
        listed = [entry["score"] for entry in got["ranking"]]
        assert listed == sorted(listed, reverse=True)
        assert got["ranking"][0]["probability"] == pytest.approx(1 / (1 + math.exp(-listed[0])))
        checked += len(offline_rows)
    assert checked >= 6


def test_features_in_the_request_equal_the_stored_segment(served):
    _, run, ranker, client = served
    content = ranker.artifact.content
    assert content is not None
    with_history = np.flatnonzero((content.sequences(np.arange(content.num_segments), 3) >= 0).all(1))
    segment = int(with_history[0]) if with_history.size else 0
    rows = content.sequences(np.array([segment]), 3)[0]
    present = rows[rows >= 0]
    features = {m: content.features[m][present].astype(np.float32).tolist() for m in content.modalities}
    streamer = str(ranker.artifact.ids["streamer"][content.streamers[segment]])
    body = {
        "user_id": str(ranker.artifact.ids["user"][0]),
        "ts": 1_800_000_000,
        "candidates": [{"segment_id": str(segment)}, {"streamer_id": streamer, "features": features}],
    }
    if (rows >= 0).all():  # the stored sequence is contiguous, so the request's segments line up with it
        got = client.post("/v1/gifts/rank", json=body).json()["ranking"]
        scores = {e["candidate"]: e["score"] for e in got}
        assert scores[0] == pytest.approx(scores[1], abs=1e-5)
    # a modality left out of the request counts as missing, and changes the score
    partial = {m: v for m, v in features.items() if m != "visual"}
    body["candidates"] = [
        {"streamer_id": streamer, "features": features},
        {"streamer_id": streamer, "features": partial},
    ]
    got = client.post("/v1/gifts/rank", json=body).json()["ranking"]
    scores = {e["candidate"]: e["score"] for e in got}
    assert abs(scores[0] - scores[1]) > 1e-6


def test_a_cold_user_goes_through_the_popular_streamer_fallback(served):
    _, run, ranker, client = served
    store = ranker.artifact.store
    assert store is not None
    gifted = np.bincount(ranker.artifact.gifts.gift_streamers, minlength=len(ranker.artifact.ids["streamer"]))
    top = np.argsort(-gifted, kind="stable")[: store.k]
    naive = np.asarray(store.embeddings("streamer"))[top].mean(0)
    width = store.embedding_dim
    np.testing.assert_allclose(ranker.artifact.cold["gie_user"][width : 2 * width], naive, rtol=1e-5, atol=1e-6)
    body = {"user_id": "never-seen", "candidates": [{"segment_id": str(i)} for i in range(10)]}
    got = client.post("/v1/gifts/rank", json=body).json()
    assert got["strategy"] == "cold-user" and len(got["ranking"]) == 10 and got["notes"]
    assert sorted(e["candidate"] for e in got["ranking"]) == list(range(10))
    known = client.post("/v1/gifts/rank", json=body | {"user_id": str(ranker.artifact.ids["user"][0])}).json()
    assert known["strategy"] == "known-user"
    assert [e["score"] for e in known["ranking"]] != [e["score"] for e in got["ranking"]]
    top3 = client.post("/v1/gifts/rank", json=body | {"k": 3}).json()["ranking"]
    assert top3 == got["ranking"][:3]


@pytest.mark.parametrize(
    "body, field, fragment",
    [
        ({"user_id": "u0"}, "candidates", "candidates"),
        ({"user_id": "u0", "candidates": []}, "candidates", "1 to 500"),
        ({"user_id": "u0", "candidates": [{"segment_id": "0"}] * 501}, "candidates", "1 to 500"),
        ({"user_id": "u0", "candidates": [{}]}, "candidates[0]", "exactly one of"),
        ({"user_id": "u0", "candidates": [{"segment_id": "99999"}]}, "candidates[0].segment_id", "unknown segment"),
        ({"user_id": "u0", "candidates": [{"segment_id": "-3"}]}, "candidates[0].segment_id", "unknown segment"),
        ({"user_id": "u0", "candidates": [{"segment_id": "0", "colour": 1}]}, "candidates[0].colour", "no such field"),
        (
            {"user_id": "u0", "candidates": [{"streamer_id": "nobody", "features": {}}]},
            "candidates[0].streamer_id",
            "unknown streamer",
        ),
        ({"user_id": "u0", "candidates": [{"features": {}}]}, "candidates[0].streamer_id", "required"),
        (
            {"user_id": "u0", "candidates": [{"streamer_id": "s0", "features": {"smell": [[[1.0]]]}}]},
            "candidates[0].features.smell",
            "unknown modality",
        ),
        (
            {"user_id": "u0", "candidates": [{"streamer_id": "s0", "features": {"visual": [[[1.0, 2.0]]]}}]},
            "candidates[0].features.visual",
            "segments of 3 frames of 8 numbers",
        ),
        (
            {"user_id": "u0", "candidates": [{"streamer_id": "s0", "features": {"visual": [[["x"]]]}}]},
            "candidates[0].features.visual[0][0][0]",
            "found 'x'",
        ),
        (
            {"user_id": "u0", "candidates": [{"streamer_id": "s0", "features": {"visual": [[[1e9] * 8] * 3]}}]},
            "candidates[0].features.visual",
            "magnitude",
        ),
        ({"user_id": "u0", "candidates": [{"segment_id": "0"}], "ts": -1}, "ts", "unix seconds"),
        ({"user_id": "", "candidates": [{"segment_id": "0"}]}, "user_id", "non-empty"),
        ({"user_id": "u0", "candidates": [{"segment_id": "0"}], "k": 0}, "k", "1 to 500"),
    ],
)
def test_malformed_gift_requests_are_422_naming_the_field(served, body, field, fragment):
    client = served[3]
    answer = client.post("/v1/gifts/rank", json=body)
    assert answer.status_code == 422, answer.text
    got = answer.json()
    assert field in [e["field"] for e in got["errors"]], got
    assert fragment in got["detail"], got["detail"]


def test_a_segment_with_another_streamer_is_refused_and_healthz_lists_the_gift_model(served):
    _, _, ranker, client = served
    content = ranker.artifact.content
    assert content is not None
    other = str(ranker.artifact.ids["streamer"][(content.streamers[0] + 1) % len(ranker.artifact.ids["streamer"])])
    answer = client.post(
        "/v1/gifts/rank", json={"user_id": "u0", "candidates": [{"segment_id": "0", "streamer_id": other}]}
    )
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "candidates[0].streamer_id"
    health = client.get("/healthz").json()
    assert health["gifts"]["modalities"] == ["visual", "speech", "comment"] and health["gifts"]["expansion_store"]
    assert "/v1/gifts/rank" in client.get("/openapi.json").json()["paths"]
    assert "/v1/recommendations" not in client.get("/openapi.json").json()["paths"]  # no LSEC model served here


def test_the_content_cache_gives_the_same_scores_as_fusing_every_request(served):
    _, _, ranker, _ = served
    from lsec.serve.gifts import Candidate, GiftRanker

    content = ranker.artifact.content
    assert content is not None
    candidates = [Candidate(streamer=int(content.streamers[s]), segment=s) for s in range(0, 40, 3)]
    user = str(ranker.artifact.ids["user"][1])
    fresh = GiftRanker(ranker.artifact, content_cache=0).rank(user, candidates, ts=1_800_000_000).logits
    cached = GiftRanker(ranker.artifact, content_cache=5)
    first = cached.rank(user, candidates, ts=1_800_000_000).logits  # fills (and evicts from) the cache
    again = cached.rank(user, candidates[::-1], ts=1_800_000_000).logits[::-1]  # hits and misses mixed
    np.testing.assert_allclose(first, fresh, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(again, fresh, rtol=1e-5, atol=1e-6)
    assert len(cached._cache) == 5
