"""GAT-RS: the graph-attention baseline, i.e. LSEC-GAT restricted to the buy graph and the buy task.

``[E_U^buy, E_I^buy] = f_GAT^buy([E_U; E_I])`` with attention layers (self loops added; 200 -> 128 -> 64) and the
scorer ``MLP([E_i^buy || E_u^buy])`` (-> 128 -> 1). Built as ``LSECGNN(relations=("buy",), tasks=("buy",))``
so GAT-RS and LSEC-GAT on the buy graph alone are the same model by construction (same parameter names,
shapes and init).
"""

from __future__ import annotations

from lsec.nn.models.lsec_gnn import BuyGraphGNN


class GATRS(BuyGraphGNN):
    """Graph attention on the buy graph with a concat + MLP scorer (see :class:`~lsec.nn.models.lsec_gnn.BuyGraphGNN`)."""

    aggregator_name = "gat"
