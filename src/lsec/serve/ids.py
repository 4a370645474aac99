"""External id -> internal index over an artifact's id array, with no Python object per id.

A ``{id: index}`` dict of lsec-large's 320k ids takes ~53 MiB of small Python objects; the workers of ``lsec
serve --workers N`` inherit it copy-on-write, but every lookup increments the reference count of the index it
returns and so copies the page that holds it into the worker, and a hot swap builds a new dict in every worker.
:class:`IdIndex` keeps only the order that sorts the (memory-mapped) id array, 8 bytes per id, and finds an id
by binary search through that order::

    index = IdIndex(np.array(["u7", "u1", "u3"]))
    index.get("u3")                  # 2
    index.lookup(["u1", "zz"])       # array([ 1, -1])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class IdIndex:
    """Position of each external id in ``ids`` (the first position when an id repeats).

    Args:
        ids: the external ids in internal-index order (fixed-width unicode, as :mod:`lsec.serve.artifact` stores
            them; other dtypes are converted with ``str``). Not copied: a memory-mapped array stays mapped.

    Shapes:
        ids (N,) -> order (N,) int64
    """

    def __init__(self, ids: np.ndarray) -> None:
        self.ids = ids if ids.dtype.kind == "U" else np.asarray([str(x) for x in ids.tolist()])
        self.order = np.argsort(self.ids, kind="stable")  # (N,)

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def lookup(self, keys: Sequence[object]) -> np.ndarray:
        """Internal index of every key, ``-1`` for an unknown one.  (K,) int64."""
        found = np.full(len(keys), -1, dtype=np.int64)
        if len(self) == 0 or len(keys) == 0:
            return found
        text = [str(k) for k in keys]
        wanted = np.asarray(text, dtype=str)
        position = np.searchsorted(self.ids, wanted, sorter=self.order)
        candidate = self.order[np.minimum(position, len(self) - 1)]
        # numpy drops trailing NULs of a string: a key with a NUL would match the id without it, so it never does.
        hit = (self.ids[candidate] == wanted) & np.asarray(["\x00" not in t for t in text])
        found[hit] = candidate[hit]
        return found

    def get(self, key: object, default: int | None = None) -> int | None:
        index = int(self.lookup([key])[0])
        return default if index < 0 else index

    def __contains__(self, key: object) -> bool:
        return self.get(key) is not None

    def __getitem__(self, key: object) -> int:
        index = self.get(key)
        if index is None:
            raise KeyError(key)
        return index
