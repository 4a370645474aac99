"""MMBee's item-recommendation setting (the paper's Table 2): MFQ item content + metapath user expansion.

A dot-product model trained by the BPR engine (``train.engine: bpr``, :mod:`lsec.train.bpr`), so that full-sort
evaluation scores every item by one matrix product. With ``U`` users, ``I`` items, ``N = U + I``, ``d`` the
embedding width:

**Item ego** (id embedding fused with MFQ over the item's modality features, :class:`~lsec.nn.models.mmbee.mfq.MFQ`
with one segment per item, the item playing the streamer that owns the ``Q`` query tokens). An item has one
vector per modality, not a sequence of frames; it is cut into ``F = feature_tokens`` consecutive pieces of
``d_m / F`` values, each piece one frame token (as image patches are). With ``F = 1`` MFQ degenerates: attention
over a single key is a constant 1, so the orthogonal projection adds nothing and the per-modality cross-attention
is a linear map (its query and key weights get no gradient)::

    x_i,m  -> (1, F, d_m / F) frames                       per modality m (image, audio, ...)
    c_i   = W_c flatten(MFQ(i, {m: frames_i,m}))           (Q d_mfq) -> d            (I, d)
    ego_i = e_i + c_i                                      e_i: free id embedding

Features are standardised per column on construction; a modality row that is all zero or not finite counts as
missing for that item (masked in MFQ: it changes nothing, exactly as an absent modality). ``use_mfq=False``
keeps ``ego_i = e_i``. Users: ``ego_u = e_u``.

**Propagation and expansion** (a fixed linear operator on the ego table, built from the adjacency the model is
given, i.e. the training pairs only)::

    H     = sum_{l=0..L} Â^l ego / (L + 1)                  LightGCN layer combination (L = num_layers)  (N, d)
    final = H + X H                                          (N, d)
    X[u, u'] = user_weight / |S_u|     for u' in S_u = u2i2u neighbours of u (users sharing items with u)
    X[u, i]  = item_weight / |T_u|     for i in T_u = u2i2i neighbours of u (Swing i2u2i neighbours of u's items)

:func:`lsec.graph.metapath.metapath_neighbours` (``u2a2u`` and ``u2a2a`` with the item as the paper's author ``a``)
over the training pairs; Swing (:func:`lsec.graph.swing.swing`, exact) gives the i2u2i item neighbours. Item rows
of ``X`` are zero. ``use_expansion=False`` keeps ``final = H``. ``score(u, i) = <final_u, final_i>``.

The BPR engine computes the gradient on ``final`` and maps it back with :meth:`combine_transpose`
(``P^T G = Σ Â^l (G + X^T G) / (L + 1)``, ``Â`` symmetric), then :meth:`backward_ego` sends it through the item
MFQ by autograd.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from lsec.graph.adjacency import AdjacencySpMM, BipartiteAdjacency, propagate, to_torch_csr
from lsec.nn.models.base import BuyDotModel, Encoded
from lsec.nn.models.mmbee.mfq import MFQ

CONTENT_STD = 0.01


class MMBeeRec(BuyDotModel):
    """Dot-product item recommender with MFQ item content and u2i2u / u2i2i user expansion (module docstring).

    Args:
        num_users, num_items: node counts.
        item_features: modality -> (num_items, d_m) array (given by the run from ``DATASET/features``); the
            modalities used are ``modalities`` (``None``: every one given).
        embedding_dim: ``d``. num_layers: ``L`` LightGCN propagation steps (0: none).
        use_mfq / use_expansion: the two parts (ablations).
        mfq_dim, mfq_queries, mfq_heads: MFQ width ``d_mfq``, query tokens ``Q`` per item, attention heads.
            ``mfq_dim`` None: ``embedding_dim // mfq_queries`` with ``query_source='embedding'`` (the query tokens
            are the embedding's pieces), else 32.
        feature_tokens: ``F``, frame tokens each modality vector is cut into (divides every ``d_m``).
        expansion_k: neighbours kept per user on each metapath. user_weight / item_weight: weights of the two
            expansions in ``X``.
        init_std: normal initialisation of the id embeddings.
        content_lr_scale: learning rate of MFQ and ``W_c`` relative to the engine's (:meth:`parameter_groups`).

    Shapes:
        ego() -> (N, d);  encode({"buy": adjacency over N nodes}) -> {"buy.user": (U, d), "buy.item": (I, d)}
        item_content(items (B,)) -> (B, d)   (MFQ input per modality: (B, 1, F, d_m / F), mask (B, 1, F))
    """

    tasks = ("buy",)
    relations = ("buy",)

    def __init__(
        self,
        num_users: int,
        num_items: int,
        item_features: Mapping[str, np.ndarray] | None = None,
        *,
        modalities: tuple[str, ...] | None = None,
        embedding_dim: int = 64,
        num_layers: int = 3,
        use_mfq: bool = True,
        use_expansion: bool = True,
        mfq_dim: int | None = None,
        mfq_queries: int = 2,
        mfq_heads: int = 2,
        feature_tokens: int = 4,
        expansion_k: int = 10,
        user_weight: float = 0.5,
        item_weight: float = 0.5,
        init_std: float = 0.1,
        content_lr_scale: float = 0.02,
        content_init: str = "zero",
        query_source: str = "embedding",
    ) -> None:
        super().__init__()
        if content_init not in ("zero", "normal") or query_source not in ("embedding", "own"):
            raise ValueError(
                "MMBeeRec: content_init must be 'zero' or 'normal' and query_source 'embedding' or 'own'. "
                f"Got {content_init!r} and {query_source!r}."
            )
        if num_layers < 0 or expansion_k < 1 or embedding_dim < 1:
            raise ValueError(
                "MMBeeRec needs num_layers >= 0, expansion_k >= 1 and embedding_dim >= 1. "
                f"Got {num_layers}, {expansion_k} and {embedding_dim}."
            )
        self.num_users, self.num_items = num_users, num_items
        self.embedding_dim, self.num_layers = embedding_dim, num_layers
        self.use_mfq, self.use_expansion = bool(use_mfq), bool(use_expansion)
        self.expansion_k = expansion_k
        self.user_weight, self.item_weight = float(user_weight), float(item_weight)
        self.init_std = init_std
        self.content_lr_scale = float(content_lr_scale)
        self.content_init, self.query_source = content_init, query_source
        self.embedding = nn.Parameter(torch.empty(num_users + num_items, embedding_dim))  # users first
        self.modalities: tuple[str, ...] = ()
        self.feature_tokens = 1
        self.mfq: MFQ | None = None
        self.content: nn.Linear | None = None
        if self.use_mfq:
            features = dict(item_features or {})
            names = tuple(features) if modalities is None else tuple(modalities)
            missing = [m for m in names if m not in features]
            if not names or missing:
                raise ValueError(
                    f"MMBeeRec with use_mfq=True needs item features for modalities {list(names) or '(any)'}; "
                    f"given: {sorted(features) or 'none'} (DATASET/features/item__<modality>.npy)."
                )
            self.modalities = names
            for m in names:
                x, valid = _standardised(np.asarray(features[m]), num_items, m)
                self.register_buffer(f"feature_{m}", torch.from_numpy(x), persistent=False)
                self.register_buffer(f"valid_{m}", torch.from_numpy(valid), persistent=False)
            widths = {m: int(np.asarray(features[m]).shape[1]) for m in names}
            if feature_tokens < 1 or any(w % feature_tokens for w in widths.values()):
                raise ValueError(
                    f"MMBeeRec: feature_tokens ({feature_tokens}) must be a positive divisor of every modality's "
                    f"width. Got widths {widths}."
                )
            self.feature_tokens = feature_tokens
            dims = {m: w // feature_tokens for m, w in widths.items()}
            if mfq_dim is None:
                mfq_dim = embedding_dim // max(mfq_queries, 1) if query_source == "embedding" else 32
            if query_source == "embedding" and mfq_queries * mfq_dim != embedding_dim:
                raise ValueError(
                    "MMBeeRec with query_source='embedding' cuts the item embedding into the query tokens: "
                    f"mfq_queries x mfq_dim must equal embedding_dim. Got {mfq_queries} x {mfq_dim} != {embedding_dim}."
                )
            table = num_items if query_source == "own" else None
            self.mfq = MFQ(table, dims, dim=mfq_dim, num_queries=mfq_queries, num_segments=1, num_heads=mfq_heads)
            self.content = nn.Linear(self.mfq.output_dim, embedding_dim)
        self._expansion: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # (matrix, X, X^T)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding, std=self.init_std)
        if self.content is not None:
            if self.content_init == "zero":
                nn.init.zeros_(self.content.weight)  # ego = e_i at the start: MFQ enters only as it helps
            else:
                nn.init.normal_(self.content.weight, std=CONTENT_STD)
            nn.init.zeros_(self.content.bias)

    def parameter_groups(self) -> list[dict[str, object]]:
        """Optimizer groups for the BPR engine: the id table at the engine's lr, MFQ and ``W_c`` at
        ``content_lr_scale`` times it (Adam moves every weight by ~lr per step: the engine's large-batch lr 0.05 is
        right for embeddings and far too large for attention weights)."""
        content = [p for name, p in self.named_parameters() if name != "embedding"]
        groups: list[dict[str, object]] = [{"params": [self.embedding]}]
        if content:
            groups.append({"params": content, "lr_scale": self.content_lr_scale})
        return groups

    # ------------------------------------------------------------------ item content
    def item_content(self, items: torch.Tensor) -> torch.Tensor:
        """``c_i`` of ``items`` (zeros without MFQ). Shapes: items (B,) -> (B, d)."""
        if self.mfq is None or self.content is None:
            return self.embedding.new_zeros(len(items), self.embedding_dim)
        return self.content(self.item_fused(items))  # type: ignore[no-any-return]

    def item_fused(self, items: torch.Tensor) -> torch.Tensor:
        """flatten(MFQ(i, frames_i)) of ``items``, before ``W_c``. Shapes: items (B,) -> (B, Q d_mfq)."""
        if self.mfq is None:
            raise ValueError("MMBeeRec.item_fused needs use_mfq=True.")
        b, f = len(items), self.feature_tokens
        features = {m: getattr(self, f"feature_{m}")[items].view(b, 1, f, -1) for m in self.modalities}  # (B,1,F,w/F)
        valid = {m: getattr(self, f"valid_{m}")[items][:, None, None].expand(b, 1, f) for m in self.modalities}
        queries = None
        if self.query_source == "embedding":  # q_i = e_i cut into Q tokens of d_mfq (tied to the id embedding)
            queries = self.embedding[self.num_users + items].view(b, self.mfq.num_queries, self.mfq.dim)
        fused = self.mfq(items, features, valid, queries=queries)  # (B, Q, d_mfq)
        return fused.reshape(b, -1)

    def ego(self) -> torch.Tensor:
        """(N, d): ``e_u`` for users, ``e_i + c_i`` for items (users first, adjacency row order)."""
        if self.mfq is None:
            return self.embedding
        items = torch.arange(self.num_items, device=self.embedding.device)
        content = self.item_content(items)
        return torch.cat([self.embedding[: self.num_users], self.embedding[self.num_users :] + content])

    def backward_ego(self, grad: torch.Tensor) -> None:
        """Accumulate the gradient ``grad`` (N, d) on :meth:`ego` into the parameters (id table and MFQ)."""
        if self.mfq is None:
            self.embedding.grad = grad if self.embedding.grad is None else self.embedding.grad + grad
            return
        with torch.enable_grad():
            self.ego().backward(grad)

    # ------------------------------------------------------------------ expansion
    def expansion(self, adjacency: BipartiteAdjacency) -> tuple[torch.Tensor, torch.Tensor]:
        """``(X, X^T)`` as (N, N) sparse CSR tensors for the training pairs of ``adjacency`` (cached per matrix)."""
        if self._expansion is not None and self._expansion[0] is adjacency.matrix:
            return self._expansion[1], self._expansion[2]
        users, items = training_pairs(adjacency)
        x = expansion_matrix(
            users, items, self.num_users, self.num_items, k=self.expansion_k,
            user_weight=self.user_weight, item_weight=self.item_weight,
        )  # fmt: skip
        device = adjacency.matrix.device
        pair = (to_torch_csr(x).to(device), to_torch_csr(x.T.tocsr()).to(device))
        self._expansion = (adjacency.matrix, *pair)
        return pair

    def combine(self, adjacency: BipartiteAdjacency, ego: torch.Tensor) -> torch.Tensor:
        """``final = (I + X) sum_l Â^l ego / (L + 1)`` (differentiable in ``ego``). Shapes: (N, d) -> (N, d)."""
        self._check_adjacency(adjacency)
        layer, total = ego, ego
        for _ in range(self.num_layers):
            layer = propagate(adjacency, layer)
            total = total + layer
        total = total / (self.num_layers + 1)
        if not self.use_expansion:
            return total
        x, x_t = self.expansion(adjacency)
        return total + AdjacencySpMM.apply(x, x_t, total)  # type: ignore[no-any-return]

    def combine_transpose(self, adjacency: BipartiteAdjacency, grad: torch.Tensor) -> torch.Tensor:
        """``P^T grad`` for ``final = P ego`` (no autograd). Shapes: (N, d) -> (N, d)."""
        with torch.no_grad():
            if self.use_expansion:
                _, x_t = self.expansion(adjacency)
                grad = grad + x_t @ grad
            layer, total = grad, grad.clone()
            for _ in range(self.num_layers):
                layer = propagate(adjacency, layer)
                total.add_(layer)
            return total.div_(self.num_layers + 1)

    def _check_adjacency(self, adjacency: BipartiteAdjacency) -> None:
        if adjacency.num_src != self.num_users or adjacency.num_dst != self.num_items:
            raise ValueError(
                f"MMBeeRec has {self.num_users} users and {self.num_items} items; the buy adjacency has "
                f"{adjacency.num_src} and {adjacency.num_dst}."
            )

    # ------------------------------------------------------------------ RecommenderModel
    def encode(self, graphs: Mapping[str, BipartiteAdjacency]) -> Encoded:
        if "buy" not in graphs:
            raise ValueError(f"MMBeeRec reads the 'buy' graph; got graphs {sorted(graphs)}.")
        final = self.combine(graphs["buy"], self.ego())
        return {"buy.user": final[: self.num_users], "buy.item": final[self.num_users :]}

    def extra_repr(self) -> str:
        return (
            f"num_users={self.num_users}, num_items={self.num_items}, embedding_dim={self.embedding_dim}, "
            f"num_layers={self.num_layers}, modalities={list(self.modalities)}, use_mfq={self.use_mfq}, "
            f"use_expansion={self.use_expansion}, expansion_k={self.expansion_k}"
        )


def _standardised(array: np.ndarray, num_items: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Column-standardised float32 features and the per-item validity (a finite row that is not all zero)."""
    if array.ndim != 2 or array.shape[0] != num_items:
        raise ValueError(
            f"MMBeeRec: features of modality {name!r} must have shape ({num_items}, d). Got {array.shape}."
        )
    x = array.astype(np.float64)
    valid = np.isfinite(x).all(1) & (np.abs(np.nan_to_num(x)).sum(1) > 0)
    x = np.where(valid[:, None], np.nan_to_num(x), 0.0)
    if valid.any():
        mean, std = x[valid].mean(0), x[valid].std(0)
        x = np.where(valid[:, None], (x - mean) / np.where(std > 0, std, 1.0), 0.0)
    return x.astype(np.float32), valid


def training_pairs(adjacency: BipartiteAdjacency) -> tuple[np.ndarray, np.ndarray]:
    """The (user, item) pairs of a bipartite adjacency (its user rows' nonzeros; self loops ignored).

    Shapes: -> users (E,), items (E,) int64
    """
    matrix = adjacency.matrix.to("cpu")
    crow = matrix.crow_indices().numpy().astype(np.int64)
    col = matrix.col_indices().numpy().astype(np.int64)
    rows = np.repeat(np.arange(len(crow) - 1), np.diff(crow))
    keep = (rows < adjacency.num_src) & (col >= adjacency.num_src)
    return rows[keep], col[keep] - adjacency.num_src


def expansion_matrix(
    users: np.ndarray,
    items: np.ndarray,
    num_users: int,
    num_items: int,
    *,
    k: int,
    user_weight: float,
    item_weight: float,
) -> sp.csr_matrix:
    """``X`` of the module docstring for the pairs ``(users, items)``: (N, N), nonzero only on user rows.

    Row ``u``: ``user_weight / |S_u|`` on the u2i2u neighbours ``S_u`` (users), ``item_weight / |T_u|`` on the
    u2i2i neighbours ``T_u`` (items, column ``num_users + i``), both the ``k`` best bounded-walk neighbours of
    :func:`lsec.graph.metapath.metapath_neighbours`; the i2i hop is exact Swing over the same pairs.
    """
    from lsec.graph.metapath import metapath_neighbours
    from lsec.graph.swing import gift_graph, swing

    graph = gift_graph(src=users, dst=items, num_users=num_users, num_streamers=num_items)
    similar_users = metapath_neighbours(metapath="u2a2u", graph=graph, k=k, num_threads=1)
    item_swing = swing(graph=graph, k=k, mode="exact", num_threads=1)
    similar_items = metapath_neighbours(metapath="u2a2a", graph=graph, k=k, swing=item_swing, num_threads=1)
    blocks = []
    for found, weight, offset in ((similar_users, user_weight, 0), (similar_items, item_weight, num_users)):
        mask = found.mask
        count = np.maximum(mask.sum(1, keepdims=True), 1)
        rows = np.broadcast_to(found.sources[:, None], mask.shape)[mask]
        values = np.broadcast_to(weight / count, mask.shape)[mask]
        blocks.append(sp.csr_matrix((values, (rows, found.indices[mask] + offset)), shape=(num_users + num_items,) * 2))
    return sp.csr_matrix(blocks[0] + blocks[1], dtype=np.float32)


__all__ = ["MMBeeRec", "expansion_matrix", "training_pairs"]
