"""Reports: CLI, JSON numbers, run folders (contract 6) and rendering in a real browser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lsec.analysis.report import write_influence_report, write_runs_report
from lsec.cli import main
from lsec.data.store import save
from tests.analysis.browser import assert_rendered, render
from tests.analysis.planted import planted_graph

SAMPLES = 400


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "planted"
    save(planted_graph(num_users=600, num_items=500, num_streamers=50, influence=0.6, seed=1), path)
    return path


@pytest.fixture(scope="module")
def influence_html(dataset, tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("report")
    html, numbers = out / "influence.html", out / "influence.json"
    args = ["analyze", "influence", str(dataset), "--out", str(html), "--json", str(numbers)]
    with pytest.raises(SystemExit) as exit_info:
        main(
            [*args, "--samples", str(SAMPLES), "--seed", "3", "--permutations", "500", "--bootstrap", "100", "--quiet"]
        )
    assert exit_info.value.code == 0
    return html, numbers


def write_run(root: Path, name: str, model: str, auc_shift: float) -> Path:
    """A run folder exactly as contract 6 describes it (no training needed)."""
    run = root / name
    (run / "results").mkdir(parents=True)
    (run / "config.yaml").write_text(f"model:\n  name: {model}\n")
    info = {"model": model, "dataset": "/data/x", "split": "default", "seed": 0, "status": "finished"}
    (run / "run.json").write_text(json.dumps({**info, "best_epoch": 3, "best_metric": 0.7 + auc_shift}))
    lines = []
    for epoch in range(1, 6):
        lines.append({"event": "epoch", "epoch": epoch, "train_loss": 0.7 / epoch, "elapsed": epoch * 1.5})
        metrics = {"auc": 0.6 + auc_shift + 0.02 * epoch, "mrr": 0.1 + 0.01 * epoch, "ndcg@10": 0.05 * epoch}
        lines.append({"event": "eval", "epoch": epoch, "split": "valid", "train_loss": 0.7 / epoch, "metrics": metrics})
    (run / "log.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    report = {
        "all": {"auc": 0.7 + auc_shift, "mrr": 0.2, "ndcg@10": 0.3},
        "warm": {"auc": 0.72 + auc_shift, "mrr": 0.21, "ndcg@10": 0.31},
        "cold": {"auc": 0.6 + auc_shift, "mrr": 0.1, "ndcg@10": 0.2},
        "users": {"all": 100, "warm": 80, "cold": 20},
    }
    (run / "results" / "test.json").write_text(json.dumps({"split": "test", "model": model, "tasks": {"buy": report}}))
    return run


def test_influence_json_has_every_number_the_issue_asks_for(influence_html):
    _, numbers = influence_html
    payload = json.loads(numbers.read_text())
    influence = payload["influence"]
    assert influence["samples"] == SAMPLES and influence["seed"] == 3
    assert [p["key"] for p in influence["patterns"]] == ["users_items", "similar_users", "similar_items"]
    for pattern in influence["patterns"]:
        result = pattern["result"]
        assert result["n"] > 0 and pattern["counts"]
        assert result["ratio_ci"][0] <= result["ratio"] <= result["ratio_ci"][1]
        assert 1 / 501 <= result["p_value"] <= 1
    stats = {r["relation"]: r for r in payload["overview"]["relations"]}
    assert set(stats) == {"buy", "follow", "sell"}
    assert 0 < stats["follow"]["density"] < 1


def test_influence_report_is_self_contained(influence_html):
    html, _ = influence_html
    text = html.read_text()
    assert "http://" not in text and "https://" not in text and "<script" not in text
    assert text.count("data:image/png;base64,") == 6  # summary + 3 patterns + degrees + activity
    for title in ("Streamers connect users with items", "Streamers connect similar users", "Degree distributions"):
        assert title in text


def test_write_influence_report_says_which_patterns_cannot_be_tested(tmp_path):
    graph = planted_graph(num_users=200, num_items=150, num_streamers=20, seed=5)
    follow_only = graph.with_edges({("user", "follow", "streamer"): graph["follow"]})
    save(follow_only, tmp_path / "follow-only")
    out = write_influence_report(tmp_path / "follow-only", tmp_path / "r.html", samples=100, seed=0)
    text = out.read_text()
    assert text.count("Not testable: needs the buy") == 3
    assert text.count("data:image/png;base64,") == 2  # degrees + activity; no pattern figures


def test_runs_report_tables_and_curves(tmp_path):
    runs = [write_run(tmp_path, "lsec-gcn", "lsec-gcn", 0.1), write_run(tmp_path, "lightgcn", "lightgcn", 0.0)]
    with (runs[1] / "log.jsonl").open("a") as fh:
        fh.write('{"event": "epoch", "epo')  # a run killed mid-write
    with pytest.raises(SystemExit) as exit_info:
        main(["report", *map(str, runs), "--out", str(tmp_path / "runs.html")])
    assert exit_info.value.code == 0
    text = (tmp_path / "runs.html").read_text()
    assert text.count("data:image/png;base64,") == 1
    assert "lsec-gcn" in text and "lightgcn" in text and "not valid JSON, skipped" in text
    assert '<td class="best">0.8</td>' in text  # lsec-gcn's test auc (0.7 + 0.1) is the best of the two


def test_runs_report_names_a_missing_run_folder(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(tmp_path / "nope"), "--out", str(tmp_path / "x.html")])
    assert exit_info.value.code == 2
    assert "nope" in capsys.readouterr().err


@pytest.mark.browser
def test_influence_report_renders_in_chromium(influence_html):
    html, _ = influence_html
    check, pixels = render(html, window=(1200, 5200))
    assert check["sections"] == 6  # summary, 3 patterns, overview, method
    assert_rendered(check, pixels, expected_images=6)


@pytest.mark.browser
def test_runs_report_renders_in_chromium(tmp_path):
    runs = [write_run(tmp_path, f"run{i}", "lsec-gcn", 0.05 * i) for i in range(3)]
    html = write_runs_report(runs, tmp_path / "runs.html")
    check, pixels = render(html, window=(1200, 1800))
    assert_rendered(check, pixels, expected_images=1)


def test_analyze_names_a_folder_that_is_not_a_dataset(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main(["analyze", "influence", str(tmp_path / "empty"), "--out", str(tmp_path / "x.html"), "--quiet"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "empty" in err and "meta.json" in err
    assert not (tmp_path / "x.html").exists()


def test_runs_report_shows_what_training_warned(tmp_path):
    run = write_run(tmp_path, "tiny", "lsec-lightgcn", 0.0)
    info = json.loads((run / "run.json").read_text())
    warning = "best validation auc 0.4896 is not above a popularity ranking of the same validation data (0.6461)"
    (run / "run.json").write_text(json.dumps({**info, "warnings": [warning]}))
    with pytest.raises(SystemExit) as exit_info:
        main(["report", str(run), "--out", str(tmp_path / "runs.html")])
    assert exit_info.value.code == 0
    assert f"tiny: training: {warning}" in (tmp_path / "runs.html").read_text()


def test_analyze_with_rewirings_reports_the_graph_level_test(dataset, tmp_path):
    html, numbers = tmp_path / "mc.html", tmp_path / "mc.json"
    args = ["analyze", "influence", str(dataset), "--out", str(html), "--json", str(numbers), "--quiet"]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--samples", "300", "--partners", "5", "--rewirings", "19", "--bootstrap", "50"])
    assert exit_info.value.code == 0
    payload = json.loads(numbers.read_text())["influence"]
    assert payload["rewirings"] == 19 and payload["partners"] == 5
    assert payload["p_value_method"].startswith("one-sided graph-level Monte Carlo")
    for pattern in payload["patterns"]:  # planted influence: above all 19 rewirings, p = 1 / 20
        assert pattern["result"]["p_value"] == pytest.approx(1 / 20), pattern["key"]
    assert "graph-level Monte Carlo test against 19 rewirings" in html.read_text()
