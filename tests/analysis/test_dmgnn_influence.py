"""DM-GNN interpretability (issue 15.6): influence scores, tie lift, the report figure next to the null control."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from lsec.analysis.dmgnn_influence import influence_lift, influence_scores, tie_lift
from lsec.analysis.report import write_runs_report
from lsec.config import load_config
from lsec.data.events import save_dataset
from lsec.data.schema import CONSUMPTION_KINDS
from lsec.data.simulate.social import simulate_social
from lsec.graph.temporal import most_recent
from lsec.train.runs import load_run
from lsec.train.temporal_data import DAY, temporal_data
from lsec.train.trainer import train_run

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "dmgnn" / "dmgnn.yaml"
TINY = (
    "model.hparams.num_layers=1",
    "model.hparams.embedding_dim=8",
    "model.hparams.num_neighbors=5",
    "train.epochs=2",
    "train.lr=0.01",
    "train.batch_size=200",
    "train.num_threads=1",
)


@pytest.fixture(scope="module")
def simulated() -> dict[str, object]:
    return {null: simulate_social(preset="dmgnn", scale=0.01, seed=0, null=null) for null in (None, "social")}


@pytest.fixture(scope="module")
def runs(simulated, tmp_path_factory: pytest.TempPathFactory) -> dict[str | None, Path]:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("dmgnn-influence")
    out = {}
    for null, data in simulated.items():
        folder = root / f"data-{null}"
        save_dataset(data.graph, folder, events=data.events)
        cfg = load_config(CONFIG, [f"data.dataset={folder}", *TINY])
        out[null] = root / f"run-{null}"
        train_run(cfg, out[null])
    return out


def test_scores_equal_a_naive_loop_over_queries_and_slots(runs) -> None:  # type: ignore[no-untyped-def]
    run = load_run(runs[None])
    got = influence_scores(run, "test")
    task, model = run.split, run.model
    data, layer = task.data, model.encoder.layers[0]
    events = np.flatnonzero(data.fold_mask("test"))
    total, count = defaultdict(float), defaultdict(int)
    table = model.encoder.node_embedding.weight.detach()
    rate = float(layer.decay_rate.detach())
    with torch.no_grad():
        for e in events[::7]:  # a sample of the queries, one by one
            for u in (data.src[e], data.dst[e]):
                hop = most_recent(data.csr, nodes=np.array([u]), times=np.array([data.ts[e]]), k=5)
                neighbours = torch.as_tensor(np.where(hop.mask, hop.neighbors, 0))
                kinds = model.encoder.edge_embedding(torch.as_tensor(np.where(hop.mask, hop.kinds, 0)))
                dt = torch.as_tensor(hop.dt, dtype=torch.float32)
                alpha = layer.attention_weights(table[[u]], table[neighbours], kinds, dt, torch.as_tensor(hop.mask))
                for j in range(5):
                    edge = hop.edge_ids[0, j]
                    if hop.mask[0, j] and data.src[edge] == u:  # u acted on the neighbour
                        w = np.exp(-rate * hop.dt[0, j] / DAY)
                        total[hop.neighbors[0, j]] += float(alpha[0, :, j].mean()) * w
                        count[hop.neighbors[0, j]] += 1
    sample = influence_scores_on(run, events[::7])
    assert sum(count.values()) > 50
    for v, c in count.items():
        assert sample["appearances"][v] == c
        assert sample["score"][v] == pytest.approx(total[v] / c, rel=1e-4)
    assert np.isnan(got["score"][got["appearances"] == 0]).all() and (got["appearances"] > 0).sum() > 50


def influence_scores_on(run, events: np.ndarray):  # type: ignore[no-untyped-def]
    """influence_scores restricted to some events (the fold mask swapped for one holding just them)."""
    fold = np.zeros(len(run.split.data.ts), np.int8)
    fold[events] = 2
    task = replace(run.split, data=replace(run.split.data, fold=fold))
    return influence_scores(replace(run, split=task), "test")


def test_tie_lift_equals_a_naive_count() -> None:
    # users 0, 1 act on 2 (2's ties); 3 acts on 1. Purchases (days): 2 at 1.0 and 5.0; 0 at 1.5, 3.0, 5.5; 1 at 9.0
    pay = CONSUMPTION_KINDS["pay"]
    buys = [(2, 1.0), (2, 5.0), (0, 1.5), (0, 3.0), (0, 5.5), (1, 9.0)]
    data = temporal_data(
        src=np.array([0, 1, 3, 0]), dst=np.array([2, 2, 1, 2]), ts=np.array([0, 1, 2, 3]) * DAY, kinds=None,
        num_users=4, user_ids=np.arange(4),
        consumption={"user": np.array([u for u, _ in buys]), "ts": (np.array([d for _, d in buys]) * DAY).astype(np.int64),
                     "kind": np.full(len(buys), pay), "amount": np.ones(len(buys))},
    )  # fmt: skip
    got = tie_lift(data, window_days=1.0)
    span = (9.0 - 1.0) * DAY + 1
    # user 2: ties 0 and 1; purchases at 1 and 5 (both + 1 day inside); 0 buys at 1.5 and 5.5 -> 2 observed
    assert got["observed"][2] == 2
    assert got["expected"][2] == pytest.approx(2 * (3 + 1) * DAY / span)
    # user 1: tie 3 (no purchases) -> expected 0, lift NaN; user 1's purchase at 9 has no room for a window
    assert got["expected"][1] == 0 and np.isnan(got["lift"][1])
    assert got["lift"][2] == pytest.approx(2 / (8 * DAY / span))


def test_tie_lift_tracks_planted_influence_only_on_the_influence_data(simulated, runs) -> None:  # type: ignore[no-untyped-def]
    rho = {}
    for null, run_dir in runs.items():
        lift = tie_lift(load_run(run_dir).split.data, window_days=1.0)["lift"]
        truth = simulated[null].truth["user_influence"]
        ok = np.isfinite(lift)
        rho[null] = spearmanr(lift[ok], truth[ok])[0]
    # measured 0.23 and 0.00 (125 users each)
    assert rho[None] > 0.15 and abs(rho["social"]) < 0.1, rho


@pytest.mark.xfail(
    strict=True,
    reason="the attention does not single out influencers: measured Spearman -0.01 (trained, scale 0.01) vs 0.04 "
    "on the null; also with the ties' purchases in the messages (model.hparams.neighbor_consumption) on the "
    "strong-influence simulator (scale 0.02, seeds 0-2): 0.08 / 0.02 / 0.06 vs 0.12 / 0.14 / 0.08 on the null; "
    "benchmarks/README.md, 'DM-GNN experiments (issue 15)'",
)
def test_influence_score_tracks_planted_influence(simulated, runs) -> None:  # type: ignore[no-untyped-def]
    result = influence_lift(load_run(runs[None]))
    truth = simulated[None].truth["user_influence"]
    ok = np.isfinite(result["scores"])
    assert spearmanr(result["scores"][ok], truth[ok])[0] > 0.2


def test_report_shows_the_figure_next_to_the_null_control(runs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    html = write_runs_report([runs[None]], tmp_path / "report.html", null_run=runs["social"]).read_text()
    assert '<section id="influence">' in html and "null control" in html
    assert html.count('alt="Tie lift by influence score"') == 1 and "Spearman(score, lift)" in html
