"""Bipartite propagation layers (GCN, LightGCN, GAT)."""

from lsec.nn.conv.gat import GATConv
from lsec.nn.conv.gcn import GCNConv
from lsec.nn.conv.lightgcn import LightGCNConv

__all__ = ["GATConv", "GCNConv", "LightGCNConv"]
