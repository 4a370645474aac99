"""In-memory typed graph: node counts per type and one edge table per relation.

Internal node indices are dense ``0..n-1`` per node type; the external ids (strings) live in
``node_ids`` in internal-index order. Everything above ``lsec.data`` works on these arrays.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lsec.data.schema import NODE_TYPES, Relation, relation
from lsec.errors import LsecDataError


@dataclass
class EdgeTable:
    """Edges of one relation as parallel arrays.

    Shapes:
        src, dst: (E,) int32 internal indices; ts: (E,) int64 unix seconds; weight: (E,) float32 or None;
        kind: (E,) int8 or None (codes in :data:`lsec.data.schema.SOCIAL_KINDS` for ``social`` edges).
    """

    src: np.ndarray
    dst: np.ndarray
    ts: np.ndarray
    weight: np.ndarray | None = None
    kind: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.src = np.ascontiguousarray(self.src, dtype=np.int32)
        self.dst = np.ascontiguousarray(self.dst, dtype=np.int32)
        self.ts = np.ascontiguousarray(self.ts, dtype=np.int64)
        if self.weight is not None:
            self.weight = np.ascontiguousarray(self.weight, dtype=np.float32)
        if self.kind is not None:
            self.kind = np.ascontiguousarray(self.kind, dtype=np.int8)

    def __len__(self) -> int:
        return int(self.src.shape[0])

    def select(self, mask_or_index: np.ndarray) -> EdgeTable:
        """A new table with the rows chosen by a boolean mask or an index array."""
        return EdgeTable(
            self.src[mask_or_index],
            self.dst[mask_or_index],
            self.ts[mask_or_index],
            None if self.weight is None else self.weight[mask_or_index],
            None if self.kind is None else self.kind[mask_or_index],
        )

    @classmethod
    def empty(cls, with_weight: bool = False) -> EdgeTable:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, z, np.zeros(0, dtype=np.float32) if with_weight else None)

    def __repr__(self) -> str:
        return f"EdgeTable(num_edges={len(self)}, weight={'yes' if self.weight is not None else 'no'})"


@dataclass
class HeteroGraph:
    """A typed graph: the dataset as everything above ``lsec.data`` sees it.

    Args:
        num_nodes: node count per node type.
        edges: one :class:`EdgeTable` per relation triple.
        node_ids: external ids (str) per node type, in internal-index order. Optional for
            graphs built in memory (ids then default to ``"0".."n-1"``).
        name: dataset name.
        time_origin: unix seconds of the dataset's day 0 (UTC), e.g. the first day of the train window.
        meta: provenance and ingestion report, written to ``meta.json``.
        node_features: optional per-type dict of feature columns, each of length ``num_nodes[type]``.
    """

    num_nodes: dict[str, int]
    edges: dict[Relation, EdgeTable]
    node_ids: dict[str, np.ndarray] = field(default_factory=dict)
    name: str = "dataset"
    time_origin: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    node_features: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    # ----------------------------------------------------------------- access
    @property
    def num_users(self) -> int:
        return self.num_nodes.get("user", 0)

    @property
    def num_items(self) -> int:
        return self.num_nodes.get("item", 0)

    @property
    def num_streamers(self) -> int:
        return self.num_nodes.get("streamer", 0)

    @property
    def relations(self) -> list[Relation]:
        return list(self.edges)

    def has(self, name_or_triple: str | Relation) -> bool:
        return relation(name_or_triple) in self.edges

    def __getitem__(self, name_or_triple: str | Relation) -> EdgeTable:
        rel = relation(name_or_triple)
        try:
            return self.edges[rel]
        except KeyError:
            have = ", ".join(r[1] for r in self.edges) or "none"
            raise KeyError(f"This graph has no {rel[1]!r} relation (it has: {have}).") from None

    def items(self) -> Iterator[tuple[Relation, EdgeTable]]:
        return iter(self.edges.items())

    def ids(self, node_type: str) -> np.ndarray:
        """External ids of ``node_type`` in internal-index order (generated if not stored)."""
        ids = self.node_ids.get(node_type)
        if ids is None:
            ids = np.array([str(i) for i in range(self.num_nodes[node_type])], dtype=object)
            self.node_ids[node_type] = ids
        return ids

    # ------------------------------------------------------------ transforms
    def with_edges(self, edges: Mapping[Relation, EdgeTable]) -> HeteroGraph:
        """Same nodes, other edges (used by splits and permutations)."""
        return HeteroGraph(
            num_nodes=dict(self.num_nodes),
            edges=dict(edges),
            node_ids=self.node_ids,
            name=self.name,
            time_origin=self.time_origin,
            meta=dict(self.meta),
            node_features=self.node_features,
        )

    def window(self, start: int | None = None, end: int | None = None) -> HeteroGraph:
        """Edges with ``start <= ts < end`` (unix seconds; ``None`` is open)."""
        out = {}
        for rel, table in self.edges.items():
            mask = np.ones(len(table), dtype=bool)
            if start is not None:
                mask &= table.ts >= start
            if end is not None:
                mask &= table.ts < end
            out[rel] = table.select(mask)
        return self.with_edges(out)

    # ------------------------------------------------------------ validation
    def validate(self) -> None:
        """Check internal consistency; raise :class:`LsecDataError` naming the relation and field."""
        for node_type, count in self.num_nodes.items():
            if count < 0:
                raise LsecDataError(file=self.name, column=f"num_nodes[{node_type}]", expected=">= 0", found=count)
            ids = self.node_ids.get(node_type)
            if ids is not None and len(ids) != count:
                raise LsecDataError(
                    f"node id list of {node_type!r} has the wrong length",
                    file=self.name,
                    expected=str(count),
                    found=len(ids),
                )
        for rel, table in self.edges.items():
            src_type, name, dst_type = rel
            for node_type in (src_type, dst_type):
                if node_type not in self.num_nodes:
                    raise LsecDataError(
                        f"relation {name!r} refers to node type {node_type!r} that has no node count",
                        file=self.name,
                    )
            n = len(table)
            optional = tuple(c for c in ("weight", "kind") if getattr(table, c) is not None)
            for col in ("dst", "ts") + optional:
                arr = getattr(table, col)
                if arr.shape != (n,):
                    raise LsecDataError(
                        f"relation {name!r}: column lengths differ",
                        file=self.name,
                        column=col,
                        expected=f"shape ({n},)",
                        found=arr.shape,
                    )
            for col, node_type in (("src", src_type), ("dst", dst_type)):
                arr = getattr(table, col)
                if n and (arr.min() < 0 or arr.max() >= self.num_nodes[node_type]):
                    bad = int(np.flatnonzero((arr < 0) | (arr >= self.num_nodes[node_type]))[0])
                    raise LsecDataError(
                        f"relation {name!r}: node index out of range",
                        file=self.name,
                        row=bad + 1,
                        column=col,
                        expected=f"0 <= index < {self.num_nodes[node_type]} ({node_type})",
                        found=int(arr[bad]),
                    )
            if table.weight is not None and n and not np.isfinite(table.weight).all():
                bad = int(np.flatnonzero(~np.isfinite(table.weight))[0])
                raise LsecDataError(
                    f"relation {name!r}: non-finite weight",
                    file=self.name,
                    row=bad + 1,
                    column="weight",
                    expected="a finite number",
                    found=float(table.weight[bad]),
                )

    # ------------------------------------------------------------- summaries
    def stats(self) -> dict[str, Any]:
        """Node counts, edge counts and densities (as in Tables 1-2 of the LSEC-GNN slides).

        Density of a relation is ``unique (src, dst) pairs / (n_src * n_dst)``.
        """
        nodes = {t: int(self.num_nodes.get(t, 0)) for t in self.num_nodes}
        rels = []
        for (src_type, name, dst_type), table in self.edges.items():
            n_src, n_dst = self.num_nodes[src_type], self.num_nodes[dst_type]
            if len(table):
                key = table.src.astype(np.int64) * max(n_dst, 1) + table.dst
                unique_pairs = int(np.unique(key).shape[0])
            else:
                unique_pairs = 0
            cells = n_src * n_dst
            rels.append(
                {
                    "relation": name,
                    "src_type": src_type,
                    "dst_type": dst_type,
                    "edges": len(table),
                    "unique_pairs": unique_pairs,
                    "density": unique_pairs / cells if cells else 0.0,
                    "ts_min": int(table.ts.min()) if len(table) else None,
                    "ts_max": int(table.ts.max()) if len(table) else None,
                }
            )
        return {"name": self.name, "nodes": nodes, "relations": rels}

    def __repr__(self) -> str:
        nodes = ", ".join(f"{t}={n}" for t, n in self.num_nodes.items())
        rels = ", ".join(f"{r[1]}={len(t)}" for r, t in self.edges.items())
        return f"HeteroGraph(name={self.name!r}, nodes=[{nodes}], edges=[{rels}])"


def ordered_node_types(num_nodes: Mapping[str, int]) -> list[str]:
    """Known node types first in vocabulary order, then any others alphabetically."""
    known = [t for t in NODE_TYPES if t in num_nodes]
    return known + sorted(t for t in num_nodes if t not in NODE_TYPES)
