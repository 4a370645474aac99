"""The ``closed_form`` engine: models fitted in one shot on the training pairs (GF-CF), no optimizer.

The fitted arrays are written as ``checkpoints/best.pt`` (a dict of tensors, ``torch.load(weights_only=True)``);
:func:`load_gfcf` rebuilds the model from them. Validation, when the split has (or carves) a validation fold,
is the full-sort report of the fitted model, logged like any evaluation.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lsec.config import Config
from lsec.errors import LsecConfigError
from lsec.nn.models.gfcf import GFCF
from lsec.train.loop import BEST_CHECKPOINT, LOG_FILE, FitResult, _atomic_save


def build_gfcf(cfg: Config) -> GFCF:
    try:
        return GFCF(**cfg.model.hparams)
    except TypeError as err:
        raise LsecConfigError(f"model 'gf-cf' with hparams {cfg.model.hparams}: {err}") from None


def fit_closed_form(cfg: Config, split: Any, root: Path, info: dict[str, Any], say: Callable[[str], None]) -> FitResult:
    """Fit GF-CF on the split's training pairs (a carved validation fold left out), validate, save."""
    from lsec.evaluate.full_sort import choose_popularity_prior, with_popularity_prior
    from lsec.train.engines import full_sort_data, full_sort_report, popularity_block
    from lsec.train.runs import RUN_FILE, write_json

    started = time.perf_counter()
    data = full_sort_data(split, cfg)
    say(f"validation: {data.validation}")
    train = data.train_matrix()
    model = build_gfcf(cfg)
    try:
        model.fit(train)
    except ValueError as err:
        raise LsecConfigError(f"model 'gf-cf': {err}") from None
    fit_seconds = time.perf_counter() - started
    metrics: dict[str, float] = {}
    info.update(validation=data.validation, train_pairs=len(data.train_users), tasks=["buy"], relations=["buy"])
    if data.valid is not None:
        ev = cfg.eval
        block = with_popularity_prior(
            model.score_block(), train, prior=ev.popularity_prior[0], cold_fallback=ev.cold_fallback
        )
        metrics = full_sort_report(block, train, data.valid, ev.full_sort_ks)
        if len(ev.popularity_prior) > 1:
            kappa, table = choose_popularity_prior(
                model.score_block(), train, data.valid, ev.popularity_prior, metric=cfg.train.metric,
                ks=ev.full_sort_ks, cold_fallback=ev.cold_fallback,
            )  # fmt: skip
            info["popularity_prior"] = {"kappa": kappa, "chosen_on": "valid", "metric": cfg.train.metric,
                                        "validation": table}  # fmt: skip
            say(f"popularity prior: kappa {kappa:g} (best validation {cfg.train.metric})")
        info["baselines"] = {
            "popularity": full_sort_report(popularity_block(train), train, data.valid, cfg.eval.full_sort_ks)
        }
    _atomic_save(
        {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in model.state().items()}, root / BEST_CHECKPOINT
    )
    event = {"event": "eval", "epoch": 1, "step": 0, "split": "valid", "metrics": metrics,
             "elapsed": round(time.perf_counter() - started, 3), "timing": {"fit": round(fit_seconds, 4)}}  # fmt: skip
    with open(root / LOG_FILE, "a") as fh:
        fh.write(json.dumps(event) + "\n")
    best = float(metrics.get(cfg.train.metric, float("nan")))
    info.update(status="completed", best_epoch=1, best_metric=best, best_metrics=metrics, epochs_run=1, steps=0,
                stopped_early=False, fit_seconds=round(fit_seconds, 3))  # fmt: skip
    write_json(root / RUN_FILE, info)
    return FitResult(1, best, 1, False, metrics, 0)


def load_gfcf(cfg: Config, state: dict[str, torch.Tensor]) -> GFCF:
    """A fitted GF-CF from the arrays of its ``best.pt``."""
    return GFCF.from_state({k: v.numpy() for k, v in state.items()}, **cfg.model.hparams)
