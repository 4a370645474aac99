"""Fused query-time kernels (numba): score, exclude seen targets and keep the top-k in ONE pass over the table.

The numpy path of :mod:`lsec.serve.scoring` writes a ``(T,)`` score vector, then excludes and selects. Here
each of ``num_blocks`` row blocks of the contiguous ``(T, h)`` float32 target table is scored by one
thread (``numba.prange``) for all ``B`` queries at once (the block is read from memory once per batch),
targets the user has seen are skipped (a pointer walks the user's sorted CSR row) and every score goes
straight into a per-block, per-query bounded heap of the ``k`` best. The ``num_blocks * k`` survivors per
query are merged by a stable sort. For the MLP scorer, an item's score is::

    head(relu(T_i + p))            (one hidden layer:  b2 + sum_h w2_h * max(T_ih + p_h, 0))

and deeper heads run layer by layer on a small per-thread vector.

Ties are broken by the smaller target index, as :func:`lsec.serve.scoring.top_k`: within a block rows
are visited in increasing order, so a later row enters a full heap only with a strictly larger score.
The arithmetic is float32; the summation order differs from numpy's (LLVM may reassociate the inner
sum), so scores agree up to float32 rounding and the selected ids are exactly those of the numpy path
whenever the scores are tie-free at that precision.

Threads per launch: numba's default (all cores), or ``LSEC_KERNEL_THREADS`` (``lsec serve --workers N`` sets
``cores // N``), or :func:`set_threads`. numba is imported on first use (:func:`available`); compiled code is cached on disk (``NUMBA_CACHE_DIR``
or a per-user folder under the temp dir when the package folder is read-only) and, if even that fails,
compiled in memory. Without numba, :class:`~lsec.serve.recommender.Recommender` uses the numpy path.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from lsec.serve.scoring import MLPRest

NUM_BLOCKS = 16
"""Row blocks per pass (one heap per block and query): a few per thread keeps threads balanced, the merge small."""
_NONE_F = np.zeros(1, dtype=np.float32)
_NONE_I = np.zeros(1, dtype=np.int64)

_lock = threading.Lock()
_kernels: dict[str, Any] | None = None
_failed: str | None = None
_call_lock = threading.Lock()  # one parallel launch at a time (numba's default thread pool is not re-entrant)
_single = False  # one thread per launch: the serial twin of the kernel, no thread pool (set_threads(1))


def available() -> bool:
    """Whether the numba kernels can be used (imports and compiles them on first call)."""
    return _load() is not None


def unavailable_reason() -> str | None:
    """Why :func:`available` is False (``None`` when it is True or was not tried)."""
    return _failed


def set_threads(count: int) -> None:
    """Threads per kernel launch (at most numba's pool size, ``NUMBA_NUM_THREADS``).

    One thread selects the serial twin of the kernel, which starts no thread pool: a process that forks
    workers can compile it first (:func:`warm_up` with ``serial=True``) and every worker shares the code."""
    global _single
    if _load() is None:
        return
    _single = int(count) <= 1
    if _single:
        return
    import numba

    numba.set_num_threads(max(1, min(int(count), int(getattr(numba.config, "NUMBA_NUM_THREADS", 1)))))


def num_threads() -> int:
    if _load() is None:
        return 1
    if _single:
        return 1
    import numba

    return int(numba.get_num_threads())


def _cache_dir() -> None:
    """Point numba's cache to a writable folder when the installed package folder is not writable."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    here = os.path.dirname(os.path.abspath(__file__))
    if os.access(here, os.W_OK):
        return
    os.environ["NUMBA_CACHE_DIR"] = os.path.join(tempfile.gettempdir(), f"lsec-numba-cache-{os.getuid()}")


def _load() -> dict[str, Any] | None:
    global _kernels, _failed
    if _kernels is not None or _failed is not None:
        return _kernels
    with _lock:
        if _kernels is not None or _failed is not None:
            return _kernels
        if os.environ.get("LSEC_KERNEL", "").lower() == "numpy":
            _failed = "LSEC_KERNEL=numpy"
            return None
        try:
            _cache_dir()
            import numba  # noqa: F401
        except Exception as err:  # noqa: BLE001 - any import problem means: use numpy
            _failed = f"numba could not be imported ({type(err).__name__}: {err})"
            return None
        try:
            from lsec.serve import _numba_kernels as nk
        except Exception as err:  # noqa: BLE001
            _failed = f"numba kernels failed to load ({type(err).__name__}: {err})"
            return None
        _kernels = {"topk": nk.topk, "topk_serial": nk.topk_serial, "modes": (nk.DOT, nk.MLP1, nk.MLP_DEEP)}
    threads = os.environ.get("LSEC_KERNEL_THREADS", "")
    if threads.isdigit() and int(threads) > 0:  # e.g. 1 on a busy machine, cores // workers under uvicorn
        set_threads(int(threads))
    return _kernels


def rank(
    kind: str,
    target_part: np.ndarray,
    query_part: np.ndarray,
    rest: MLPRest | None,
    k: int,
    seen: Sequence[np.ndarray | None],
    *,
    num_blocks: int = NUM_BLOCKS,
    serial: bool | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Top-``k`` (target indices int64, scores float32) per query, best first, seen targets left out.

    ``serial``: run the one-thread twin of the kernel (``True``) or the parallel one (``False``); by default
    the one :func:`set_threads` chose.

    Shapes:
        target_part (T, h) float32, query_part (B, h), seen: B sorted index arrays (or None) -> B pairs
    """
    kernels = _load()
    if kernels is None:
        raise RuntimeError(f"numba kernels unavailable: {_failed}")
    table = target_part if target_part.dtype == np.float32 and target_part.flags.c_contiguous else None
    if table is None:
        table = np.ascontiguousarray(target_part, dtype=np.float32)
    query = np.ascontiguousarray(np.atleast_2d(query_part), dtype=np.float32)
    nq = query.shape[0]
    num_blocks = max(1, min(num_blocks, table.shape[0]))
    rows = [np.zeros(0, np.int64) if s is None else _sorted(np.asarray(s, dtype=np.int64)) for s in seen]
    seen_ptr = np.zeros(nq + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=seen_ptr[1:])
    seen_flat = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    out_s = np.empty((nq, num_blocks, k), dtype=np.float32)
    out_i = np.empty((nq, num_blocks, k), dtype=np.int64)
    dot, mlp1, deep = kernels["modes"]
    w, bias = _NONE_F, np.float32(0.0)
    flat_w, flat_b, w_ptr, b_ptr, dims = _NONE_F, _NONE_F, _NONE_I, _NONE_I, _NONE_I
    if kind == "dot":
        mode = dot
    else:
        assert rest is not None
        if len(rest.weights) == 1:
            mode = mlp1
            w = np.array(rest.weights[0][0], dtype=np.float32)  # a writable copy: one compiled signature
            bias = np.float32(rest.biases[0][0])
        else:
            mode = deep
            flat_w, flat_b, w_ptr, b_ptr, dims = _flatten(rest)
    with _call_lock:
        kernels["topk_serial" if (_single if serial is None else serial) else "topk"](
            mode,
            table,
            query,
            w,
            bias,
            flat_w,
            flat_b,
            w_ptr,
            b_ptr,
            dims,
            seen_flat,
            seen_ptr,
            k,
            num_blocks,
            out_s,
            out_i,
        )
    result = []
    for q in range(nq):
        s = out_s[q].reshape(-1)
        i = out_i[q].reshape(-1)
        keep = i >= 0
        s, i = s[keep], i[keep]
        order = np.lexsort((i, -s))[:k]
        result.append((i[order], s[order]))
    return result


def _sorted(rows: np.ndarray) -> np.ndarray:
    return rows if len(rows) < 2 or bool(np.all(rows[1:] >= rows[:-1])) else np.sort(rows)


def _flatten(rest: MLPRest) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Weights (row-major ``(out, in)``, concatenated), biases, each layer's offsets in both, the layer widths."""
    dims = [int(rest.weights[0].shape[1])] + [int(w.shape[0]) for w in rest.weights]
    sizes_w = [int(w.size) for w in rest.weights]
    sizes_b = [int(b.size) for b in rest.biases]
    return (
        np.concatenate([np.ascontiguousarray(w, dtype=np.float32).reshape(-1) for w in rest.weights]),
        np.concatenate([np.asarray(b, dtype=np.float32).reshape(-1) for b in rest.biases]),
        np.concatenate([[0], np.cumsum(sizes_w)[:-1]]).astype(np.int64),
        np.concatenate([[0], np.cumsum(sizes_b)[:-1]]).astype(np.int64),
        np.asarray(dims, dtype=np.int64),
    )


def warm_up(*, serial: bool | None = None) -> bool:
    """Compile (or load from the cache) every kernel on a tiny table so the first request is not slow.

    ``serial``: warm the serial twin (``True``) or the parallel kernel (``False``); by default the one this
    process launches now (:func:`set_threads`). The serial twin starts no thread pool, so it can be warmed
    before ``fork``."""
    if _load() is None:
        return False
    rng = np.random.default_rng(0)
    table = rng.standard_normal((32, 4)).astype(np.float32)
    query = rng.standard_normal((1, 4)).astype(np.float32)
    seen = [np.array([1, 5], np.int64)]
    one = MLPRest((rng.standard_normal((1, 4)).astype(np.float32),), (np.zeros(1, np.float32),))
    deep = MLPRest(
        (rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((1, 3)).astype(np.float32)),
        (np.zeros(3, np.float32), np.zeros(1, np.float32)),
    )
    mapped = table.copy()
    mapped.flags.writeable = False  # a memory-mapped artifact's table is read-only: another compiled signature
    for target in (table, mapped):
        rank("dot", target, query, None, 3, seen, num_blocks=2, serial=serial)
        rank("mlp", target, query, one, 3, seen, num_blocks=2, serial=serial)
        rank("mlp", target, query, deep, 3, seen, num_blocks=2, serial=serial)
    return True
