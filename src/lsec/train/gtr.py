"""The GTR objective: MMBee's gift-through-rate models (SIM / MMoE, with or without GIE) in the one loop.

**Samples** are the impressions of a gifting dataset (``events/impressions``: user, streamer, segment, ts,
label, amount; ``lsec data simulate --preset mmbee`` writes one), the target's category is the streamer's
``category`` node feature (0 for every streamer when the dataset has none).

**Split by time.** Days are counted from the dataset's ``time_origin`` (UTC midnights for the simulator). Of
``D`` days the first ``n_train = min(max(1, floor(0.8 D)), D - 2)`` are training, the next
``n_valid = max(1, floor(0.9 D) - n_train)`` validation, the rest test (``D >= 3``). The simulator's mmbee
preset (8 days) gives 6 / 1 / 1: the paper's 7 + 1 days with one training day held out for validation.

**Behaviour sequence** of an impression at time ``t``: the user's gifts (positive impressions) with
``ts < t`` strictly, most recent first, at most ``max_history`` of them, each ``(streamer, category, gap
bucket)`` with ``bucket = min(floor(log2(1 + (t - ts) / 60 s)), num_gap_buckets - 1)``. A training impression
sees every earlier gift; a validation or test impression sees only the gifts of the training days
(``ts < GiftData.train_end``), frozen at the end of training, exactly what a model served at the end of
training (and its expansion store, built from the same gifts) knows. Every gift-derived input of a held-out
impression (sequence, its length, the gap buckets' gifts) is therefore independent of the labels of its own
fold. Why: with the sequences updated online inside the test day, a user's K gifts of that day are, in random
order, each preceded by (K - 1) / 2 of the others on average and a non-gift by K / 2, so "fewer gifts in the
history" alone ranks a user's gifts first (UAUC ~0.75 with *no* label information: benchmarks/README.md,
Tables 1 and 4); per-user AUC rewards that artifact. The paper (MMBee section 6.1.1) trains on 7 days and
tests on the following day without saying that sequences update inside it; its GIE store updates once a day.

**Tasks and loss.** ``gift`` (the label) and, for multi-task backbones, ``big_gift``: a gift whose amount is
at least the median amount of the training gifts (the simulator has no click / watch label, so the second
task is the amount bucket; 0 on every non-gift impression). The loss is BCE with logits on every training
impression: ``L = L_gift + train.task_weight * L_big_gift``. Batches are a seeded permutation of the
training impressions per epoch (``default_rng([seed, epoch])``).

**Validation** scores every validation impression and reports :func:`lsec.metrics.grouped.task_metrics`
per task, each from that task's own labels: flat ``auc`` / ``uauc`` / ``gauc`` are the gift task's (early
stopping reads them), ``<task>_auc`` etc. the others', and ``tasks`` the full per-task report.

**MFQ.** With ``model.hparams.mfq: true`` the run reads the dataset's segment content
(:class:`lsec.data.segments.SegmentContent`: ``events/segments`` and ``features/segment__<m>.npy`` for each of
``model.hparams.modalities``, default visual / speech / comment) and feeds the model, per impression, the
frames of its segment and of the ``mfq_segments - 1`` before it in the same room (missing ones masked).

**GIE.** With ``model.hparams.gie: true`` the run reads an expansion store (``model.hparams.store``, built by
``lsec mmbee build-store``) and initialises the model's ``Θ`` tables and neighbour lists from it; they are then
fine-tuned with the rest. A store built from *all* gift edges lets ``h_u`` / ``h_a`` see validation and test
gifts: build it from the training days' gifts for an honest comparison (``run.json`` compares its user-streamer
pairs with the training days' and says ``leak`` when the store has more).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from lsec.config import Config
from lsec.data.segments import MODALITIES, SegmentContent
from lsec.errors import LsecConfigError, LsecDataError
from lsec.metrics.grouped import task_metrics
from lsec.nn.models.mmbee.gtr import GtrModel
from lsec.train.loop import StepTimer

DAY = 86_400
TRAIN_FRACTION, VALID_END_FRACTION = 0.8, 0.9
FOLDS = ("train", "valid", "test")
TASKS = ("gift", "big_gift")
MODELS = {"mmbee-sim": "sim", "mmbee-mmoe": "mmoe"}
OBJECTIVE_HPARAMS = ("store", "max_history", "mfq", "modalities")  # read by the objective, not passed to GtrModel


@dataclass(frozen=True)
class GiftData:
    """Impressions with their fold and labels, and the gift log the behaviour sequences are read from.

    Shapes: users, streamers, categories, ts, fold (N,); labels {task: (N,) float32};
    gift_keys (G,) sorted ``user << 32 | ts``; gift_streamers, gift_categories, gift_ts (G,) in that order.
    """

    users: np.ndarray
    streamers: np.ndarray
    categories: np.ndarray
    ts: np.ndarray
    fold: np.ndarray
    labels: dict[str, np.ndarray]
    gift_keys: np.ndarray
    gift_streamers: np.ndarray
    gift_categories: np.ndarray
    gift_ts: np.ndarray
    num_users: int
    num_streamers: int
    num_categories: int
    days: dict[str, list[int]]
    big_gift_threshold: float
    segments: np.ndarray | None = None  # (N,) segment row of each impression (MFQ's content)
    train_end: int | None = None  # first second after the training days; None: sequences causal everywhere

    def history_until(self, rows: np.ndarray) -> np.ndarray:
        """(n,) exclusive end of the gifts impressions ``rows`` may see: their own ``ts`` for training
        impressions, :attr:`train_end` for validation and test ones (module docstring)."""
        ts = self.ts[rows]
        if self.train_end is None:
            return ts
        return np.where(self.fold[rows] == 0, ts, np.minimum(ts, np.int64(self.train_end)))

    def indices(self, fold: str) -> np.ndarray:
        return np.flatnonzero(self.fold == FOLDS.index(fold))


def time_folds(ts: np.ndarray, time_origin: int) -> tuple[np.ndarray, dict[str, list[int]]]:
    """(N,) fold ids (0 train, 1 valid, 2 test) by day (module docstring), and the days of each fold."""
    day = (np.asarray(ts, np.int64) - int(time_origin)) // DAY
    first, count = int(day.min()), int(day.max() - day.min() + 1)
    if count < 3:
        raise LsecDataError(
            "impressions span too few days for a train / valid / test split by time",
            expected="at least 3 days",
            found=f"{count} day(s)",
        )
    n_train = min(max(1, math.floor(TRAIN_FRACTION * count)), count - 2)
    n_valid = max(1, math.floor(VALID_END_FRACTION * count) - n_train)
    edges = [first + n_train, first + n_train + n_valid]
    fold = np.searchsorted(np.asarray(edges), day, side="right").astype(np.int8)
    days = {
        "train": [0, n_train],
        "valid": [n_train, n_train + n_valid],
        "test": [n_train + n_valid, count],
    }  # [start, end) counted from the first day
    return fold, days


def training_end(ts: np.ndarray, time_origin: int) -> int:
    """The first second after the training days of :func:`time_folds` (a gift before it is a training gift)."""
    ts = np.asarray(ts, np.int64)
    _, days = time_folds(ts, time_origin)
    first = (int(ts.min()) - int(time_origin)) // DAY
    return int(time_origin) + (first + days["train"][1]) * DAY


def gift_data(
    *,
    users: np.ndarray,
    streamers: np.ndarray,
    ts: np.ndarray,
    label: np.ndarray,
    amount: np.ndarray,
    streamer_category: np.ndarray,
    num_users: int,
    time_origin: int,
    segments: np.ndarray | None = None,
) -> GiftData:
    """Folds, task labels and the sorted gift log of an impression table (module docstring)."""
    users, streamers, ts = (np.asarray(a, np.int64) for a in (users, streamers, ts))
    category = np.asarray(streamer_category, np.int64)
    fold, days = time_folds(ts, time_origin)
    gift = np.asarray(label) > 0
    train_amounts = np.asarray(amount)[gift & (fold == 0)]
    threshold = float(np.median(train_amounts)) if train_amounts.size else math.inf
    keys = (users[gift] << 32) | ts[gift]
    order = np.argsort(keys, kind="stable")
    return GiftData(
        users=users,
        streamers=streamers,
        categories=category[streamers],
        ts=ts,
        fold=fold,
        labels={"gift": gift.astype(np.float32), "big_gift": (gift & (amount >= threshold)).astype(np.float32)},
        gift_keys=keys[order],
        gift_streamers=streamers[gift][order],
        gift_categories=category[streamers[gift]][order],
        gift_ts=ts[gift][order],
        num_users=int(num_users),
        num_streamers=int(category.shape[0]),
        num_categories=int(category.max(initial=0)) + 1,
        days=days,
        big_gift_threshold=threshold,
        segments=None if segments is None else np.asarray(segments, np.int64),
        train_end=training_end(ts, time_origin),
    )


def gap_buckets(gaps: np.ndarray, num_buckets: int) -> np.ndarray:
    """``min(floor(log2(1 + gap / 60)), num_buckets - 1)`` of gaps in seconds (minutes on a log scale)."""
    return np.minimum(np.floor(np.log2(1.0 + np.maximum(gaps, 0) / 60.0)), num_buckets - 1).astype(np.int64)


def histories(
    data: GiftData,
    users: np.ndarray,
    ts: np.ndarray,
    max_history: int,
    num_gap_buckets: int,
    until: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """The behaviour sequences of impressions ``(users, ts)``: gifts strictly before ``until`` (default ``ts``),
    most recent first; gaps are measured from ``ts``.

    Shapes: users, ts, until (B,) -> history_streamers, history_categories, history_gaps (B, L) int64 (0 on
    padding), history_valid (B, L) bool, L = max_history.
    """
    users, ts = np.asarray(users, np.int64), np.asarray(ts, np.int64)
    cut = ts if until is None else np.minimum(np.asarray(until, np.int64), ts)
    start = np.searchsorted(data.gift_keys, users << 32, side="left")  # the user's first gift
    end = np.searchsorted(data.gift_keys, (users << 32) | cut, side="left")  # first gift at or after the cut
    count = np.minimum(end - start, max_history)  # (B,)
    offsets = np.arange(max_history)  # (L,)
    valid = offsets[None, :] < count[:, None]  # (B, L)
    if not data.gift_ts.size:  # no gift at all: every sequence is empty
        zeros = np.zeros(valid.shape, np.int64)
        return {"history_streamers": zeros, "history_categories": zeros, "history_gaps": zeros, "history_valid": valid}
    rows = np.where(valid, end[:, None] - 1 - offsets[None, :], 0)  # (B, L), most recent first
    gaps = gap_buckets(ts[:, None] - data.gift_ts[rows], num_gap_buckets)  # (B, L)

    def pick(values: np.ndarray) -> np.ndarray:
        return np.where(valid, values[rows], 0)

    return {
        "history_streamers": pick(data.gift_streamers),
        "history_categories": pick(data.gift_categories),
        "history_gaps": np.where(valid, gaps, 0),
        "history_valid": valid,
    }


class GtrObjective:
    """BCE on impressions for a :class:`GtrModel` (module docstring), for :class:`lsec.train.loop.Loop`.

    Args:
        model: the GTR model (its ``tasks`` say which labels are trained).
        data: impressions with folds (:func:`gift_data`).
        lr, weight_decay: Adam.
        batch_size: training impressions per step.
        task_weight: weight of every task after the first in the loss.
        seed: batch order.
        max_history: behaviours per sequence ``L``.
        eval_batch_size: impressions per forward pass in validation.
        device: where the model and batches live.
        content: segment content for a model with MFQ (and ``data.segments``).
    """

    def __init__(
        self,
        model: GtrModel,
        data: GiftData,
        *,
        lr: float,
        batch_size: int,
        seed: int,
        weight_decay: float = 0.0,
        task_weight: float = 1.0,
        max_history: int = 50,
        eval_batch_size: int = 8192,
        device: torch.device | None = None,
        content: SegmentContent | None = None,
    ) -> None:
        unknown = [task for task in model.tasks if task not in data.labels]
        if unknown:
            raise LsecConfigError(f"GTR tasks must be among {TASKS}. Got {unknown} instead.")
        if model.mfq is not None and (content is None or data.segments is None):
            raise LsecConfigError("a GTR model with MFQ needs segment content and each impression's segment.")
        self.content = content
        self.device = device or torch.device("cpu")
        self._model = model.to(self.device)
        self._optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        self.data = data
        self.batch_size = batch_size
        self.seed = seed
        self.weights = {task: 1.0 if i == 0 else task_weight for i, task in enumerate(model.tasks)}
        self.max_history = max_history
        self.eval_batch_size = eval_batch_size
        self.train_rows = data.indices("train")
        self.timer = StepTimer()

    @property
    def model(self) -> GtrModel:
        return self._model

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self._optimizer

    def steps_per_epoch(self) -> int:
        return max(1, math.ceil(len(self.train_rows) / self.batch_size))

    def batches(self, epoch: int) -> Iterator[np.ndarray]:
        order = self.train_rows[np.random.default_rng([self.seed, epoch]).permutation(len(self.train_rows))]
        for first in range(0, len(order), self.batch_size):
            yield order[first : first + self.batch_size]

    def inputs(self, rows: np.ndarray) -> dict[str, torch.Tensor]:
        """Model inputs of impressions ``rows`` (ids and behaviour sequences) on the objective's device."""
        d = self.data
        arrays = {"users": d.users[rows], "streamers": d.streamers[rows], "categories": d.categories[rows]}
        arrays.update(
            histories(
                d, d.users[rows], d.ts[rows], self.max_history, self.model.gap.num_embeddings, d.history_until(rows)
            )
        )
        mfq = self.model.mfq
        if mfq is not None:
            assert self.content is not None and d.segments is not None
            sequence = self.content.sequences(d.segments[rows], mfq.num_segments)  # (B, S)
            features, valid = self.content.gather(sequence, mfq.modalities)
            arrays.update({f"content_{m}": x for m, x in features.items()})
            arrays.update({f"content_valid_{m}": v for m, v in valid.items()})
        return {name: torch.from_numpy(np.ascontiguousarray(a)).to(self.device) for name, a in arrays.items()}

    def train_step(self, batch: np.ndarray) -> float:
        with self.timer("sampling"):
            inputs = self.inputs(batch)
        with self.timer("scoring"):
            logits = self.model(inputs)
            loss = sum(
                weight
                * F.binary_cross_entropy_with_logits(
                    logits[task], torch.from_numpy(self.data.labels[task][batch]).to(self.device)
                )
                for task, weight in self.weights.items()
            )
        with self.timer("backward"):
            assert isinstance(loss, torch.Tensor)
            loss.backward()
        return float(loss.detach())

    @torch.no_grad()
    def scores(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Each task's logits of impressions ``rows``, in eval mode. Shapes: (n,) -> {task: (n,)}."""
        was_training = self.model.training
        self.model.eval()
        parts: dict[str, list[np.ndarray]] = {task: [] for task in self.model.tasks}
        for first in range(0, len(rows), self.eval_batch_size):
            out = self.model(self.inputs(rows[first : first + self.eval_batch_size]))
            for task in parts:
                parts[task].append(out[task].float().cpu().numpy())
        self.model.train(was_training)
        return {task: np.concatenate(p) if p else np.zeros(0, np.float32) for task, p in parts.items()}

    def report(self, fold: str) -> dict[str, dict[str, float]]:
        """:func:`task_metrics` of every task on the impressions of ``fold``, each from its own labels."""
        rows = self.data.indices(fold)
        scores = self.scores(rows)
        users = self.data.users[rows]
        return task_metrics({task: (self.data.labels[task][rows], scores[task], users) for task in scores})

    def validate(self) -> dict[str, Any]:
        with self.timer("evaluation"):
            tasks = self.report("valid")
        return {"metrics": flat_metrics(tasks, self.model.tasks[0]), "tasks": tasks}

    def baselines(self, fold: str = "valid") -> dict[str, dict[str, float]]:
        """Gift-task metrics of two model-free scores on ``fold``: ``popularity`` (each streamer's training gift
        rate, add-one smoothed) and ``random`` (uniform scores, seeded)."""
        d, rows = self.data, self.data.indices(fold)
        train = self.train_rows
        gifts = np.bincount(d.streamers[train], weights=d.labels["gift"][train], minlength=d.num_streamers)
        shown = np.bincount(d.streamers[train], minlength=d.num_streamers)
        popularity = (gifts + 1.0) / (shown + 2.0)
        random = np.random.default_rng([self.seed, 7]).random(len(rows))
        out = task_metrics(
            {
                "popularity": (d.labels["gift"][rows], popularity[d.streamers[rows]], d.users[rows]),
                "random": (d.labels["gift"][rows], random, d.users[rows]),
            }
        )
        return {name: {k: out[name][k] for k in ("auc", "uauc", "gauc")} for name in out}

    def extra_state(self) -> dict[str, torch.Tensor]:
        return {}  # batches depend on (seed, epoch) only; dropout-free model

    def load_extra_state(self, state: dict[str, torch.Tensor]) -> None:
        return None


def flat_metrics(tasks: dict[str, dict[str, float]], primary: str) -> dict[str, float]:
    """``auc`` / ``uauc`` / ``gauc`` of the primary task, ``<task>_<metric>`` of the others."""
    out = {name: tasks[primary][name] for name in ("auc", "uauc", "gauc")}
    for task, metrics in tasks.items():
        if task != primary:
            out.update({f"{task}_{name}": metrics[name] for name in ("auc", "uauc", "gauc")})
    return out


# ------------------------------------------------------------------------------------ from a config
def gtr_objective(cfg: Config, device: torch.device) -> tuple[GtrObjective, dict[str, Any]]:
    """The objective of ``train.engine: gtr`` for ``cfg`` (dataset read here), and what run.json should say."""
    from lsec.data.events import read_events
    from lsec.data.store import load

    if cfg.model.name not in MODELS:
        raise LsecConfigError(
            f"train.engine=gtr trains the MMBee models {', '.join(MODELS)}. Got model {cfg.model.name!r} instead."
        )
    root = Path(cfg.data.dataset)
    graph = load(root)
    events = read_events(root, "impressions")
    category = graph.node_features.get("streamer", {}).get("category")
    num_streamers = int(graph.num_nodes.get("streamer", 0))
    data = gift_data(
        users=events["user"],
        streamers=events["streamer"],
        ts=events["ts"],
        label=events["label"],
        amount=events["amount"],
        streamer_category=np.zeros(num_streamers, np.int64) if category is None else np.asarray(category),
        num_users=int(graph.num_nodes.get("user", 0)),
        time_origin=int(graph.time_origin or 0),
        segments=events["segment"],
    )
    hparams = dict(cfg.model.hparams)
    options = {k: hparams.pop(k) for k in OBJECTIVE_HPARAMS if k in hparams}
    for key in ("hidden", "expert_hidden", "tower_hidden", "tasks"):
        if isinstance(hparams.get(key), list):
            hparams[key] = tuple(hparams[key])
    content = None
    if options.get("mfq"):
        modalities = options.get("modalities") or MODALITIES
        if isinstance(modalities, str) or not all(isinstance(m, str) for m in modalities):
            raise LsecConfigError(f"model.hparams.modalities must be a list of modality names. Got {modalities!r}.")
        content = SegmentContent.from_dataset(root, tuple(modalities))
        hparams["mfq_inputs"] = content.input_dims()
    gie = bool(hparams.get("gie", False))
    store = None
    if gie:
        store = _open_store(options.get("store"), data)
        hparams.update(gie_dim=store.embedding_dim, gie_k=store.k)
    try:
        model = GtrModel(
            data.num_users, data.num_streamers, data.num_categories, backbone=MODELS[cfg.model.name], **hparams
        )
    except (TypeError, ValueError) as err:
        raise LsecConfigError(f"model {cfg.model.name!r} with hparams {cfg.model.hparams}: {err}") from None
    extra: dict[str, Any] = {
        "tasks": list(model.tasks),
        "validation": f"impressions of days {data.days['valid']} (time split, days {data.days})",
        "impressions": {fold: int((data.fold == i).sum()) for i, fold in enumerate(FOLDS)},
        "big_gift_threshold": data.big_gift_threshold,
    }
    if store is not None:
        _load_store(model, store)
        train = (data.fold == 0) & (data.labels["gift"] > 0)
        train_pairs = int(np.unique((data.users[train] << 32) | data.streamers[train]).size)
        store_pairs = int(store.manifest["counts"]["gift_edges"])
        extra["gie_store"] = {"path": str(store.path), "gift_pairs": store_pairs, "training_gift_pairs": train_pairs}
        if store_pairs > train_pairs:
            extra["gie_store"]["leak"] = (
                f"the store's gift graph has {store_pairs} user-streamer pairs, the training days {train_pairs}: "
                "its expansions see validation / test gifts; build it from the training days' gifts"
            )
    tc = cfg.train
    objective = GtrObjective(
        model,
        data,
        lr=tc.lr,
        batch_size=tc.batch_size,
        seed=tc.seed,
        weight_decay=tc.weight_decay,
        task_weight=tc.task_weight,
        max_history=int(options.get("max_history", 50)),
        eval_batch_size=cfg.eval.batch_size,
        device=device,
        content=content,
    )
    if content is not None:
        extra["mfq"] = {"modalities": list(content.modalities), "segments": content.num_segments}
    if tc.validate:
        extra["baselines"] = objective.baselines("valid")
    return objective, extra


def _open_store(path: Any, data: GiftData) -> Any:
    # The store is a file format (lsec.data.expansion_store): the service maps the same files, training reads them.
    from lsec.data.expansion_store import ExpansionStore

    if not path:
        raise LsecConfigError("model.hparams.gie is true but model.hparams.store is empty: pass an expansion store.")
    store = ExpansionStore.open(Path(str(path)))
    if store.num_users != data.num_users or store.num_streamers != data.num_streamers:
        raise LsecConfigError(
            f"model.hparams.store {str(path)!r} holds {store.num_users} users and {store.num_streamers} streamers; "
            f"the dataset has {data.num_users} and {data.num_streamers} (build the store from this dataset)."
        )
    return store


def _load_store(model: GtrModel, store: Any) -> None:
    from lsec.data.expansion_store import SOURCE, TARGET

    assert model.gie is not None
    sides = {}
    for side, targets in (("user", model.gie.user_targets), ("streamer", model.gie.streamer_targets)):
        names = [name for name in store.metapaths if SOURCE[name] == side]
        if tuple(TARGET[name] for name in names) != targets:
            raise LsecConfigError(
                f"expansion store {store.path}: {side} metapaths {names} do not reach {targets} in that order."
            )
        sides[side] = np.stack([store.arrays[store.manifest["metapaths"][n]["indices"]] for n in names], axis=1)
    model.gie.load_expansions(
        torch.from_numpy(sides["user"].astype(np.int64)),
        torch.from_numpy(sides["streamer"].astype(np.int64)),
        torch.from_numpy(np.array(store.embeddings("user"), np.float32)),  # a copy: the store is read-only
        torch.from_numpy(np.array(store.embeddings("streamer"), np.float32)),
    )
