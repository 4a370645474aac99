"""Cold start without retraining: fold a new user's history into the model's user embeddings.

A user the model has never seen has no embedding row, but the tripartite graph still says who they are:
the items they bought and the streamers they follow. Each user-side representation ``E_u^r`` of a
relation ``r`` (``"buy.user"``, ``"follow.user"``) is rebuilt from the neighbours' representations in
the same graph (``"buy.item"``, ``"follow.streamer"``), in two steps:

1. the degree-normalised aggregate a graph convolution computes over the user's neighbours ``N(u)``::

       x_u = sum_{j in N(u)} E_j^r / sqrt(d_j * |N(u)|)           (d_j: j's training degree, at least 1)

2. an affine map ``E_u^r ~ [x_u, 1] @ M_r`` fitted at export time by ridge least squares over every
   training user with at least one neighbour in ``r`` (so it absorbs the model's layer weights,
   nonlinearities and layer combination as well as a linear map can).

A user with no neighbour in ``r`` gets the mean representation of the training users who also have
none (or, if every training user has some, the map's intercept). Keys that are not of the form
``"<relation>.user"`` for a relation from users (e.g. an id-only embedding) get the mean of all users.

The quality of the approximation is tested: a folded-in user who copies an existing user's history
gets recommendations that overlap strongly with that user's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from lsec.data.schema import RELATIONS

RIDGE = 1e-3
"""Ridge strength relative to the mean diagonal of ``X^T X`` (keeps the fit stable with few users)."""


@dataclass(frozen=True)
class FoldIn:
    """How to rebuild one user-side representation (``key``) from a history.

    Attributes:
        key: the user-side encoding key, e.g. ``"buy.user"``.
        relation: the relation whose neighbours define it (``"buy"``), or ``None`` (not foldable).
        neighbour_key: the neighbours' encoding key (``"buy.item"``), or ``None``.
        weight: ``(d_in + 1, d_out)`` affine map (last row: intercept), or ``None``.
        empty: ``(d_out,)`` representation of a user with no neighbour in ``relation``.
    """

    key: str
    relation: str | None
    neighbour_key: str | None
    weight: np.ndarray | None
    empty: np.ndarray


def foldable_relation(key: str) -> str | None:
    """``"buy.user"`` -> ``"buy"``: the relation from users whose neighbours define this key, else ``None``."""
    relation_name, _, node_type = key.partition(".")
    triple = RELATIONS.get(relation_name)
    if node_type != "user" or triple is None or triple[0] != "user":
        return None
    return relation_name


def aggregate(neighbours: np.ndarray, indptr: np.ndarray, indices: np.ndarray, degree: np.ndarray) -> np.ndarray:
    """Degree-normalised neighbour sums of every CSR row.

    Shapes:
        neighbours (n_dst, d), indptr (n_rows + 1,), indices (nnz,), degree (n_dst,) -> (n_rows, d)
    """
    num_rows = indptr.shape[0] - 1
    counts = np.diff(indptr)
    row_of = np.repeat(np.arange(num_rows), counts)  # (nnz,)
    weights = 1.0 / np.sqrt(np.maximum(degree[indices], 1.0) * np.maximum(counts[row_of], 1))  # (nnz,)
    matrix = sp.csr_matrix((weights, indices, indptr), shape=(num_rows, neighbours.shape[0]))
    return np.asarray(matrix @ neighbours.astype(np.float64))


def fit_fold_in(
    key: str,
    user_embeddings: np.ndarray,
    *,
    neighbour_key: str | None = None,
    neighbours: np.ndarray | None = None,
    indptr: np.ndarray | None = None,
    indices: np.ndarray | None = None,
    degree: np.ndarray | None = None,
) -> FoldIn:
    """Fit the fold-in of ``key`` from the training users' representations and their neighbours (CSR)."""
    relation_name = foldable_relation(key)
    users = np.asarray(user_embeddings, dtype=np.float64)  # (U, d_out)
    if relation_name is None or neighbours is None or indptr is None or indices is None or degree is None:
        return FoldIn(key, None, None, None, users.mean(axis=0).astype(np.float32))
    counts = np.diff(indptr)
    active = counts > 0
    x = aggregate(neighbours, indptr, indices, degree)[active]  # (n, d_in)
    y = users[active]  # (n, d_out)
    design = np.hstack([x, np.ones((x.shape[0], 1))])  # (n, d_in + 1)
    gram = design.T @ design
    scale = float(np.mean(np.diag(gram)[:-1])) if x.shape[0] else 1.0
    penalty = np.full(gram.shape[0], RIDGE * max(scale, 1e-12))
    penalty[-1] = 1e-9 * max(scale, 1e-12)  # the intercept is (almost) free
    weight = np.linalg.solve(gram + np.diag(penalty), design.T @ y)  # (d_in + 1, d_out)
    empty = users[~active].mean(axis=0) if (~active).any() else weight[-1]
    return FoldIn(key, relation_name, neighbour_key, weight.astype(np.float32), np.asarray(empty, np.float32))


def fold_in(spec: FoldIn, history: np.ndarray, neighbours: np.ndarray | None, degree: np.ndarray | None) -> np.ndarray:
    """The representation ``spec.key`` of a new user whose neighbours in ``spec.relation`` are ``history``.

    Shapes:
        history (n,) int64 neighbour indices (distinct), neighbours (n_dst, d_in), degree (n_dst,) -> (d_out,)
    """
    if spec.weight is None or neighbours is None or degree is None or len(history) == 0:
        return spec.empty.copy()
    weights = 1.0 / np.sqrt(np.maximum(degree[history], 1.0) * len(history))  # (n,)
    x = (neighbours[history].astype(np.float64) * weights[:, None]).sum(axis=0)  # (d_in,)
    return (np.append(x, 1.0) @ spec.weight.astype(np.float64)).astype(np.float32)
