"""Generators calibrated to published statistics (the LSEC tripartite graph, MMBee / KuaiLive gifting, the
DM-GNN social-commerce graph) and null controls."""

from lsec.data.simulate.gifting import GiftingDataset, GiftingPreset, simulate_gifting
from lsec.data.simulate.lsec import PRESETS, LsecPreset, simulate_lsec
from lsec.data.simulate.permute import permute_relation
from lsec.data.simulate.social import SocialDataset, SocialPreset, simulate_social

__all__ = [
    "PRESETS",
    "GiftingDataset",
    "GiftingPreset",
    "LsecPreset",
    "SocialDataset",
    "SocialPreset",
    "permute_relation",
    "simulate_gifting",
    "simulate_lsec",
    "simulate_social",
]
