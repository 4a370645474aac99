"""Train / valid / test splits and the fixed candidate lists of each evaluated task (DESIGN sections 4-5).

A split gives every edge of every relation a *fold*: ``0`` train, ``1`` valid, ``2`` test, ``-1``
outside every window. Four ways to make one:

* :func:`split_by_time`: consecutive day windows ``[start, +train_days)``, ``[.., +valid_days)``,
  ``[.., +test_days)`` (the LSEC-GNN protocol: 30 / 10 / 10 days from the dataset's time origin).
* :func:`split_by_ratio`: the same three windows, with boundaries placed at time quantiles so that about
  ``ratios`` of the edges fall in each; quantiles are taken over the pooled timestamps of all relations
  (one set of dates for the whole graph, so no relation sees the future of another) or, with
  ``per_relation=True``, separately per relation (exact fractions, but dates differ between relations).
* :func:`split_random`: each edge drawn independently (seeded), for data without timestamps.
* :func:`given_split`: ready fold arrays, e.g. from the train / test files of a LightGCN folder.

:func:`write_split` persists a split and draws the candidate lists once (seeded), so every model and
epoch sees the same lists::

    DIR/splits/<name>/split.json                          mode, boundaries, counts, parameters
    DIR/splits/<name>/folds/<src>__<rel>__<dst>.parquet   int8 column ``fold`` aligned with the edge rows
    DIR/splits/<name>/candidates/<task>__<valid|test>.parquet   user, target, label, cold

Candidate lists (per task and evaluation fold): each user with at least one positive (an edge of the
task relation in that fold) gets ``num_candidates`` rows: its positives (unique targets) plus targets
drawn uniformly without replacement from those it never interacted with in that relation (any fold,
including edges outside the windows). Two edge cases, both counted in ``split.json``:

* a user with more than ``num_candidates // 2`` positives keeps a seeded uniform subset of that many, so
  that its list still holds negatives to rank against (``truncated_users``);
* when the user has fewer non-interacted targets than needed (small catalogues), all of them are used and
  the list is shorter than ``num_candidates`` (``short_lists``).

Lists can also be supplied as they are (``write_split(..., candidates={("buy", "test"): rows})``, see
:func:`given_candidates`): the rows are stored unchanged (no drawing, no merging; only sorted by
``(user, target)``), as the val / test files of the authors' RecHub layout require.

A user is *cold* for a task when it has no training edge in the task's relation.
"""

from lsec.data.split.candidates import Candidates, build_candidates, given_candidates
from lsec.data.split.folds import (
    DAY,
    EVAL_FOLDS,
    FOLD_NAMES,
    OUTSIDE,
    TEST,
    TRAIN,
    VALID,
    FoldKey,
    SplitFolds,
    fold_index,
    given_split,
    iso_utc,
    split_by_ratio,
    split_by_time,
    split_random,
    to_unix_seconds,
)
from lsec.data.split.store import SPLIT_FILE, Split, list_splits, load_split, make_split, write_split

__all__ = [
    "DAY",
    "EVAL_FOLDS",
    "FOLD_NAMES",
    "OUTSIDE",
    "SPLIT_FILE",
    "TEST",
    "TRAIN",
    "VALID",
    "Candidates",
    "FoldKey",
    "Split",
    "SplitFolds",
    "build_candidates",
    "fold_index",
    "given_candidates",
    "given_split",
    "iso_utc",
    "list_splits",
    "load_split",
    "make_split",
    "split_by_ratio",
    "split_by_time",
    "split_random",
    "to_unix_seconds",
    "write_split",
]
