"""Pure graph algorithms on arrays: no file I/O."""

from lsec.graph.adjacency import BipartiteAdjacency, bipartite_adjacency, propagate

__all__ = ["BipartiteAdjacency", "bipartite_adjacency", "propagate"]
