"""Run folders: what a training run writes, and :func:`load_run` to use it afterwards.

A run folder (contract 6 of the team brief)::

    RUN/config.yaml            resolved config (load_config(RUN/config.yaml) rebuilds it)
    RUN/run.json               {"model", "dataset" (absolute), "split", "seed", "status", "best_epoch", "best_metric", ...}
    RUN/log.jsonl              one JSON object per epoch ("event": "epoch") and per evaluation ("event": "eval")
    RUN/checkpoints/best.pt    plain state_dict of the best validation epoch (torch.load(weights_only=True))
    RUN/checkpoints/last.pt    model + optimizer state + counters + RNG state, tensors only (resume)
    RUN/results/<split>.json   written by ``lsec evaluate``

Evaluation, serving and reports open a run with :func:`load_run`, never by reading these files themselves.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lsec.config import Config, load_config
from lsec.data.graph import HeteroGraph
from lsec.data.schema import relation
from lsec.errors import LsecConfigError, LsecError
from lsec.graph.adjacency import BipartiteAdjacency, bipartite_adjacency
from lsec.nn.models.base import Encoded, RecommenderModel
from lsec.nn.models.registry import MODEL_NAMES
from lsec.train.loop import BEST_CHECKPOINT, LAST_CHECKPOINT, LOG_FILE

CONFIG_FILE = "config.yaml"
RUN_FILE = "run.json"
FORMAT_VERSION = 2
"""Version of the run folder layout written by this code (``run.json["format"]``); runs without the field are
version 1 (before the one training loop), which this code still reads."""
READABLE_FORMATS = (1, 2)


# ------------------------------------------------------------------------------------- model and graphs
def model_sizes(graph: HeteroGraph) -> dict[str, int]:
    """Node counts as the registry's keyword arguments."""
    return {
        "num_users": int(graph.num_nodes.get("user", 0)),
        "num_items": int(graph.num_nodes.get("item", 0)),
        "num_streamers": int(graph.num_nodes.get("streamer", 0)),
    }


def build_model(cfg: Config, graph: HeteroGraph) -> RecommenderModel:
    """The model named by ``cfg.model`` sized for ``graph`` (parameters drawn from torch's global RNG)."""
    from lsec.nn.models.registry import build_model as registry_build
    from lsec.nn.models.registry import data_arguments

    data = {}
    if cfg.model.name in MODEL_NAMES and "item_features" in data_arguments(cfg.model.name):
        data["item_features"] = item_features(cfg.data.dataset)
    try:
        return registry_build(cfg.model.name, **model_sizes(graph), data=data, **cfg.model.hparams)
    except (KeyError, TypeError, ValueError) as err:
        if isinstance(err, LsecError):
            raise
        message = err.args[0] if err.args else str(err)
        raise LsecConfigError(f"model {cfg.model.name!r} with hparams {cfg.model.hparams}: {message}") from None


def item_features(dataset: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Modality -> (num_items, d) arrays of ``DATASET/features/item__<modality>.npy`` (e.g. a tiktok-mm import).

    Raises:
        LsecDataError: the dataset has no item feature array.
    """
    from lsec.errors import LsecDataError

    folder = Path(dataset) / "features"
    paths = sorted(folder.glob("item__*.npy")) if folder.is_dir() else []
    if not paths:
        raise LsecDataError(
            "no item features", file=folder, expected="features/item__<modality>.npy (e.g. lsec data import tiktok-mm)",
            found="no such file",
        )  # fmt: skip
    return {path.stem.removeprefix("item__"): np.load(path, allow_pickle=False) for path in paths}


def uses_self_loops(model: RecommenderModel, model_name: str) -> bool:
    """Whether the model's graphs carry self loops: a ``self_loops`` attribute of the model wins, else by name.

    GCN-style aggregators (GCN-RS, LSEC-GCN) and GAT add ``I`` (a node attends to / keeps itself);
    LightGCN-style models propagate without self loops and combine layers instead.
    """
    flag = getattr(model, "self_loops", None)
    if isinstance(flag, bool):
        return flag
    name = model_name.lower()
    return ("gcn" in name and "lightgcn" not in name) or "gat" in name


def build_graphs(
    graph: HeteroGraph,
    relations: Iterable[str],
    *,
    self_loops: bool,
    sell_min_weight: float = 0.0,
) -> dict[str, BipartiteAdjacency]:
    """Symmetrically normalised adjacency per relation name, from (training-window) ``graph``.

    Sell edges whose weight (sales) is below ``sell_min_weight`` are left out (the slides' threshold);
    the remaining edges are unweighted (duplicates merged).
    """
    graphs: dict[str, BipartiteAdjacency] = {}
    for name in relations:
        src_type, _, dst_type = relation(name)
        if not graph.has(name):
            raise LsecError(f"Dataset {graph.name!r} has no {name!r} edges, which the model needs.")
        table = graph[name]
        src, dst = table.src, table.dst
        if name == "sell" and sell_min_weight > 0 and table.weight is not None:
            keep = table.weight >= sell_min_weight
            src, dst = src[keep], dst[keep]
        graphs[name] = bipartite_adjacency(
            src, dst, graph.num_nodes[src_type], graph.num_nodes[dst_type], self_loops=self_loops
        )
    return graphs


# ------------------------------------------------------------------------------------------- run files
def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Atomic JSON write (a reader never sees half a file)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=_json_default) + "\n")
    os.replace(tmp, path)


def read_run_info(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """``run.json`` of a run folder; a missing, unreadable or foreign-version file raises :class:`LsecError`."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise LsecError(f"{run_dir}: not a run folder (no {RUN_FILE}; create one with `lsec train`).")
    try:
        info = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise LsecError(
            f"{path}: not a readable run description (expected JSON written by `lsec train`; {err})."
        ) from None
    if not isinstance(info, dict):
        raise LsecError(f"{path}: expected a JSON object written by `lsec train`, found {type(info).__name__}.")
    version = info.get("format", 1)
    if version not in READABLE_FORMATS:
        raise LsecError(
            f"{path}: run folder format {version!r} is not one this version of lsec reads "
            f"(expected one of {', '.join(map(str, READABLE_FORMATS))}); retrain with this version or use the lsec "
            "that wrote it."
        )
    return info


def read_log(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every event of ``log.jsonl`` in order."""
    path = Path(run_dir) / LOG_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# -------------------------------------------------------------------------------------------- load_run
@dataclass
class LoadedRun:
    """A trained run ready to score: best weights in eval mode, its split and training graphs.

    Attributes:
        run_dir: the run folder.
        config: the resolved :class:`~lsec.config.Config` the run was trained with.
        info: the content of ``run.json``.
        model: the model with the best checkpoint loaded, in eval mode.
        split: the dataset split (``split.graph`` holds node ids, ``split.candidates(...)`` the lists).
        graphs: relation name -> adjacency of the TRAINING-window edges (what the model was trained on).
    """

    run_dir: Path
    config: Config
    info: dict[str, Any]
    model: RecommenderModel
    split: Any
    graphs: dict[str, BipartiteAdjacency]
    _encoded: Encoded | None = field(default=None, repr=False)

    @property
    def graph(self) -> HeteroGraph:
        """The full dataset graph (node ids: ``graph.ids("user")``)."""
        graph: HeteroGraph = self.split.graph
        return graph

    @torch.no_grad()
    def encode(self) -> Encoded:
        """``model.encode(graphs)`` without gradients, computed once and cached."""
        if self._encoded is None:
            self._encoded = self.model.encode(self.graphs)
        return self._encoded


def load_run(
    run_dir: str | os.PathLike[str],
    *,
    checkpoint: str = "best",
    dataset: str | None = None,
    device: str | torch.device = "cpu",
) -> LoadedRun:
    """Open a run folder: config, split, training graphs and the model with ``checkpoint`` weights.

    Args:
        run_dir: a folder written by ``lsec train``.
        checkpoint: ``"best"`` (default) or ``"last"``.
        dataset: use this dataset folder instead of the one recorded in ``run.json`` (moved data).
        device: where the model and graphs are put for scoring: ``"cpu"`` (default), ``"cuda"``, ``"cuda:N"`` or
            ``"auto"`` (CUDA when torch sees a GPU), as ``train.device``. A closed-form (GF-CF) run always scores
            on the CPU.
    """
    from lsec.data.split import load_split
    from lsec.train.loop import resolve_device

    device = resolve_device(device) if isinstance(device, str) else device

    root = Path(run_dir)
    info = read_run_info(root)
    cfg = load_config(root / CONFIG_FILE)
    dataset_dir = dataset or info.get("dataset") or cfg.data.dataset
    if not dataset_dir or not Path(dataset_dir).is_dir():
        raise LsecError(f"{root / RUN_FILE}: dataset folder {dataset_dir!r} does not exist (pass dataset=...).")
    if info.get("engine") == "temporal":  # DM-GNN: social events, no split (lsec.train.temporal)
        from lsec.train.temporal_runs import load_temporal_run

        return load_temporal_run(  # type: ignore[no-any-return]
            root, cfg, info, load_checkpoint_state(root, checkpoint), str(dataset_dir), device=device
        )
    if info.get("engine") == "gtr":  # MMBee gift models: impressions, own time split (lsec.train.gtr)
        from lsec.train.gtr_runs import load_gtr_run

        return load_gtr_run(  # type: ignore[no-any-return]
            root, cfg, info, load_checkpoint_state(root, checkpoint), str(dataset_dir), device=device
        )
    split = load_split(dataset_dir, name=info.get("split") or cfg.data.split)
    state = load_checkpoint_state(root, checkpoint)
    if info.get("engine") == "closed_form":
        from lsec.train.closed_form import load_gfcf

        try:
            fitted = load_gfcf(cfg, state)
        except (KeyError, ValueError, TypeError) as err:
            raise LsecError(f"{root / BEST_CHECKPOINT}: not a fitted {cfg.model.name} checkpoint ({err}).") from None
        return LoadedRun(run_dir=root, config=cfg, info=info, model=fitted, split=split, graphs={})  # type: ignore[arg-type]
    model = build_model(cfg, split.graph)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        path = root / (BEST_CHECKPOINT if checkpoint == "best" else LAST_CHECKPOINT)
        first = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise LsecError(
            f"{path}: checkpoint does not match model {cfg.model.name!r} of {root / CONFIG_FILE} on this dataset "
            f"(expected the parameters that config builds; {first})."
        ) from None
    model.eval().to(device)
    graphs = build_graphs(
        split.train_graph(),
        model.relations,
        self_loops=uses_self_loops(model, cfg.model.name),
        sell_min_weight=cfg.data.sell_min_weight,
    )
    graphs = {name: graph.to(device) for name, graph in graphs.items()}
    return LoadedRun(run_dir=root, config=cfg, info=info, model=model, split=split, graphs=graphs)


def load_checkpoint_state(run_dir: str | os.PathLike[str], checkpoint: str = "best") -> dict[str, torch.Tensor]:
    """The model state_dict of ``best.pt`` or of ``last.pt`` (weights only, no pickled objects)."""
    if checkpoint not in ("best", "last"):
        raise ValueError(f"The 'checkpoint' parameter must be 'best' or 'last'. Got {checkpoint!r} instead.")
    path = Path(run_dir) / (BEST_CHECKPOINT if checkpoint == "best" else LAST_CHECKPOINT)
    if not path.is_file():
        raise LsecError(f"{path}: checkpoint missing (the run has not finished an evaluation yet).")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if checkpoint == "last":
            state = state["model"]
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError... for a damaged file
        raise LsecError(
            f"{path}: not a readable checkpoint (expected a state dict written by `lsec train`; "
            f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})."
        ) from None
    if not isinstance(state, dict):
        raise LsecError(f"{path}: expected a state dict of tensors, found {type(state).__name__}.")
    return dict(state)
