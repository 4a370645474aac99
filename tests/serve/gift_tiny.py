"""A tiny untrained gift ranker (SIM + pooled GIE + MFQ) built in memory, for tests that need a served gift model
but not a trained one (schema fuzzing, latency smoke tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lsec.data.expansion_store import SOURCE, TARGET, write_store
from lsec.data.segments import SegmentContent
from lsec.graph.metapath import mean_pool
from lsec.nn.models.mmbee.gtr import GtrModel
from lsec.serve.gifts import GiftArtifact, GiftLog, GiftRanker


def tiny_gift_ranker(
    folder: Path, *, users: int = 20, streamers: int = 6, segments: int = 40, seed: int = 0
) -> GiftRanker:
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    dims = {"visual": 4, "speech": 3}
    model = GtrModel(
        users,
        streamers,
        3,
        backbone="sim",
        embedding_dim=4,
        gie=True,
        gie_pooled=True,
        gie_dim=2,
        gie_k=3,
        mfq_inputs=dims,
        mfq_dim=4,
        mfq_queries=2,
        mfq_segments=2,
        k=4,
        num_heads=1,
        hidden=(8,),
    )
    seg_streamers = rng.integers(0, streamers, segments)
    content = SegmentContent(
        streamers=seg_streamers,
        rooms=seg_streamers.copy(),
        ts=1_000 + 30 * np.arange(segments),
        features={m: rng.standard_normal((segments, 2, w)).astype(np.float16) for m, w in dims.items()},
    )
    gift_users = np.sort(rng.integers(0, users, 30))
    gift_ts = 1_000 + rng.integers(0, 1_000, 30)
    keys = (gift_users << 32) | gift_ts
    order = np.argsort(keys)
    gift_streamers = rng.integers(0, streamers, 30)[order]
    categories = rng.integers(0, 3, streamers)
    tables = {"user": rng.standard_normal((users, 2)).astype(np.float32)}
    tables["streamer"] = rng.standard_normal((streamers, 2)).astype(np.float32)
    indices = {
        name: rng.integers(
            -1, users if TARGET[name] == "user" else streamers, (users if SOURCE[name] == "user" else streamers, 3)
        )
        for name in SOURCE
    }
    store = write_store(
        folder / "store",
        tables=tables,
        indices=indices,
        pooled=lambda name: mean_pool(table=tables[TARGET[name]], indices=indices[name]),
        k=3,
        counts={"user": users, "streamer": streamers, "gift_edges": 30},
        max_frontier=0,
    )
    artifact = GiftArtifact(
        model="mmbee-sim",
        hparams=model.hparams,
        weights={k: v.numpy() for k, v in model.state_dict().items()},
        ids={
            "user": np.array([f"u{i}" for i in range(users)]),
            "streamer": np.array([f"s{i}" for i in range(streamers)]),
        },
        streamer_category=categories,
        gifts=GiftLog(keys[order], gift_streamers, categories[gift_streamers], gift_ts[order]),
        max_history=5,
        content=content,
        store=store,
        cold={"user_embedding": np.zeros(4, np.float32), "gie_user": np.zeros(6, np.float32)},
    )
    return GiftRanker(artifact)
