"""Recommender: served top-k == the model's offline top-k; exclude_seen; artifact round trip without torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lsec.errors import LsecError
from lsec.serve.artifact import load_artifact, save_artifact
from lsec.serve.recommender import Recommender, UnknownIdError
from tests.serve.tiny import tiny_setup


def offline_top_k(model, enc, graph, task: str, user: int, k: int, exclude_seen: bool) -> list[int]:
    scores = model.score_all(task, enc, torch.tensor([user]))[0].numpy().astype(np.float64)
    if exclude_seen:
        table = graph[task]
        scores[table.dst[table.src == user]] = -np.inf
    order = np.argsort(-scores, kind="stable")
    return [int(i) for i in order[:k] if np.isfinite(scores[i])]


@pytest.mark.parametrize("kind, hidden", [("mlp", (16,)), ("mlp", (16, 8)), ("dot", (16,))])
@pytest.mark.parametrize("task", ["buy", "follow"])
@pytest.mark.parametrize("exclude_seen", [True, False])
def test_served_top_k_equals_offline_top_k(kind, hidden, task, exclude_seen):
    model, enc, graph, rec = tiny_setup(kind=kind, hidden=hidden)
    target_type = "item" if task == "buy" else "streamer"
    k = 10 if task == "buy" else 5
    users = [f"u{u}" for u in range(graph.num_users)]
    served = rec.recommend(users, k=k, exclude_seen=exclude_seen, task=task)
    assert len(served) == graph.num_users
    for u, pairs in enumerate(served):
        expected = offline_top_k(model, enc, graph, task, u, k, exclude_seen)
        assert [graph.ids(target_type)[i] for i in expected] == [name for name, _ in pairs]
        all_scores = model.score_all(task, enc, torch.tensor([u]))[0].numpy()
        np.testing.assert_allclose([s for _, s in pairs], all_scores[expected], rtol=1e-5, atol=1e-5)


def test_exclude_seen_removes_exactly_the_training_interactions():
    _, _, graph, rec = tiny_setup()
    table = graph["buy"]
    everything = graph.num_items
    for u in range(0, graph.num_users, 7):
        seen = {f"i{i}" for i in table.dst[table.src == u]}
        kept = [name for name, _ in rec.recommend([f"u{u}"], k=everything, exclude_seen=True)[0]]
        full = [name for name, _ in rec.recommend([f"u{u}"], k=everything, exclude_seen=False)[0]]
        assert len(full) == everything and len(kept) == everything - len(seen)
        assert not seen & set(kept)
        assert [x for x in full if x not in seen] == kept  # same order otherwise


def test_single_string_user_and_errors():
    _, _, _, rec = tiny_setup()
    assert rec.recommend("u3", k=4) == rec.recommend(["u3"], k=4)
    with pytest.raises(UnknownIdError, match="unknown user ids 'nobody', 'ghost'") as err:
        rec.recommend(["u1", "nobody", "ghost"], k=3)
    assert err.value.ids == ["nobody", "ghost"] and err.value.node_type == "user"
    for bad in (0, -2, 2.5, True, "3"):
        with pytest.raises(ValueError, match="'k' parameter of Recommender.recommend must be a positive int"):
            rec.recommend(["u1"], k=bad)
    with pytest.raises(LsecError, match="got task 'gift'"):
        rec.recommend(["u1"], task="gift")


def test_single_task_model_has_no_follow_task():
    _, _, _, rec = tiny_setup(tasks=("buy",), relations=("buy",))
    assert rec.tasks == ("buy",)
    with pytest.raises(LsecError, match=r"ranks tasks \['buy'\]"):
        rec.recommend(["u0"], task="follow")


@pytest.mark.parametrize("kind", ["mlp", "dot"])
def test_artifact_round_trip_gives_identical_recommendations(tmp_path: Path, kind: str):
    _, _, graph, rec = tiny_setup(kind=kind)
    out = save_artifact(rec.artifact, tmp_path / "art")
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert "artifact.json" in files and all(f.endswith(".npy") or f == "artifact.json" for f in files)
    manifest = json.loads((out / "artifact.json").read_text())
    assert manifest["tasks"]["buy"]["kind"] == kind and manifest["nodes"] == {"user": 60, "item": 80, "streamer": 8}
    loaded = Recommender.load(out)
    users = [f"u{u}" for u in range(graph.num_users)]
    for task in ("buy", "follow"):
        assert loaded.recommend(users, k=7, task=task) == rec.recommend(users, k=7, task=task)
    again = load_artifact(out)
    assert again.tasks["buy"].target_part.flags["C_CONTIGUOUS"] and again.tasks["buy"].target_part.dtype == np.float32
    with pytest.raises(LsecError, match="exists and is not empty"):
        save_artifact(rec.artifact, out)
    save_artifact(rec.artifact, out, overwrite=True)


def test_loading_needs_neither_torch_nor_pickle(tmp_path: Path):
    _, _, _, rec = tiny_setup()
    out = save_artifact(rec.artifact, tmp_path / "art")
    expected = rec.recommend(["u5"], k=5)
    script = (
        "import sys, json\n"
        "sys.modules['torch'] = None\n"  # any torch import now fails
        "import pickle\n"
        "pickle.loads = pickle.load = None\n"
        "from lsec.serve.recommender import Recommender\n"
        f"r = Recommender.load({str(out)!r})\n"
        "print(json.dumps(r.recommend(['u5'], k=5)))\n"
        "print('torch' in sys.modules and sys.modules['torch'] is not None)\n"
    )
    # numpy kernel: numba's own on-disk code cache (not the artifact) is indexed with pickle
    env = {**os.environ, "LSEC_KERNEL": "numpy"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert [[a, pytest.approx(b, abs=1e-5)] for a, b in expected[0]] == json.loads(lines[0])[0]
    assert lines[1] == "False"


def test_corrupt_or_foreign_folders_get_named_errors(tmp_path: Path):
    _, _, _, rec = tiny_setup()
    with pytest.raises(LsecError, match="not a serving artifact"):
        Recommender.load(tmp_path)
    out = save_artifact(rec.artifact, tmp_path / "art")
    np.save(out / "tasks/buy/target_part.npy", np.zeros((3, 3), np.float32))
    with pytest.raises(LsecError, match=r"target_part.npy: expected shape \(80, 16\)"):
        Recommender.load(out)
    (out / "artifact.json").write_text("{broken")
    with pytest.raises(LsecError, match="not valid JSON"):
        Recommender.load(out)
