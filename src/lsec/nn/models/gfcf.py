"""GF-CF: a closed-form graph-filter recommender (Shen et al., CIKM 2021), no training.

With ``R`` the (num_users, num_items) binary interaction matrix and its degree-normalised version
``R~ = D_u^-1/2 R D_i^-1/2``, a user's scores over the catalogue are::

    s_u = r_u R~^T R~  +  alpha * r_u D_i^-1/2 V V^T D_i^1/2

- ``P~ = R~^T R~`` is the normalised item-item co-occurrence (a linear low-pass filter). It is never built
  (42 million stored entries on Gowalla): the first term is computed per user as ``(r_u R~^T) R~``, two
  sparse passes through ``R`` (:func:`linear_filter`; a parallel numba kernel, or scipy without numba);
- ``V`` holds the top ``k`` right singular vectors of ``R~`` (the *ideal* low-pass filter keeps only the
  ``k`` smoothest graph frequencies), from a truncated SVD. The second term is a dense rank-``k`` product
  ``query_u @ right`` with ``query = R D_i^-1/2 V`` (num_users, k) and ``right = V^T D_i^1/2`` (k, num_items).

The SVD is either ``"svds"`` (``scipy.sparse.linalg.svds``, ARPACK, exact) or ``"randomized"`` (a seeded
randomized range finder with power iterations on torch's multi-threaded sparse and dense products, a few
seconds on Gowalla; same quality within noise, see benchmarks/README.md).

Interface: ``GFCF(alpha, k, solver, seed).fit(train)`` with a CSR matrix of training interactions, then
``score_all(users) -> (B, num_items)`` float32 tensor, the same shape and meaning as
``RecommenderModel.score_all("buy", enc, users)``, so :func:`lsec.evaluate.full_sort.full_sort_metrics` takes
``model.score_all`` directly (or :meth:`GFCF.score_block`, which reuses one output buffer). It is not a torch
module: there is nothing to train and no state_dict; :meth:`state` gives plain arrays for saving without pickle.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import svds

from lsec.graph.adjacency import to_torch_csr

KERNELS = ("auto", "numba", "scipy")


class GFCF:
    """Closed-form graph filter (linear + ideal low-pass).

    Args:
        alpha: weight of the ideal low-pass filter (the paper: 0.3).
        k: number of singular vectors kept (the paper: 256 on Gowalla).
        solver: ``"randomized"`` or ``"svds"``.
        seed: seed of the randomized solver's and ARPACK's starting vectors.
        power_iterations: power iterations of the randomized solver.
        oversampling: extra columns of the randomized range finder.
        kernel: linear filter implementation: ``"numba"`` (parallel kernel), ``"scipy"`` (two sparse
            products, one thread) or ``"auto"`` (numba when it can be imported).

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
        kernel: str = "auto",
    ) -> None:
        self.alpha = alpha
        self.k = k
        self.solver = solver
        self.seed = seed
        self.power_iterations = power_iterations
        self.oversampling = oversampling
        self.kernel = kernel

    def __repr__(self) -> str:
        return f"GFCF(alpha={self.alpha}, k={self.k}, solver={self.solver!r})"

    # ------------------------------------------------------------------ fit
    def fit(self, train: sp.spmatrix) -> GFCF:
        if self.solver not in ("randomized", "svds"):
            raise ValueError(f"The 'solver' parameter of GFCF must be 'randomized' or 'svds'. Got {self.solver!r}.")
        if self.kernel not in KERNELS:
            raise ValueError(f"The 'kernel' parameter of GFCF must be one of {KERNELS}. Got {self.kernel!r}.")
        r = sp.csr_matrix(train, dtype=np.float32)
        r.sum_duplicates()
        r.sort_indices()
        r.data[:] = 1.0
        num_users, num_items = r.shape
        if not 0 < self.k < min(num_users, num_items):
            raise ValueError(
                f"The 'k' parameter of GFCF must be between 1 and min(num_users, num_items) - 1 = "
                f"{min(num_users, num_items) - 1}. Got {self.k}."
            )
        normalised = self._set_train(r)
        vectors = torch.from_numpy(self._top_right_singular_vectors(normalised))  # (I, k)
        left = vectors * torch.from_numpy(self.item_weight_)[:, None]  # D_i^-1/2 V, (I, k)
        self.query_ = to_torch_csr(r) @ left  # R D_i^-1/2 V, (U, k)
        root = torch.from_numpy(np.sqrt(self.item_degree_).astype(np.float32))
        self.right_ = (vectors * root[:, None]).T.contiguous()  # V^T D_i^1/2, (k, I)
        return self

    def _set_train(self, r: sp.csr_matrix) -> sp.csr_matrix:
        """Store the binary training matrix and its degree weights; returns R~ = D_u^-1/2 R D_i^-1/2."""
        self.kernel_ = _resolve_kernel(self.kernel)
        user_degree = np.asarray(r.sum(axis=1)).ravel()
        item_degree = np.asarray(r.sum(axis=0)).ravel()
        du = _inverse_sqrt(user_degree)
        di = _inverse_sqrt(item_degree)
        normalised = sp.csr_matrix(sp.diags(du) @ r @ sp.diags(di), dtype=np.float32)  # R~, (U, I)
        self.train_ = r
        self.by_item_ = r.T.tocsr()  # (I, U): the users of each item
        self.user_weight_ = (du * du).astype(np.float32)  # D_u^-1
        self.item_weight_ = di.astype(np.float32)  # D_i^-1/2
        self.item_degree_ = item_degree
        if self.kernel_ == "scipy":
            self.normalised_ = normalised
            self.normalised_t_ = normalised.T.tocsr()
        return normalised

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], **hparams: Any) -> GFCF:
        """A fitted model from the arrays of :meth:`state` (scores equal those of the model that wrote them)."""
        model = cls(**hparams)
        shape = tuple(int(v) for v in state["shape"])
        indices = np.asarray(state["train_indices"])
        r = sp.csr_matrix((np.ones(len(indices), np.float32), indices, np.asarray(state["train_indptr"])), shape=shape)
        model._set_train(r)
        model.query_ = torch.from_numpy(np.ascontiguousarray(state["query"]))
        model.right_ = torch.from_numpy(np.ascontiguousarray(state["right"]))
        return model

    def _top_right_singular_vectors(self, matrix: sp.csr_matrix) -> np.ndarray:
        if self.solver == "svds":
            start = np.random.default_rng(self.seed).standard_normal(min(matrix.shape)).astype(np.float32)
            _, _, vt = svds(matrix, k=self.k, v0=start)
            return np.ascontiguousarray(vt.T, dtype=np.float32)
        return randomized_right_vectors(matrix, self.k, self.oversampling, self.power_iterations, self.seed)

    # ------------------------------------------------------------------ score
    def score_all(self, users: torch.Tensor | np.ndarray) -> torch.Tensor:
        """(B, num_items) scores of ``users`` against every item (training items are not masked here)."""
        self._check_fitted()
        index = np.asarray(users, dtype=np.int64)
        return self._score_into(index, torch.empty(len(index), self.train_.shape[1]))

    def score_block(self, *, reuse_buffer: bool = True) -> Callable[[torch.Tensor], torch.Tensor]:
        """:meth:`score_all` as a full-sort ``ScoreBlock``; with ``reuse_buffer`` every call writes into the
        same (B, num_items) tensor, valid until the next call (what ``full_sort_topk`` needs)."""
        self._check_fitted()
        buffer: list[torch.Tensor] = []

        def score(users: torch.Tensor) -> torch.Tensor:
            index = np.asarray(users, dtype=np.int64)
            if not reuse_buffer:
                return self._score_into(index, torch.empty(len(index), self.train_.shape[1]))
            if not buffer or buffer[0].shape[0] < len(index):
                buffer[:] = [torch.empty(len(index), self.train_.shape[1])]
            return self._score_into(index, buffer[0][: len(index)])

        return score

    def _score_into(self, index: np.ndarray, out: torch.Tensor) -> torch.Tensor:
        if len(index) and (index.min() < 0 or index.max() >= self.train_.shape[0]):
            raise ValueError(
                f"GFCF user indices must be in [0, {self.train_.shape[0]}). Got {index.min()}..{index.max()}."
            )
        self._linear_into(index, out)
        return out.addmm_(self.query_[torch.from_numpy(index)], self.right_, alpha=self.alpha)  # (B, I)

    def _linear_into(self, index: np.ndarray, out: torch.Tensor) -> None:
        """``out = R[index] R~^T R~``, the linear filter term (B, num_items), overwriting ``out``."""
        if self.kernel_ == "numba":
            r, by_item = self.train_, self.by_item_
            _numba_kernels().linear_filter(
                index, r.indptr, r.indices, by_item.indptr, by_item.indices, self.user_weight_,
                self.item_weight_, out.numpy(),
            )  # fmt: skip
        else:
            linear = (self.train_[index] @ self.normalised_t_) @ self.normalised_  # (B, U) then (B, I)
            out.copy_(torch.from_numpy(linear.toarray()))

    def _check_fitted(self) -> None:
        if not hasattr(self, "train_"):
            raise RuntimeError("GFCF.score_all was called before fit.")

    # ------------------------------------------------------------------ persistence
    def state(self) -> dict[str, np.ndarray]:
        """Plain arrays (for ``np.savez``; no pickle)."""
        self._check_fitted()
        return {
            "train_indptr": self.train_.indptr,
            "train_indices": self.train_.indices,
            "shape": np.array(self.train_.shape),
            "hyper": np.array([self.alpha, self.k, self.seed], dtype=np.float64),
            "query": self.query_.numpy(),
            "right": self.right_.numpy(),
        }


# ---------------------------------------------------------------------- helpers
_kernels: Any = None


def _numba_kernels() -> Any:
    """The compiled kernel module (imports numba; cached on disk next to this file or in a temp folder)."""
    global _kernels
    if _kernels is None:
        if not os.environ.get("NUMBA_CACHE_DIR") and not os.access(os.path.dirname(os.path.abspath(__file__)), os.W_OK):
            os.environ["NUMBA_CACHE_DIR"] = os.path.join(tempfile.gettempdir(), f"lsec-numba-cache-{os.getuid()}")
        from lsec.nn.models import _gfcf_kernels

        _kernels = _gfcf_kernels
    return _kernels


def _resolve_kernel(kernel: str) -> str:
    if kernel == "scipy":
        return "scipy"
    try:
        _numba_kernels()
    except ImportError as err:
        if kernel == "numba":
            raise ValueError(f"GFCF kernel='numba' needs numba (pip install numba). Import failed: {err}") from err
        return "scipy"
    return "numba"


def _inverse_sqrt(degree: np.ndarray) -> np.ndarray:
    out = np.zeros(len(degree), dtype=np.float64)
    np.power(degree, -0.5, out=out, where=degree > 0)
    return out


def orthonormal(block: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Q, T)`` with ``block = Q T``, ``Q^T Q = I`` and ``T`` upper triangular, by Cholesky QR twice (CholeskyQR2).

    Two matrix products and a tiny float64 Cholesky factorisation per pass: several times cheaper than
    Householder QR on a (40k, 320) block, and accurate for the well-conditioned blocks of the range finder.

    Shapes:
        block (n, w) float32 -> Q (n, w) float32, T (w, w) float64
    """
    q = block
    total = torch.eye(block.shape[1], dtype=torch.float64)
    for _ in range(2):
        gram = (q.T @ q).double()
        gram.diagonal().add_(1e-10 * max(float(gram.trace()), 1e-30))
        upper = torch.linalg.cholesky(gram).T  # gram = upper^T upper
        q = q @ torch.linalg.inv(upper).float()
        total = upper @ total
    return q, total


def randomized_right_vectors(
    matrix: sp.csr_matrix, k: int, oversampling: int, power_iterations: int, seed: int
) -> np.ndarray:
    """Top-``k`` right singular vectors of a sparse matrix by a randomized range finder (Halko et al.).

    Works on the (num_items, width) side: ``Q = orth((M^T M)^q M^T Omega)`` re-orthonormalised after every
    product (torch sparse CSR and dense products, multi-threaded), then ``M Q = P T`` and the SVD of the
    small ``T = U_T S W^T`` give ``M ~ (P U_T) S (Q W)^T``: the right vectors are ``Q W[:, :k]``.

    Shapes:
        matrix (n, m) -> (m, k) float32
    """
    rng = np.random.default_rng(seed)
    width = min(k + oversampling, min(matrix.shape))
    forward = to_torch_csr(matrix)  # (n, m)
    backward = to_torch_csr(matrix.T.tocsr())  # (m, n)
    omega = torch.from_numpy(rng.standard_normal((matrix.shape[0], width)).astype(np.float32))  # (n, w)
    basis, _ = orthonormal(backward @ omega)  # (m, w)
    for _ in range(power_iterations):
        basis, _ = orthonormal(forward @ basis)  # (n, w)
        basis, _ = orthonormal(backward @ basis)  # (m, w)
    _, upper = orthonormal(forward @ basis)  # M Q = P T
    _, _, wt = torch.linalg.svd(upper)  # (w, w) float64
    return (basis @ wt[:k].T.float()).numpy()  # (m, k)
