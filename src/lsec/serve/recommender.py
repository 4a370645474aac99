"""``Recommender``: top-k recommendations by external id, from a run folder or an exported artifact.

    >>> rec = Recommender.from_run("runs/lsec-gcn")            # or Recommender.load("artifacts/lsec-gcn")
    >>> rec.recommend(["u17", "u42"], k=10)                    # [[("i3", 2.71), ...], [...]]
    >>> rec.recommend(["u17"], k=5, task="follow")             # streamers
    >>> rec.recommend_user("new-user", bought_items=["i3"], followed_streamers=["s1"])   # cold start

Every call scores the whole catalogue exactly (one pass over the precomputed target table: the fused
numba kernel of :mod:`lsec.serve.kernels` when numba is installed, else numpy, :mod:`lsec.serve.scoring`),
removes the user's training interactions when ``exclude_seen`` and returns the
best ``k``. A user the model never saw is served by fold-in from the history given with the request
(:mod:`lsec.serve.foldin`) or, with no history, by the most popular targets; :meth:`recommend_user` says
which ``strategy`` answered.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lsec.errors import LsecDataError, LsecError
from lsec.serve import kernels
from lsec.serve.artifact import MANIFEST, Artifact, TaskTables, artifact_from_run, load_artifact, save_artifact
from lsec.serve.foldin import fold_in
from lsec.serve.ids import IdIndex
from lsec.serve.scoring import dot_scores, exclude, mlp_scores, popular, top_k

STRATEGIES = ("model", "fold-in", "popular")
HISTORY_RELATION = {"bought_items": "buy", "followed_streamers": "follow"}
KERNELS = ("auto", "numba", "numpy")
CHUNK_USERS = 64
"""Users scored together in one pass over the table (bounded scratch)."""


class UnknownIdError(LsecDataError, KeyError):
    """Ids the model does not know. Attributes: ``node_type``, ``ids`` (the unknown ones), ``field``."""

    def __init__(self, node_type: str, ids: Sequence[str], *, field: str, known: int) -> None:
        self.node_type = node_type
        self.ids = list(ids)
        self.field = field
        shown = ", ".join(repr(i) for i in self.ids[:10]) + (f" and {len(self.ids) - 10} more" if len(ids) > 10 else "")
        noun = f"{node_type} id" + ("s" if len(self.ids) > 1 else "")
        LsecDataError.__init__(
            self, f"{field}: unknown {noun} {shown} (expected ids of the {known} {node_type}s the model was trained on)"
        )

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass
class Recommendation:
    """The answer for one user: ``ids`` best first with their ``scores``, and which ``strategy`` produced them.

    ``strategy`` is ``"model"`` (a user the model knows), ``"fold-in"`` (a new user folded in from the
    history given) or ``"popular"`` (a new user with no usable history: most popular targets; ``scores``
    are then training interaction counts).
    """

    user_id: str
    task: str
    strategy: str
    ids: list[str]
    scores: list[float]
    notes: list[str] = field(default_factory=list)

    def pairs(self) -> list[tuple[str, float]]:
        return list(zip(self.ids, self.scores, strict=True))


class Recommender:
    """Serves an :class:`~lsec.serve.artifact.Artifact` by external ids. Thread-safe (read-only arrays)."""

    def __init__(self, artifact: Artifact, *, kernel: str = "auto", warm_up: bool = False, device: str = "cpu") -> None:
        """``kernel``: ``"numba"`` (fused kernel, raises if numba is unusable), ``"numpy"`` or ``"auto"`` (numba
        when it imports, else numpy; ``LSEC_KERNEL=numpy`` forces numpy). ``warm_up`` compiles (or loads from
        the on-disk cache) the numba kernels now, so the first request is not slow. ``device``: ``"cpu"``
        (default: the kernels above), ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA when torch sees a GPU); on a
        GPU the logits are computed by torch there (:mod:`lsec.serve.device_scoring`) and ``kernel`` is
        ``"torch"``."""
        if kernel not in KERNELS:
            raise ValueError(f"The 'kernel' parameter of Recommender must be one of {KERNELS}. Got {kernel!r} instead.")
        self.artifact = artifact
        self.device = "cpu"
        self._device_scorer: Any = None
        if device != "cpu":
            from lsec.train.loop import resolve_device

            resolved = resolve_device(device)
            if resolved.type != "cpu":
                from lsec.serve.device_scoring import DeviceScorer

                self.device = str(resolved)
                self._device_scorer = DeviceScorer(resolved)
        self._index = {t: IdIndex(ids) for t, ids in artifact.ids.items()}  # no Python object per id
        if kernel == "numba" and not kernels.available():
            raise LsecError(f"kernel 'numba' requested but unavailable: {kernels.unavailable_reason()}")
        if kernel == "auto" and os.environ.get("LSEC_KERNEL", "").lower() == "numpy":
            kernel = "numpy"
        self.kernel = "numba" if kernel != "numpy" and kernels.available() else "numpy"
        if self._device_scorer is not None:
            self.kernel = "torch"
        if warm_up and self.kernel == "numba":
            kernels.warm_up()

    # ------------------------------------------------------------------ construction
    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        kernel: str = "auto",
        warm_up: bool = True,
        mmap: bool = False,
        device: str = "cpu",
    ) -> Recommender:
        """Open an artifact folder written by ``lsec export`` (numpy, plus numba for the fused kernel).

        ``mmap``: arrays mapped read-only from the files, shared by every process serving the folder."""
        return cls(load_artifact(path, mmap=mmap), kernel=kernel, warm_up=warm_up, device=device)

    @classmethod
    def from_run(
        cls,
        run_dir: str | os.PathLike[str],
        *,
        checkpoint: str = "best",
        kernel: str = "auto",
        warm_up: bool = True,
        device: str = "cpu",
    ) -> Recommender:
        """Open a training run folder (best weights), encode once and precompute the same tables as export."""
        return cls(artifact_from_run(run_dir, checkpoint=checkpoint), kernel=kernel, warm_up=warm_up, device=device)

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, device: str = "cpu") -> Recommender:
        """An artifact folder (``artifact.json``) or a run folder (``run.json``), whichever ``path`` is."""
        root = Path(path)
        if (root / MANIFEST).is_file():
            return cls.load(root, device=device)
        if (root / "run.json").is_file():
            return cls.from_run(root, device=device)
        raise LsecError(
            f"{root}: neither a serving artifact ({MANIFEST}) nor a run folder (run.json); "
            "train with `lsec train` and export with `lsec export RUN --out DIR`."
        )

    def save(self, out: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        """Write the artifact folder (what ``lsec export`` does)."""
        save_artifact(self.artifact, out, overwrite=overwrite)

    # ------------------------------------------------------------------ facts
    @property
    def model(self) -> str:
        return self.artifact.model

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.artifact.tasks)

    def num_nodes(self, node_type: str) -> int:
        return self.artifact.num_nodes(node_type)

    def knows(self, node_type: str, external_id: object) -> bool:
        index = self._index.get(node_type)
        return index is not None and external_id in index

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "tasks": list(self.tasks),
            "nodes": {t: self.num_nodes(t) for t in self.artifact.ids},
            "source": self.artifact.source,
        }

    # ------------------------------------------------------------------ API
    def recommend(
        self, user_ids: Iterable[object] | str, k: int = 10, exclude_seen: bool = True, task: str = "buy"
    ) -> list[list[tuple[str, float]]]:
        """Top-``k`` (external target id, score) per user, best first. Unknown users raise :class:`UnknownIdError`.

        Args:
            user_ids: external user ids (a single string is taken as one user).
            k: how many targets per user (fewer when fewer are eligible).
            exclude_seen: leave out the targets the user interacted with in training.
            task: ``"buy"`` (items) or ``"follow"`` (streamers).
        """
        users = [user_ids] if isinstance(user_ids, str) else [str(u) for u in user_ids]
        tables = self._tables(task)
        k = _check_k(k)
        index = self._lookup("user", users, field="user_ids")
        out = self._rank_users(tables, task, index, k, exclude_seen)
        return [list(zip(ids, vals, strict=True)) for ids, vals in out]

    def recommend_user(
        self,
        user_id: object,
        *,
        k: int = 10,
        exclude_seen: bool = True,
        task: str = "buy",
        bought_items: Sequence[object] = (),
        followed_streamers: Sequence[object] = (),
        history_field: str = "",
    ) -> Recommendation:
        """One user's top-``k`` with the strategy used; a new user is folded in from the history given.

        For a user the model knows, the history is not needed and is ignored (a note says so). For a new
        user, ``bought_items`` (item ids) and ``followed_streamers`` (streamer ids) are mapped to the
        model's graphs (unknown ids raise :class:`UnknownIdError` naming them); with ``exclude_seen`` the
        history's own targets are left out. ``history_field`` prefixes field names in error messages.
        """
        user = str(user_id)
        tables = self._tables(task)
        k = _check_k(k)
        notes: list[str] = []
        if self.knows("user", user):
            if bought_items or followed_streamers:
                notes.append("known user: the model's embedding is used and the history given is ignored")
            index = self._index["user"][user]
            ids, vals = self._rank_users(tables, task, np.array([index]), k, exclude_seen)[0]
            return Recommendation(user, task, "model", ids, vals, notes)

        history = {
            "buy": self._lookup("item", [str(x) for x in bought_items], field=f"{history_field}bought_items"),
            "follow": self._lookup(
                "streamer", [str(x) for x in followed_streamers], field=f"{history_field}followed_streamers"
            ),
        }
        history = {rel: np.unique(idx) for rel, idx in history.items()}
        seen = history[task] if exclude_seen else None
        used = [rel for rel in ("buy", "follow") if len(history[rel]) and self._uses_relation(tables, rel)]
        for rel in ("buy", "follow"):
            if len(history[rel]) and rel not in used:
                notes.append(f"the model does not use the {rel!r} graph: that history was not used")
        if not used:
            popularity = self.artifact.interactions[task].popularity
            idx, counts = popular(popularity, k, seen if seen is not None else ())
            names = self.artifact.ids[tables.target_type][idx].tolist()
            return Recommendation(user, task, "popular", names, counts.tolist(), notes)
        query = np.concatenate([self._fold_in(key, history) for key in tables.query_keys])  # (d_query,)
        ids, vals = self._rank(tables, tables.project(query[None, :]), [seen], k)[0]
        return Recommendation(user, task, "fold-in", ids, vals, notes)

    def recommend_users(
        self,
        queries: Sequence[tuple[object, Sequence[object], Sequence[object]]],
        *,
        k: int = 10,
        exclude_seen: bool = True,
        task: str = "buy",
    ) -> list[Recommendation]:
        """:meth:`recommend_user` for many ``(user_id, bought_items, followed_streamers)``; known users share ONE
        pass over the table. Errors name the position (``users[i].bought_items``) as the HTTP batch does."""
        tables = self._tables(task)
        k = _check_k(k)
        answers: list[Recommendation | None] = [None] * len(queries)
        known = [i for i, (user, _, _) in enumerate(queries) if self.knows("user", user)]
        for i, (user, bought, followed) in enumerate(queries):
            if i not in known:
                answers[i] = self.recommend_user(
                    user,
                    k=k,
                    exclude_seen=exclude_seen,
                    task=task,
                    bought_items=bought,
                    followed_streamers=followed,
                    history_field=f"users[{i}].",
                )
        index = self._index["user"].lookup([queries[i][0] for i in known])
        for i, (ids, vals) in zip(known, self._rank_users(tables, task, index, k, exclude_seen), strict=True):
            user, bought, followed = queries[i]
            notes = []
            if bought or followed:
                notes.append("known user: the model's embedding is used and the history given is ignored")
            answers[i] = Recommendation(str(user), task, "model", ids, vals, notes)
        return [a for a in answers if a is not None]

    # ------------------------------------------------------------------ internals
    def _tables(self, task: str) -> TaskTables:
        tables = self.artifact.tasks.get(task)
        if tables is None:
            raise LsecError(f"task: model {self.model!r} ranks tasks {list(self.tasks)}; got task {task!r}.")
        return tables

    def _lookup(self, node_type: str, ids: Sequence[str], *, field: str) -> np.ndarray:
        index = self._index.get(node_type)
        found = index.lookup(ids) if index is not None else np.full(len(ids), -1, dtype=np.int64)
        unknown = [x for x, i in zip(ids, found.tolist(), strict=True) if i < 0]
        if unknown:
            raise UnknownIdError(node_type, list(dict.fromkeys(unknown)), field=field, known=len(index or ()))
        return found

    def _seen(self, task: str, user: int) -> np.ndarray:
        return self.artifact.interactions[task].row(user)

    def _rank_users(
        self, tables: TaskTables, task: str, index: np.ndarray, k: int, exclude_seen: bool
    ) -> list[tuple[list[str], list[float]]]:
        ranking = self.artifact.source.get("ranking", {}).get(task) or {}
        prior = float(ranking.get("popularity_prior", 0.0))
        fallback = bool(ranking.get("cold_fallback", False)) or prior > 0
        degree = np.diff(self.artifact.interactions[task].indptr)
        out = []
        for start in range(0, len(index), CHUNK_USERS):
            chunk = index[start : start + CHUNK_USERS]
            seen = [self._seen(task, int(u)) if exclude_seen else None for u in chunk]
            if prior > 0 or (fallback and bool((degree[chunk] == 0).any())):
                out.extend(self._rank_with_prior(tables, task, chunk, seen, k, prior, degree[chunk]))
            else:
                out.extend(self._rank(tables, tables.query_part[chunk], seen, k))
        return out

    def _rank_with_prior(
        self,
        tables: TaskTables,
        task: str,
        users: np.ndarray,
        seen: Sequence[np.ndarray | None],
        k: int,
        prior: float,
        degree: np.ndarray,
    ) -> list[tuple[list[str], list[float]]]:
        """Rank as ``lsec evaluate`` ranks the run (``eval.popularity_prior`` and ``eval.cold_fallback``,
        :func:`lsec.evaluate.full_sort.with_popularity_prior`): ``(1 - w) z_model + w z_pop`` with
        ``w = kappa / (kappa + d)``, ``d`` the user's training pairs, both scores standardised (per user over the
        catalogue; distinct training users per target); a user without a training pair by those counts alone."""
        counts = self.artifact.interactions[task].degree.astype(np.float32)  # (T,)
        scores = self._score(tables, tables.query_part[users]).astype(np.float32, copy=False)  # (B, T)
        if prior > 0:
            import torch

            from lsec.evaluate.full_sort import popularity_blend

            scores = np.array(scores, dtype=np.float32)  # writable, owned: blended in place
            z_pop = (counts - counts.mean()) / max(float(counts.std(ddof=1)), 1e-12)
            weight = (prior / (prior + degree)).astype(np.float32)  # (B,), 1 for cold users
            popularity_blend(torch.from_numpy(scores), torch.from_numpy(z_pop), torch.from_numpy(weight))
        scores[degree == 0] = counts
        names = self.artifact.ids[tables.target_type]
        ranked = []
        for row, excluded in enumerate(seen):
            if excluded is not None:
                exclude(scores[row], excluded)
            idx, vals = top_k(scores[row], k)
            ranked.append((names[idx].tolist(), vals.tolist()))
        return ranked

    def _rank(
        self, tables: TaskTables, query_part: np.ndarray, seen: Sequence[np.ndarray | None], k: int
    ) -> list[tuple[list[str], list[float]]]:
        """Top-``k`` (external ids, scores) per query part (B, h), ``seen[b]`` (sorted indices) left out."""
        names = self.artifact.ids[tables.target_type]
        if self.kernel == "numba":
            ranked = kernels.rank(tables.kind, tables.target_part, query_part, tables.rest, k, seen)
        else:
            scores = self._score(tables, query_part)
            ranked = []
            for row, excluded in enumerate(seen):
                if excluded is not None:
                    exclude(scores[row], excluded)
                ranked.append(top_k(scores[row], k))
        return [(names[idx].tolist(), vals.tolist()) for idx, vals in ranked]

    def _score(self, tables: TaskTables, query_part: np.ndarray) -> np.ndarray:
        if self._device_scorer is not None:
            return self._device_scorer.scores(tables.kind, tables.target_part, query_part, tables.rest)  # type: ignore[no-any-return]
        if tables.kind == "dot":
            return dot_scores(query_part, tables.target_part)
        assert tables.rest is not None
        return mlp_scores(query_part, tables.target_part, tables.rest)

    def _uses_relation(self, tables: TaskTables, relation_name: str) -> bool:
        return any(self.artifact.fold_ins[key].relation == relation_name for key in tables.query_keys)

    def _fold_in(self, key: str, history: dict[str, np.ndarray]) -> np.ndarray:
        spec = self.artifact.fold_ins[key]
        if spec.relation is None or spec.neighbour_key is None:
            return spec.empty
        neighbours = self.artifact.embeddings.get(spec.neighbour_key)
        return fold_in(
            spec,
            history.get(spec.relation, np.zeros(0, np.int64)),
            neighbours,
            self.artifact.interactions[spec.relation].degree,
        )

    def __repr__(self) -> str:
        nodes = ", ".join(f"{t}={self.num_nodes(t)}" for t in self.artifact.ids)
        return f"Recommender(model={self.model!r}, tasks={list(self.tasks)}, nodes=[{nodes}], kernel={self.kernel!r})"


MAX_K = 1000
"""Largest ``k`` served (the HTTP API enforces it; the library accepts any positive ``k``)."""


def _check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or int(k) <= 0:
        raise ValueError(f"The 'k' parameter of Recommender.recommend must be a positive int. Got {k!r} instead.")
    return int(k)
