"""``lsec experiment mmbee-table1 / mmbee-table4`` at tiny scale, one seed: rows, per-seed stores, ablations."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from lsec.data.expansion_store import ExpansionStore
from lsec.evaluate.experiments import run_table
from lsec.evaluate.mmbee_tables import ablated_store, beside_control
from lsec.graph.metapath import mean_pool

FAST = ["train.epochs=1", "train.min_steps=0", "train.num_threads=1", "train.device=cpu"]
STORE = {"k": 5, "epochs": 1, "dim": 8}


@pytest.fixture(scope="module")
def dataset(mmbee_dataset):
    return mmbee_dataset


@pytest.fixture(scope="module")
def table1(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("t1")
    rows = ["SIM", "SIM+GIE"]
    summary = run_table("mmbee-table1", dataset, out, repeats=1, overrides=FAST, rows=rows, store_options=STORE)
    return out, summary


def test_table1_rows_store_and_gaps(table1):
    out, summary = table1
    assert list(summary["rows"]) == ["SIM", "SIM+GIE", "popularity"]
    for entry in summary["rows"].values():
        assert entry["seeds"] == 1 and set(entry["all"]) == {"auc", "uauc", "gauc"}
        assert all(0.0 <= v["mean"] <= 1.0 and v["std"] == 0.0 for v in entry["all"].values())
    raw = json.loads((out / "mmbee-table1.json").read_text())["runs"]
    by_row = {r["row"]: r for r in raw}
    for row in ("SIM", "SIM+GIE"):  # each row's figures are its own test run's gift task
        test = json.loads((out / "runs" / by_row[row]["recipe"] / "seed0" / "results" / "test.json").read_text())
        assert by_row[row]["test"]["all"] == {m: test["tasks"]["gift"][m] for m in ("auc", "uauc", "gauc")}
    # the store of seed 0 holds the training days' gifts only: the GIE run's store is not flagged as leaking
    info = json.loads((out / "runs" / "mmbee" / "sim-gie" / "seed0" / "run.json").read_text())
    assert info["gie_store"]["path"] == str(out / "stores" / "seed0" / "full")
    assert (
        "leak" not in info["gie_store"] and info["gie_store"]["gift_pairs"] == info["gie_store"]["training_gift_pairs"]
    )
    assert ExpansionStore.open(out / "stores" / "seed0" / "full").manifest["provenance"]["graphcl"]["seed"] == 0
    gaps = {(g["better"], g["baseline"], g["metric"]): g for g in summary["gaps"]}
    assert set(gaps) == {("SIM+GIE", "SIM", m) for m in ("auc", "uauc", "gauc")}
    for (_, _, metric), gap in gaps.items():
        assert gap["mean_diff"] == pytest.approx(
            by_row["SIM+GIE"]["test"]["all"][metric] - by_row["SIM"]["test"]["all"][metric]
        )
        assert gap["beyond_two_std"] is None  # one seed: no std, no verdict
    with open(out / "mmbee-table1.csv") as fh:
        assert [r["row"] for r in csv.DictReader(fh)] == ["SIM", "SIM+GIE", "popularity"]
    assert "| SIM+GIE | 1 |" in (out / "mmbee-table1.md").read_text()
    control = beside_control(summary, {**summary, "dataset": "null"})  # a control with the same gaps
    assert control.count("| SIM+GIE | SIM |") == 3


def test_table4_ablations_read_their_store_variant(dataset, table1):
    out, _ = table1  # the same OUT: the store of seed 0 and the SIM runs are reused, not rebuilt
    rows = ["h_a2u2a(-)", "Θ(-)", "h_g(-)"]
    summary = run_table("mmbee-table4", dataset, out, repeats=1, overrides=FAST, rows=rows, store_options=STORE)
    assert list(summary["rows"]) == [*rows, "popularity"]
    full = ExpansionStore.open(out / "stores" / "seed0" / "full")
    dropped = ExpansionStore.open(out / "stores" / "seed0" / "drop-a2u2a")
    random = ExpansionStore.open(out / "stores" / "seed0" / "random-theta")
    meta = full.manifest["metapaths"]
    for name, entry in meta.items():
        kept = np.asarray(full.arrays[entry["indices"]])
        if name == "a2u2a":  # the dropped metapath: no neighbour, zero pooled rows
            assert (np.asarray(dropped.arrays[entry["indices"]]) == -1).all()
            assert not np.asarray(dropped.arrays[entry["pooled"]]).any() and kept.max() >= 0
        else:
            assert np.array_equal(np.asarray(dropped.arrays[entry["indices"]]), kept)
            assert np.array_equal(np.asarray(dropped.arrays[entry["pooled"]]), np.asarray(full.arrays[entry["pooled"]]))
        # Θ(-): the same neighbours, pooled over fresh random tables
        assert np.array_equal(np.asarray(random.arrays[entry["indices"]]), kept)
        table = np.asarray(random.embeddings(entry["target"]))
        np.testing.assert_allclose(
            np.asarray(random.arrays[entry["pooled"]]), mean_pool(table=table, indices=kept), rtol=1e-6
        )
    for side in ("user", "streamer"):
        fresh, trained = np.asarray(random.embeddings(side)), np.asarray(full.embeddings(side))
        assert fresh.shape == trained.shape and not np.allclose(fresh, trained)
        assert 0.08 < fresh.std() < 0.12  # GraphCL's initialisation N(0, 0.1^2)
    # each ablation ran on its own variant; h_g(-) is the SIM run of Table 1 (same folder, reused)
    for recipe, variant in (("sim-gie@drop-a2u2a", "drop-a2u2a"), ("sim-gie@random-theta", "random-theta")):
        info = json.loads((out / "runs" / "mmbee" / recipe / "seed0" / "run.json").read_text())
        assert info["gie_store"]["path"] == str(out / "stores" / "seed0" / variant)
    raw = {r["row"]: r for r in json.loads((out / "mmbee-table4.json").read_text())["runs"]}
    assert raw["h_g(-)"]["run"] == str(out / "runs" / "mmbee" / "sim" / "seed0")
    gaps = {(g["better"], g["baseline"]) for g in summary["gaps"]}
    assert gaps == set()  # SIM+GIE not among the selected rows: no gap without its two rows


def test_unknown_variant_is_refused(tmp_path, table1):
    out, _ = table1
    with pytest.raises(Exception, match="Unknown store variant 'drop-u2u'"):
        ablated_store(out / "stores" / "seed0" / "full", tmp_path / "x", "drop-u2u", seed=0)


def test_finished_runs_are_reused_only_with_the_same_resolved_config(dataset, table1, tmp_path):
    import shutil

    from lsec.errors import LsecConfigError
    from lsec.evaluate.mmbee_tables import seed_store

    source, _ = table1
    out = tmp_path / "t1"
    shutil.copytree(source, out)  # the fixture's OUT stays as it was for the other tests
    run = out / "runs" / "mmbee" / "sim" / "seed0"
    trained = (run / "checkpoints" / "best.pt").stat().st_mtime_ns
    said: list[str] = []
    same = dict(repeats=1, rows=["SIM"], store_options=STORE, echo=said.append)
    run_table("mmbee-table1", dataset, out, overrides=FAST, **same)  # the same recipe: reused, nothing trained
    assert (run / "checkpoints" / "best.pt").stat().st_mtime_ns == trained
    assert not any("differs" in line for line in said)
    said.clear()  # another recipe, nothing to be trained: left out, and said why
    summary = run_table("mmbee-table1", dataset, out, overrides=[*FAST, "train.lr=0.02"], train_missing=False, **same)
    assert "SIM" not in summary["rows"]
    assert any("train.lr: run 0.003 != requested 0.02" in line and "left out" in line for line in said), said
    said.clear()  # another recipe: retrained with it
    summary = run_table("mmbee-table1", dataset, out, overrides=[*FAST, "train.lr=0.02"], **same)
    assert summary["rows"]["SIM"]["seeds"] == 1
    assert any("train.lr" in line and "retraining" in line for line in said), said
    assert "lr: 0.02" in (run / "config.yaml").read_text()
    # a store built with other options is refused, not silently rebuilt under the runs that used it
    with pytest.raises(LsecConfigError, match="built with"):
        seed_store(out, dataset, 0, None, {**STORE, "k": 6})
