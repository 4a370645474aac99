"""DM-GNN (dynamic multi-task GNN): time encoding, TGAT layer with recency decay, temporal encoder, model."""

from lsec.nn.models.dmgnn.encoder import TemporalEncoder, sample_hops
from lsec.nn.models.dmgnn.model import DMGNN
from lsec.nn.models.dmgnn.tgat import TGATLayer
from lsec.nn.models.dmgnn.time_encoding import TimeEncoding

__all__ = ["DMGNN", "TGATLayer", "TemporalEncoder", "TimeEncoding", "sample_hops"]
