"""``lsec train`` / ``lsec evaluate`` of configs/mmbee-rec.yaml on a tiny TikTok multi-modal folder made here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import cli

TINY = ["train.batch_size=16", "train.min_steps=2", "train.epochs=2", "train.num_threads=1",
        "model.hparams.embedding_dim=8", "model.hparams.mfq_dim=4", "model.hparams.expansion_k=3"]  # fmt: skip


def tiktok_folder(root: Path, *, with_features: bool = True) -> Path:
    rng = np.random.default_rng(0)
    folder = root / "tiktok"
    folder.mkdir()
    pairs = {
        fold: (rng.integers(0, 12, n), rng.integers(0, 10, n)) for fold, n in (("train", 60), ("valid", 8), ("test", 8))
    }
    for fold, (users, items) in pairs.items():
        lines = "".join(f"{u}\t{i}\n" for u, i in zip(users, items))
        (folder / f"{fold}.tsv").write_text("user\titem\n" + lines)
    if with_features:
        np.save(folder / "image_feat.npy", rng.normal(size=(10, 8)).astype(np.float32))
        np.save(folder / "audio_feat.npy", rng.normal(size=(10, 4)).astype(np.float16))
    return folder


def test_train_and_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds, run = tmp_path / "ds", tmp_path / "run"
    assert cli("data", "import", "tiktok-mm", tiktok_folder(tmp_path), "--out", ds) == 0
    code = cli(
        "train", "--config", "configs/mmbee-rec.yaml", "--data", ds, "--out", run, "-q", "data.split=given", *TINY
    )
    assert code == 0
    info = json.loads((run / "run.json").read_text())
    assert info["model"] == "mmbee-rec" and info["engine"] == "bpr" and info["status"] == "completed"
    capsys.readouterr()
    assert cli("evaluate", run, "--split", "test", "--json") == 0
    metrics = json.loads(capsys.readouterr().out)["tasks"]["buy"]["all"]
    assert {"recall@20", "ndcg@20", "precision@20"} <= set(metrics)


def test_dataset_without_features_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds = tmp_path / "ds"
    assert cli("data", "import", "tiktok-mm", tiktok_folder(tmp_path, with_features=False), "--out", ds) == 0
    code = cli("train", "--config", "configs/mmbee-rec.yaml", "--data", ds, "--out", tmp_path / "run", "-q",
               "data.split=given", *TINY)  # fmt: skip
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    assert "no item features" in err and str(ds / "features") in err
