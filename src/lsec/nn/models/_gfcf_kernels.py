"""The numba kernel of :mod:`lsec.nn.models.gfcf` (imports numba at module level: import this lazily).

A module-level function so that ``cache=True`` can store the compiled code next to this file (or under
``NUMBA_CACHE_DIR``). See :func:`lsec.nn.models.gfcf.linear_filter` for what it computes.
"""

# mypy: ignore-errors
# ruff: noqa: ANN001, ANN201

from __future__ import annotations

import numba
import numpy as np
from numba import prange
from numba import uint64 as U64

_FAST = {"reassoc", "contract", "nsz", "arcp"}  # reassociate sums; keep inf/nan semantics

CHUNK = 16
"""Users per parallel task: each task allocates one (num_users,) scratch accumulator, ~16 tasks per thread."""


@numba.njit(cache=True, fastmath=_FAST, nogil=True, parallel=True)
def linear_filter(users, user_ptr, user_items, item_ptr, item_users, user_weight, item_weight, out):
    """``out[b] = r_u R~^T R~`` for ``u = users[b]``, in two sparse passes per user (no item-item matrix).

    With ``R~_vi = du_v di_i`` on the stored entries of ``R``: ``c_v = du_v^2 sum_{i in u and v} di_i`` over
    the co-users ``v`` of ``u`` (pass 1, a dense accumulator reset through the list of touched entries),
    then ``out_j = di_j sum_v c_v [j in v]`` (pass 2, scatter-adds into the output row).
    ``user_weight = du^2``, ``item_weight = di``. Indices are cast to unsigned in the loops: numba then
    skips its negative-index wrap-around test, 40% of the time of the scatter loop.
    """
    num_users = user_weight.shape[0]
    batch = users.shape[0]
    num_tasks = (batch + CHUNK - 1) // CHUNK
    for task in prange(num_tasks):
        co = np.zeros(num_users, dtype=np.float32)  # pass-1 accumulator, all zero between users
        touched = np.empty(num_users, dtype=np.uint32)
        for b in range(task * CHUNK, min(batch, (task + 1) * CHUNK)):
            u = users[b]
            row = out[b]
            row[:] = 0.0
            count = U64(0)
            for p in range(U64(user_ptr[u]), U64(user_ptr[u + 1])):
                i = U64(user_items[p])
                weight = item_weight[i]  # > 0: the item has at least this user
                for q in range(U64(item_ptr[i]), U64(item_ptr[i + U64(1)])):
                    v = U64(item_users[q])
                    if co[v] == 0.0:
                        touched[count] = v
                        count += U64(1)
                    co[v] += weight
            for t in range(count):
                v = U64(touched[t])
                weight = co[v] * user_weight[v]
                co[v] = 0.0
                for p in range(U64(user_ptr[v]), U64(user_ptr[v + U64(1)])):
                    row[U64(user_items[p])] += weight
            for j in range(row.shape[0]):
                row[j] *= item_weight[j]
