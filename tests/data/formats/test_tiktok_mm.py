"""TikTok multi-modal layout importer on a generated fixture (CI never reads ../shared/data)."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from lsec.data.formats.tiktok_mm import import_tiktok_mm, read_pairs
from lsec.data.split import load_split
from lsec.data.store import load
from lsec.errors import LsecDataError

NUM_USERS, NUM_ITEMS, DIM = 20, 15, 4


def write_tsv(path, pairs, gz=True, header="user\titem"):
    text = "\n".join([header, *(f"{u}\t{i}" for u, i in pairs)]) + "\n"
    if gz:
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)


def write_fixture(folder, seed=0, gz=True, features=("image", "audio"), feature_rows=NUM_ITEMS):
    """train / valid / test in the MMSSL layout: valid and test hold one item per user, as published."""
    rng = np.random.default_rng(seed)
    folds = {"train": [], "valid": [], "test": []}
    for user in range(NUM_USERS):
        items = rng.permutation(NUM_ITEMS - 1)[: rng.integers(3, 7)]
        folds["train"] += [(user, int(i)) for i in items[:-2]]
        folds["valid"].append((user, int(items[-2])))
        folds["test"].append((user, int(items[-1])))
    folds["train"].append((NUM_USERS - 1, NUM_ITEMS - 1))  # the largest ids appear somewhere
    suffix = ".tsv.gz" if gz else ".tsv"
    for name, pairs in folds.items():
        write_tsv(folder / f"{name}{suffix}", pairs, gz=gz)
    arrays = {}
    for modality in features:
        arrays[modality] = rng.standard_normal((feature_rows, DIM)).astype(np.float16)
        np.save(folder / f"{modality}_feat.npy", arrays[modality])
    return folds, arrays


def test_import_folds_ids_and_features(tmp_path):
    folds, arrays = write_fixture(tmp_path)
    graph = import_tiktok_mm(tmp_path, tmp_path / "ds")
    assert graph.num_nodes == {"user": NUM_USERS, "item": NUM_ITEMS}
    loaded = load(tmp_path / "ds")
    assert len(loaded["buy"].src) == sum(len(p) for p in folds.values())
    assert loaded.node_ids["item"][7] == "7"  # ids are kept as they are
    split = load_split(tmp_path / "ds", name="given")
    assert split.tasks == ()  # full-sort protocol: no candidate lists
    for name, pairs in folds.items():
        edges = split.edges("buy", name)
        assert list(zip(edges.src.tolist(), edges.dst.tolist())) == pairs  # file order kept
    for modality, array in arrays.items():
        stored = np.load(tmp_path / "ds" / "features" / f"item__{modality}.npy", allow_pickle=False)
        assert stored.dtype == np.float16 and stored.shape == (NUM_ITEMS, DIM)
        np.testing.assert_array_equal(stored, array)
    meta = json.loads((tmp_path / "ds" / "meta.json").read_text())
    assert meta["features"]["item__image"]["shape"] == [NUM_ITEMS, DIM]
    report = meta["ingestion"]["files"]["valid.tsv.gz"]
    assert (report["rows_read"], report["kept"], report["merged"]) == (NUM_USERS, NUM_USERS, 0)


def test_import_passes_lsec_data_validate(tmp_path):
    from lsec.data.formats.validate import validate_dataset

    write_fixture(tmp_path, gz=False, features=())
    import_tiktok_mm(tmp_path, tmp_path / "ds")
    report = validate_dataset(tmp_path / "ds")
    assert report.ok, report.problems
    assert not (tmp_path / "ds" / "features").exists()


def test_duplicates_counted_and_cross_fold_pairs_kept(tmp_path):
    write_tsv(tmp_path / "train.tsv", [(0, 1), (0, 1), (1, 2), (0, 1), (2, 0)], gz=False)
    write_tsv(tmp_path / "test.tsv", [(0, 1), (1, 0)], gz=False)  # (0, 1) is also a training pair
    graph = import_tiktok_mm(tmp_path, tmp_path / "ds")
    meta = json.loads((tmp_path / "ds" / "meta.json").read_text())
    train = meta["ingestion"]["files"]["train.tsv"]
    assert (train["rows_read"], train["kept"], train["merged"]) == (5, 3, 2)
    assert meta["ingestion"]["pairs_also_in_train"] == {"test": 1}
    assert len(graph["buy"].src) == 5
    split = load_split(tmp_path / "ds", name="given")
    assert len(split.edges("buy", "valid").src) == 0  # no valid.tsv: no valid fold
    assert (graph.num_nodes["user"], graph.num_nodes["item"]) == (3, 3)


def test_feature_rows_extend_the_catalogue(tmp_path):
    write_fixture(tmp_path, features=("image",), feature_rows=NUM_ITEMS + 3)
    graph = import_tiktok_mm(tmp_path, tmp_path / "ds")
    assert graph.num_nodes["item"] == NUM_ITEMS + 3  # items with features and no interaction still exist


@pytest.mark.parametrize(
    "line, expected",
    [
        ("3\tx", ["train.tsv", "line 4", "item", "'x'", "non-negative integer"]),
        ("3\t-1", ["train.tsv", "line 4", "item", "'-1'"]),
        ("u7\t2", ["train.tsv", "line 4", "user", "'u7'"]),
        ("3\t2\t9", ["train.tsv", "line 4", "two tab-separated fields", "3\\t2\\t9"]),
        ("3", ["train.tsv", "line 4", "two tab-separated fields"]),
    ],
)
def test_malformed_line_names_file_line_and_expectation(tmp_path, line, expected):
    (tmp_path / "train.tsv").write_text(f"user\titem\n0\t1\n1\t2\n{line}\n2\t0\n")
    write_tsv(tmp_path / "test.tsv", [(0, 2)], gz=False)
    with pytest.raises(LsecDataError) as info:
        read_pairs(tmp_path / "train.tsv")
    message = str(info.value)
    for part in expected:
        assert part in message, message


def test_missing_header_is_refused(tmp_path):
    (tmp_path / "train.tsv").write_text("0\t1\n1\t2\n")
    with pytest.raises(LsecDataError, match=r"line 1.*user<TAB>item"):
        read_pairs(tmp_path / "train.tsv")


def test_feature_row_count_checked(tmp_path):
    write_fixture(tmp_path, features=("audio",), feature_rows=NUM_ITEMS - 2)
    with pytest.raises(
        LsecDataError, match=rf"audio_feat.npy: too few feature rows.*{NUM_ITEMS}.*{NUM_ITEMS - 2} rows"
    ):
        import_tiktok_mm(tmp_path, tmp_path / "ds")


def test_feature_arrays_must_agree_and_be_2d_floats(tmp_path):
    write_fixture(tmp_path, features=("image", "audio"))
    np.save(tmp_path / "audio_feat.npy", np.zeros((NUM_ITEMS + 1, DIM), np.float32))
    with pytest.raises(LsecDataError, match="disagree"):
        import_tiktok_mm(tmp_path, tmp_path / "ds")
    np.save(tmp_path / "audio_feat.npy", np.zeros((NUM_ITEMS, DIM), np.int64))
    with pytest.raises(LsecDataError, match="2-D float array"):
        import_tiktok_mm(tmp_path, tmp_path / "ds")


def test_cli_import_tiktok_mm(tmp_path):
    from typer.testing import CliRunner

    from lsec.cli import app

    write_fixture(tmp_path)
    out = tmp_path / "ds"
    result = CliRunner().invoke(app, ["data", "import", "tiktok-mm", str(tmp_path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"{NUM_USERS} users, {NUM_ITEMS} items" in result.output and "image, audio" in result.output
    again = CliRunner().invoke(app, ["data", "import", "tiktok-mm", str(tmp_path), "--out", str(out)])
    assert again.exit_code == 2 and "not empty" in again.output
    missing = CliRunner().invoke(app, ["data", "import", "tiktok-mm", str(tmp_path / "nope"), "--out", str(out)])
    assert missing.exit_code == 2 and "nope" in missing.output
    (tmp_path / "test.tsv.gz").unlink()
    no_test = CliRunner().invoke(app, ["data", "import", "tiktok-mm", str(tmp_path), "--out", str(tmp_path / "x")])
    assert no_test.exit_code == 2 and "test.tsv" in no_test.output
