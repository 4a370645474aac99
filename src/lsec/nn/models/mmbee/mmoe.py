"""MMoE, multi-gate mixture of experts (Ma et al. 2018), MMBee's second backbone (Table 2).

``E`` shared experts ``f_e(x)`` (MLPs); each task ``t`` has its own gate and tower::

    g_t(x) = softmax(W_t x)  (E,)        y_t = tower_t( sum_e g_t(x)_e f_e(x) )  (a logit)

so tasks share what helps them both and keep apart what conflicts (one gate per task, not one for all).
"""

from __future__ import annotations

import torch
from torch import nn

from lsec.nn.models.mmbee.sim import mlp


class MMoE(nn.Module):
    """Shared experts, one softmax gate and one tower per task.

    Args:
        input_dim: width of the input features ``x``.
        tasks: one gate, one tower and one output logit per task.
        num_experts: ``E``.
        expert_hidden: hidden and output widths of each expert MLP (ReLU after every layer).
        tower_hidden: hidden widths of each task tower (its last layer outputs one logit).

    Shapes:
        x: (B, input_dim)  ->  {task: (B,) logits};  :meth:`gates`: {task: (B, E)}, each row summing to 1
    """

    def __init__(
        self,
        *,
        input_dim: int,
        tasks: tuple[str, ...] = ("gift",),
        num_experts: int = 4,
        expert_hidden: tuple[int, ...] = (64, 32),
        tower_hidden: tuple[int, ...] = (16,),
    ) -> None:
        super().__init__()
        if not isinstance(num_experts, int) or num_experts < 1:
            raise ValueError(
                f"The 'num_experts' parameter of MMoE must be a positive int. Got {num_experts!r} instead."
            )
        if not tasks or len(set(tasks)) != len(tasks):
            raise ValueError(f"The 'tasks' parameter of MMoE must name distinct tasks. Got {tasks!r} instead.")
        if not expert_hidden:
            raise ValueError("The 'expert_hidden' parameter of MMoE must give at least one width. Got () instead.")
        self.input_dim = input_dim
        self.tasks = tuple(tasks)
        self.num_experts = num_experts
        self.experts = nn.ModuleList(
            nn.Sequential(mlp([input_dim, *expert_hidden]), nn.ReLU()) for _ in range(num_experts)
        )
        self.gate = nn.ModuleDict({task: nn.Linear(input_dim, num_experts) for task in self.tasks})
        self.towers = nn.ModuleDict({task: mlp([expert_hidden[-1], *tower_hidden, 1]) for task in self.tasks})

    def gates(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each task's mixture weights over the experts. Shapes: (B, input_dim) -> {task: (B, E)}."""
        return {task: gate(x).softmax(dim=-1) for task, gate in self.gate.items()}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        experts = torch.stack([expert(x) for expert in self.experts], dim=1)  # (B, E, h)
        out = {}
        for task, weights in self.gates(x).items():
            mixed = torch.einsum("be,beh->bh", weights, experts)  # (B, h)
            out[task] = self.towers[task](mixed).squeeze(-1)  # (B,)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(input={self.input_dim}, experts={self.num_experts}, tasks={self.tasks})"
