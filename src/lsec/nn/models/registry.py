"""Model names -> constructors, so configs and the CLI can name a model (``model.name: lsec-gcn``).

::

    model = build_model("lsec-gcn", num_users=..., num_items=..., num_streamers=..., dropout=0.1)
    model.relations, model.tasks     # graphs to build and losses to use
    getattr(model, "self_loops", False)   # bipartite_adjacency(..., self_loops=...) for its graphs

Defaults are the slides' hyper-parameters (embedding 200, GNN 128 -> 64, MLP 128 -> 1).

=================  ==========================================================================================
``lsec-gcn``       LSEC-GNN, GCN aggregator, relations buy + follow + sell, tasks buy + follow
``lsec-lightgcn``  LSEC-GNN, LightGCN aggregator (same relations and tasks)
``lsec-gat``       LSEC-GNN, GAT aggregator (same relations and tasks)
``gcn-rs``         GCN on the buy graph, MLP scorer (= ``lsec-gcn`` with relations=(buy,), tasks=(buy,))
``lightgcn``       LightGCN on the buy graph with the MLP scorer, as in the paper
``lightgcn-dot``   LightGCN with the usual inner product (:mod:`lsec.nn.models.lightgcn`)
``gat-rs``         GAT on the buy graph, MLP scorer
``neumf``          NeuMF (GMF + MLP), no graph
``mf-bpr``         matrix factorisation, inner product (the sanity floor; trained with BPR)
``mmbee-rec``      MMBee's item recommendation (Table 2): MFQ item content + u2i2u / u2i2i user expansion, dot
=================  ==========================================================================================

Models that take ``item_features`` (``mmbee-rec``) get them from the dataset (``features/item__<modality>.npy``,
:func:`lsec.train.runs.build_model`), not from the config.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from lsec.errors import LsecConfigError
from lsec.nn.models.base import RecommenderModel

# name -> (module, class name, fixed keyword arguments the user cannot override)
_SPECS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "lsec-gcn": ("lsec.nn.models.lsec_gnn", "LSECGNN", {"aggregator": "gcn"}),
    "lsec-lightgcn": ("lsec.nn.models.lsec_gnn", "LSECGNN", {"aggregator": "lightgcn"}),
    "lsec-gat": ("lsec.nn.models.lsec_gnn", "LSECGNN", {"aggregator": "gat"}),
    "gcn-rs": ("lsec.nn.models.gcn_rs", "GCNRS", {}),
    "lightgcn": ("lsec.nn.models.lightgcn_mlp", "LightGCNMLP", {}),
    "lightgcn-dot": ("lsec.nn.models.lightgcn", "LightGCN", {}),
    "gat-rs": ("lsec.nn.models.gat_rs", "GATRS", {}),
    "neumf": ("lsec.nn.models.neumf", "NeuMF", {}),
    "mf-bpr": ("lsec.nn.models.mf", "MatrixFactorization", {}),
    "mmbee-rec": ("lsec.nn.models.mmbee.rec", "MMBeeRec", {}),
}
MODEL_NAMES: tuple[str, ...] = tuple(_SPECS)
_COUNTS = ("num_users", "num_items", "num_streamers")
DATA_ARGUMENTS = ("item_features",)
"""Constructor arguments filled from the dataset by the caller, never from ``model.hparams``."""


def _model_class(name: str) -> Callable[..., RecommenderModel]:
    if name not in _SPECS:
        raise LsecConfigError(f"Unknown model {name!r}; expected one of: {', '.join(MODEL_NAMES)}.")
    module_name, class_name, _ = _SPECS[name]
    try:  # imported lazily: a model file that is missing or broken must not break the other names
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise LsecConfigError(f"Model {name!r} is not available: cannot import {module_name} ({error}).") from error
    return getattr(module, class_name)  # type: ignore[no-any-return]


def model_defaults(name: str) -> dict[str, Any]:
    """The hyper-parameters ``name`` accepts and their defaults (for writing resolved configs)."""
    fixed = _SPECS[name][2] if name in _SPECS else {}
    parameters = inspect.signature(_model_class(name)).parameters
    return {
        key: p.default
        for key, p in parameters.items()
        if key not in _COUNTS
        and key not in DATA_ARGUMENTS
        and key not in fixed
        and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }


def data_arguments(name: str) -> tuple[str, ...]:
    """The :data:`DATA_ARGUMENTS` the model ``name`` takes (e.g. ``("item_features",)`` for ``mmbee-rec``)."""
    parameters = inspect.signature(_model_class(name)).parameters
    return tuple(key for key in DATA_ARGUMENTS if key in parameters)


def build_model(
    name: str,
    *,
    num_users: int,
    num_items: int,
    num_streamers: int,
    data: dict[str, Any] | None = None,
    **hparams: Any,
) -> RecommenderModel:
    """Build a registered model; lists (e.g. from YAML) are accepted where tuples are expected.

    ``data`` holds the :func:`data_arguments` of the model, read from the dataset by the caller.

    Raises:
        LsecConfigError: unknown name (lists the valid ones) or unknown hyper-parameter (lists the accepted ones).
    """
    cls = _model_class(name)
    accepted = model_defaults(name)
    unknown = sorted(set(hparams) - set(accepted))
    if unknown:
        raise LsecConfigError(
            f"Model {name!r} does not take hyper-parameter(s) {', '.join(unknown)}; "
            f"accepted: {', '.join(sorted(accepted)) or '(none)'}."
        )
    counts = {"num_users": num_users, "num_items": num_items, "num_streamers": num_streamers}
    parameters = inspect.signature(cls).parameters
    kwargs: dict[str, Any] = {key: value for key, value in counts.items() if key in parameters}
    kwargs.update({key: value for key, value in (data or {}).items() if key in parameters})
    kwargs.update(_SPECS[name][2])
    kwargs.update({key: tuple(value) if isinstance(value, list) else value for key, value in hparams.items()})
    try:
        return cls(**kwargs)
    except ValueError as error:
        if isinstance(error, LsecConfigError):
            raise
        raise LsecConfigError(f"Model {name!r}: {error}") from error
