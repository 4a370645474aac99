"""GCN-RS: the GCN recommender baseline, i.e. LSEC-GCN restricted to the buy graph and the buy task.

``[E_U^buy, E_I^buy] = f_GCN^buy([E_U; E_I])`` with ``sigma(Â H W + b)`` layers (200 -> 128 -> 64) and the
scorer ``MLP([E_i^buy || E_u^buy])`` (-> 128 -> 1). Built as ``LSECGNN(relations=("buy",), tasks=("buy",))``
so Table 5 row 1 and GCN-RS are the same model by construction (same parameter names, shapes and init).
"""

from __future__ import annotations

from lsec.nn.models.lsec_gnn import BuyGraphGNN


class GCNRS(BuyGraphGNN):
    """GCN on the buy graph with a concat + MLP scorer (see :class:`~lsec.nn.models.lsec_gnn.BuyGraphGNN`)."""

    aggregator_name = "gcn"
