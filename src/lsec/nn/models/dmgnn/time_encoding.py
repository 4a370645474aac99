"""Functional time encoding of TGAT (Xu et al., 2020), the ``Φ(Δt)`` of DM-GNN's temporal attention.

A time difference ``Δt`` is mapped to ``d`` harmonics with learnable frequencies ``w`` and phases ``b``::

    Φ(Δt) = cos(w * Δt + b)            (elementwise over the d components)

Initialised as in TGAT's code: ``w_i = 1 / 10^(9 i / (d - 1))`` (``1 / 10^linspace(0, 9, d)``, periods from
``2π`` to ``2π·10^9`` in the units of ``Δt``, i.e. seconds up to decades for unix timestamps) and ``b = 0``,
so ``Φ(0) = 1`` in every component.
"""

from __future__ import annotations

import torch
from torch import nn


class TimeEncoding(nn.Module):
    """``Φ(Δt) = cos(w Δt + b)`` with learnable ``w``, ``b`` (module docstring).

    Args:
        dim: number of harmonics ``d``.

    Shapes:
        dt: (...) any float or integer tensor -> (..., dim) in the dtype of the parameters
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0:
            raise ValueError(f"The 'dim' parameter of TimeEncoding must be a positive int. Got {dim!r} instead.")
        self.dim = dim
        self.weight = nn.Parameter(torch.empty(dim))
        self.bias = nn.Parameter(torch.empty(dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            exponents = torch.linspace(0, 9, self.dim, dtype=torch.float64)
            self.weight.copy_(1.0 / torch.pow(10.0, exponents))
            self.bias.zero_()

    def forward(self, dt: torch.Tensor) -> torch.Tensor:
        dt = dt.to(self.weight.dtype).unsqueeze(-1)  # (..., 1)
        return torch.cos(dt * self.weight + self.bias)  # (..., d)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.dim})"
