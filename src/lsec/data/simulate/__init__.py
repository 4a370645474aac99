"""Generators calibrated to published statistics (the LSEC tripartite graph) and null controls."""

from lsec.data.simulate.lsec import PRESETS, LsecPreset, simulate_lsec
from lsec.data.simulate.permute import permute_relation

__all__ = ["PRESETS", "LsecPreset", "permute_relation", "simulate_lsec"]
