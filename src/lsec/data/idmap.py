"""External id <-> internal index maps, one per node type."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from lsec.errors import LsecDataError


class IdMap:
    """Maps external string ids to dense internal indices ``0..n-1`` in first-seen order.

    ``fit`` starts afresh, ``fit_partial`` appends unseen ids, ``transform`` maps known ids and raises
    (or returns -1 with ``unknown="mark"``) for the others.
    """

    def __init__(self, node_type: str = "node") -> None:
        self.node_type = node_type
        self._index: dict[str, int] = {}
        self._ids: list[str] = []

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, external_id: object) -> bool:
        return str(external_id) in self._index

    @classmethod
    def from_ids(cls, ids: Iterable[object], node_type: str = "node") -> IdMap:
        return cls(node_type).fit(ids)

    def fit(self, ids: Iterable[object]) -> IdMap:
        self._index.clear()
        self._ids.clear()
        return self.fit_partial(ids)

    def fit_partial(self, ids: Iterable[object]) -> IdMap:
        index = self._index
        for raw in ids:
            key = str(raw)
            if key not in index:
                index[key] = len(self._ids)
                self._ids.append(key)
        return self

    def transform(self, ids: Iterable[object], *, unknown: str = "raise") -> np.ndarray:
        """Internal indices (int64) of ``ids``; ``unknown`` is ``"raise"`` or ``"mark"`` (gives -1)."""
        if unknown not in ("raise", "mark"):
            raise ValueError(f"The 'unknown' parameter of IdMap.transform must be 'raise' or 'mark'. Got {unknown!r}.")
        out = []
        for position, raw in enumerate(ids):
            key = str(raw)
            idx = self._index.get(key, -1)
            if idx < 0 and unknown == "raise":
                raise LsecDataError(
                    f"unknown {self.node_type} id",
                    row=position + 1,
                    column=self.node_type,
                    expected=f"one of the {len(self)} known {self.node_type} ids",
                    found=key,
                )
            out.append(idx)
        return np.asarray(out, dtype=np.int64)

    def inverse(self, indices: Iterable[int]) -> list[str]:
        n = len(self._ids)
        result = []
        for idx in indices:
            i = int(idx)
            if not 0 <= i < n:
                raise IndexError(f"{self.node_type} index {i} out of range 0..{n - 1}")
            result.append(self._ids[i])
        return result

    @property
    def ids(self) -> np.ndarray:
        return np.asarray(self._ids, dtype=object)

    def __repr__(self) -> str:
        return f"IdMap(node_type={self.node_type!r}, size={len(self)})"
