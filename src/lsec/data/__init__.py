"""Datasets: the canonical format, importers, simulators and splits. All dataset file I/O lives here."""

from lsec.data.graph import EdgeTable, HeteroGraph
from lsec.data.idmap import IdMap
from lsec.data.schema import NODE_TYPES, RELATIONS, Relation
from lsec.data.store import load, load_rejected, read_meta, save

__all__ = [
    "NODE_TYPES",
    "RELATIONS",
    "EdgeTable",
    "HeteroGraph",
    "IdMap",
    "Relation",
    "load",
    "load_rejected",
    "read_meta",
    "save",
]
