"""MFQ inside the GTR model: segment content sequences, and SIM + MFQ beating SIM only when content matters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lsec.config import load_config
from lsec.data.events import read_events, save_dataset
from lsec.data.segments import SEGMENT_SECONDS, SegmentContent
from lsec.data.simulate.gifting import PRESETS, GiftingModel, GiftingPreset, simulate_gifting
from lsec.metrics.grouped import auc
from lsec.train.gtr import gtr_objective

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "mmbee"
# Small and content-heavy: 1.5 % positives, 20 % highlight moments worth +4 on the gift logit.
PRESET = GiftingPreset("tiny-content", 400, 40, 8, 20.0, positive_rate=0.015)
KNOBS = GiftingModel(highlight_boost=4.0, highlight_rate=0.2, dim=8)
MFQ_SMALL = ("model.hparams.mfq_dim=8", "model.hparams.mfq_queries=2", "model.hparams.mfq_heads=1")
EPOCHS = 3


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """The same simulation twice: content as generated, and ``null="content"`` (features shuffled)."""
    out = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(PRESETS, PRESET.name, PRESET)
        for null in (None, "content"):
            data = simulate_gifting(PRESET.name, seed=0, null=null, negative_rate=0.06, model=KNOBS)
            path = tmp_path_factory.mktemp("content") / f"data-{null}"
            save_dataset(data.graph, path, events=data.events, features=data.features)
            out[null] = path
    return out


def test_sequences_are_the_room_segments_before_each_one(datasets):
    root = datasets[None]
    content = SegmentContent.from_dataset(root)
    table = read_events(root, "segments")
    segments = np.arange(content.num_segments)
    got = content.sequences(segments, 4)
    by_key = {(int(r), int(t)): i for i, (r, t) in enumerate(zip(table["room"], table["ts"], strict=True))}
    for segment in segments:
        room, ts = int(table["room"][segment]), int(table["ts"][segment])
        want = [by_key.get((room, ts - SEGMENT_SECONDS * i), -1) for i in range(4)]
        assert got[segment].tolist() == want
    assert (got[:, 0] == segments).all() and (got[:, 1:] >= 0).any()  # some rooms have earlier segments
    features, valid = content.gather(got[:5])
    assert features["visual"].shape == (5, 4, 3, 8) and valid["visual"].shape == (5, 4, 3)
    missing = got[:5] < 0
    assert (features["speech"][missing] == 0).all() and not valid["speech"][missing].any()
    present = np.argwhere(~missing)[0]
    row = got[:5][tuple(present)]
    np.testing.assert_array_equal(
        features["comment"][tuple(present)], content.features["comment"][row].astype(np.float32)
    )


def train_and_score(dataset: Path, name: str, *overrides: str) -> float:
    """AUC on the validation + test days of a model trained EPOCHS epochs (seeded)."""
    fast = ("train.device=cpu", "train.batch_size=256", "train.lr=0.01", "train.seed=0")
    cfg = load_config(CONFIGS / f"{name}.yaml", [f"data.dataset={dataset}", *fast, *overrides])
    torch.manual_seed(0)
    objective, extra = gtr_objective(cfg, torch.device("cpu"))
    for epoch in range(EPOCHS):
        for batch in objective.batches(epoch):
            objective.optimizer.zero_grad()
            objective.train_step(batch)
            objective.optimizer.step()
    rows = np.concatenate([objective.data.indices("valid"), objective.data.indices("test")])
    return auc(objective.data.labels["gift"][rows], objective.scores(rows)["gift"])


def test_sim_with_mfq_beats_sim_when_content_drives_gifting_and_not_on_null_content(datasets):
    torch.set_num_threads(1)
    sim = train_and_score(datasets[None], "sim")
    # null="content" shuffles features only: labels, ids and histories are the same, so SIM scores the same
    labels = {k: read_events(p, "impressions")["label"] for k, p in datasets.items()}
    np.testing.assert_array_equal(labels[None], labels["content"])
    with_content = train_and_score(datasets[None], "sim-mfq", *MFQ_SMALL, "model.hparams.mfq_segments=1")
    shuffled = train_and_score(datasets["content"], "sim-mfq", *MFQ_SMALL, "model.hparams.mfq_segments=1")
    assert 0.7 < sim < 0.9
    assert with_content > sim + 0.03, (sim, with_content)
    assert shuffled < sim + 0.02, (sim, shuffled)
    assert with_content > shuffled + 0.03


def test_mfq_configs_build_models_that_read_every_modality(datasets):
    for name in ("sim-mfq", "mmoe-mfq"):
        cfg = load_config(CONFIGS / f"{name}.yaml", [f"data.dataset={datasets[None]}", "train.device=cpu", *MFQ_SMALL])
        objective, extra = gtr_objective(cfg, torch.device("cpu"))
        assert objective.model.mfq is not None and objective.model.mfq.modalities == ("visual", "speech", "comment")
        assert extra["mfq"]["modalities"] == ["visual", "speech", "comment"]
        batch = objective.inputs(objective.train_rows[:7])
        assert batch["content_visual"].shape == (7, 5, 3, 8) and batch["content_valid_visual"].dtype == torch.bool
        assert objective.model(batch)["gift"].shape == (7,)
    dropped = load_config(
        CONFIGS / "sim-mfq.yaml", [f"data.dataset={datasets[None]}", "model.hparams.modalities=[speech,comment]"]
    )
    objective, _ = gtr_objective(dropped, torch.device("cpu"))
    assert objective.model.mfq is not None and objective.model.mfq.modalities == ("speech", "comment")
