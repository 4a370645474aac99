"""The DM-GNN tasks as arrays: chronological folds, consumption tiers, consumption features, negatives.

This module fixes the protocol of ``train.engine: temporal`` (:mod:`lsec.train.temporal`); every rule here is
part of the API and tested in ``tests/train/test_temporal.py``.

**Chronological split.** The social events (``user -> user`` edges with ``ts`` and ``kind``) are sorted by time
(stable: ties keep their file order). With ``E`` events the boundaries are ``b_valid = ts[floor(0.70 E)]`` and
``b_test = ts[floor(0.85 E)]``: an event with ``ts < b_valid`` is training, ``b_valid <= ts < b_test``
validation, the rest test. Events sharing a timestamp are never split across folds (a tie at a boundary goes
to the later fold), so the shares are 70 / 15 / 15 % up to ties.

**Temporal context.** Every query ``(user, t)`` (an event's endpoints at the event's time, a tier query, a
prediction) reads the user's events STRICTLY before ``t`` from a time-sorted CSR of all events
(:mod:`lsec.graph.temporal`): the event being predicted and every event at or after it, including later
events of the same batch, are never context; earlier events are (they happened). A validation or test query
thus sees the training events and the earlier events of its own fold, as a deployed model would. Training
queries are before ``b_valid``, so they never see a validation or test event.

**Tiers.** The tier of user ``u`` at time ``t`` is a bin of ``u``'s paid amount in the NEXT window
``[t, t + W)`` (``W = tier_window_days`` days, default 7; the consumption events of kind ``pay``):

- tier 0: nothing paid in the window;
- tiers ``1 .. K-1`` (``K = num_tiers``): equal-frequency bins of the positive amounts, with edges the
  ``j / (K - 1)`` quantiles (``j = 1 .. K-2``, numpy's linear interpolation) of the positive amounts of the
  TRAINING tier queries only; an amount ``a > 0`` gets tier ``1 + #{edges <= a}``
  (``1 + searchsorted(edges, a, side="right")``).

Tier queries are the ``src`` and the ``dst`` of every event of a fold at the event's time whose window lies
inside the fold (``t + W <= end of the fold``; the last fold ends one second after its last event): a
training label never reads consumption after ``b_valid``, a validation label none after ``b_test``.

**Consumption features** ``c_u(t)`` (the paper's dynamic node attributes, given to the tier head):
``log1p`` of the number of browse, cart and pay events and of the paid amount of ``u`` in ``[t - W, t)``,
strictly before ``t``: 4 numbers.

**Node attributes** ``a_u(t)`` (``model.hparams.neighbor_consumption``, off by default): ``log1p`` of the number
of pay events of ``u`` in ``[t - 1 day, t)`` and in ``[t - W, t)`` and of its paid amount in ``[t - W, t)``,
strictly before ``t``: 3 numbers. The encoder adds them at layer 0, so every sampled event carries its
neighbour's attributes at the event's time (:mod:`lsec.nn.models.dmgnn.encoder`): a tie's recent purchases.

**Negatives.** Training: one random negative per positive ``(u, v, t)``: ``(u, v', t)`` with ``v'`` uniform
over all users, drawn per epoch from ``default_rng([seed, epoch])``. Evaluation (drawn once per fold from
``default_rng([seed, 7, fold])``): a *random* negative as in training, and a *historical* one: ``v'`` uniform
among the distinct users ``u`` acted on in the TRAINING events, ``v`` excluded. A positive whose source has no
such other partner gets no historical negative (counted as ``historical_missing``, never replaced by a random
one: the DyGLib pitfall of DESIGN section 6). Historical AUC / AP pool the positives that have one.

**Transductive / inductive.** An evaluation event is *inductive* when its ``src`` or ``dst`` has no training
event (neither as ``src`` nor as ``dst``), else *transductive*; both are reported apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lsec.data.schema import CONSUMPTION_KINDS
from lsec.graph.temporal import TemporalCSR, build_temporal_csr

DAY = 86_400
FOLDS = ("train", "valid", "test")
TRAIN_FRACTION, VALID_END_FRACTION = 0.70, 0.85
FEATURE_NAMES = ("browse", "cart", "pay", "paid_amount")
ATTRIBUTE_NAMES = ("pay_last_day", "pay", "paid_amount")
NO_NEGATIVE = -1


@dataclass(frozen=True)
class TemporalData:
    """Social events in time order with their fold, the CSR over them, and the consumption log.

    Shapes: src, dst, ts, kinds, fold (E,); consumption arrays (C,), sorted by ``(user, ts)``.
    """

    src: np.ndarray
    dst: np.ndarray
    ts: np.ndarray
    kinds: np.ndarray | None
    fold: np.ndarray
    boundaries: tuple[int, int]  # b_valid, b_test
    num_users: int
    user_ids: np.ndarray
    csr: TemporalCSR
    consumption_user: np.ndarray
    consumption_ts: np.ndarray
    consumption_kind: np.ndarray
    consumption_amount: np.ndarray
    _cumulative: dict[str, Any] = field(default_factory=dict, repr=False)  # keys, sums, origin, span

    def fold_mask(self, fold: str) -> np.ndarray:
        return np.asarray(self.fold == FOLDS.index(fold))

    def fold_end(self, fold: str) -> int:
        """First second after the fold (``b_valid``, ``b_test``, or one past the last event)."""
        if fold == "train":
            return int(self.boundaries[0])
        if fold == "valid":
            return int(self.boundaries[1])
        return int(self.ts.max()) + 1 if len(self.ts) else 0

    def training_users(self) -> np.ndarray:
        """(N,) bool: the user has a training event (as src or dst)."""
        seen = np.zeros(self.num_users, bool)
        train = self.fold_mask("train")
        seen[self.src[train]] = True
        seen[self.dst[train]] = True
        return seen

    def window_sums(self, users: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """(B, 4) counts of browse / cart / pay and the paid amount of ``users[b]`` in ``[start[b], end[b])``."""
        keys = self._cumulative["keys"]
        lo = np.searchsorted(keys, self._key(users, start), side="left")
        hi = np.searchsorted(keys, self._key(users, end), side="left")
        table = self._cumulative["sums"]  # (C + 1, 4) running sums, row i = sums of the first i records
        return np.asarray(table[hi] - table[lo])

    def paid_amount(self, users: np.ndarray, times: np.ndarray, window: int) -> np.ndarray:
        """(B,) paid amount of ``users[b]`` in the next window ``[t, t + window)``."""
        t = np.asarray(times, dtype=np.int64)
        return self.window_sums(np.asarray(users, np.int64), t, t + window)[:, 3]

    def features(self, users: np.ndarray, times: np.ndarray, window: int) -> np.ndarray:
        """(B, 4) float32 ``log1p`` consumption features in ``[t - window, t)`` (module docstring)."""
        t = np.asarray(times, dtype=np.int64)
        return np.log1p(self.window_sums(np.asarray(users, np.int64), t - window, t)).astype(np.float32)

    def node_attributes(self, users: np.ndarray, times: np.ndarray, window: int) -> np.ndarray:
        """(B, 3) float32 ``log1p`` node attributes (:data:`ATTRIBUTE_NAMES`) strictly before ``times`` (module docstring)."""
        u, t = np.asarray(users, np.int64), np.asarray(times, dtype=np.int64)
        last_day = self.window_sums(u, t - DAY, t)[:, 2]
        recent = self.window_sums(u, t - window, t)[:, 2:]
        return np.log1p(np.column_stack([last_day, recent])).astype(np.float32)

    def _key(self, users: np.ndarray, times: np.ndarray) -> np.ndarray:
        origin, span = self._cumulative["origin"], self._cumulative["span"]
        offset = np.clip(np.asarray(times, np.int64) - origin, 0, span - 1)
        return np.asarray(users, np.int64) * span + offset


def temporal_data(
    *,
    src: np.ndarray,
    dst: np.ndarray,
    ts: np.ndarray,
    kinds: np.ndarray | None,
    num_users: int,
    user_ids: np.ndarray,
    consumption: dict[str, np.ndarray],
) -> TemporalData:
    """Sort the social events by time, assign folds (module docstring) and index the consumption log."""
    order = np.argsort(np.asarray(ts), kind="stable")
    src, dst, ts = (np.asarray(a, np.int64)[order] for a in (src, dst, ts))
    kinds = None if kinds is None else np.asarray(kinds, np.int64)[order]
    num_events = len(ts)
    b_valid = int(ts[min(int(TRAIN_FRACTION * num_events), num_events - 1)]) if num_events else 0
    b_test = int(ts[min(int(VALID_END_FRACTION * num_events), num_events - 1)]) if num_events else 0
    fold = np.where(ts < b_valid, 0, np.where(ts < b_test, 1, 2)).astype(np.int8)
    csr = build_temporal_csr(src=src, dst=dst, timestamps=ts, num_nodes=num_users, kinds=kinds, direction="both")
    c_user = np.asarray(consumption["user"], np.int64)
    c_ts = np.asarray(consumption["ts"], np.int64)
    c_kind = np.asarray(consumption["kind"], np.int64)
    c_amount = np.asarray(consumption["amount"], np.float64)
    c_order = np.lexsort((c_ts, c_user))
    c_user, c_ts, c_kind, c_amount = c_user[c_order], c_ts[c_order], c_kind[c_order], c_amount[c_order]
    low = min(int(c_ts.min(initial=0)), int(ts.min(initial=0))) - 400 * DAY
    high = max(int(c_ts.max(initial=0)), int(ts.max(initial=0))) + 400 * DAY
    span = high - low + 1  # every query time within 400 days of the data maps inside one user's key range
    pay = c_kind == CONSUMPTION_KINDS["pay"]
    values = np.stack(
        [c_kind == CONSUMPTION_KINDS["browse"], c_kind == CONSUMPTION_KINDS["cart"], pay, np.where(pay, c_amount, 0.0)],
        axis=1,
    ).astype(np.float64)  # (C, 4)
    sums = np.vstack([np.zeros((1, 4)), np.cumsum(values, axis=0)])
    cumulative = {"keys": c_user * span + (c_ts - low), "sums": sums, "origin": low, "span": span}
    return TemporalData(
        src=src,
        dst=dst,
        ts=ts,
        kinds=kinds,
        fold=fold,
        boundaries=(b_valid, b_test),
        num_users=num_users,
        user_ids=np.asarray(user_ids),
        csr=csr,
        consumption_user=c_user,
        consumption_ts=c_ts,
        consumption_kind=c_kind,
        consumption_amount=c_amount,
        _cumulative=cumulative,
    )


# ------------------------------------------------------------------------------------------------ tiers
@dataclass(frozen=True)
class TierRule:
    """Tier = 0 without payment in ``[t, t + window)``, else ``1 + searchsorted(edges, amount, "right")``."""

    window: int  # seconds
    edges: np.ndarray  # (K - 2,) quantiles of the positive training amounts

    @property
    def num_tiers(self) -> int:
        return len(self.edges) + 2

    def tiers(self, amounts: np.ndarray) -> np.ndarray:
        """(B,) int64 tiers of paid amounts."""
        a = np.asarray(amounts, np.float64)
        return np.where(a > 0, 1 + np.searchsorted(self.edges, a, side="right"), 0).astype(np.int64)


def tier_queries(data: TemporalData, fold: str, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(users, times, event_index)`` of the fold's tier queries: src and dst of each event with ``t + W <= end``.

    Shapes: -> (Q,), (Q,), (Q,) with ``Q = 2 x`` the fold's events whose window fits.
    """
    events = np.flatnonzero(data.fold_mask(fold) & (data.ts + window <= data.fold_end(fold)))
    users = np.concatenate([data.src[events], data.dst[events]])
    return users, np.concatenate([data.ts[events], data.ts[events]]), np.concatenate([events, events])


def fit_tier_rule(data: TemporalData, num_tiers: int, window: int) -> TierRule:
    """Edges from the positive paid amounts of the TRAINING tier queries (module docstring)."""
    users, times, _ = tier_queries(data, "train", window)
    amounts = data.paid_amount(users, times, window)
    positive = amounts[amounts > 0]
    quantiles = np.arange(1, num_tiers - 1) / (num_tiers - 1)
    edges = np.quantile(positive, quantiles) if len(positive) else np.zeros(num_tiers - 2)
    return TierRule(window=window, edges=np.asarray(edges, np.float64))


# ------------------------------------------------------------------------------------------------ negatives
def training_partners(data: TemporalData) -> tuple[np.ndarray, np.ndarray]:
    """CSR ``(indptr (N + 1,), partners)`` of the distinct users each user acted on in the training events."""
    train = data.fold_mask("train")
    keys = np.unique(data.src[train] * data.num_users + data.dst[train])
    owners, partners = keys // data.num_users, keys % data.num_users
    indptr = np.zeros(data.num_users + 1, np.int64)
    np.cumsum(np.bincount(owners, minlength=data.num_users), out=indptr[1:])
    return indptr, partners


def historical_negatives(data: TemporalData, src: np.ndarray, dst: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(B,) a training partner of ``src[b]`` other than ``dst[b]``, uniform; ``NO_NEGATIVE`` when there is none."""
    indptr, partners = training_partners(data)
    src, dst = np.asarray(src, np.int64), np.asarray(dst, np.int64)
    lo, hi = indptr[src], indptr[src + 1]
    keys = np.repeat(np.arange(data.num_users, dtype=np.int64), np.diff(indptr)) * data.num_users + partners
    query = src * data.num_users + dst
    where = np.minimum(np.searchsorted(keys, query), max(len(keys) - 1, 0))
    has_v = (hi > lo) & (keys[where] == query) if len(keys) else np.zeros(len(src), bool)
    v_pos = where - lo  # v's position among u's sorted partners, where has_v
    others = hi - lo - has_v
    out = np.full(len(src), NO_NEGATIVE, np.int64)
    rows = np.flatnonzero(others > 0)
    draw = rng.integers(0, others[rows])
    draw = draw + (has_v[rows] & (draw >= v_pos[rows]))  # skip v's own position
    out[rows] = partners[lo[rows] + draw]
    return out
