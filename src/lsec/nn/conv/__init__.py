"""Bipartite propagation layers (GCN, LightGCN, GAT)."""
