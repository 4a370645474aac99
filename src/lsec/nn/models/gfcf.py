"""GF-CF: a closed-form graph-filter recommender (Shen et al., CIKM 2021), no training.

With ``R`` the (num_users, num_items) binary interaction matrix and its degree-normalised version
``R~ = D_u^-1/2 R D_i^-1/2``, a user's scores over the catalogue are::

    s_u = r_u P~  +  alpha * r_u D_i^-1/2 V V^T D_i^1/2

- ``P~ = R~^T R~`` is the normalised item-item co-occurrence (a linear low-pass filter), kept sparse;
- ``V`` holds the top ``k`` right singular vectors of ``R~`` (the *ideal* low-pass filter keeps only the
  ``k`` smoothest graph frequencies), from a truncated SVD.

The SVD is either ``"svds"`` (``scipy.sparse.linalg.svds``, ARPACK, exact) or ``"randomized"`` (a seeded
randomized range finder with power iterations, a few seconds on Gowalla; same quality within noise, see
benchmarks/README.md).

Interface: ``GFCF(alpha, k, solver, seed).fit(train)`` with a CSR matrix of training interactions, then
``score_all(users) -> (B, num_items)`` float32 tensor, the same shape and meaning as
``RecommenderModel.score_all("buy", enc, users)``, so :func:`lsec.evaluate.full_sort.full_sort_metrics` takes
``model.score_all`` directly. It is not a torch module: there is nothing to train and no state_dict;
:meth:`state` / :meth:`from_state` give plain arrays for saving without pickle.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import svds


class GFCF:
    """Closed-form graph filter (linear + ideal low-pass).

    Args:
        alpha: weight of the ideal low-pass filter (the paper: 0.3).
        k: number of singular vectors kept (the paper: 256 on Gowalla).
        solver: ``"randomized"`` or ``"svds"``.
        seed: seed of the randomized solver's and ARPACK's starting vectors.
        power_iterations: power iterations of the randomized solver.
        oversampling: extra columns of the randomized range finder.

    Shapes:
        fit: train (num_users, num_items) CSR
        score_all: users (B,) -> (B, num_items)
    """

    def __init__(
        self,
        alpha: float = 0.3,
        k: int = 256,
        solver: str = "randomized",
        seed: int = 0,
        power_iterations: int = 4,
        oversampling: int = 64,
    ) -> None:
        self.alpha = alpha
        self.k = k
        self.solver = solver
        self.seed = seed
        self.power_iterations = power_iterations
        self.oversampling = oversampling

    # ------------------------------------------------------------------ fit
    def fit(self, train: sp.spmatrix) -> GFCF:
        if self.solver not in ("randomized", "svds"):
            raise ValueError(f"The 'solver' parameter of GFCF must be 'randomized' or 'svds'. Got {self.solver!r}.")
        r = sp.csr_matrix(train, dtype=np.float32)
        r.sum_duplicates()
        r.data[:] = 1.0
        num_users, num_items = r.shape
        if not 0 < self.k < min(num_users, num_items):
            raise ValueError(
                f"The 'k' parameter of GFCF must be between 1 and min(num_users, num_items) - 1 = "
                f"{min(num_users, num_items) - 1}. Got {self.k}."
            )
        user_degree = np.asarray(r.sum(axis=1)).ravel()
        item_degree = np.asarray(r.sum(axis=0)).ravel()
        du = _inverse_sqrt(user_degree)
        di = _inverse_sqrt(item_degree)
        normalised = sp.csr_matrix(sp.diags(du) @ r @ sp.diags(di), dtype=np.float32)  # R~
        self.train_ = r
        self.item_item_ = sp.csr_matrix(normalised.T @ normalised, dtype=np.float32)  # P~, (I, I) sparse
        vectors = self._top_right_singular_vectors(normalised)  # (I, k)
        self.left_ = torch.from_numpy(np.ascontiguousarray(di[:, None] * vectors, dtype=np.float32))  # D^-1/2 V
        root = np.sqrt(item_degree).astype(np.float32)
        self.right_ = torch.from_numpy(np.ascontiguousarray((vectors * root[:, None]).T, dtype=np.float32))
        return self

    def _top_right_singular_vectors(self, matrix: sp.csr_matrix) -> np.ndarray:
        if self.solver == "svds":
            start = np.random.default_rng(self.seed).standard_normal(min(matrix.shape)).astype(np.float32)
            _, _, vt = svds(matrix, k=self.k, v0=start)
            return np.asarray(vt.T, dtype=np.float32)
        return _randomized_right_vectors(matrix, self.k, self.oversampling, self.power_iterations, self.seed)

    # ------------------------------------------------------------------ score
    def score_all(self, users: torch.Tensor | np.ndarray) -> torch.Tensor:
        """(B, num_items) scores of ``users`` against every item (training items are not masked here)."""
        if not hasattr(self, "train_"):
            raise RuntimeError("GFCF.score_all was called before fit.")
        index = np.asarray(users, dtype=np.int64)
        history = self.train_[index]  # (B, I) sparse
        linear = torch.from_numpy((history @ self.item_item_).toarray())  # (B, I)
        query = torch.from_numpy(np.asarray(history @ self.left_.numpy(), dtype=np.float32))  # (B, k)
        return torch.addmm(linear, query, self.right_, alpha=self.alpha)

    # ------------------------------------------------------------------ persistence
    def state(self) -> dict[str, np.ndarray]:
        """Plain arrays (for ``np.savez``; no pickle)."""
        return {
            "train_indptr": self.train_.indptr,
            "train_indices": self.train_.indices,
            "shape": np.array(self.train_.shape),
            "hyper": np.array([self.alpha, self.k, self.seed], dtype=np.float64),
            "left": self.left_.numpy(),
            "right": self.right_.numpy(),
        }


def _inverse_sqrt(degree: np.ndarray) -> np.ndarray:
    out = np.zeros(len(degree), dtype=np.float64)
    np.power(degree, -0.5, out=out, where=degree > 0)
    return out


def _orthonormal(block: np.ndarray) -> np.ndarray:
    """Orthonormal basis of a tall block's columns by Cholesky QR, twice (CholeskyQR2).

    Two matrix products and a tiny Cholesky factorisation: several times cheaper than Householder QR
    on a (40k, 320) block, and accurate for the well-conditioned blocks of the range finder.
    """
    q = np.asarray(block, dtype=np.float32)
    for _ in range(2):
        gram = (q.T @ q).astype(np.float64)
        gram[np.diag_indices_from(gram)] += 1e-10 * max(float(np.trace(gram)), 1e-30)
        upper = np.linalg.cholesky(gram).T  # gram = upper^T upper
        q = np.asarray(q @ np.linalg.inv(upper).astype(np.float32), dtype=np.float32)
    return q


def _randomized_right_vectors(
    matrix: sp.csr_matrix, k: int, oversampling: int, power_iterations: int, seed: int
) -> np.ndarray:
    """Top-``k`` right singular vectors of a sparse matrix by a randomized range finder (Halko et al.).

    Works on the (num_items, width) side: ``Y = (M^T M)^q M^T Omega`` re-orthonormalised after every
    product, then an exact SVD of the small projected matrix.
    """
    rng = np.random.default_rng(seed)
    width = min(k + oversampling, min(matrix.shape))
    transpose = matrix.T.tocsr()
    basis = _orthonormal(transpose @ rng.standard_normal((matrix.shape[0], width)).astype(np.float32))  # (I, w)
    for _ in range(power_iterations):
        basis = _orthonormal(matrix @ basis)  # (U, w)
        basis = _orthonormal(transpose @ basis)  # (I, w)
    projected = np.asarray(matrix @ basis)  # (U, w): M Q, whose right singular vectors rotate Q
    _, _, vt = np.linalg.svd(projected, full_matrices=False)
    return np.asarray(basis @ vt[:k].T, dtype=np.float32)  # (I, k)
