"""``lsec experiment dmgnn`` (issue 15.5): rows, metrics per event group, the baseline row, gaps; the static GNN row."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lsec.data.events import save_dataset
from lsec.data.simulate.social import simulate_social
from lsec.evaluate.experiments import BASELINE_ROW, LINK_METRICS, TIER_METRICS, run_table, summarise, to_markdown
from lsec.nn.models.dmgnn.static import StaticEncoder, aggregated_adjacency

TINY = (
    "model.hparams.num_layers=1",
    "model.hparams.embedding_dim=8",
    "model.hparams.num_neighbors=3",
    "train.epochs=1",
    "train.batch_size=400",
    "train.num_threads=1",
)


@pytest.fixture(scope="module")
def social_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dmgnn-exp") / "data"
    simulated = simulate_social(preset="dmgnn", scale=0.01, seed=3)
    save_dataset(simulated.graph, root, events=simulated.events)
    return root


def test_static_encoder_is_lightgcn_on_the_aggregated_graph() -> None:
    src, dst = np.array([0, 1, 1, 2, 3, 3]), np.array([1, 0, 2, 2, 4, 4])  # repeats and a self-loop
    adjacency = aggregated_adjacency(src, dst, 6)
    dense = np.zeros((6, 6))
    for u, v in [(0, 1), (1, 2), (3, 4)]:  # undirected, binary, no self-loop; user 5 isolated
        dense[u, v] = dense[v, u] = 1.0
    degree = dense.sum(1)
    inv = np.where(degree > 0, 1 / np.sqrt(np.maximum(degree, 1)), 0.0)
    norm = inv[:, None] * dense * inv[None, :]
    np.testing.assert_allclose(adjacency.matrix.to_dense().numpy(), norm, atol=1e-6)
    torch.manual_seed(0)
    encoder = StaticEncoder(adjacency, embedding_dim=4, num_layers=2)
    table = encoder.node_embedding.weight.detach().double().numpy()
    expected = (table + norm @ table + norm @ norm @ table) / 3
    nodes = np.array([5, 0, 4, 0])
    out = encoder(nodes, np.array([0, 1, 2, 10**9]))
    np.testing.assert_allclose(out.detach().numpy(), expected[nodes], atol=1e-5)
    np.testing.assert_array_equal(out[1].detach().numpy(), out[3].detach().numpy())  # times are ignored
    assert set(encoder.state_dict()) == {"node_embedding.weight"}  # the graph is rebuilt from the data
    with pytest.raises(ValueError, match=r"indices in \[0, 6\)"):
        encoder(np.array([6]), np.array([0]))


def fake(row: str, seed: int, value: float, tasks: tuple[str, ...] = ("link", "tier")) -> dict:
    names = (LINK_METRICS if "link" in tasks else ()) + (TIER_METRICS if "tier" in tasks else ())
    group = {m: value for m in names}
    return {"row": row, "seed": seed, "train_seconds": 2.0, "test": {"all": group, "transductive": group}}


def test_summary_of_the_dmgnn_table_reports_each_tasks_gaps() -> None:
    raw = [fake("DM-GNN", s, v) for s, v in enumerate([0.80, 0.81, 0.82])]
    raw += [fake("link task alone", s, v, ("link",)) for s, v in enumerate([0.70, 0.72, 0.71])]
    raw += [fake("DM-GNN without decay", s, v) for s, v in enumerate([0.79, 0.82, 0.80])]
    raw += [fake(BASELINE_ROW, s, 0.6) for s in range(3)]
    summary = summarise("dmgnn", raw, ["DM-GNN", "link task alone", "DM-GNN without decay", BASELINE_ROW])
    assert summary["rows"]["link task alone"]["all"].keys() == set(LINK_METRICS)
    assert summary["rows"]["DM-GNN"]["inductive"] == {}
    gaps = {(g["better"], g["baseline"], g["metric"]): g for g in summary["gaps"]}
    multi = gaps[("DM-GNN", "link task alone", "link_auc_historical")]
    assert multi["mean_diff"] == pytest.approx(0.10) and multi["std_diff"] == pytest.approx(
        np.std([0.1, 0.09, 0.11], ddof=1)
    )
    assert multi["beyond_two_std"] is True
    assert ("DM-GNN", "link task alone", "tier_macro_f1") not in gaps  # the single-task row has no tiers
    decay = gaps[("DM-GNN", "DM-GNN without decay", "tier_macro_f1")]
    assert decay["mean_diff"] == pytest.approx(0.02 / 3) and decay["beyond_two_std"] is False
    assert gaps[("DM-GNN", BASELINE_ROW, "link_auc_random")]["mean_diff"] == pytest.approx(0.21)
    text = to_markdown(summary)
    assert "### dmgnn (test, all events" in text and "### dmgnn (test, transductive events" in text
    assert "inductive events" not in text  # no row has inductive metrics
    assert "| link task alone | 3 | 0.7100 ± 0.0100 |" in text and "| - | - | 2 |" in text


def test_run_table_dmgnn_end_to_end(social_dataset: Path, tmp_path: Path) -> None:
    messages: list[str] = []
    rows = ["DM-GNN", "static GNN"]
    summary = run_table(
        "dmgnn", social_dataset, tmp_path, repeats=2, rows=rows, overrides=list(TINY), echo=messages.append
    )
    assert len(messages) == 4 and messages[0].startswith("[1/4] DM-GNN seed 0: test link_auc_random 0.")
    assert list(summary["rows"]) == [*rows, BASELINE_ROW]
    for label in [*rows, BASELINE_ROW]:
        entry = summary["rows"][label]
        assert entry["seeds"] == 2 and entry["all"].keys() == set(LINK_METRICS + TIER_METRICS), label
        assert entry["transductive"].keys() == entry["all"].keys()
    saved = json.loads((tmp_path / "dmgnn.json").read_text())
    runs = saved["runs"]
    first = next(r for r in runs if r["row"] == "DM-GNN" and r["seed"] == 0)
    test = json.loads((Path(first["run"]) / "results" / "test.json").read_text())
    assert first["test"]["all"]["tier_macro_f1"] == pytest.approx(test["metrics"]["tier_macro_f1"])
    base = test["baselines"]["popularity_persistence"]["metrics"]
    baseline_run = next(r for r in runs if r["row"] == BASELINE_ROW and r["seed"] == 0)
    assert baseline_run["test"]["all"]["link_auc_historical"] == pytest.approx(base["link_auc_historical"])
    seeds = [r["test"]["all"]["link_auc_random"] for r in runs if r["row"] == "static GNN"]
    assert seeds[0] != seeds[1]
    with open(tmp_path / "dmgnn.csv") as fh:
        table = list(csv.DictReader(fh))
    assert {(r["row"], r["group"]) for r in table} >= {("DM-GNN", "all"), (BASELINE_ROW, "transductive")}
    mean = np.mean([r["test"]["all"]["link_auc_historical"] for r in runs if r["row"] == "DM-GNN"])
    cell = next(r for r in table if r["row"] == "DM-GNN" and r["group"] == "all")["link_auc_historical_mean"]
    assert float(cell) == pytest.approx(mean)
    gaps = {(g["better"], g["baseline"], g["metric"]) for g in summary["gaps"]}
    assert ("DM-GNN", "static GNN", "tier_macro_f1") in gaps and ("DM-GNN", BASELINE_ROW, "link_auc_random") in gaps
    assert (tmp_path / "runs" / "dmgnn" / "static-gnn" / "seed1" / "results" / "test.json").is_file()
