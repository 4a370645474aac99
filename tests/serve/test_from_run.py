"""A real run folder (lsec train on the checkerboard): from_run, export, load and the CLI agree with the model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from lsec.cli import app
from lsec.serve.recommender import Recommender
from tests.train.checkerboard import write_checkerboard_dataset

pytest.importorskip("lsec.nn.models.registry")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    from lsec.config import Config, apply_overrides
    from lsec.train.trainer import train_run

    root = tmp_path_factory.mktemp("serve-run")
    dataset = write_checkerboard_dataset(root / "data")
    overrides = [
        "model.name=lsec-gcn",
        f"data.dataset={dataset}",
        "model.hparams.embedding_dim=16",
        "train.lr=0.01",
        "train.batch_size=64",
        "train.num_threads=1",
        "train.epochs=12",
        "train.eval_every=4",
    ]
    threads = torch.get_num_threads()
    try:
        train_run(apply_overrides(Config(), overrides), root / "run")
    finally:
        torch.set_num_threads(threads)
    return root / "run"


@pytest.fixture(scope="module")
def loaded(run_dir: Path):
    from lsec.train.runs import load_run

    return load_run(run_dir)


@pytest.mark.parametrize("task", ["buy", "follow"])
def test_from_run_top_k_equals_the_models_score_all(run_dir, loaded, task):
    rec = Recommender.from_run(run_dir)
    graph = loaded.graph
    train = loaded.split.train_graph()[task]
    target_type = "item" if task == "buy" else "streamer"
    enc = loaded.encode()
    users = np.arange(graph.num_users)
    scores = loaded.model.score_all(task, enc, torch.from_numpy(users)).numpy().astype(np.float64)
    served = rec.recommend(graph.ids("user").tolist(), k=5, task=task)
    for u in users:
        row = scores[u].copy()
        row[train.dst[train.src == u]] = -np.inf
        order = [i for i in np.argsort(-row, kind="stable")[:5] if np.isfinite(row[i])]
        assert [name for name, _ in served[u]] == graph.ids(target_type)[order].tolist()
        np.testing.assert_allclose([s for _, s in served[u]], row[order], rtol=1e-4, atol=1e-4)


def test_export_cli_then_load_gives_the_same_answers(run_dir, tmp_path):
    runner = CliRunner()
    out = tmp_path / "artifact"
    result = runner.invoke(app, ["export", str(run_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "exported lsec-gcn (tasks: buy, follow" in result.output
    from_run, loaded = Recommender.from_run(run_dir), Recommender.load(out)
    users = [f"u{i}" for i in range(0, 48, 3)]
    for task in ("buy", "follow"):
        assert loaded.recommend(users, k=6, task=task) == from_run.recommend(users, k=6, task=task)
    manifest = json.loads((out / "artifact.json").read_text())
    assert manifest["source"]["run"] == str(run_dir.resolve()) and manifest["model"] == "lsec-gcn"

    for source in (run_dir, out):
        result = runner.invoke(app, ["recommend", str(source), "--user", "u3", "--user", "u8", "-k", "4", "--json"])
        assert result.exit_code == 0, result.output
        payload = json.loads(result.output)
        assert [[(x["id"], x["score"]) for x in r["recommendations"]] for r in payload["results"]] == [
            [(a, pytest.approx(b, abs=1e-4)) for a, b in pairs] for pairs in loaded.recommend(["u3", "u8"], k=4)
        ]
    table = runner.invoke(app, ["recommend", str(out), "--user", "u3", "-k", "2", "--task", "follow"])
    assert table.exit_code == 0 and "user u3 (model): top 2 streamers" in table.output
    cold = runner.invoke(app, ["recommend", str(out), "--user", "new", "--follows", "s1", "--json"])
    assert cold.exit_code == 0 and json.loads(cold.output)["results"][0]["strategy"] == "fold-in"


def test_folded_in_copies_of_real_users_overlap_with_them(run_dir):
    rec = Recommender.from_run(run_dir)
    buy, follow = rec.artifact.interactions["buy"], rec.artifact.interactions["follow"]
    same, other = [], []
    num_users = rec.num_nodes("user")
    for u in range(num_users):
        known = set(rec.recommend_user(f"u{u}", k=5).ids)
        copy = rec.recommend_user(
            "copy",
            k=5,
            bought_items=rec.artifact.ids["item"][buy.row(u)].tolist(),
            followed_streamers=rec.artifact.ids["streamer"][follow.row(u)].tolist(),
        )
        neighbour = set(rec.recommend_user(f"u{(u + 1) % num_users}", k=5).ids)  # another cluster
        same.append(len(known & set(copy.ids)) / 5)
        other.append(len(known & neighbour) / 5)
    assert np.mean(same) >= 0.6 and np.mean(same) >= np.mean(other) + 0.3, (np.mean(same), np.mean(other))


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--user", "ghost"], "--user: unknown user id 'ghost'"),
        (["--user", "u1", "-k", "0"], "-k: expected a positive integer"),
        (["--user", "u1", "--task", "gift"], "--task: expected 'buy' or 'follow'"),
        (["--user", "new", "--bought", "i999"], "--bought: unknown item id 'i999'"),
    ],
)
def test_recommend_cli_errors_are_one_line(run_dir, args, fragment, capsys):
    from lsec.cli import main

    with pytest.raises(SystemExit) as done:
        main(["recommend", str(run_dir), *args])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err


def test_export_and_serve_cli_refuse_bad_sources(tmp_path, capsys):
    from lsec.cli import main

    with pytest.raises(SystemExit) as done:
        main(["export", str(tmp_path), "--out", str(tmp_path / "a")])
    assert done.value.code == 2 and "not a run folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:
        main(["serve", str(tmp_path), "--port", "8123"])
    assert done.value.code == 2 and "neither a serving artifact" in capsys.readouterr().err
