"""What a serving process answers from now, and the atomic swap to a new artifact (DESIGN section 8).

A :class:`Live` holds one :class:`Served` (recommender, gift ranker with its expansion store, micro-batcher)
and replaces it as ONE reference assignment: a request reads ``live.current`` once and is answered entirely
by the artifact it saw, so no request sees half of each. The new artifact is loaded (memory-mapped) and
warmed before the swap; the old batcher is closed after a grace period, when no request can still use it.

Versioning a deployment: export each model to its own folder and point a symlink at the one to serve::

    lsec export runs/new --out artifacts/v2
    ln -sfn v2 artifacts/current.tmp && mv -T artifacts/current.tmp artifacts/current    # atomic rename
    curl -X POST http://127.0.0.1:8000/admin/reload        # this worker swaps now; --watch workers within N s

:meth:`Live.reload` swaps when the folder a path resolves to changed (another symlink target, or a folder
re-exported in place: another inode of its manifest); ``lsec serve --watch SECONDS`` checks that in every
worker, so all replicas follow the symlink without a request reaching each of them.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsec.errors import LsecError
from lsec.serve.batching import MicroBatcher
from lsec.serve.gifts import GiftRanker
from lsec.serve.recommender import Recommender

GRACE_SECONDS = 30.0
"""How long a swapped-out batcher keeps running for requests that picked it up before the swap."""


@dataclass(frozen=True)
class Served:
    """One consistent set of what is served; never modified, only replaced."""

    recommender: Recommender | None
    gifts: GiftRanker | None
    batcher: MicroBatcher | None
    generation: int = 0
    sources: dict[str, str] = field(default_factory=dict)  # "artifact" / "gifts" -> folder it was loaded from


class Live:
    """The current :class:`Served` of a process and its reload (see the module doc).

    Args:
        recommender, gifts: what is served at start.
        batching: score concurrent requests together (:class:`MicroBatcher`).
        artifact_path, gift_path: where they came from (a folder or a symlink to one); ``None`` = no reload.
    """

    def __init__(
        self,
        recommender: Recommender | None,
        gifts: GiftRanker | None,
        *,
        batching: bool = True,
        artifact_path: str | os.PathLike[str] | None = None,
        gift_path: str | os.PathLike[str] | None = None,
        device: str = "cpu",
        start: bool = True,
    ) -> None:
        """``device``: where a swapped-in artifact scores (as the first one: ``lsec serve --device``).
        ``start=False``: no thread yet (no micro-batcher): a process that builds the app and then forks workers
        calls :meth:`start` in each worker."""
        if recommender is None and gifts is None:
            raise LsecError("nothing to serve (give a recommender, a gift ranker or both).")
        self.batching = batching
        self.device = device
        self.paths = {name: Path(p) for name, p in (("artifact", artifact_path), ("gifts", gift_path)) if p is not None}
        self._lock = threading.Lock()
        self._keys = self._fingerprint()
        sources = {name: key[0] for name, key in self._keys.items()}
        self.current = Served(recommender, gifts, self._batcher(recommender) if start else None, 0, sources)
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        """Start the micro-batcher of what is served now, if batching and not started (a forked worker)."""
        with self._lock:
            if self.current.batcher is None:
                self.current = dataclasses.replace(self.current, batcher=self._batcher(self.current.recommender))

    def _batcher(self, recommender: Recommender | None) -> MicroBatcher | None:
        return MicroBatcher(recommender) if self.batching and recommender is not None else None

    def _fingerprint(self) -> dict[str, tuple[str, int, int]]:
        """(resolved folder, inode and mtime of its manifest) of every reloadable path."""
        from lsec.serve.artifact import MANIFEST
        from lsec.serve.gifts import MANIFEST as GIFT_MANIFEST

        keys = {}
        for name, path in self.paths.items():
            real = os.path.realpath(path)
            try:
                stat = os.stat(Path(real) / (MANIFEST if name == "artifact" else GIFT_MANIFEST))
                keys[name] = (real, stat.st_ino, stat.st_mtime_ns)
            except OSError:
                keys[name] = (real, -1, -1)
        return keys

    def describe(self) -> dict[str, Any]:
        served = self.current
        return {"generation": served.generation, "sources": served.sources, "pid": os.getpid()}

    def reload(self, *, force: bool = False) -> dict[str, Any]:
        """Load what the paths point to now and swap it in when it changed (or ``force``).

        Raises :class:`LsecError` (and keeps serving the current artifact) when the new one cannot be loaded.
        """
        if not self.paths:
            raise LsecError("reload: this server was not started from artifact folders (nothing to reload from).")
        with self._lock:
            keys = self._fingerprint()
            if keys == self._keys and not force:
                return {"swapped": False, **self.describe()}
            old = self.current
            recommender = old.recommender
            gifts = old.gifts
            if "artifact" in keys:
                recommender = Recommender.load(keys["artifact"][0], mmap=True, device=self.device)
            if "gifts" in keys:
                gifts = GiftRanker.load(keys["gifts"][0], device=self.device)
            sources = {name: key[0] for name, key in keys.items()}
            self.current = Served(recommender, gifts, self._batcher(recommender), old.generation + 1, sources)
            self._keys = keys
        if old.batcher is not None:  # requests that read the old Served may still submit to it for a moment
            timer = threading.Timer(GRACE_SECONDS, old.batcher.close)
            timer.daemon = True
            timer.start()
        return {"swapped": True, **self.describe()}

    def watch(self, interval: float) -> None:
        """Check the paths every ``interval`` seconds in a daemon thread and swap when they changed."""
        if interval <= 0 or not self.paths or self._watcher is not None:
            return

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.reload()
                except LsecError:
                    continue  # a half-written folder or a bad artifact: keep serving, try again later

        self._watcher = threading.Thread(target=loop, name="lsec-artifact-watch", daemon=True)
        self._watcher.start()

    def close(self) -> None:
        self._stop.set()
        if self.current.batcher is not None:
            self.current.batcher.close()
