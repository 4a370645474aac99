"""MMBee (gift-through-rate prediction): GIE graph pre-training, and next MFQ, SIM, MMoE and the GTR model."""

from lsec.nn.models.mmbee.gie import GraphCL
from lsec.nn.models.mmbee.gtr import GieExpansion, GtrModel
from lsec.nn.models.mmbee.mmoe import MMoE
from lsec.nn.models.mmbee.sim import SIM, TargetAttention

__all__ = ["SIM", "GieExpansion", "GraphCL", "GtrModel", "MMoE", "TargetAttention"]
