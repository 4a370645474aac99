"""Dataset overview: statistics table, degree distributions and daily activity per relation (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lsec.data.graph import HeteroGraph

DAY = 86_400


@dataclass
class DegreeDistribution:
    """How many nodes have each degree (distinct neighbours); degree-0 nodes counted apart."""

    node_type: str
    degree: np.ndarray  # (k,) distinct positive degrees, ascending
    nodes: np.ndarray  # (k,) number of nodes with that degree
    isolated: int  # nodes of this type with no edge in the relation
    mean: float
    max: int

    def to_dict(self) -> dict[str, Any]:
        return {"node_type": self.node_type, "isolated": self.isolated, "mean": self.mean, "max": self.max}


@dataclass
class RelationOverview:
    name: str
    src_type: str
    dst_type: str
    edges: int
    unique_pairs: int
    density: float
    src_degree: DegreeDistribution
    dst_degree: DegreeDistribution
    day: np.ndarray  # (d,) day index since the time origin, consecutive
    edges_per_day: np.ndarray  # (d,)
    timestamped: bool  # False when every timestamp is equal (e.g. a follow graph without times)

    def to_dict(self) -> dict[str, Any]:
        return {
            "relation": self.name,
            "src_type": self.src_type,
            "dst_type": self.dst_type,
            "edges": self.edges,
            "unique_pairs": self.unique_pairs,
            "density": self.density,
            "src_degree": self.src_degree.to_dict(),
            "dst_degree": self.dst_degree.to_dict(),
            "days": int(self.day.size) if self.timestamped else 0,
        }


@dataclass
class DatasetOverview:
    name: str
    nodes: dict[str, int]
    relations: list[RelationOverview]
    time_origin: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "nodes": self.nodes,
            "time_origin": self.time_origin,
            "relations": [r.to_dict() for r in self.relations],
        }


def degree_distribution(node_type: str, neighbours_per_node: np.ndarray) -> DegreeDistribution:
    positive = neighbours_per_node[neighbours_per_node > 0]
    histogram = np.bincount(positive)
    degree = np.flatnonzero(histogram)
    nodes = histogram[degree]
    return DegreeDistribution(
        node_type=node_type,
        degree=degree.astype(np.int64),
        nodes=nodes.astype(np.int64),
        isolated=int(neighbours_per_node.size - positive.size),
        mean=float(neighbours_per_node.mean()) if neighbours_per_node.size else 0.0,
        max=int(neighbours_per_node.max()) if neighbours_per_node.size else 0,
    )


def dataset_overview(graph: HeteroGraph) -> DatasetOverview:
    """Per relation: edge count, distinct pairs, density, degree distributions of both ends, edges per day."""
    relations = []
    for (src_type, name, dst_type), table in graph.items():
        n_src, n_dst = graph.num_nodes[src_type], graph.num_nodes[dst_type]
        pairs = np.sort(table.src.astype(np.int64) * max(n_dst, 1) + table.dst)
        if pairs.size:
            pairs = pairs[np.concatenate([[True], pairs[1:] != pairs[:-1]])]  # distinct (faster than np.unique)
        pair_src = pairs // max(n_dst, 1)
        pair_dst = pairs - pair_src * max(n_dst, 1)
        timestamped = len(table) > 0 and int(table.ts.min()) != int(table.ts.max())
        if timestamped:
            days = (table.ts - graph.time_origin) // DAY
            first = int(days.min())
            counts = np.bincount(days - first)
            day = np.arange(first, first + counts.size)
        else:
            day, counts = np.zeros(0, np.int64), np.zeros(0, np.int64)
        relations.append(
            RelationOverview(
                name=name,
                src_type=src_type,
                dst_type=dst_type,
                edges=len(table),
                unique_pairs=int(pairs.size),
                density=pairs.size / (n_src * n_dst) if n_src * n_dst else 0.0,
                src_degree=degree_distribution(src_type, np.bincount(pair_src, minlength=n_src)),
                dst_degree=degree_distribution(dst_type, np.bincount(pair_dst, minlength=n_dst)),
                day=day,
                edges_per_day=counts,
                timestamped=timestamped,
            )
        )
    return DatasetOverview(graph.name, {t: int(n) for t, n in graph.num_nodes.items()}, relations, graph.time_origin)
