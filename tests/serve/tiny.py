"""A tiny RecommenderModel for the serving tests (independent of the real models, same contract).

Per-type embeddings; each relation propagates them once over its normalised adjacency (the project's
``propagate``) and mixes in the node's own embedding with weight ``own``::

    E^r = own * E + (1 - own) * Â_r E

With ``own=None`` the destination side keeps its own embedding and the source side is the pure
neighbour sum, so a user's representation is exactly the degree-normalised sum of its neighbours' FINAL
representations: what fold-in reconstructs (a copied history must give the same user back).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from lsec.data.graph import EdgeTable, HeteroGraph
from lsec.data.schema import RELATIONS
from lsec.graph.adjacency import BipartiteAdjacency, bipartite_adjacency, propagate
from lsec.nn.heads import PairMLPScorer
from lsec.nn.models.base import Encoded, RecommenderModel
from lsec.serve.artifact import build_artifact
from lsec.serve.recommender import Recommender

TARGET_KEYS = {"buy": ("sell.item", "buy.item"), "follow": ("sell.streamer", "follow.streamer")}


class TinyModel(RecommenderModel):
    def __init__(
        self,
        num_nodes: Mapping[str, int],
        *,
        dim: int = 8,
        own: float | None = 0.5,
        kind: str = "mlp",
        hidden: Sequence[int] = (16,),
        tasks: Sequence[str] = ("buy", "follow"),
        relations: Sequence[str] = ("buy", "follow", "sell"),
    ) -> None:
        super().__init__()
        self.tasks = tuple(tasks)
        self.relations = tuple(relations)
        self.own = own
        self.kind = kind
        self.embeddings = nn.ModuleDict({t: nn.Embedding(n, dim) for t, n in num_nodes.items()})
        for table in self.embeddings.values():
            nn.init.normal_(table.weight, std=1.0)
        self.scorers = nn.ModuleDict(
            {
                t: PairMLPScorer(dim * len(self.query_keys(t)), dim * len(self.target_keys(t)), hidden)
                for t in self.tasks
            }
        )

    def encode(self, graphs: Mapping[str, BipartiteAdjacency]) -> Encoded:
        out: Encoded = {}
        for rel in self.relations:
            src, _, dst = RELATIONS[rel]
            x = torch.cat([self.embeddings[src].weight, self.embeddings[dst].weight])
            n = graphs[rel].num_src
            mixed = propagate(graphs[rel], x)
            if self.own is None:  # users: neighbour sum only; the other side: its own embedding
                out[f"{rel}.{src}"], out[f"{rel}.{dst}"] = mixed[:n], x[n:]
                continue
            x = self.own * x + (1 - self.own) * mixed
            out[f"{rel}.{src}"], out[f"{rel}.{dst}"] = x[:n], x[n:]
        return out

    def query_keys(self, task: str) -> tuple[str, ...]:
        return tuple(k for k in ("buy.user", "follow.user") if k.split(".")[0] in self.relations)

    def target_keys(self, task: str) -> tuple[str, ...]:
        return tuple(k for k in TARGET_KEYS[task] if k.split(".")[0] in self.relations)

    def scorer(self, task: str) -> PairMLPScorer | None:
        return None if self.kind == "dot" else self.scorers[task]  # type: ignore[return-value]


def clustered_graph(
    num_clusters: int = 4, users: int = 60, items: int = 80, streamers: int = 8, seed: int = 0
) -> HeteroGraph:
    """Users, items, streamers in clusters (index mod num_clusters); most edges stay inside a cluster."""
    rng = np.random.default_rng(seed)
    origin = 1_606_780_800

    def edges(n_src: int, n_dst: int, per_src: int, noise: float) -> EdgeTable:
        src, dst = [], []
        for s in range(n_src):
            same = np.arange(s % num_clusters, n_dst, num_clusters)
            picks = rng.choice(same, size=min(per_src, len(same)), replace=False)
            for d in picks:
                if rng.random() < noise:
                    d = int(rng.integers(0, n_dst))
                src.append(s)
                dst.append(int(d))
        return EdgeTable(np.array(src), np.array(dst), origin + rng.integers(0, 86_400 * 30, len(src)))

    return HeteroGraph(
        num_nodes={"user": users, "item": items, "streamer": streamers},
        edges={
            ("user", "buy", "item"): edges(users, items, 6, 0.1),
            ("user", "follow", "streamer"): edges(users, streamers, 1, 0.1),
            ("streamer", "sell", "item"): edges(streamers, items, 8, 0.0),
        },
        node_ids={
            "user": np.array([f"u{i}" for i in range(users)], dtype=object),
            "item": np.array([f"i{i}" for i in range(items)], dtype=object),
            "streamer": np.array([f"s{i}" for i in range(streamers)], dtype=object),
        },
        name="clustered",
        time_origin=origin,
    )


def graphs_of(
    graph: HeteroGraph, relations: Sequence[str] = ("buy", "follow", "sell")
) -> dict[str, BipartiteAdjacency]:
    out = {}
    for rel in relations:
        src, _, dst = RELATIONS[rel]
        table = graph[rel]
        out[rel] = bipartite_adjacency(table.src, table.dst, graph.num_nodes[src], graph.num_nodes[dst])
    return out


def tiny_setup(
    graph: HeteroGraph | None = None, seed: int = 0, train_steps: int = 0, **model_kwargs: object
) -> tuple[TinyModel, Encoded, HeteroGraph, Recommender]:
    """(model, encoding, graph, recommender built in memory from them); ``train_steps`` > 0 trains first."""
    graph = graph if graph is not None else clustered_graph(seed=seed)
    torch.manual_seed(seed)
    model = TinyModel(graph.num_nodes, **model_kwargs).eval()  # type: ignore[arg-type]
    if train_steps:
        train_tiny(model, graph, steps=train_steps, seed=seed)
    with torch.no_grad():
        enc = model.encode(graphs_of(graph, model.relations))
    artifact = build_artifact(model, enc, graph, model_name="tiny", source={"test": True})
    return model, enc, graph, Recommender(artifact)


def train_tiny(model: TinyModel, graph: HeteroGraph, *, steps: int = 60, seed: int = 0) -> TinyModel:
    """A few full-batch BCE steps (4 uniform negatives per positive) so embeddings reflect the clusters."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add contention
    try:
        graphs = graphs_of(graph, model.relations)
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
        model.train()
        for _ in range(steps):
            enc = model.encode(graphs)
            loss = torch.zeros(())
            for task in model.tasks:
                table = graph[task]
                users = torch.from_numpy(table.src.astype(np.int64))
                targets = torch.from_numpy(table.dst.astype(np.int64))
                num_targets = graph.num_nodes[RELATIONS[task][2]]
                negatives = torch.randint(0, num_targets, (4 * len(users),), generator=generator)
                logits = torch.cat(
                    [model.score(task, enc, users, targets), model.score(task, enc, users.repeat(4), negatives)]
                )
                labels = torch.cat([torch.ones(len(users)), torch.zeros(4 * len(users))])
                loss = loss + nn.functional.binary_cross_entropy_with_logits(logits, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()
