from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from typer.testing import CliRunner

from lsec.cli import app
from lsec.evaluate.protocols import candidate_report, score_pairs
from lsec.metrics.ranking import candidate_metrics
from lsec.train.runs import build_graphs, load_run, uses_self_loops
from lsec.train.trainer import training_logits
from tests.train.checkerboard import checkerboard, checkerboard_split

registry = pytest.importorskip("lsec.nn.models.registry")


@pytest.mark.parametrize("name", ["lsec-gcn", "mf-bpr", "neumf"])  # MLP, dot and custom scorers
def test_batched_scoring_equals_model_score(name: str) -> None:
    graph = checkerboard()
    split = checkerboard_split(graph)
    torch.manual_seed(0)
    model = registry.build_model(
        name, num_users=graph.num_users, num_items=graph.num_items, num_streamers=graph.num_streamers
    )
    model.eval()
    graphs = build_graphs(split.train_graph(), model.relations, self_loops=uses_self_loops(model, name))
    rows = split.candidates("buy", "test")
    with torch.no_grad():
        enc = model.encode(graphs)
        reference = model.score(
            "buy", enc, torch.from_numpy(rows.user.astype(np.int64)), torch.from_numpy(rows.target.astype(np.int64))
        )
        train_path = training_logits(
            model,
            "buy",
            enc,
            torch.from_numpy(rows.user.astype(np.int64)),
            torch.from_numpy(rows.target.astype(np.int64)),
        )
    batched = score_pairs(model, enc, "buy", rows.user, rows.target, batch_size=50)
    np.testing.assert_allclose(batched, reference.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(train_path.numpy(), reference.numpy(), rtol=1e-5, atol=1e-6)


def test_report_splits_warm_and_cold_users() -> None:
    rng = np.random.default_rng(0)
    user = np.repeat(np.arange(10), 6)
    label = np.tile([1, 0, 0, 1, 0, 0], 10).astype(np.int8)
    cold = user >= 7
    scores = rng.random(user.size)

    class Rows:
        pass

    rows = Rows()
    rows.user, rows.label, rows.cold, rows.target = user, label, cold, np.zeros_like(user)  # type: ignore[attr-defined]
    report = candidate_report(rows, scores)
    assert report["users"] == {"all": 10, "warm": 7, "cold": 3}
    assert report["cold"] == pytest.approx(candidate_metrics(user[cold], label[cold], scores[cold]))
    assert report["warm"] == pytest.approx(candidate_metrics(user[~cold], label[~cold], scores[~cold]))
    assert report["all"] == pytest.approx(candidate_metrics(user, label, scores))
    # mean over users: "all" is the user-weighted mean of warm and cold
    assert report["all"]["auc"] == pytest.approx((7 * report["warm"]["auc"] + 3 * report["cold"]["auc"]) / 10)


def test_report_in_small_blocks_equals_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocked metrics (bounded memory on lsec-large) give exactly the one-block numbers, groups included."""
    import lsec.metrics.ranking as ranking

    rng = np.random.default_rng(1)
    sizes = rng.integers(1, 40, 300)
    user = np.repeat(np.arange(300), sizes)
    label = (rng.random(user.size) < 0.15).astype(np.int8)
    scores = rng.integers(0, 6, user.size).astype(np.float32)  # many ties
    rows = type("Rows", (), {"user": user, "label": label, "cold": np.isin(user, np.arange(0, 300, 4))})()
    whole = candidate_report(rows, scores)
    monkeypatch.setattr(ranking, "BLOCK_CELLS", 64)  # 1-2 users per block
    blocked = candidate_report(rows, scores)
    assert blocked == whole
    assert whole["users"] == {"all": 300, "warm": 225, "cold": 75}
    cold = rows.cold
    assert whole["cold"] == pytest.approx(candidate_metrics(user[cold], label[cold], scores[cold]), rel=1e-12)


def test_cli_train_then_evaluate_with_scores_out(board_dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "train",
            "--config",
            str(Path(__file__).resolve().parents[2] / "configs" / "lsec-lightgcn.yaml"),
            "--data",
            str(board_dataset),
            "--out",
            str(run),
            "-q",
            "train.epochs=20",
            "train.lr=0.003",
            "train.batch_size=64",
            "train.num_threads=1",
            "train.eval_every=10",
            "model.hparams.embedding_dim=16",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "best valid auc" in result.output
    scores_file = tmp_path / "scores.parquet"
    result = runner.invoke(app, ["evaluate", str(run), "--split", "test", "--json", "--scores-out", str(scores_file)])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed == json.loads((run / "results" / "test.json").read_text())
    buy = printed["tasks"]["buy"]
    assert buy["users"]["cold"] == 8 and buy["users"]["warm"] == 48
    assert set(buy["all"]) == {"auc", "mrr", "ndcg@10", "ndcg@50", "recall@10", "recall@50", "mrr_first@10"}
    assert buy["warm"]["auc"] > 0.9  # the checkerboard is learnable for users with training purchases

    frame = pl.read_parquet(scores_file)
    assert frame.columns == ["user", "item", "label", "cold", "score"]
    assert frame["user"][0].startswith("u") and frame["item"][0].startswith("i")
    user_index = frame["user"].str.slice(1).cast(pl.Int64).to_numpy()
    again = candidate_metrics(user_index, frame["label"].to_numpy(), frame["score"].to_numpy())
    assert again == pytest.approx(buy["all"], rel=1e-5)

    loaded = load_run(run)
    assert loaded.encode() is loaded.encode()  # cached


def test_evaluate_errors_are_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path)])
    assert result.exit_code != 0
