"""Segment content of a gifting dataset: the frames of a live segment and of the ones before it in its room.

A dataset written by ``lsec data simulate --preset mmbee`` (or an importer of real gifting logs) holds
``events/segments`` (segment, streamer, room, ts: the second the 30-second slice starts) and per modality
``features/segment__<modality>.npy`` of shape (num_segments, F frames, d) float16. MMBee's MFQ reads the
current segment and the ``S - 1`` before it in the same room (offset ``i`` starts ``30 i`` seconds earlier);
a segment the dataset does not hold (not written, or before the room started) is missing and masked.

:class:`SegmentContent` holds those arrays (memory-mapped when read from a dataset) and answers both
questions in bulk: :meth:`SegmentContent.sequences` (which rows) and :meth:`SegmentContent.gather` (their
frames and masks). The serving artifact writes the same arrays and opens them with the same class.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lsec.data.events import list_features, read_events, read_feature
from lsec.errors import LsecDataError

SEGMENT_SECONDS = 30
MODALITIES = ("visual", "speech", "comment")
_SPAN = np.int64(1) << np.int64(40)  # seconds of ts range one room key may span


@dataclass(frozen=True)
class SegmentContent:
    """Segments (row i = segment i) and their frames per modality.

    Attributes:
        streamers, rooms, ts: (N,) int64 per segment.
        features: {modality: (N, F, d)} float16 / float32 (F and d may differ between modalities).
    """

    streamers: np.ndarray
    rooms: np.ndarray
    ts: np.ndarray
    features: Mapping[str, np.ndarray]

    def __post_init__(self) -> None:
        n = self.streamers.shape[0]
        for name, array in (("rooms", self.rooms), ("ts", self.ts), *self.features.items()):
            if array.shape[0] != n:
                raise LsecDataError(
                    f"segment content: {name} must have one row per segment", expected=f"{n} rows", found=array.shape
                )
        keys = self.rooms.astype(np.int64) * _SPAN + (self.ts.astype(np.int64) - int(self.ts.min(initial=0)))
        order = np.argsort(keys, kind="stable")
        object.__setattr__(self, "_keys", keys[order])
        object.__setattr__(self, "_order", order)

    @classmethod
    def from_dataset(cls, root: str | os.PathLike[str], modalities: Sequence[str] = MODALITIES) -> SegmentContent:
        """``events/segments`` and ``features/segment__<m>.npy`` of a dataset folder (features memory-mapped)."""
        table = read_events(root, "segments")
        n = int(table["segment"].shape[0])
        if not np.array_equal(table["segment"], np.arange(n)):
            raise LsecDataError(
                "events/segments must list segments 0..N-1 in order", file=root, column="segment", found="other ids"
            )
        have = [name.split("__", 1)[1] for name in list_features(root) if name.startswith("segment__")]
        missing = [m for m in modalities if m not in have]
        if missing or not modalities:
            raise LsecDataError(
                "segment features missing for MFQ",
                file=root,
                expected=f"features/segment__<m>.npy for {list(modalities)}",
                found=f"modalities {have}",
            )
        features = {m: read_feature(root, "segment", m, rows=n) for m in modalities}
        for m, array in features.items():
            if array.ndim != 3:
                raise LsecDataError(
                    f"segment features of {m!r} must be (segments, frames, dim)", file=root, found=array.shape
                )
        return cls(
            streamers=table["streamer"].astype(np.int64),
            rooms=table["room"].astype(np.int64),
            ts=table["ts"].astype(np.int64),
            features=features,
        )

    @property
    def num_segments(self) -> int:
        return int(self.streamers.shape[0])

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.features)

    def input_dims(self) -> dict[str, int]:
        """Feature width per modality (what MFQ's input layers take)."""
        return {m: int(a.shape[2]) for m, a in self.features.items()}

    def sequences(self, segments: np.ndarray, num_segments: int) -> np.ndarray:
        """Rows of each segment and of the ``num_segments - 1`` before it in its room; -1 where missing.

        Shapes: segments (B,) int -> (B, S) int64, column 0 the segment itself.
        """
        segments = np.asarray(segments, np.int64)
        keys: np.ndarray = self._keys  # type: ignore[attr-defined]
        order: np.ndarray = self._order  # type: ignore[attr-defined]
        offsets = np.arange(num_segments, dtype=np.int64) * SEGMENT_SECONDS  # (S,)
        wanted = (
            self.rooms[segments, None] * _SPAN + (self.ts[segments, None] - int(self.ts.min(initial=0))) - offsets
        )  # (B, S)
        at = np.clip(np.searchsorted(keys, wanted), 0, max(len(keys) - 1, 0))
        found = keys[at] == wanted if len(keys) else np.zeros(wanted.shape, bool)
        return np.where(found, order[at], -1)

    def gather(
        self, rows: np.ndarray, modalities: Sequence[str] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Frames of segment ``rows`` (-1 = missing: zeros, masked) per modality, as float32.

        Shapes: rows (B, S) -> features {m: (B, S, F, d) float32}, valid {m: (B, S, F) bool}
        """
        rows = np.asarray(rows, np.int64)
        present = rows >= 0
        safe = np.where(present, rows, 0)
        features, valid = {}, {}
        for m in modalities or self.modalities:
            table = self.features[m]
            frames = np.asarray(table[safe.reshape(-1)], dtype=np.float32).reshape(*rows.shape, *table.shape[1:])
            frames[~present] = 0.0
            features[m] = frames
            valid[m] = np.repeat(present[..., None], table.shape[1], axis=-1)
        return features, valid
