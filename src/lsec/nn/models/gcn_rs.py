"""GCN-RS: the GCN recommender baseline, i.e. LSEC-GCN restricted to the buy graph and the buy task.

``[E_U^buy, E_I^buy] = f_GCN^buy([E_U; E_I])`` with ``sigma(Â H W + b)`` layers (200 -> 128 -> 64) and the
scorer ``MLP([E_i^buy || E_u^buy])`` (-> 128 -> 1). Built as ``LSECGNN(relations=("buy",), tasks=("buy",))``
so Table 5 row 1 and GCN-RS are the same model by construction (same parameter names, shapes and init).
"""

from __future__ import annotations

from collections.abc import Sequence

from lsec.nn.models.lsec_gnn import LSECGNN


class GCNRS(LSECGNN):
    """GCN on the buy graph with a concat + MLP scorer (see :class:`~lsec.nn.models.lsec_gnn.LSECGNN`).

    Shapes:
        encode -> {"buy.user": (num_users, layer_dims[-1]), "buy.item": (num_items, layer_dims[-1])}
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        *,
        embedding_dim: int = 200,
        layer_dims: Sequence[int] = (128, 64),
        scorer_hidden: Sequence[int] = (128,),
        dropout: float = 0.0,
    ) -> None:
        super().__init__(
            num_users,
            num_items,
            0,
            aggregator="gcn",
            embedding_dim=embedding_dim,
            layer_dims=layer_dims,
            relations=("buy",),
            tasks=("buy",),
            scorer_hidden=scorer_hidden,
            dropout=dropout,
        )
