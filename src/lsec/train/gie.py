"""GraphCL pre-training (MMBee Algorithm 1) as an objective of :class:`lsec.train.loop.Loop`.

An epoch is Algorithm 1's walk epoch: every node that has at least one positive (users with a ``u2a2u``
neighbour, streamers with an ``a2u2a`` neighbour) is an anchor once, users and streamers shuffled together
(``O = Shuffle(V_u ∪ V_a)``), cut into batches of ``batch_size`` anchors. Each anchor brings all its positives
(the rows of ``user_positives`` / ``streamer_positives``, -1 padded) and ``num_negatives`` random nodes of its
own type, drawn uniformly with replacement (they may hit a positive or the anchor itself, as a random sample
of a large graph does, rarely). A batch's loss is the mean of the per-anchor losses of :class:`GraphCL`.
Nodes without positives are never anchors: their rows keep their initial values (they also have empty
expansions, so nothing reads them through a metapath).

Everything random comes from ``seed``: the initial tables from ``torch.Generator().manual_seed(seed)``, the
epoch's order and negatives from ``numpy.random.default_rng([seed, epoch])``; same seed, same tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from lsec.nn.models.mmbee.gie import GraphCL
from lsec.train.loop import Loop, StepTimer

__all__ = ["GraphCLObjective", "pretrain_graphcl"]


class GraphCLObjective:
    """Algorithm 1 for :class:`lsec.train.loop.Loop` (module docstring).

    Args:
        model: the :class:`GraphCL` tables to train.
        user_positives: (num_users, P) user positives per user, -1 padded (``u2a2u`` neighbours).
        streamer_positives: (num_streamers, P') streamer positives per streamer, -1 padded (``a2u2a``).
        num_negatives: random negatives per anchor (``M``).
        batch_size: anchors per optimizer step.
        lr: Adam learning rate.
        seed: seeds the epochs' shuffles and negatives.
    """

    timer: StepTimer

    def __init__(
        self,
        model: GraphCL,
        *,
        user_positives: np.ndarray,
        streamer_positives: np.ndarray,
        num_negatives: int = 64,
        batch_size: int = 1024,
        lr: float = 0.01,
        seed: int = 0,
    ) -> None:
        owner = "GraphCLObjective"
        for name, value in (("num_negatives", num_negatives), ("batch_size", batch_size)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"The '{name}' parameter of {owner} must be a positive int. Got {value!r} instead.")
        self._model = model
        self.positives = {
            "user": _positives("user_positives", user_positives, model.user.num_embeddings, owner),
            "streamer": _positives("streamer_positives", streamer_positives, model.streamer.num_embeddings, owner),
        }
        self.counts = {"user": model.user.num_embeddings, "streamer": model.streamer.num_embeddings}
        # Anchors: (type code, node) of every node with a positive; type 0 = user, 1 = streamer.
        anchors = [np.flatnonzero((self.positives[t] >= 0).any(axis=1)) for t in ("user", "streamer")]
        self.anchor_type = np.repeat(np.array([0, 1], dtype=np.int8), [anchors[0].size, anchors[1].size])
        self.anchor_node = np.concatenate(anchors).astype(np.int64)
        self.num_negatives = num_negatives
        self.batch_size = batch_size
        self.seed = seed
        self._optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        self.timer = StepTimer()

    @property
    def model(self) -> torch.nn.Module:
        return self._model

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self._optimizer

    @property
    def num_anchors(self) -> int:
        return int(self.anchor_node.size)

    def steps_per_epoch(self) -> int:
        return max(1, -(-self.num_anchors // self.batch_size))

    def batches(self, epoch: int) -> Iterator[dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]]:
        """Per batch, per node type present: ``(anchors (b,), positives (b, P), negatives (b, M))`` tensors."""
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(self.num_anchors)
        device = self._model.user.weight.device
        for lo in range(0, self.num_anchors, self.batch_size):
            chosen = order[lo : lo + self.batch_size]
            batch = {}
            for code, node_type in enumerate(("user", "streamer")):
                nodes = self.anchor_node[chosen[self.anchor_type[chosen] == code]]
                if nodes.size == 0:
                    continue
                negatives = rng.integers(0, self.counts[node_type], size=(nodes.size, self.num_negatives))
                batch[node_type] = (
                    torch.from_numpy(nodes).to(device),
                    torch.from_numpy(self.positives[node_type][nodes].astype(np.int64)).to(device),
                    torch.from_numpy(negatives).to(device),
                )
            yield batch

    def batch_loss(self, batch: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """Mean per-anchor loss over the batch's users and streamers together."""
        total = sum(self._model(node_type, *tensors)["loss"].sum() for node_type, tensors in batch.items())
        count = sum(int(tensors[0].shape[0]) for tensors in batch.values())
        return torch.as_tensor(total) / max(count, 1)

    def train_step(self, batch: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> float:
        with self.timer("loss"):
            loss = self.batch_loss(batch)
        with self.timer("backward"):
            loss.backward()
        return float(loss.detach())

    def validate(self) -> dict[str, Any]:
        """``{"metrics": {"neg_loss": -loss}}`` over the batches of a fixed draw (epoch 0), larger is better."""
        losses = [float(self.batch_loss(batch)) for batch in self.batches(0)]
        return {"metrics": {"neg_loss": -float(np.mean(losses)) if losses else float("nan")}}

    def extra_state(self) -> dict[str, torch.Tensor]:
        return {}  # batches come from (seed, epoch) alone

    def load_extra_state(self, state: dict[str, torch.Tensor]) -> None:
        return None


def pretrain_graphcl(
    *,
    user_positives: np.ndarray,
    streamer_positives: np.ndarray,
    num_users: int,
    num_streamers: int,
    embedding_dim: int = 64,
    epochs: int = 10,
    tau: float = 0.1,
    nce_weight: float = 1.0,
    num_negatives: int = 64,
    batch_size: int = 1024,
    lr: float = 0.01,
    seed: int = 0,
    device: str | torch.device = "cpu",
    show_progress: bool = False,
) -> GraphCL:
    """Pre-train :class:`GraphCL` tables for ``epochs`` epochs with :class:`lsec.train.loop.Loop`, in memory.

    Args: see :class:`GraphCL` and :class:`GraphCLObjective`; ``device`` holds the tables while training.

    Returns:
        the trained model, on ``device``, in eval mode (the last epoch's weights: no validation).

    Shapes:
        user_positives: (num_users, P); streamer_positives: (num_streamers, P')
    """
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"The 'epochs' parameter of pretrain_graphcl must be an int >= 0. Got {epochs!r} instead.")
    model = GraphCL(num_users, num_streamers, embedding_dim=embedding_dim, tau=tau, nce_weight=nce_weight)
    model.reset_parameters(torch.Generator().manual_seed(seed))
    model.to(device)
    objective = GraphCLObjective(
        model,
        user_positives=user_positives,
        streamer_positives=streamer_positives,
        num_negatives=num_negatives,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
    )
    if epochs > 0 and objective.num_anchors > 0:
        Loop(objective, epochs=epochs, validate=False, run_dir=None, show_progress=show_progress).fit()
    return model.eval()


def _positives(name: str, positives: np.ndarray, num_nodes: int, owner: str) -> np.ndarray:
    array = np.asarray(positives)
    if array.ndim != 2 or array.shape[0] != num_nodes or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"The '{name}' parameter of {owner} must be a ({num_nodes}, P) integer array, -1 padded. "
            f"Got dtype {array.dtype}, shape {array.shape}."
        )
    if array.size and (array.max() >= num_nodes or array.min() < -1):
        raise ValueError(
            f"The '{name}' parameter of {owner} must hold indices in [0, {num_nodes}) or -1 padding. "
            f"Got values in [{array.min()}, {array.max()}]."
        )
    return array
