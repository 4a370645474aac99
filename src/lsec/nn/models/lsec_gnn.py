"""LSEC-GNN: product recommendation from the tripartite buy / follow / sell graph (DESIGN section 4).

1. One embedding table per node type: ``E_U``, ``E_I``, ``E_S`` (width ``embedding_dim``, 200).
2. Each relation ``r`` (a bipartite graph made homogeneous, ``A = [[0, A_r], [A_r^T, 0]]``) has its own stack
   of GNN layers ``f^r`` applied to ``H^(0) = [E_src || E_dst]`` (rows stacked)::

       [E_U^buy,    E_I^buy]    = f^buy([E_U; E_I])
       [E_U^follow, E_S^follow] = f^follow([E_U; E_S])
       [E_S^sell,   E_I^sell]   = f^sell([E_S; E_I])

   so a node gets one representation per graph it belongs to, keyed ``"<relation>.<node_type>"``.
   Aggregators: ``"gcn"`` (``sigma(Â H W + b)``, Â with self loops, dims 200 -> 128 -> 64), ``"gat"``
   (attention with explicit self loops, same dims) and ``"lightgcn"`` (no weights, no nonlinearity: it
   cannot change widths, so outputs keep ``embedding_dim`` and ``len(layer_dims)`` sets the number of
   propagation steps, combined by their mean).
3. Each task scores ``MLP([target || query])`` (:class:`~lsec.nn.heads.PairMLPScorer`, -> 128 -> 1)::

       buy:    target = E_i^sell || E_i^buy        query = E_u^buy || E_u^follow
       follow: target = E_s^sell || E_s^follow     query = E_u^buy || E_u^follow

Scorer options (issue 12 point 5; ``model.hparams``), the paper's MLP by default:

* ``scorer="dot"`` / ``"mlp+dot"``: the logit is (or gains) a weighted sum of dot products ACROSS graphs, one per
  (query key, target key) pair of the task, ``sum_{q,t} w_{q,t} <E_u^q, E_i^t> / out_dim`` (+ a bias when there is
  no MLP), each ``w`` learned and starting at 1. For buy: ``E_u^buy . E_i^buy`` (LightGCN's score),
  ``E_u^follow . E_i^sell`` (with the shared streamer table and mean-combined layers this holds
  ``sum_{s followed, s' selling i} E_s . E_s'``: the followed streamers' catalogues), ``E_u^buy . E_i^sell``
  (items co-listed with the user's purchases) and ``E_u^follow . E_i^buy``. An MLP learns such dot products
  badly (Rendle et al. 2020, "Neural collaborative filtering vs. matrix factorization revisited").
* ``popularity_prior=True``: adds ``w_pop * log1p(deg)``, ``deg`` the target's degree in the task's own
  graph as propagated (the training popularity; under seed-edge exclusion, without the batch's positives),
  ``w_pop`` learned and starting at 1 (a log-linear purchase model).

* ``dot_hops=True`` (LightGCN aggregator, a dot scorer): the dots are taken between single propagation steps
  instead of the layer mean, one term per (user key, hop a, item key, hop b) whose node types match, e.g.
  ``<(A_follow E)_u, (A_sell^T E)_i>`` (followed streamers . the item's sellers, both streamer rows) or
  ``<(A_buy E)_u, (A_buy A_buy^T A_buy E)_i>``-style co-purchase paths; with random tables these dots are
  already random projections of path counts (measured: the follow -> sell step alone carries most of the
  heuristic's signal before training, the layer mean buries it under the other layers' products).

Either option makes :meth:`scoring_kind` ``"custom"`` (training and candidate evaluation score it exactly;
serving's split-table fast path does not apply).

Ablation (Table 5): a relation left out of ``relations`` has no graph, no layers and no keys, so its parts
disappear from the scorer inputs. With ``relations=("buy",)`` and ``tasks=("buy",)`` the model is exactly
GCN-RS / LightGCN-MLP / GAT-RS (:mod:`lsec.nn.models.gcn_rs` and friends subclass this one), with the same
parameter names and shapes and, under the same seed, the same initial values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import torch
from torch import nn

from lsec.data.schema import NODE_TYPES, RELATIONS
from lsec.graph.adjacency import BipartiteAdjacency, propagate
from lsec.nn.conv.gat import GATConv
from lsec.nn.conv.gcn import GCNConv
from lsec.nn.conv.lightgcn import LightGCNConv
from lsec.nn.heads import PairMLPScorer
from lsec.nn.models.base import Encoded, RecommenderModel

AGGREGATORS = ("gcn", "lightgcn", "gat")
SCORERS = ("mlp", "dot", "mlp+dot")
LSEC_RELATIONS = ("buy", "follow", "sell")
LSEC_TASKS = ("buy", "follow")

# Scorer inputs per task, in the slides' order; a part is used only when its relation is on.
QUERY_PARTS: dict[str, tuple[tuple[str, str], ...]] = {
    "buy": (("buy", "user"), ("follow", "user")),
    "follow": (("buy", "user"), ("follow", "user")),
}
TARGET_PARTS: dict[str, tuple[tuple[str, str], ...]] = {
    "buy": (("sell", "item"), ("buy", "item")),
    "follow": (("sell", "streamer"), ("follow", "streamer")),
}
EMBEDDING_STD = 1.0
"""Embedding tables start as N(0, 1) (torch's default). Smaller tables (0.1 is common for dot-product models)
were measured to stall here: each normalised propagation shrinks the signal by about 1/sqrt(degree), the ReLU
layers then see inputs smaller than one Adam step on their bias and can all switch off at once, leaving a
constant scorer (tests/nn/models/test_contract.py caught it on the checkerboard)."""


def _ordered_subset(values: Sequence[str], allowed: tuple[str, ...], parameter: str) -> tuple[str, ...]:
    """Validate names and return them in canonical order (so ("sell", "buy") and ("buy", "sell") agree)."""
    if isinstance(values, str):
        values = (values,)
    unknown = [v for v in values if v not in allowed]
    if unknown or not values or len(set(values)) != len(values):
        raise ValueError(
            f"The '{parameter}' parameter of LSECGNN must be a non-empty set of distinct names from "
            f"{allowed}. Got {tuple(values)!r} instead."
        )
    return tuple(v for v in allowed if v in values)


class LSECGNN(RecommenderModel):
    """Per-relation GNN stacks over shared per-type embeddings, with a concat + MLP scorer per task.

    Args:
        num_users, num_items, num_streamers: node counts (a type no enabled relation uses may be 0).
        aggregator: ``"gcn"``, ``"lightgcn"`` or ``"gat"``.
        embedding_dim: width of the embedding tables (slides: 200).
        layer_dims: output widths of the GNN layers (slides: 128, 64). For ``"lightgcn"`` only the count
            matters (number of propagation steps; the width stays ``embedding_dim``).
        relations: graphs used, any non-empty subset of ``("buy", "follow", "sell")``.
        tasks: tasks trained and scored, ``("buy",)`` or ``("buy", "follow")`` (or ``("follow",)``).
        scorer_hidden: hidden widths of each task's MLP scorer (slides: 128, then 1 output).
        dropout: dropout on each GNN layer's input and after each scorer hidden layer (training only).
        lightgcn_combine: with the ``"lightgcn"`` aggregator, ``"mean"`` of the layers (the LightGCN paper) or
            ``"last"`` layer only (the LSEC-GNN authors' code).
        scorer: ``"mlp"`` (the paper), ``"dot"`` (cross-graph dot products, see the module docstring) or
            ``"mlp+dot"`` (their sum).
        popularity_prior: add a learned multiple of ``log1p`` of the target's training degree to the logit.
        dot_hops: dot products between single propagation steps of matching node type (see the module doc).

    Attributes:
        self_loops: the adjacency :meth:`encode` expects (``bipartite_adjacency(..., self_loops=...)``):
            ``True`` for GCN, ``False`` for LightGCN; GAT accepts either (it only reads the pattern).

    Shapes:
        encode: graphs[r] (N_r, N_r) sparse -> {"r.src": (n_src, out_dim), "r.dst": (n_dst, out_dim)}
        score: users (B,), targets (B,) -> (B,);  score_all: users (B,) -> (B, num_targets)
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        num_streamers: int,
        *,
        aggregator: str = "gcn",
        embedding_dim: int = 200,
        layer_dims: Sequence[int] = (128, 64),
        relations: Sequence[str] = LSEC_RELATIONS,
        tasks: Sequence[str] = LSEC_TASKS,
        scorer_hidden: Sequence[int] = (128,),
        dropout: float = 0.0,
        lightgcn_combine: str = "mean",
        scorer: str = "mlp",
        popularity_prior: bool = False,
        dot_hops: bool = False,
    ) -> None:
        super().__init__()
        if dot_hops and ("dot" not in scorer or aggregator != "lightgcn"):
            raise ValueError(
                "The 'dot_hops' parameter of LSECGNN needs the 'lightgcn' aggregator and a dot scorer "
                f"('dot' or 'mlp+dot'). Got aggregator={aggregator!r}, scorer={scorer!r}."
            )
        self.dot_hops = bool(dot_hops)
        if scorer not in SCORERS:
            raise ValueError(f"The 'scorer' parameter of LSECGNN must be one of {SCORERS}. Got {scorer!r} instead.")
        self.scorer_kind = scorer
        self.popularity_prior = bool(popularity_prior)
        if lightgcn_combine not in ("mean", "last"):
            raise ValueError(
                f"The 'lightgcn_combine' parameter of LSECGNN must be 'mean' or 'last'. Got {lightgcn_combine!r}."
            )
        self.lightgcn_combine = lightgcn_combine
        if aggregator not in AGGREGATORS:
            raise ValueError(
                f"The 'aggregator' parameter of LSECGNN must be one of {AGGREGATORS}. Got {aggregator!r} instead."
            )
        if embedding_dim <= 0 or any(int(d) <= 0 for d in layer_dims):
            raise ValueError(
                f"LSECGNN needs a positive embedding_dim and positive layer_dims. "
                f"Got embedding_dim={embedding_dim}, layer_dims={tuple(layer_dims)} instead."
            )
        self.aggregator = aggregator
        self.embedding_dim = int(embedding_dim)
        self.layer_dims = tuple(int(d) for d in layer_dims)
        self.relations = _ordered_subset(relations, LSEC_RELATIONS, "relations")
        self.tasks = _ordered_subset(tasks, LSEC_TASKS, "tasks")
        self.self_loops = aggregator == "gcn"
        for task in self.tasks:
            if not self.query_keys(task) or not self.target_keys(task):
                raise ValueError(
                    f"LSECGNN task {task!r} has nothing to score with relations {self.relations}: the user side "
                    f"needs 'buy' or 'follow', the {_target_type(task)} side needs "
                    f"{' or '.join(repr(r) for r, _ in TARGET_PARTS[task])}."
                )
        self.num_nodes = {"user": num_users, "item": num_items, "streamer": num_streamers}
        used_types = [t for t in NODE_TYPES if any(t in (RELATIONS[r][0], RELATIONS[r][2]) for r in self.relations)]
        for node_type in used_types:
            if self.num_nodes[node_type] <= 0:
                raise ValueError(
                    f"The 'num_{node_type}s' parameter of LSECGNN must be positive with relations "
                    f"{self.relations}. Got {self.num_nodes[node_type]} instead."
                )

        self.embeddings = nn.ModuleDict({t: nn.Embedding(self.num_nodes[t], self.embedding_dim) for t in used_types})
        self.convs = nn.ModuleDict({r: self._make_stack() for r in self.relations})
        self.out_dim = self.embedding_dim if aggregator == "lightgcn" or not self.layer_dims else self.layer_dims[-1]
        self.scorers = nn.ModuleDict(
            {
                task: PairMLPScorer(
                    query_dim=len(self.query_keys(task)) * self.out_dim,
                    target_dim=len(self.target_keys(task)) * self.out_dim,
                    hidden_dims=tuple(int(h) for h in scorer_hidden),
                    dropout=dropout,
                )
                for task in self.tasks
                if "mlp" in scorer
            }
        )
        # cross-graph dot weights (one per query key x target key), bias (dot only) and prior weight, per task
        self.dot_weights = nn.ParameterDict(
            {t: nn.Parameter(torch.ones(len(self.dot_pairs(t)))) for t in self.tasks if "dot" in scorer}
        )
        self.dot_bias = nn.ParameterDict({t: nn.Parameter(torch.zeros(())) for t in self.tasks if scorer == "dot"})
        self.prior_weight = nn.ParameterDict(
            {t: nn.Parameter(torch.ones(())) for t in self.tasks if self.popularity_prior}
        )
        for task in self.prior_weight:
            if task not in self.relations:
                raise ValueError(
                    f"LSECGNN popularity_prior for task {task!r} needs the {task!r} graph; relations are {self.relations}."
                )
        self.dropout = nn.Dropout(dropout)
        self.reset_parameters()

    def _make_stack(self) -> nn.ModuleList:
        if self.aggregator == "lightgcn":
            return nn.ModuleList([LightGCNConv(num_layers=len(self.layer_dims), combine=self.lightgcn_combine)])
        widths = (self.embedding_dim, *self.layer_dims)
        layer = GCNConv if self.aggregator == "gcn" else GATConv
        return nn.ModuleList([layer(widths[i], widths[i + 1]) for i in range(len(self.layer_dims))])

    def reset_parameters(self) -> None:
        for node_type in self.embeddings:
            nn.init.normal_(self._table(node_type), std=EMBEDDING_STD)
        for rel in self.convs:
            for conv in self._stack(rel):
                conv.reset_parameters()
        for task in self.scorers:
            cast(PairMLPScorer, self.scorers[task]).reset_parameters()
        with torch.no_grad():
            for group, value in ((self.dot_weights, 1.0), (self.dot_bias, 0.0), (self.prior_weight, 1.0)):
                for param in group.values():
                    param.fill_(value)

    # ---------------------------------------------------------------- contract
    def encode(self, graphs: Mapping[str, BipartiteAdjacency]) -> Encoded:
        out: Encoded = {}
        for rel in self.relations:
            src_type, _, dst_type = RELATIONS[rel]
            adjacency = self._graph(graphs, rel)
            x = torch.cat([self._table(src_type), self._table(dst_type)])  # (N, d0)
            for conv in self._stack(rel):
                x = conv(adjacency, self.dropout(x))  # (N, d_l)
            out[f"{rel}.{src_type}"] = x[: adjacency.num_src]  # (n_src, out_dim)
            out[f"{rel}.{dst_type}"] = x[adjacency.num_src :]  # (n_dst, out_dim)
            if self.dot_hops:  # each propagation step on its own (no dropout: the dots read the graph)
                h = torch.cat([self._table(src_type), self._table(dst_type)])
                for hop in range(len(self.layer_dims) + 1):
                    if hop:
                        h = propagate(adjacency, h)
                    out[f"{rel}.{src_type}.hop{hop}"] = h[: adjacency.num_src]
                    out[f"{rel}.{dst_type}.hop{hop}"] = h[adjacency.num_src :]
            if rel in self.prior_weight:
                out[prior_key(rel)] = torch.log1p(target_degree(adjacency))[:, None]  # (n_dst, 1)
        return out

    def dot_pairs(self, task: str) -> tuple[tuple[str, str], ...]:
        """(query key, target key) pairs whose dot products the ``"dot"`` scorers sum, e.g. ("follow.user", "sell.item").

        With ``dot_hops`` the keys name single propagation steps whose rows are of the same node type, e.g.
        ("follow.user.hop1", "sell.item.hop1"): both hold streamer rows (followed streamers, the item's sellers).
        """
        pairs = [(q, t) for q in self.query_keys(task) for t in self.target_keys(task)]
        if not self.dot_hops:
            return tuple(pairs)
        hops = range(len(self.layer_dims) + 1)
        return tuple(
            (f"{q}.hop{a}", f"{t}.hop{b}")
            for q, t in pairs
            for a in hops
            for b in hops
            if _row_type(q, a) == _row_type(t, b)
        )

    def scoring_kind(self, task: str) -> str:
        return "mlp" if self.scorer_kind == "mlp" and not self.popularity_prior else "custom"

    def score(self, task: str, enc: Encoded, users: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Logits of (user, target) pairs (the MLP's first layer on the tables, then gathered; see module doc).

        Shapes: users (n,), targets (n,) -> (n,)
        """
        if self.scoring_kind(task) == "mlp":
            return super().score(task, enc, users, targets)
        self._check_task(task)
        logits = torch.zeros(users.shape[0], device=users.device)
        if "mlp" in self.scorer_kind:
            head = self.scorer(task)
            query = head.query_part(self.query(task, enc)).index_select(0, users)
            logits = logits + head.head(query + head.target_part(self.target(task, enc)).index_select(0, targets))
        if "dot" in self.scorer_kind:
            weights = self.dot_weights[task]
            for w, (q, t) in zip(weights, self.dot_pairs(task), strict=True):
                dot = (enc[q].index_select(0, users) * enc[t].index_select(0, targets)).sum(-1)
                logits = logits + w * dot / self.out_dim
        if self.scorer_kind == "dot":
            logits = logits + self.dot_bias[task]
        if task in self.prior_weight:
            logits = logits + self.prior_weight[task] * enc[prior_key(task)][:, 0].index_select(0, targets)
        return logits

    @torch.no_grad()
    def score_all(self, task: str, enc: Encoded, users: torch.Tensor, *, block_size: int = 8192) -> torch.Tensor:
        """Logits of each user against every target, exactly :meth:`score`. Shapes: users (B,) -> (B, num_targets)."""
        if self.scoring_kind(task) == "mlp":
            return super().score_all(task, enc, users, block_size=block_size)
        self._check_task(task)
        num_targets = self.target(task, enc).shape[0]
        out = torch.zeros(users.shape[0], num_targets, device=users.device)
        if "mlp" in self.scorer_kind:
            out += super().score_all(task, enc, users, block_size=block_size).to(out.device)
        if "dot" in self.scorer_kind:
            for w, (q, t) in zip(self.dot_weights[task], self.dot_pairs(task), strict=True):
                out += w * (enc[q][users] @ enc[t].T) / self.out_dim
        if self.scorer_kind == "dot":
            out += self.dot_bias[task]
        if task in self.prior_weight:
            out += self.prior_weight[task] * enc[prior_key(task)][:, 0][None, :]
        return out

    def query_keys(self, task: str) -> tuple[str, ...]:
        return tuple(f"{r}.{t}" for r, t in QUERY_PARTS[task] if r in self.relations)

    def target_keys(self, task: str) -> tuple[str, ...]:
        return tuple(f"{r}.{t}" for r, t in TARGET_PARTS[task] if r in self.relations)

    def scorer(self, task: str) -> PairMLPScorer:
        """The task's MLP scorer (``scorer="dot"`` has none: asking for it is an error)."""
        self._check_task(task)
        if task not in self.scorers:
            raise ValueError(f"{type(self).__name__} with scorer={self.scorer_kind!r} has no MLP scorer.")
        return cast(PairMLPScorer, self.scorers[task])

    # ---------------------------------------------------------------- helpers
    def _table(self, node_type: str) -> torch.Tensor:
        return cast(nn.Embedding, self.embeddings[node_type]).weight  # (n_type, embedding_dim)

    def _stack(self, rel: str) -> list[GCNConv | GATConv | LightGCNConv]:
        return list(cast(nn.ModuleList, self.convs[rel]))  # type: ignore[arg-type]

    def _graph(self, graphs: Mapping[str, BipartiteAdjacency], rel: str) -> BipartiteAdjacency:
        if rel not in graphs:
            raise ValueError(
                f"{type(self).__name__} with relations {self.relations} needs a graph for {rel!r}; "
                f"got graphs for {tuple(graphs)}."
            )
        adjacency = graphs[rel]
        src_type, _, dst_type = RELATIONS[rel]
        expected = (self.num_nodes[src_type], self.num_nodes[dst_type])
        if (adjacency.num_src, adjacency.num_dst) != expected:
            raise ValueError(
                f"The {rel!r} graph must have {expected[0]} {src_type}s and {expected[1]} {dst_type}s (the model's "
                f"node counts). Got {adjacency.num_src} and {adjacency.num_dst} instead."
            )
        return adjacency

    def __repr__(self) -> str:
        if self.aggregator == "lightgcn":
            dims = f"{self.embedding_dim}x{len(self.layer_dims)} steps"
        else:
            dims = "->".join(str(d) for d in (self.embedding_dim, *self.layer_dims))
        return (
            f"{type(self).__name__}(aggregator={self.aggregator!r}, relations={'+'.join(self.relations)}, "
            f"tasks={'+'.join(self.tasks)}, dims={dims})"
        )


def prior_key(relation_name: str) -> str:
    """Encoded key of ``log1p`` of the target degrees of a relation's graph, e.g. ``"buy.item.log_degree"``."""
    return f"{relation_name}.{RELATIONS[relation_name][2]}.log_degree"


def target_degree(adjacency: BipartiteAdjacency) -> torch.Tensor:
    """Number of neighbours of each destination node (row entries with a non-zero value, self loop not counted).

    Shapes: -> (num_dst,) float32
    """
    matrix = adjacency.matrix
    crow = matrix.crow_indices()
    counts = torch.diff(crow)  # (N,) entries per row
    rows = torch.repeat_interleave(torch.arange(adjacency.num_nodes, device=crow.device), counts)
    nonzero = (matrix.values() != 0).to(torch.float32)
    degree = torch.zeros(adjacency.num_nodes, device=crow.device).index_add_(0, rows, nonzero)
    if adjacency.self_loops:
        degree = degree - 1.0
    return degree[adjacency.num_src :].clamp_min(0.0)


def _row_type(key: str, hop: int) -> str:
    """Node type of the rows of ``key`` ("relation.node_type") after ``hop`` steps over its bipartite graph."""
    rel, node_type = key.split(".")
    src_type, _, dst_type = RELATIONS[rel]
    if hop % 2 == 0:
        return node_type
    return dst_type if node_type == src_type else src_type


def _target_type(task: str) -> str:
    return "item" if task == "buy" else "streamer"


class BuyGraphGNN(LSECGNN):
    """LSEC-GNN restricted to the buy graph and the buy task: the graph baselines of Table 3.

    Subclasses name their ``aggregator``; everything else (parameter names, shapes, init) is LSEC-GNN's, so a
    baseline and the matching LSEC-GNN ablation row are the same model by construction.

    Shapes:
        encode -> {"buy.user": (num_users, layer_dims[-1]), "buy.item": (num_items, layer_dims[-1])}
    """

    aggregator_name: str = "gcn"

    def __init__(
        self,
        num_users: int,
        num_items: int,
        *,
        embedding_dim: int = 200,
        layer_dims: Sequence[int] = (128, 64),
        scorer_hidden: Sequence[int] = (128,),
        dropout: float = 0.0,
    ) -> None:
        super().__init__(
            num_users,
            num_items,
            0,
            aggregator=self.aggregator_name,
            embedding_dim=embedding_dim,
            layer_dims=layer_dims,
            relations=("buy",),
            tasks=("buy",),
            scorer_hidden=scorer_hidden,
            dropout=dropout,
        )
