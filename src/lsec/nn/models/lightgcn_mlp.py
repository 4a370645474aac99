"""LightGCN with the concat + MLP scorer: the paper's LightGCN baseline (buy graph only, buy task).

``[E_U^buy, E_I^buy] = mean_{k=0..K} Â^k [E_U; E_I]`` (no weights, no nonlinearity, Â without self loops),
then ``MLP([E_i^buy || E_u^buy])`` (-> 128 -> 1) in place of LightGCN's inner product, as the paper does for a
fair comparison. It is ``LSECGNN(aggregator="lightgcn", relations=("buy",), tasks=("buy",))``. The usual
dot-product LightGCN is :class:`lsec.nn.models.lightgcn.LightGCN` (registry name ``lightgcn-dot``).
"""

from __future__ import annotations

from lsec.nn.models.lsec_gnn import LSECGNN


class LightGCNMLP(LSECGNN):
    """LightGCN propagation on the buy graph with a concat + MLP scorer.

    Args:
        num_users, num_items: node counts.
        embedding_dim: embedding width, kept by the propagation (slides: 200).
        num_layers: propagation steps ``K`` (slides' 2-layer GNN setting).
        scorer_hidden: hidden widths of the MLP scorer.
        dropout: dropout on the propagation input and in the scorer (training only).
        lightgcn_combine: ``"mean"`` of the layers (the LightGCN paper) or ``"last"`` (the LSEC authors' code).
        scorer, popularity_prior, dot_hops: as :class:`~lsec.nn.models.lsec_gnn.LSECGNN` (``"dot"`` here is LightGCN's own
            inner product with a learned scale and bias).

    Shapes:
        encode -> {"buy.user": (num_users, embedding_dim), "buy.item": (num_items, embedding_dim)}
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        *,
        embedding_dim: int = 200,
        num_layers: int = 2,
        scorer_hidden: tuple[int, ...] = (128,),
        dropout: float = 0.0,
        lightgcn_combine: str = "mean",
        scorer: str = "mlp",
        popularity_prior: bool = False,
        dot_hops: bool = False,
    ) -> None:
        if num_layers < 0:
            raise ValueError(f"The 'num_layers' parameter of LightGCNMLP must be >= 0. Got {num_layers} instead.")
        super().__init__(
            num_users,
            num_items,
            0,
            aggregator="lightgcn",
            embedding_dim=embedding_dim,
            layer_dims=(embedding_dim,) * num_layers,
            relations=("buy",),
            tasks=("buy",),
            scorer_hidden=scorer_hidden,
            dropout=dropout,
            lightgcn_combine=lightgcn_combine,
            scorer=scorer,
            popularity_prior=popularity_prior,
            dot_hops=dot_hops,
        )
