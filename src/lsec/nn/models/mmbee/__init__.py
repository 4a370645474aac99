"""MMBee (gift-through-rate prediction): GIE graph pre-training, and next MFQ, SIM, MMoE and the GTR model."""

from lsec.nn.models.mmbee.gie import GraphCL

__all__ = ["GraphCL"]
