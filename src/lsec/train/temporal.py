"""The temporal objective: DM-GNN (social links + consumption tiers) in the one loop (``train.engine: temporal``).

The protocol (chronological folds, context strictly before each query, the tier rule, negatives, transductive /
inductive) is defined in :mod:`lsec.train.temporal_data`. This module trains and scores :class:`DMGNN` on it.

**Batches.** Consecutive chunks of ``train.batch_size`` training events in time order (TGAT's protocol), the same
chunks every epoch; each positive ``(u, v, t)`` gets one random negative ``(u, v', t)``, ``v'`` uniform over the
users, from ``default_rng([seed, epoch])``. With ``sampler: uniform`` the neighbours of batch ``b`` are drawn
from ``default_rng([seed, epoch, b])``; ``recent`` (default) takes the ``num_neighbors`` most recent events.
Nothing else is random except dropout (torch's generator, which the loop saves): a resumed run is bit-identical.

**Loss.** One encoder pass embeds ``[u || v || v']`` at ``t``. Link: binary cross-entropy with logits, positives
1 and negatives 0 (mean over ``2B`` pairs). Tier: cross-entropy of the tier of ``u`` and of ``v`` at ``t`` (their
queries whose window fits in the training period; a batch may have none). Both tasks:
``L = L_link + train.task_weight * L_tier``; one task: its loss.

**Validation** scores the validation events (:meth:`TemporalTask.report`): flat metrics ``link_auc_random``,
``link_ap_random``, ``link_auc_historical``, ``link_ap_historical``, ``tier_macro_f1``, ``tier_accuracy`` (the
tasks the model has) for early stopping (``train.metric``), plus the tier confusion matrix and the
transductive / inductive groups. ``run.json`` gets the same metrics of two baselines on the same pairs:
*popularity* (``score(u, v, t)`` = number of events of ``v`` before ``t``) and, for tiers, *persistence* (the
tier of the amount paid in the previous window ``[t - W, t)``).

**Model options** (``model.hparams``): the :class:`DMGNN` keywords (``embedding_dim``, ``num_layers``,
``num_heads``, ``decay``, ``decay_rate``, ``tasks``, ``num_tiers``, ...; ``num_users``, ``num_edge_kinds`` and
``consumption_dim`` come from the dataset) and the objective's :data:`OBJECTIVE_HPARAMS`: ``num_neighbors``
(10), ``sampler`` (``recent`` / ``uniform``), ``tier_window_days`` (7), ``consumption_features`` (true),
``neighbor_consumption`` (false: when true, every user's recent purchases enter the encoder as dynamic node
attributes at each query and event time, so messages carry a tie's consumption before the event; the data's
:meth:`~lsec.train.temporal_data.TemporalData.node_attributes`), ``tier_class_weight`` (``none``; ``balanced``
weighs the tier cross-entropy by ``n / (K n_c)`` over the training tier labels, so the head is trained for
macro-F1 rather than for the majority tier), ``tier_persistence_feature`` (false; true appends the one-hot
tier of the previous window's paid amount, the persistence baseline's answer, to the tier head's features).
Model ``tgat`` is DM-GNN without decay (``decay`` must stay null). Model ``static-gnn`` swaps the encoder for
LightGCN on the aggregated training graph (:mod:`lsec.nn.models.dmgnn.static`; ``embedding_dim`` and
``num_layers`` are read, query times ignored), with the same heads and objective.
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
from lsec.errors import LsecConfigError, LsecDataError
from lsec.graph.temporal import count_before, most_recent, uniform_before
from lsec.metrics.classification import confusion_matrix, macro_f1
from lsec.metrics.link import link_metrics
from lsec.nn.models.dmgnn import DMGNN, TemporalEncoder, sample_hops
from lsec.train.loop import StepTimer
from lsec.train.temporal_data import (
    ATTRIBUTE_NAMES,
    DAY,
    FEATURE_NAMES,
    FOLDS,
    NO_NEGATIVE,
    TemporalData,
    TierRule,
    fit_tier_rule,
    historical_negatives,
    temporal_data,
    tier_queries,
)

MODELS = {"dmgnn": {}, "tgat": {"decay": None}, "static-gnn": {"decay": None}}
OBJECTIVE_HPARAMS = (
    "num_neighbors",
    "sampler",
    "tier_window_days",
    "consumption_features",
    "neighbor_consumption",
    "tier_class_weight",
    "tier_persistence_feature",
)
TIER_CLASS_WEIGHTS = ("none", "balanced")
SOCIAL = ("user", "social", "user")
EVAL_CHUNK = 4096


@dataclass(frozen=True)
class TemporalTask:
    """The data, the tier rule and the sampling options: everything needed to score a model on the protocol."""

    data: TemporalData
    rule: TierRule
    num_neighbors: int = 10
    sampler: str = "recent"
    use_features: bool = True
    seed: int = 0
    neighbor_consumption: bool = False
    tier_class_weight: str = "none"
    persistence_feature: bool = False

    @property
    def feature_dim(self) -> int:
        """Width of the tier head's consumption features (0 without them)."""
        if not self.use_features:
            return 0
        return len(FEATURE_NAMES) + (self.rule.num_tiers if self.persistence_feature else 0)

    def node_attributes(self, users: np.ndarray, times: np.ndarray) -> np.ndarray:
        """(B, 3) the encoder's dynamic node attributes, strictly before ``times``."""
        return self.data.node_attributes(users, times, self.rule.window)

    def sample(self, rng: np.random.Generator | None = None) -> Any:
        """The encoder's sampler callback: events strictly before each query time (:mod:`lsec.graph.temporal`)."""
        csr, k = self.data.csr, self.num_neighbors
        if self.sampler == "uniform":
            gen = rng if rng is not None else np.random.default_rng([self.seed, 0])
            return lambda nodes, times: uniform_before(csr, nodes=nodes, times=times, k=k, seed=gen)
        return lambda nodes, times: most_recent(csr, nodes=nodes, times=times, k=k)

    def features(self, users: np.ndarray, times: np.ndarray, device: torch.device) -> torch.Tensor | None:
        if not self.use_features:
            return None
        feats = self.data.features(users, times, self.rule.window)
        if self.persistence_feature:  # one-hot tier of the previous window's paid amount (the persistence rule)
            t = np.asarray(times, np.int64)
            previous = self.rule.tiers(self.data.window_sums(users, t - self.rule.window, t)[:, 3])
            feats = np.concatenate([feats, np.eye(self.rule.num_tiers, dtype=np.float32)[previous]], axis=1)
        return torch.as_tensor(feats, device=device)

    # -------------------------------------------------------------------------------------- scoring
    def embed(self, model: DMGNN, users: np.ndarray, times: np.ndarray) -> torch.Tensor:
        """(Q, d) ``z_u(t)`` in chunks (evaluation; neighbours from :meth:`sample`)."""
        parts = [
            model.embed(users[i : i + EVAL_CHUNK], times[i : i + EVAL_CHUNK], sampler=self.sample())
            for i in range(0, len(users), EVAL_CHUNK)
        ]
        device = next(model.parameters()).device
        return torch.cat(parts) if parts else torch.zeros(0, model.embedding_dim, device=device)

    def link_scores(self, model: DMGNN, src: np.ndarray, dst: np.ndarray, times: np.ndarray) -> np.ndarray:
        """(B,) link logits of ``(src, dst)`` at ``times``."""
        assert model.link_head is not None
        z = self.embed(model, np.concatenate([src, dst]), np.concatenate([times, times]))
        half = len(src)
        return model.link_head(torch.cat([z[:half], z[half:]], dim=-1)).squeeze(-1).cpu().numpy()

    def tier_logits(self, model: DMGNN, users: np.ndarray, times: np.ndarray) -> torch.Tensor:
        """(B, K) tier logits of ``users`` at ``times``."""
        assert model.tier_head is not None
        z = self.embed(model, users, times)
        feats = self.features(users, times, z.device)
        return model.tier_head(z if feats is None else torch.cat([z, feats], dim=-1))

    # -------------------------------------------------------------------------------------- reports
    def evaluation_pairs(self, fold: str) -> dict[str, np.ndarray]:
        """The fold's positives with their random and historical negatives (drawn once, seeded; module docstring)."""
        data = self.data
        events = np.flatnonzero(data.fold_mask(fold))
        src, dst = data.src[events], data.dst[events]
        rng = np.random.default_rng([self.seed, 7, FOLDS.index(fold)])
        random_neg = rng.integers(0, data.num_users, len(events))
        historical = historical_negatives(data, src, dst, rng)
        seen = data.training_users()
        return {
            "src": src, "dst": dst, "ts": data.ts[events], "random": random_neg, "historical": historical,
            "inductive": ~(seen[src] & seen[dst]),
        }  # fmt: skip

    def report(self, model: DMGNN | None, fold: str) -> dict[str, Any]:
        """Link and tier metrics on ``fold`` for ``model`` (or for the baselines with ``model=None``).

        ``{"metrics": flat, "groups": {"transductive": ..., "inductive": ...}, "confusion": [[...]], ...}``.
        """
        tasks = ("link", "tier") if model is None else model.tasks
        groups: dict[str, dict[str, Any]] = {"all": {}, "transductive": {}, "inductive": {}}
        out: dict[str, Any] = {}
        if "link" in tasks:
            pairs = self.evaluation_pairs(fold)
            has_hist = pairs["historical"] != NO_NEGATIVE
            hist = np.where(has_hist, pairs["historical"], pairs["dst"])
            src3 = np.concatenate([pairs["src"]] * 3)
            dst3 = np.concatenate([pairs["dst"], pairs["random"], hist])
            t3 = np.concatenate([pairs["ts"]] * 3)
            if model is None:
                scores = count_before(self.data.csr, nodes=dst3, times=t3).astype(np.float64)
            else:
                scores = self.link_scores(model, src3, dst3, t3)
            pos, rand, hist_scores = np.split(scores, 3)
            for name, keep in self._groups(pairs["inductive"]).items():
                by_random = link_metrics(pos[keep], rand[keep])
                by_history = link_metrics(pos[keep & has_hist], hist_scores[keep & has_hist])
                groups[name].update(
                    link_events=int(keep.sum()),
                    historical_missing=int((keep & ~has_hist).sum()),
                    link_auc_random=by_random["auc"],
                    link_ap_random=by_random["ap"],
                    link_auc_historical=by_history["auc"],
                    link_ap_historical=by_history["ap"],
                )
        if "tier" in tasks:
            users, times, _ = tier_queries(self.data, fold, self.rule.window)
            truth = self.rule.tiers(self.data.paid_amount(users, times, self.rule.window))
            if model is None:  # persistence: the tier of the previous window's amount
                prev = self.data.window_sums(users, times - self.rule.window, times)[:, 3]
                predicted = self.rule.tiers(prev)
            else:
                predicted = self.tier_logits(model, users, times).argmax(-1).cpu().numpy()
            inductive = ~self.data.training_users()[users]
            for name, keep in self._groups(inductive).items():
                groups[name].update(
                    tier_queries=int(keep.sum()),
                    tier_macro_f1=macro_f1(truth[keep], predicted[keep], self.rule.num_tiers),
                    tier_accuracy=float(np.mean(truth[keep] == predicted[keep])) if keep.any() else math.nan,
                    tier_counts=np.bincount(truth[keep], minlength=self.rule.num_tiers).tolist(),
                )
            out["confusion"] = confusion_matrix(truth, predicted, self.rule.num_tiers).tolist()
        metric_names = [k for k in groups["all"] if k.startswith(("link_a", "tier_m", "tier_a"))]
        out["metrics"] = {k: float(groups["all"][k]) for k in metric_names}
        out["groups"] = {k: _clean(v) for k, v in groups.items() if k != "all"}
        out["counts"] = {k: v for k, v in groups["all"].items() if k not in metric_names}
        return out

    @staticmethod
    def _groups(inductive: np.ndarray) -> dict[str, np.ndarray]:
        return {"all": np.ones(len(inductive), bool), "transductive": ~inductive, "inductive": inductive}


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    """NaN -> None (JSON)."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in values.items()}


class TemporalObjective:
    """DM-GNN's joint link + tier objective on a :class:`TemporalTask` (module docstring)."""

    timer: StepTimer

    def __init__(
        self,
        model: DMGNN,
        task: TemporalTask,
        *,
        lr: float,
        weight_decay: float = 0.0,
        batch_size: int = 200,
        task_weight: float = 1.0,
        seed: int = 0,
    ) -> None:
        self._model = model
        self.task = task
        self.batch_size = batch_size
        self.task_weight = task_weight
        self.seed = seed
        self.timer = StepTimer()
        self._optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        data = task.data
        self.train_events = np.flatnonzero(data.fold_mask("train"))  # time order
        window = task.rule.window
        fits = data.ts[self.train_events] + window <= data.fold_end("train")
        self.tier_src = np.where(
            fits, task.rule.tiers(data.paid_amount(data.src[self.train_events], data.ts[self.train_events], window)), -1
        )
        self.tier_dst = np.where(
            fits, task.rule.tiers(data.paid_amount(data.dst[self.train_events], data.ts[self.train_events], window)), -1
        )
        self.tier_weights: torch.Tensor | None = None
        if task.tier_class_weight == "balanced":  # n / (K n_c) over the training tier labels, as scikit-learn's
            labels = np.concatenate([self.tier_src, self.tier_dst])
            counts = np.bincount(labels[labels >= 0], minlength=task.rule.num_tiers).astype(np.float64)
            weights = np.where(counts > 0, counts.sum() / (len(counts) * np.maximum(counts, 1.0)), 0.0)
            self.tier_weights = torch.as_tensor(weights, dtype=torch.float32)

    @property
    def model(self) -> torch.nn.Module:
        return self._model

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self._optimizer

    def steps_per_epoch(self) -> int:
        return max(1, math.ceil(len(self.train_events) / self.batch_size))

    def batches(self, epoch: int) -> Iterator[tuple[np.ndarray, np.ndarray, int, int]]:
        """``(positions into the training events, random negatives, epoch, batch number)``, in time order."""
        rng = np.random.default_rng([self.seed, epoch])
        negatives = rng.integers(0, self.task.data.num_users, len(self.train_events))
        for b, start in enumerate(range(0, len(self.train_events), self.batch_size)):
            rows = np.arange(start, min(start + self.batch_size, len(self.train_events)))
            yield rows, negatives[rows], epoch, b

    def train_step(self, batch: tuple[np.ndarray, np.ndarray, int, int]) -> float:
        rows, negatives, epoch, number = batch
        model, data = self._model, self.task.data
        events = self.train_events[rows]
        src, dst, t = data.src[events], data.dst[events], data.ts[events]
        size = len(rows)
        rng = np.random.default_rng([self.seed, epoch, number]) if self.task.sampler == "uniform" else None
        nodes, times = np.concatenate([src, dst, negatives]), np.concatenate([t, t, t])  # (3B,)
        with self.timer("sampling"):  # the same hops the encoder would sample itself, timed apart
            hops = sample_hops(self.task.sample(rng), nodes, times, model.encoder.num_layers)
        with self.timer("propagation"):
            z = model.embed(nodes, times, hops=hops)  # (3B, d)
        z_src, z_dst, z_neg = z[:size], z[size : 2 * size], z[2 * size :]
        losses = []
        with self.timer("scoring"):
            if model.link_head is not None:
                logits = model.link_head(torch.cat([torch.cat([z_src, z_dst], -1), torch.cat([z_src, z_neg], -1)]))
                labels = torch.cat([logits.new_ones(size), logits.new_zeros(size)])
                losses.append(F.binary_cross_entropy_with_logits(logits.squeeze(-1), labels))
            if model.tier_head is not None:
                tiers = np.concatenate([self.tier_src[rows], self.tier_dst[rows]])
                keep = np.flatnonzero(tiers >= 0)
                if len(keep):
                    users = np.concatenate([src, dst])[keep]
                    times = np.concatenate([t, t])[keep]
                    zz = torch.cat([z_src, z_dst])[torch.as_tensor(keep, device=z.device)]
                    feats = self.task.features(users, times, z.device)
                    logits = model.tier_head(zz if feats is None else torch.cat([zz, feats], dim=-1))
                    weight = None if self.tier_weights is None else self.tier_weights.to(logits.device, logits.dtype)
                    tier_loss = F.cross_entropy(logits, torch.as_tensor(tiers[keep], device=z.device), weight=weight)
                    losses.append(tier_loss * (self.task_weight if model.link_head is not None else 1.0))
                else:
                    losses.append(z.sum() * 0.0)
            loss = torch.stack(losses).sum()
        with self.timer("backward"):
            loss.backward()
        return float(loss.detach())

    def validate(self) -> dict[str, Any]:
        return self.task.report(self._model, "valid")

    def extra_state(self) -> dict[str, torch.Tensor]:
        return {}

    def load_extra_state(self, state: dict[str, torch.Tensor]) -> None:
        return None


# ------------------------------------------------------------------------------------------------ building
def temporal_task(cfg: Config, dataset: str | None = None) -> TemporalTask:
    """Read the dataset's social edges and consumption events into a :class:`TemporalTask` for ``cfg``."""
    from lsec.data.events import list_events, read_events
    from lsec.data.store import load

    root = Path(dataset or cfg.data.dataset)
    options = _options(cfg)
    graph = load(root)
    if not graph.has(SOCIAL) or graph[SOCIAL].ts is None:
        have = ", ".join(r[1] for r in graph.edges) or "none"
        raise LsecDataError(
            "train.engine=temporal needs timestamped user -> user 'social' edges",
            file=root,
            expected="edges/user__social__user.parquet with ts (lsec data simulate --preset dmgnn)",
            found=f"relations: {have}",
        )
    table = graph[SOCIAL]
    if len(table) < 10:
        raise LsecDataError("too few social events for a chronological split", file=root, found=len(table))
    if "consumption" in list_events(root):
        consumption = read_events(root, "consumption")
    elif "tier" in options["tasks"]:  # consumption features feed the tier head only
        raise LsecDataError(
            "the tier task and consumption features need events/consumption.parquet",
            file=root,
            expected="a consumption table (user, item, ts, kind, amount)",
            found=f"event tables: {', '.join(list_events(root)) or 'none'}",
        )
    else:
        consumption = {k: np.zeros(0, np.int64) for k in ("user", "ts", "kind", "amount")}
    data = temporal_data(
        src=table.src, dst=table.dst, ts=table.ts, kinds=table.kind, num_users=int(graph.num_nodes["user"]),
        user_ids=graph.ids("user"), consumption=consumption,
    )  # fmt: skip
    empty = [fold for fold in FOLDS if not data.fold_mask(fold).any()]
    if empty:  # e.g. Ciao's trust edges, all at the sentinel ts 0 (time unknown): no chronological split exists
        distinct = np.unique(data.ts)
        raise LsecDataError(
            f"the chronological 70 / 15 / 15 split of the social events leaves the fold(s) {', '.join(empty)} empty",
            file=root,
            expected="social events at several distinct times (events sharing a timestamp stay in one fold)",
            found=f"{len(data.ts)} events at {len(distinct)} distinct time(s), first {int(distinct[0])}",
        )
    rule = fit_tier_rule(data, options["num_tiers"], int(round(options["tier_window_days"] * DAY)))
    return TemporalTask(
        data=data,
        rule=rule,
        num_neighbors=options["num_neighbors"],
        sampler=options["sampler"],
        use_features=options["consumption_features"] and "tier" in options["tasks"],
        seed=cfg.train.seed,
        neighbor_consumption=options["neighbor_consumption"],
        tier_class_weight=options["tier_class_weight"],
        persistence_feature=options["tier_persistence_feature"],
    )


def build_dmgnn(cfg: Config, task: TemporalTask) -> DMGNN:
    """The :class:`DMGNN` of ``cfg`` on the task's dataset (users, kinds and features from the data)."""
    hparams = {k: v for k, v in cfg.model.hparams.items() if k not in OBJECTIVE_HPARAMS}
    defaults = dict(MODELS[cfg.model.name])
    if cfg.model.name == "tgat" and hparams.get("decay") is not None:
        raise LsecConfigError(
            f"model 'tgat' is DM-GNN without decay: model.hparams.decay must be null. Got {hparams['decay']!r}."
        )
    hparams = {**defaults, **hparams}
    hparams["tasks"] = tuple(hparams.get("tasks", ("link", "tier")))
    hparams.setdefault("num_tiers", task.rule.num_tiers)
    kinds = task.data.kinds
    if cfg.model.name == "static-gnn":
        from lsec.nn.models.dmgnn.static import StaticEncoder, aggregated_adjacency

        train = task.data.fold_mask("train")
        adjacency = aggregated_adjacency(task.data.src[train], task.data.dst[train], task.data.num_users)
        hparams["encoder"] = StaticEncoder(
            adjacency, embedding_dim=hparams.get("embedding_dim", 64), num_layers=hparams.get("num_layers", 2)
        )
    if task.neighbor_consumption:
        if cfg.model.name == "static-gnn":
            raise LsecConfigError(
                "model.hparams.neighbor_consumption needs a temporal encoder (dmgnn or tgat). Got model 'static-gnn'."
            )
        hparams["attribute_dim"] = len(ATTRIBUTE_NAMES)
    try:
        model = DMGNN(
            task.data.num_users,
            num_edge_kinds=0 if kinds is None else int(kinds.max(initial=-1)) + 1,
            consumption_dim=task.feature_dim,
            **hparams,
        )
    except (TypeError, ValueError) as err:
        raise LsecConfigError(f"model {cfg.model.name!r} with hparams {cfg.model.hparams}: {err}") from None
    if task.neighbor_consumption:
        assert isinstance(model.encoder, TemporalEncoder)
        model.encoder.set_node_attributes(task.node_attributes)
    return model


def _options(cfg: Config) -> dict[str, Any]:
    if cfg.model.name not in MODELS:
        raise LsecConfigError(
            f"train.engine=temporal trains the models {', '.join(MODELS)}. Got model {cfg.model.name!r} instead."
        )
    h = cfg.model.hparams
    options = {
        "num_neighbors": h.get("num_neighbors", 10),
        "sampler": h.get("sampler", "recent"),
        "tier_window_days": h.get("tier_window_days", 7),
        "consumption_features": h.get("consumption_features", True),
        "num_tiers": h.get("num_tiers", 3),
        "tasks": tuple(h.get("tasks", ("link", "tier"))),
        "neighbor_consumption": h.get("neighbor_consumption", False),
        "tier_class_weight": h.get("tier_class_weight", "none"),
        "tier_persistence_feature": h.get("tier_persistence_feature", False),
    }
    if not isinstance(options["tier_persistence_feature"], bool):
        raise LsecConfigError(
            "model.hparams.tier_persistence_feature must be true or false. "
            f"Got {options['tier_persistence_feature']!r} instead."
        )
    if options["tier_class_weight"] not in TIER_CLASS_WEIGHTS:
        raise LsecConfigError(
            f"model.hparams.tier_class_weight must be one of {', '.join(TIER_CLASS_WEIGHTS)}. "
            f"Got {options['tier_class_weight']!r} instead."
        )
    if not isinstance(options["neighbor_consumption"], bool):
        raise LsecConfigError(
            f"model.hparams.neighbor_consumption must be true or false. Got {options['neighbor_consumption']!r} instead."
        )
    if (
        isinstance(options["num_neighbors"], bool)
        or not isinstance(options["num_neighbors"], int)
        or options["num_neighbors"] < 1
    ):
        raise LsecConfigError(
            f"model.hparams.num_neighbors must be a positive int. Got {options['num_neighbors']!r} instead."
        )
    if options["sampler"] not in ("recent", "uniform"):
        raise LsecConfigError(f"model.hparams.sampler must be recent or uniform. Got {options['sampler']!r} instead.")
    window = options["tier_window_days"]
    if isinstance(window, bool) or not isinstance(window, int | float) or not window > 0:
        raise LsecConfigError(f"model.hparams.tier_window_days must be a positive number. Got {window!r} instead.")
    if isinstance(options["num_tiers"], bool) or not isinstance(options["num_tiers"], int) or options["num_tiers"] < 2:
        raise LsecConfigError(f"model.hparams.num_tiers must be an int >= 2. Got {options['num_tiers']!r} instead.")
    return options


def temporal_objective(cfg: Config, device: torch.device) -> tuple[TemporalObjective, dict[str, Any]]:
    """The objective of ``train.engine: temporal`` for ``cfg`` (dataset read here), and what run.json should say."""
    task = temporal_task(cfg)
    model = build_dmgnn(cfg, task).to(device)
    tc = cfg.train
    names = [m for m in metric_names(model.tasks)]
    if tc.validate and tc.metric not in names:
        raise LsecConfigError(
            f"train.metric must be one of {', '.join(names)} for this model. Got {tc.metric!r} instead."
        )
    objective = TemporalObjective(
        model, task, lr=tc.lr, weight_decay=tc.weight_decay, batch_size=tc.batch_size, task_weight=tc.task_weight,
        seed=tc.seed,
    )  # fmt: skip
    data = task.data
    extra: dict[str, Any] = {
        "tasks": list(model.tasks),
        "validation": (
            f"social events of the time fold 'valid' ([{data.boundaries[0]}, {data.boundaries[1]})), "
            "random and historical negatives"
        ),
        "events": {fold: int(data.fold_mask(fold).sum()) for fold in FOLDS},
        "boundaries": {"valid": data.boundaries[0], "test": data.boundaries[1]},
        "tiers": tier_summary(task),
    }
    if tc.validate:
        baseline = task.report(None, "valid")["metrics"]
        extra["baselines"] = {"popularity": {k: v for k, v in baseline.items() if k in names}}
    return objective, extra


def metric_names(tasks: tuple[str, ...]) -> list[str]:
    names = []
    if "link" in tasks:
        names += ["link_auc_random", "link_ap_random", "link_auc_historical", "link_ap_historical"]
    if "tier" in tasks:
        names += ["tier_macro_f1", "tier_accuracy"]
    return names


def tier_summary(task: TemporalTask) -> dict[str, Any]:
    """The tier rule and the class counts of each fold's tier queries (printed by ``lsec train``)."""
    rule, data = task.rule, task.data
    counts = {}
    for fold in FOLDS:
        users, times, _ = tier_queries(data, fold, rule.window)
        counts[fold] = np.bincount(
            rule.tiers(data.paid_amount(users, times, rule.window)), minlength=rule.num_tiers
        ).tolist()
    edges = [round(float(e), 4) for e in rule.edges]
    per_fold = "; ".join(f"{fold} {counts[fold]}" for fold in FOLDS)
    return {
        "summary": f"window {rule.window / DAY:g} days, amount edges {edges}, queries per tier: {per_fold}",
        "rule": "0 = nothing paid in [t, t + W); else 1 + searchsorted(edges, amount, 'right')",
        "window_days": rule.window / DAY,
        "edges": [round(float(e), 4) for e in rule.edges],
        "counts": counts,
    }
