"""The authors' RecHub layout (``yusanshi/RecHub`` README): val / test ``user item value`` rows are the lists.

The fixture is written here in that layout: node files and training edges under ``train/`` (tab-separated,
with headers), ``val|test/user-item-buy.tsv`` and ``val|test/user-streamer-follow.tsv`` holding candidate
rows (value 1 = positive, 0 = sampled negative). Some candidate rows repeat a training pair, a pair of the
other fold, or another row of the same file.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from lsec.cli import app
from lsec.data import load, load_rejected
from lsec.data.formats.rechub_tsv import import_rechub
from lsec.data.formats.validate import validate_dataset
from lsec.data.split import load_split

CONFIGS = Path(__file__).resolve().parents[3] / "configs"

TRAIN_BUY = [(0, 0), (1, 2), (2, 3)]
TRAIN_FOLLOW = [(0, 0), (1, 1), (2, 0)]
TRAIN_SELL = [(0, 0), (1, 2), (2, 3), (0, 5)]
# (user, item, value). Collisions: val (1, 2, 1) and test (2, 3, 0) repeat training pairs; val (0, 0, 0) is a
# training pair as a negative; test (0, 1, 0) is a val positive as a negative; (1, 6, 0) and (2, 7, 0) repeat
# within their file. User 3 has no training purchase (cold); users 4 and item 8 appear in node files only.
VAL_BUY = [(0, 1, 1), (0, 0, 0), (0, 5, 0), (0, 6, 0), (1, 2, 1), (1, 6, 0), (1, 6, 0), (1, 4, 0)]
TEST_BUY = [
    (0, 6, 1), (0, 1, 0), (0, 2, 0), (0, 7, 0),
    (2, 4, 1), (2, 3, 0), (2, 7, 0), (2, 7, 0),
    (3, 5, 1), (3, 1, 0), (3, 7, 1), (3, 0, 0),
]  # fmt: skip
VAL_FOLLOW = [(0, 1, 1), (0, 2, 0), (1, 1, 0), (1, 2, 1)]
TEST_FOLLOW = [(2, 2, 1), (2, 0, 0), (3, 0, 1), (3, 1, 0)]


def _tsv(path: Path, header: str, rows: list[tuple[int, ...]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + "".join("\t".join(map(str, row)) + "\n" for row in rows))


def write_authors_folder(root: Path) -> Path:
    _tsv(root / "train" / "user.tsv", "user", [(u,) for u in range(5)])
    _tsv(root / "train" / "item.tsv", "item", [(i,) for i in range(9)])
    _tsv(root / "train" / "streamer.tsv", "streamer", [(s,) for s in range(3)])
    _tsv(root / "train" / "user-item-buy.tsv", "user\titem", TRAIN_BUY)
    _tsv(root / "train" / "user-streamer-follow.tsv", "user\tstreamer", TRAIN_FOLLOW)
    _tsv(root / "train" / "streamer-item-sell.tsv", "streamer\titem", TRAIN_SELL)
    _tsv(root / "val" / "user-item-buy.tsv", "user\titem\tvalue", VAL_BUY)
    _tsv(root / "test" / "user-item-buy.tsv", "user\titem\tvalue", TEST_BUY)
    _tsv(root / "val" / "user-streamer-follow.tsv", "user\tstreamer\tvalue", VAL_FOLLOW)
    _tsv(root / "test" / "user-streamer-follow.tsv", "user\tstreamer\tvalue", TEST_FOLLOW)
    return root


def _external(graph, rel: str, fold_of: np.ndarray) -> Counter:
    """Multiset of (src id, dst id, fold) of a relation, external ids as ints."""
    table = graph[rel]
    src_type, dst_type = {"buy": ("user", "item"), "follow": ("user", "streamer"), "sell": ("streamer", "item")}[rel]
    return Counter(
        (int(graph.ids(src_type)[s]), int(graph.ids(dst_type)[d]), int(f))
        for s, d, f in zip(table.src, table.dst, fold_of, strict=True)
    )


def _candidate_rows(split, task: str, fold: str) -> Counter:
    cand = split.candidates(task, fold)
    target_type = "item" if task == "buy" else "streamer"
    users, targets = split.graph.ids("user"), split.graph.ids(target_type)
    return Counter(
        (int(users[u]), int(targets[t]), int(y)) for u, t, y in zip(cand.user, cand.target, cand.label, strict=True)
    )


@pytest.fixture
def authors_dataset(tmp_path: Path) -> Path:
    out = tmp_path / "ds"
    import_rechub(write_authors_folder(tmp_path / "lsec"), out=out, num_candidates=4, seed=3)
    return out


def test_value_rows_become_positives_and_the_lists_as_given(authors_dataset: Path) -> None:
    graph = load(authors_dataset)
    split = load_split(authors_dataset, "given")
    # node ids (and their order) come from train/*.tsv, including ids no edge names (user 4, item 8)
    assert graph.num_nodes == {"user": 5, "item": 9, "streamer": 3}
    assert [int(x) for x in graph.ids("user")] == list(range(5))
    assert [int(x) for x in graph.ids("item")] == list(range(9))

    # buy edges: the 3 training rows + the value-1 rows of val and test, nothing merged, no value-0 row
    expected_buy = Counter(
        [(u, i, 0) for u, i in TRAIN_BUY]
        + [(u, i, 1) for u, i, v in VAL_BUY if v == 1]
        + [(u, i, 2) for u, i, v in TEST_BUY if v == 1]
    )
    assert len(graph["buy"]) == 3 + 2 + 4
    assert _external(graph, "buy", split.fold("buy")) == expected_buy
    expected_follow = Counter(
        [(u, s, 0) for u, s in TRAIN_FOLLOW]
        + [(u, s, 1) for u, s, v in VAL_FOLLOW if v == 1]
        + [(u, s, 2) for u, s, v in TEST_FOLLOW if v == 1]
    )
    assert _external(graph, "follow", split.fold("follow")) == expected_follow
    assert len(graph["sell"]) == len(TRAIN_SELL)

    # the split's lists are the file rows exactly: users, targets, labels, multiplicity; nothing drawn
    assert split.tasks == ("buy", "follow")
    for task, fold, rows in (
        ("buy", "valid", VAL_BUY),
        ("buy", "test", TEST_BUY),
        ("follow", "valid", VAL_FOLLOW),
        ("follow", "test", TEST_FOLLOW),
    ):
        assert _candidate_rows(split, task, fold) == Counter(rows), (task, fold)
        stats = split.info["candidates"][task][fold]
        assert stats["given"] == 1 and stats["rows"] == len(rows)
        assert stats["positives"] == sum(v for _, _, v in rows)
        assert stats["evaluated_users"] == len({u for u, _, _ in rows})
    cand = split.candidates("buy", "test")
    cold_users = {int(split.graph.ids("user")[u]) for u in cand.cold_users()}
    assert cold_users == {3}  # the only test user without a training purchase
    assert split.info["info"]["given_candidates"] == ["buy/test", "buy/valid", "follow/test", "follow/valid"]


def test_report_reconciles_every_file(authors_dataset: Path) -> None:
    meta = json.loads((authors_dataset / "meta.json").read_text())
    files = meta["ingestion"]["files"]
    assert set(files) == {
        "train__user.tsv", "train__item.tsv", "train__streamer.tsv",
        "train__user-item-buy.tsv", "train__user-streamer-follow.tsv", "train__streamer-item-sell.tsv",
        "val__user-item-buy.tsv", "test__user-item-buy.tsv",
        "val__user-streamer-follow.tsv", "test__user-streamer-follow.tsv",
    }  # fmt: skip
    for label, entry in files.items():
        assert entry["rows_read"] == entry["kept"] + entry["merged"] + entry["rejected"], label
    val = files["val__user-item-buy.tsv"]
    assert (val["rows_read"], val["kept"], val["merged"], val["rejected"]) == (8, 8, 0, 0)
    assert (val["edges"], val["positives"], val["negatives"], val["repeated_rows"]) == (2, 2, 6, 1)
    assert val["columns"] == {"src": "user", "dst": "item", "value": "value"}
    assert files["train__user-item-buy.tsv"]["kept"] == 3
    assert meta["provenance"]["layout"].startswith("authors")
    report = validate_dataset(authors_dataset)
    assert report.ok, report.problems


def test_bad_candidate_rows_are_rejected_with_reasons(tmp_path: Path) -> None:
    root = write_authors_folder(tmp_path / "lsec")
    with (root / "test" / "user-item-buy.tsv").open("a") as handle:
        handle.write("3\t2\t2\n3\t4\t\n9\t1\t1\n3\t99\t0\n3\t3\tyes\n")
    result = import_rechub(root, out=tmp_path / "ds", num_candidates=4)
    entry = result.report["test__user-item-buy.tsv"]
    assert (entry["rows_read"], entry["kept"], entry["rejected"]) == (len(TEST_BUY) + 5, len(TEST_BUY), 5)
    assert entry["rejected_by_reason"] == {
        "value in column 'value' is not 0 or 1": 2,
        "empty value in column 'value'": 1,
        "unknown user id in column 'user' (not in train__user.tsv)": 1,
        "unknown item id in column 'item' (not in train__item.tsv)": 1,
    }
    assert sorted(load_rejected(tmp_path / "ds")["test__user-item-buy.tsv"]["line"].to_list()) == [14, 15, 16, 17, 18]
    split = load_split(tmp_path / "ds", "given")
    assert _candidate_rows(split, "buy", "test") == Counter(TEST_BUY)


def test_headerless_value_files_and_mixed_folds(tmp_path: Path) -> None:
    """Authors' layout without headers in val/; a test/ file without values stays plain edges (lists drawn)."""
    root = write_authors_folder(tmp_path / "lsec")
    _tsv(root / "val" / "user-item-buy.tsv", "0\t1\t1", VAL_BUY[1:])  # first row as the "header" line
    (root / "test" / "user-item-buy.tsv").write_text("user\titem\n0\t6\n2\t4\n3\t5\n")
    (root / "test" / "user-streamer-follow.tsv").unlink()
    (root / "val" / "user-streamer-follow.tsv").unlink()
    result = import_rechub(root, out=tmp_path / "ds", num_candidates=4, seed=1)
    assert result.report["val__user-item-buy.tsv"]["columns"] == {"src": "1", "dst": "2", "value": "3"}
    split = load_split(tmp_path / "ds", "given")
    assert _candidate_rows(split, "buy", "valid") == Counter(VAL_BUY)
    drawn = split.candidates("buy", "test")
    assert "given" not in split.info["candidates"]["buy"]["test"]
    assert len(drawn) == 3 * 4 and int(drawn.label.sum()) == 3  # drawn as before: positives + 3 negatives each
    assert len(split.edges("buy", "test")) == 3


def test_cli_import_train_and_evaluate_on_the_given_rows(tmp_path: Path) -> None:
    root = write_authors_folder(tmp_path / "lsec")
    runner = CliRunner()
    out = tmp_path / "ds"
    result = runner.invoke(app, ["data", "import", "rechub", str(root), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "test__user-item-buy.tsv: 12 rows read = 12 kept + 0 merged + 0 rejected" in result.output
    assert "candidate list: 4 positives (test buy edges) + 8 negatives" in result.output
    split = load_split(out, "given")
    assert _candidate_rows(split, "buy", "test") == Counter(TEST_BUY)
    assert runner.invoke(app, ["data", "validate", str(out)]).exit_code == 0

    run = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train", "--config", str(CONFIGS / "mf-bpr.yaml"), "--data", str(out), "--out", str(run), "-q",
            "data.split=given", "train.engine=lsec", "train.epochs=1", "train.min_steps=0", "train.batch_size=8",
            "train.num_threads=1", "train.eval_every=1", "train.metric=auc", "model.hparams.embedding_dim=8", "eval.ks=[1,2]", "eval.first_ks=[2]",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scores_file = tmp_path / "scores.parquet"
    result = runner.invoke(
        app, ["evaluate", str(run), "--split", "test", "--task", "buy", "--json", "--scores-out", str(scores_file)]
    )
    assert result.exit_code == 0, result.output
    buy = json.loads(result.output)["tasks"]["buy"]
    assert json.loads(result.output)["protocol"]["buy"] == "candidates"
    assert buy["users"] == {"all": 3, "warm": 2, "cold": 1}

    frame = pl.read_parquet(scores_file)
    scored = list(zip(frame["user"].cast(pl.Int64), frame["item"].cast(pl.Int64), frame["label"], strict=True))
    assert Counter(scored) == Counter(TEST_BUY)  # exactly the file rows were scored
    score_of = {(u, i): s for (u, i, _), s in zip(scored, frame["score"].to_list(), strict=True)}
    naive = _naive_metrics([(u, y, score_of[(u, i)]) for u, i, y in TEST_BUY], ks=(1, 2), first_k=2)
    assert buy["all"] == pytest.approx(naive, rel=1e-6)


def _naive_metrics(rows: list[tuple[int, int, float]], ks: tuple[int, ...], first_k: int) -> dict[str, float]:
    """Per-user candidate metrics by a plain loop (pessimistic ties), averaged over users with a positive."""
    per_user: dict[str, list[float]] = {}
    for user in sorted({u for u, _, _ in rows}):
        labels = [y for u, y, _ in rows if u == user]
        scores = [s for u, _, s in rows if u == user]
        pos = [s for s, y in zip(scores, labels, strict=True) if y == 1]
        neg = [s for s, y in zip(scores, labels, strict=True) if y == 0]
        ranks = []
        for s in sorted(set(pos), reverse=True):
            above = sum(x > s for x in scores)
            tied_neg = sum(x == s for x in neg)
            ranks += [above + tied_neg + i + 1 for i in range(pos.count(s))]
        values = {
            "auc": sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg)),
            "mrr": sum(1 / r for r in ranks) / len(ranks),
        }
        for k in ks:
            idcg = sum(1 / np.log2(i + 2) for i in range(min(len(pos), k)))
            values[f"ndcg@{k}"] = sum(1 / np.log2(r + 1) for r in ranks if r <= k) / idcg
        for k in ks:
            values[f"recall@{k}"] = sum(r <= k for r in ranks) / len(pos)
        values[f"mrr_first@{first_k}"] = 1 / min(ranks) if min(ranks) <= first_k else 0.0
        for name, value in values.items():
            per_user.setdefault(name, []).append(float(value))
    return {name: float(np.mean(values)) for name, values in per_user.items()}
