"""Seeded uniform negative sampling that never returns a known positive.

Known positives are stored in :class:`KnownPairs`: a bitmap of the ``num_users x num_targets`` grid when it
fits in :data:`BITMAP_LIMIT_BYTES` (one gather per lookup; 153 MB for Gowalla), otherwise sorted ``int64``
keys ``user * num_targets + target`` searched with one vectorised ``searchsorted``. Candidate negatives are
drawn uniformly and rejected draws are redrawn (only those) until none is left, so the result is exactly
"uniform over the targets the user has no known interaction with".
"""

from __future__ import annotations

import numpy as np

BITMAP_LIMIT_BYTES = 512 * 2**20  # larger grids fall back to sorted keys (memory over speed)


class KnownPairs:
    """Set membership of ``(user, target)`` pairs, vectorised.

    Args:
        users, targets: (E,) the known pairs (duplicates allowed).
        num_users, num_targets: node counts of the two sides.
        bitmap_limit_bytes: largest bitmap to build; a bigger grid uses sorted keys instead.

    Shapes:
        contains(users (n,), targets (n,)) -> (n,) bool
    """

    def __init__(
        self,
        users: np.ndarray,
        targets: np.ndarray,
        num_users: int,
        num_targets: int,
        *,
        bitmap_limit_bytes: int = BITMAP_LIMIT_BYTES,
    ) -> None:
        self.num_targets = int(num_targets)
        self.keys = np.unique(pair_keys(users, targets, num_targets))  # sorted, unique
        cells = self.cells = int(num_users) * self.num_targets
        self.bitmap: np.ndarray | None = None
        if (cells + 7) // 8 <= bitmap_limit_bytes:
            self.bitmap = np.zeros((cells + 7) // 8, dtype=np.uint8)
            np.bitwise_or.at(self.bitmap, self.keys >> 3, (1 << (self.keys & 7)).astype(np.uint8))

    def contains(self, users: np.ndarray, targets: np.ndarray) -> np.ndarray:
        keys = pair_keys(users, targets, self.num_targets)
        if self.bitmap is None:
            return contains(self.keys, keys)
        inside = (keys >= 0) & (keys < self.cells)  # pairs outside the grid are unknown
        keys = np.where(inside, keys, 0)
        return inside & ((self.bitmap[keys >> 3] >> (keys & 7).astype(np.uint8)) & 1 == 1)


class NegativeSampler:
    """K uniform negatives per positive for one task (buy: items, follow: streamers).

    Args:
        users, targets: (E,) known positive pairs (duplicates allowed).
        num_users, num_targets: node counts of the two sides.

    Shapes:
        sample(users (n,), k) -> (n, k) int64 targets
    """

    def __init__(self, users: np.ndarray, targets: np.ndarray, num_users: int, num_targets: int) -> None:
        if num_targets < 1:
            raise ValueError("The 'num_targets' parameter of NegativeSampler must be positive. Got 0 instead.")
        self.num_users = int(num_users)
        self.num_targets = int(num_targets)
        self.known = KnownPairs(users, targets, num_users, num_targets)
        self.degree = np.bincount(self.known.keys // num_targets, minlength=num_users).astype(np.int64)  # distinct

    def is_known(self, users: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """(n,) bool: whether each (user, target) pair is a known positive."""
        return self.known.contains(users, targets)

    def sample(self, users: np.ndarray, k: int, rng: np.random.Generator, *, max_rounds: int = 1000) -> np.ndarray:
        """Draw ``k`` negatives for each user in ``users`` (uniform, with replacement across the k)."""
        users = np.asarray(users, np.int64)
        full = self.degree[users] >= self.num_targets
        if full.any():
            user = int(users[np.flatnonzero(full)[0]])
            raise ValueError(f"User {user} interacted with every one of the {self.num_targets} targets: no negative.")
        flat_users = np.repeat(users, k)  # (n*k,)
        out = rng.integers(0, self.num_targets, size=flat_users.shape[0], dtype=np.int64)
        todo = np.flatnonzero(self.is_known(flat_users, out))
        for _ in range(max_rounds):
            if todo.size == 0:
                break
            out[todo] = rng.integers(0, self.num_targets, size=todo.size, dtype=np.int64)
            todo = todo[self.is_known(flat_users[todo], out[todo])]
        else:  # pragma: no cover - needs users owning almost the whole catalogue
            raise RuntimeError(f"Negative sampling did not converge after {max_rounds} rounds.")
        return out.reshape(users.shape[0], k)


def pair_keys(users: np.ndarray, targets: np.ndarray, num_targets: int) -> np.ndarray:
    """``user * num_targets + target`` as int64 (unique per pair)."""
    return np.asarray(users, np.int64) * np.int64(num_targets) + np.asarray(targets, np.int64)


def contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Vectorised membership of ``keys`` in the sorted array ``sorted_keys``."""
    if sorted_keys.size == 0:
        return np.zeros(keys.shape, dtype=bool)
    pos = np.searchsorted(sorted_keys, keys)
    pos[pos == sorted_keys.size] = 0
    return sorted_keys[pos] == keys
