"""Run configuration: frozen dataclasses, YAML recipes and dotted overrides.

A recipe (``configs/lsec-gcn.yaml``) names a model and its hyper-parameters; the command line may
override any field with ``section.field=value``::

    cfg = load_config("configs/lsec-gcn.yaml", overrides=["train.lr=1e-3", "model.hparams.embedding_dim=64"])

Unknown sections or fields raise :class:`~lsec.errors.LsecConfigError` naming the key and the valid ones;
values are coerced to the field's type (``"1e-3"`` -> ``0.001`` for a float field) or rejected.
``model.hparams`` is free-form: it is passed as keyword arguments to the model constructor, which
validates it. Defaults are the LSEC-GNN slides' settings.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lsec.errors import LsecConfigError


@dataclass(frozen=True)
class ModelConfig:
    name: str = "lsec-gcn"  # a name of lsec.nn.models.registry (lsec-gcn, lightgcn, neumf, ...)
    hparams: dict[str, Any] = field(default_factory=dict)  # constructor keywords; empty = the slides' defaults


@dataclass(frozen=True)
class DataConfig:
    dataset: str = ""  # canonical dataset folder (usually given on the command line with --data)
    split: str = "default"  # name of the split under DATASET/splits/
    sell_min_weight: float = 0.0  # keep a sell edge only if its weight (sales) reaches this; 0 keeps all


ENGINES = ("auto", "lsec", "bpr", "closed_form", "gtr", "temporal")
# validation metrics of train.engine=temporal (DM-GNN links and tiers, lsec.train.temporal)
TEMPORAL_METRICS = (
    "link_auc_random", "link_ap_random", "link_auc_historical", "link_ap_historical", "tier_macro_f1", "tier_accuracy"
)  # fmt: skip


@dataclass(frozen=True)
class TrainConfig:
    lr: float = 5e-4  # Adam learning rate (slides)
    weight_decay: float = 0.0  # Adam weight decay (L2); the slides use none
    batch_size: int = 4096  # positives of the buy task per step; each carries num_negatives negatives (slides)
    num_negatives: int = 4  # K uniform negatives per positive, never a training positive of the user (slides)
    task_weight: float = 0.5  # alpha in L = L_buy + alpha * L_follow (slides: 0.5)
    loss: str = "auto"  # "bce", "bpr" or "auto" (BPR for dot-product scorers, BCE with logits otherwise)
    epochs: int = 100  # maximum number of epochs (early stopping usually ends sooner)
    eval_every: int = 1  # evaluate on the validation candidate lists every N epochs
    patience: int = 5  # stop after this many evaluations without improvement of `metric`
    metric: str = "auc"  # validation metric (buy task) for early stopping and the best checkpoint
    min_delta: float = 0.0  # an evaluation improves only if it beats the best by more than this
    seed: int = 0  # seeds parameter init, negative sampling, batch order and dropout
    num_threads: int = 0  # torch intra-op threads; 0 = every core of the machine
    engine: str = "auto"  # lsec (multi-task, candidate lists), bpr (large-batch BPR, full sort), closed_form (GF-CF)
    min_steps: int = 0  # optimizer steps before early stopping may end a run (epochs grow to reach them)
    validate: bool = True  # false: train the fixed budget (epochs) without validation; the last weights are kept
    valid_fraction: float = 0.1  # no validation fold in the split: hold out this share of each user's training pairs
    device: str = "auto"  # auto = CUDA when torch sees a GPU, else CPU; or cpu, cuda, cuda:N
    reg: float = 1e-4  # bpr engine: L2 weight on the batch's ego embeddings (LightGCN paper: 1e-4)
    hard_candidates: int = 1  # bpr engine: C > 1 makes each negative the highest-scored of C uniform draws
    positives: str = "all"  # lsec engine: all (every distinct pair per epoch) or one_per_source (authors' code)
    negatives: str = "unseen"  # lsec engine: unseen (never a training positive) or uniform (authors' code)
    exclude_seed_edges: bool = False  # lsec engine: propagate each step without its own positive edges (authors' code)
    lr_decay_to: float = 1.0  # bpr engine: final lr as a fraction of lr (cosine schedule); 1.0 = constant
    distributed: str = "none"  # none (one process) or ddp (data-parallel ranks under torchrun: lsec.train.ddp)

    def __post_init__(self) -> None:
        positive = ("lr", "batch_size", "num_negatives", "epochs", "eval_every", "patience")
        for name in positive:
            if not getattr(self, name) > 0:
                raise LsecConfigError(f"train.{name} must be positive. Got {getattr(self, name)!r} instead.")
        if self.task_weight < 0 or self.weight_decay < 0 or self.num_threads < 0:
            raise LsecConfigError("train.task_weight, train.weight_decay and train.num_threads must be >= 0.")
        if self.engine not in ENGINES:
            raise LsecConfigError(f"train.engine must be one of {', '.join(ENGINES)}. Got {self.engine!r} instead.")
        if not 0.0 < self.valid_fraction < 1.0:
            raise LsecConfigError(f"train.valid_fraction must be in (0, 1). Got {self.valid_fraction!r} instead.")
        if self.min_steps < 0 or self.reg < 0 or self.hard_candidates < 1 or not 0 < self.lr_decay_to <= 1:
            raise LsecConfigError(
                "train.min_steps and train.reg must be >= 0, train.hard_candidates >= 1 and train.lr_decay_to in "
                f"(0, 1]. Got {self.min_steps}, {self.reg}, {self.hard_candidates} and {self.lr_decay_to}."
            )
        if self.distributed not in ("none", "ddp"):
            raise LsecConfigError(
                f"train.distributed must be none or ddp (under torchrun). Got {self.distributed!r} instead."
            )
        if self.loss not in ("auto", "bce", "bpr"):
            raise LsecConfigError(f"train.loss must be 'auto', 'bce' or 'bpr'. Got {self.loss!r} instead.")
        base, _, k = self.metric.partition("@")
        metrics = ("auc", "mrr", "ndcg", "recall", "mrr_first", "precision", "mean")
        if self.metric not in TEMPORAL_METRICS and (base not in metrics or (k and not k.isdigit())):
            raise LsecConfigError(
                "train.metric must be auc, mrr, ndcg@k, recall@k, precision@k, mrr_first@k or mean (of auc, mrr, "
                f"ndcg@k and recall@k at eval.ks: the authors' early-stopping score). Got {self.metric!r} instead."
            )
        if self.positives not in ("all", "one_per_source") or self.negatives not in ("unseen", "uniform"):
            raise LsecConfigError(
                "train.positives must be all or one_per_source and train.negatives unseen or uniform. "
                f"Got {self.positives!r} and {self.negatives!r} instead."
            )


@dataclass(frozen=True)
class EvalConfig:
    ks: tuple[int, ...] = (10, 50)  # cut-offs of ndcg@k and recall@k (slides: 10 and 50)
    first_ks: tuple[int, ...] = (10,)  # cut-offs of mrr_first@k (RecBole / PyG definition)
    batch_size: int = 16_384  # candidate rows scored per forward pass (small blocks stay in cache: faster)
    protocol: str = "auto"  # candidates (fixed lists), full_sort (every item, training items masked), auto
    full_sort_ks: tuple[int, ...] = (20,)  # cut-offs of recall@k / ndcg@k / precision@k in the full-sort protocol
    # Full sort only (lsec.evaluate.full_sort, "Popularity prior"): users without a training pair are ranked by
    # popularity; popularity_prior = kappa >= 0 blends popularity into every user's ranking with weight
    # kappa / (kappa + training degree). Several values: the one with the best validation train.metric is chosen
    # after training (recorded in run.json as popularity_prior); without validation the first value is used.
    cold_fallback: bool = True
    popularity_prior: tuple[float, ...] = (0.0,)

    def __post_init__(self) -> None:
        if self.protocol not in ("auto", "candidates", "full_sort"):
            raise LsecConfigError(
                f"eval.protocol must be auto, candidates or full_sort. Got {self.protocol!r} instead."
            )
        if not self.popularity_prior or not all(math.isfinite(k) and k >= 0 for k in self.popularity_prior):
            raise LsecConfigError(
                f"eval.popularity_prior must be a non-empty list of finite numbers >= 0 (0: no blend). "
                f"Got {list(self.popularity_prior)} instead."
            )


@dataclass(frozen=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


SECTIONS: dict[str, type] = {"model": ModelConfig, "data": DataConfig, "train": TrainConfig, "eval": EvalConfig}


# ---------------------------------------------------------------------------------------------- loading
def load_config(path: str | os.PathLike[str] | None = None, overrides: Iterable[str] = ()) -> Config:
    """Read a YAML recipe (or start from the defaults when ``path`` is None) and apply dotted overrides."""
    raw: dict[str, Any] = {}
    if path is not None:
        file = Path(path)
        if not file.is_file():
            raise LsecConfigError(f"Config file {str(file)!r} does not exist.")
        try:
            loaded = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(err, "problem", None) or "cannot be parsed"
            raise LsecConfigError(
                f"{file}: not valid YAML{where} ({problem}); expected a mapping of sections."
            ) from None
        if not isinstance(loaded, dict):
            raise LsecConfigError(f"{file}: expected a mapping of sections, found {type(loaded).__name__}.")
        raw = loaded
    cfg = config_from_dict(raw, source=str(path) if path is not None else "config")
    return apply_overrides(cfg, overrides)


def config_from_dict(raw: Mapping[str, Any], *, source: str = "config") -> Config:
    """Build a :class:`Config` from nested mappings; unknown keys and wrong types raise LsecConfigError."""
    sections: dict[str, Any] = {}
    for name, values in raw.items():
        if name not in SECTIONS:
            raise LsecConfigError(_unknown(source, str(name), SECTIONS))
        if values is None:
            values = {}
        if not isinstance(values, Mapping):
            raise LsecConfigError(f"{source}: section '{name}' must be a mapping, found {values!r}.")
        sections[name] = _build_section(SECTIONS[name], values, f"{source}: {name}")
    return Config(**sections)


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """Plain nested dict (tuples as lists), the inverse of :func:`config_from_dict`."""

    def plain(value: Any) -> Any:
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return {name: plain(dataclasses.asdict(getattr(cfg, name))) for name in SECTIONS}


def dump_config(cfg: Config, path: str | os.PathLike[str]) -> None:
    """Write the resolved config as YAML (loadable by :func:`load_config`)."""
    Path(path).write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))


def apply_overrides(cfg: Config, overrides: Iterable[str]) -> Config:
    """Apply ``section.field=value`` strings; ``model.hparams.<name>=value`` sets a model keyword."""
    for text in overrides:
        key, sep, value_text = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise LsecConfigError(f"Override {text!r} is not of the form section.field=value (e.g. train.lr=1e-3).")
        parts = key.split(".")
        section_name = parts[0]
        if section_name not in SECTIONS:
            raise LsecConfigError(_unknown("override", section_name, SECTIONS))
        section = getattr(cfg, section_name)
        value = _parse_scalar(value_text.strip())
        if section_name == "model" and parts[1:2] == ["hparams"]:
            if len(parts) != 3:
                raise LsecConfigError(f"Override {text!r}: expected model.hparams.<name>=value.")
            hparams = dict(cfg.model.hparams)
            hparams[parts[2]] = value
            cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, hparams=hparams))
            continue
        if len(parts) != 2:
            valid = ", ".join(f"{section_name}.{f.name}" for f in dataclasses.fields(section))
            raise LsecConfigError(f"Override key {key!r} is not a config field. Valid keys: {valid}.")
        updated = _build_section(type(section), {**dataclasses.asdict(section), parts[1]: value}, "override")
        cfg = dataclasses.replace(cfg, **{section_name: updated})
    return cfg


# ---------------------------------------------------------------------------------------------- helpers
def _unknown(source: str, key: str, valid: Iterable[str]) -> str:
    return f"{source}: unknown key {key!r}. Valid keys: {', '.join(valid)}."


def _build_section(cls: type, values: Mapping[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in names:
            raise LsecConfigError(_unknown(where, str(key), names))
        kwargs[key] = _coerce(value, hints[key], f"{where}.{key}")
    return cls(**kwargs)


def _parse_scalar(text: str) -> Any:
    """YAML scalar/list parsing of a command-line value (``[10,50]``, ``true``, ``1e-3`` kept as text)."""
    try:
        return yaml.safe_load(text) if text else ""
    except yaml.YAMLError:
        return text


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise LsecConfigError(f"{where}: expected a mapping, found {value!r}.")
        return dict(value)
    if origin is tuple:
        (item_type, *_rest) = typing.get_args(hint)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise LsecConfigError(f"{where}: expected a list, found {value!r}.")
        return tuple(_coerce(v, item_type, where) for v in value)
    if origin in (typing.Union, types.UnionType):
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise LsecConfigError(f"{where}: expected true or false, found {value!r}.")
    if hint is int:
        if isinstance(value, bool):
            raise LsecConfigError(f"{where}: expected an integer, found {value!r}.")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise LsecConfigError(f"{where}: expected an integer, found {value!r}.")
    if hint is float:
        if isinstance(value, bool):
            raise LsecConfigError(f"{where}: expected a number, found {value!r}.")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise LsecConfigError(f"{where}: expected a number, found {value!r}.")
    if hint is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise LsecConfigError(f"{where}: expected a string, found {value!r}.")
    return value
