"""Generators calibrated to published statistics (the LSEC tripartite graph, MMBee / KuaiLive gifting) and
null controls."""

from lsec.data.simulate.gifting import GiftingDataset, GiftingPreset, simulate_gifting
from lsec.data.simulate.lsec import PRESETS, LsecPreset, simulate_lsec
from lsec.data.simulate.permute import permute_relation

__all__ = [
    "PRESETS",
    "GiftingDataset",
    "GiftingPreset",
    "LsecPreset",
    "permute_relation",
    "simulate_gifting",
    "simulate_lsec",
]
