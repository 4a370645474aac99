"""Scoring on a torch device (``lsec serve --device cuda``): the same logits as :mod:`lsec.serve.scoring`.

The CPU server scores with numpy or the fused numba kernel and needs no torch. With a GPU, the target tables
of each task are copied to the device once, and a request's (B, T) logits are computed there in blocks of
targets; ranking (seen targets excluded, top-k with ties broken by the smaller index) stays on the CPU with
:func:`lsec.serve.scoring.top_k`, so the order rule is the same on every device.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from lsec.serve.scoring import MLPRest

BLOCK_ELEMENTS = 1 << 26
"""Hidden activations per block, (B x targets x h) float32 elements: 256 MiB of device scratch at most."""


class DeviceScorer:
    """Logits of query parts against a task's target table, computed by torch on ``device``."""

    def __init__(self, device: Any) -> None:
        import torch

        self.device = torch.device(device)
        self._tables: dict[int, tuple[Any, list[Any], list[Any]]] = {}
        self._lock = threading.Lock()

    def _on_device(self, target_part: np.ndarray, rest: MLPRest | None) -> tuple[Any, list[Any], list[Any]]:
        import torch

        key = id(target_part)
        with self._lock:
            cached = self._tables.get(key)
            if cached is None:
                weights = (
                    [] if rest is None else [torch.from_numpy(np.asarray(w)).to(self.device) for w in rest.weights]
                )
                biases = [] if rest is None else [torch.from_numpy(np.asarray(b)).to(self.device) for b in rest.biases]
                target = torch.from_numpy(np.ascontiguousarray(target_part, dtype=np.float32)).to(self.device)
                cached = self._tables[key] = (target, weights, biases)
        return cached

    def scores(self, kind: str, target_part: np.ndarray, query_part: np.ndarray, rest: MLPRest | None) -> np.ndarray:
        """Shapes: query_part (B, h), target_part (T, h) -> (B, T) float32 on the CPU.

        ``kind`` ``"dot"``: ``q . t``; ``"mlp"``: ``relu(t + q)`` through ``rest`` (first layer already split).
        """
        import torch

        target, weights, biases = self._on_device(target_part, rest)
        query = torch.from_numpy(np.atleast_2d(np.asarray(query_part, dtype=np.float32))).to(self.device)
        with torch.inference_mode():
            if kind == "dot":
                return (query @ target.T).cpu().numpy()  # type: ignore[no-any-return]
            num_queries, hidden = query.shape
            rows = max(1, BLOCK_ELEMENTS // max(1, num_queries * hidden))
            out = torch.empty((num_queries, target.shape[0]), dtype=torch.float32, device=self.device)
            for start in range(0, target.shape[0], rows):
                h = torch.relu(target[None, start : start + rows] + query[:, None, :])  # (B, b, h)
                for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
                    if i:
                        h = torch.relu(h)
                    h = h @ w.T + b
                out[:, start : start + rows] = h[..., 0]
            return out.cpu().numpy()  # type: ignore[no-any-return]
