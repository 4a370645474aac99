"""lsec: recommendation for live-stream e-commerce.

Public names are re-exported here and imported lazily, so ``import lsec`` does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "HeteroGraph": "lsec.data.graph",
    "EdgeTable": "lsec.data.graph",
    "load": "lsec.data.store",
    "save": "lsec.data.store",
    "LsecError": "lsec.errors",
    "LsecDataError": "lsec.errors",
    "Recommender": "lsec.serve.recommender",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lsec' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
