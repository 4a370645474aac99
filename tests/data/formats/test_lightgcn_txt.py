"""LightGCN text layout importer on a generated fixture (CI never reads ../shared/data)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from lsec.data.formats.lightgcn_txt import import_lightgcn_txt, read_lightgcn
from lsec.data.split import load_split
from lsec.data.store import load
from lsec.errors import LsecDataError


def write_fixture(folder, seed=0, num_users=25, num_items=30, gz=True):
    rng = np.random.default_rng(seed)
    train, test = {}, {}
    for u in range(num_users):
        items = rng.permutation(num_items)[: rng.integers(3, 9)]
        train[u], test[u] = items[:-2].tolist(), items[-2:].tolist()
    train[num_users - 1] = train[num_users - 1] + [num_items - 1]  # the largest ids appear somewhere
    opener = gzip.open if gz else open
    suffix = ".txt.gz" if gz else ".txt"
    for name, table in (("train", train), ("test", test)):
        with opener(folder / f"{name}{suffix}", "wt") as handle:
            for u, items in table.items():
                handle.write(" ".join(map(str, [u, *items])) + "\n")
    return folder / f"train{suffix}", folder / f"test{suffix}", train, test


def test_import_counts_split_and_ids(tmp_path):
    train_path, test_path, train, test = write_fixture(tmp_path)
    graph = import_lightgcn_txt(train_path, test_path, tmp_path / "ds")
    n_train = sum(len(set(v)) for v in train.values())
    n_test = sum(len(v) for v in test.values())
    assert graph.num_nodes == {"user": 25, "item": 30}
    loaded = load(tmp_path / "ds")
    assert len(loaded["buy"].src) == n_train + n_test
    split = load_split(tmp_path / "ds", name="given")
    train_edges, test_edges = split.edges("buy", "train"), split.edges("buy", "test")
    assert len(train_edges.src) == n_train and len(test_edges.src) == n_test
    got = {(int(u), int(i)) for u, i in zip(test_edges.src, test_edges.dst)}
    assert got == {(u, i) for u, items in test.items() for i in items}
    assert loaded.node_ids["item"][7] == "7"  # ids are kept as they are


def test_duplicates_counted_and_plain_text(tmp_path):
    (tmp_path / "train.txt").write_text("0 1 1 2\n1 0\n2\n")
    (tmp_path / "test.txt").write_text("0 3\n1 2\n")
    data = read_lightgcn(tmp_path / "train.txt", tmp_path / "test.txt")
    assert data.duplicates == {"train": 1, "test": 0}
    assert (data.num_users, data.num_items) == (3, 4)  # user 2 has no items but exists
    assert data.train_items.tolist() == [1, 2, 0]


@pytest.mark.parametrize("line, found", [("0 1 x\n", "x"), ("0 -4\n", "-4")])
def test_bad_token_names_file_and_row(tmp_path, line, found):
    (tmp_path / "train.txt").write_text("0 1\n" + line)
    (tmp_path / "test.txt").write_text("0 2\n")
    with pytest.raises(LsecDataError) as info:
        read_lightgcn(tmp_path / "train.txt", tmp_path / "test.txt")
    message = str(info.value)
    assert "train.txt" in message and "2" in message and found in message


def test_cli_import_lightgcn(tmp_path):
    from typer.testing import CliRunner

    from lsec.cli import app

    write_fixture(tmp_path, gz=False)
    result = CliRunner().invoke(app, ["data", "import", "lightgcn", str(tmp_path), "--out", str(tmp_path / "ds")])
    assert result.exit_code == 0, result.output
    assert "25 users, 30 items" in result.output
    missing = CliRunner().invoke(app, ["data", "import", "lightgcn", str(tmp_path / "nope"), "--out", str(tmp_path)])
    assert missing.exit_code == 2 and "train.txt" in missing.output


def test_optional_valid_file_becomes_the_valid_fold_and_trains_on_it(tmp_path):
    """train.txt / valid.txt / test.txt: the bpr engine validates on valid.txt and carves nothing."""
    import json

    from lsec.cli import main

    write_fixture(tmp_path, gz=False)
    rng = np.random.default_rng(5)
    valid = {u: rng.permutation(30)[:2].tolist() for u in range(25)}
    (tmp_path / "valid.txt").write_text("".join(" ".join(map(str, [u, *v])) + "\n" for u, v in valid.items()))
    with pytest.raises(SystemExit) as done:
        main(["data", "import", "lightgcn", str(tmp_path), "--out", str(tmp_path / "ds")])
    assert done.value.code in (0, None)
    split = load_split(tmp_path / "ds", name="given")
    got = {(int(u), int(i)) for u, i in zip(split.edges("buy", "valid").src, split.edges("buy", "valid").dst)}
    assert got == {(u, i) for u, items in valid.items() for i in items}
    configs = Path(__file__).resolve().parents[3] / "configs"
    args = ["train", "--config", str(configs / "mf-bpr.yaml"), "--data", str(tmp_path / "ds"), "--out"]
    overrides = ["data.split=given", "train.epochs=1", "train.min_steps=0", "train.hard_candidates=1", "-q"]
    with pytest.raises(SystemExit) as done:
        main([*args, str(tmp_path / "run"), *overrides])
    assert done.value.code in (0, None)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["validation"] == f"fold 'valid' of split 'given': {len(got)} pairs"
    assert info["train_pairs"] == len(split.edges("buy", "train").src)
