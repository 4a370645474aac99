"""Gift ranking: an exported GTR run (MMBee) ranks candidate live segments for one user.

``lsec export RUN --out DIR`` of a ``train.engine: gtr`` run writes a pickle-free folder (every array a
``.npy`` read with ``allow_pickle=False``; the model's weights one ``.npy`` per state-dict entry)::

    DIR/gift-artifact.json            format, version, model, GtrModel arguments, counts, files (shape, dtype)
    DIR/weights/<name>.npy            the state dict without the GIE tables (they live in the store)
    DIR/ids/{user,streamer}.npy       external ids in internal-index order
    DIR/streamer_category.npy         (S,) category of each streamer
    DIR/gifts/{keys,streamers,categories,ts}.npy   the gift log behaviour sequences are read from
    DIR/segments/{streamers,rooms,ts}.npy, DIR/segments/<modality>.npy   stored segments and their frames (MFQ)
    DIR/store/                        expansion store of the FINE-TUNED tables Θ (GIE), lsec.data.expansion_store
    DIR/cold/{user_embedding,gie_user}.npy         what a user the model never saw gets

**Serving never walks the graph.** The store's ``pooled`` rows are the model's ``h_u`` / ``h_a`` (the mean of the
fine-tuned ``Θ`` over each metapath's neighbours), so a request reads one row per metapath per id. The model is
rebuilt with ``gie_pooled=True`` and gets those rows in the batch; :class:`GiftRanker` scores exactly what the
trained model scores offline for the same user, segment content and time (tested).

**Content cache.** MFQ's ``h_m`` depends on the segment (and the ones before it in its room) and its streamer,
never on the user, so the ranker computes it once per stored segment and keeps it (an LRU of
``content_cache`` segments, the service-side twin of a pipeline that embeds each segment when it goes live);
frames sent in a request are fused on every request. Cached or not, the numbers are the same computation.

**Strategies.** ``known-user``: a user of the training data (id embedding, gift history strictly before
``ts``, store rows). ``cold-user``: any other id, through the store's popular-streamer fallback: the mean user
embedding, no history, and ``h_u`` pooled as if the user had gifted the ``k`` most-gifted streamers (``u2a2u2a``
and ``u2a2a``: the mean of their ``Θ``) and were like the ``k`` most-gifting users (``u2a2u``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from lsec.data.expansion_store import SOURCE, TARGET, ExpansionStore, write_store
from lsec.data.manifest import checked_array, read_manifest
from lsec.data.segments import SegmentContent
from lsec.data.store import create_folder
from lsec.errors import LsecError
from lsec.serve.ids import IdIndex

FORMAT = "lsec-gift-artifact"
FORMAT_VERSION = 1
MANIFEST = "gift-artifact.json"
MAX_CANDIDATES = 500
STRATEGIES = ("known-user", "cold-user")
USER_METAPATHS = tuple(name for name, side in SOURCE.items() if side == "user")  # u2a2u, u2a2u2a, u2a2a
STREAMER_METAPATHS = tuple(name for name, side in SOURCE.items() if side == "streamer")  # a2a, a2u2a
_TUPLES = ("hidden", "expert_hidden", "tower_hidden", "tasks")


class GiftLog(NamedTuple):
    """Gifts sorted by ``user << 32 | ts`` (what :func:`lsec.train.gtr.histories` reads). Shapes: (G,) each."""

    gift_keys: np.ndarray
    gift_streamers: np.ndarray
    gift_categories: np.ndarray
    gift_ts: np.ndarray


@dataclass
class GiftArtifact:
    """An exported GTR model (module docstring)."""

    model: str
    hparams: dict[str, Any]
    weights: dict[str, np.ndarray]
    ids: dict[str, np.ndarray]
    streamer_category: np.ndarray
    gifts: GiftLog
    max_history: int
    content: SegmentContent | None
    store: ExpansionStore | None
    cold: dict[str, np.ndarray]
    source: dict[str, Any] = field(default_factory=dict)


class Candidate(NamedTuple):
    """One live segment to rank: a stored ``segment`` row, or a ``streamer`` with its own frames.

    ``features`` {m: (S', F, d)} float32 with ``S' <= num_segments`` (offset 0 = the current segment);
    ``valid`` {m: (S', F)} bool. A modality left out is missing.
    """

    streamer: int
    segment: int = -1
    features: Mapping[str, np.ndarray] | None = None
    valid: Mapping[str, np.ndarray] | None = None


@dataclass
class GiftRanking:
    """Scores of the candidates in request order (``logits``) and the order best first (``order``)."""

    user_id: str
    strategy: str
    logits: np.ndarray
    order: np.ndarray
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------- export
def gift_artifact_from_run(
    run_dir: str | os.PathLike[str], out: str | os.PathLike[str], *, checkpoint: str = "best", overwrite: bool = False
) -> Path:
    """``lsec export`` of a GTR run: load it (``checkpoint`` weights), write the folder of the module docstring."""
    from lsec.train.runs import load_run

    root = Path(out)
    if root.exists() and not overwrite and (not root.is_dir() or any(root.iterdir())):
        raise LsecError(f"{root}: exists and is not empty (choose another --out or pass --overwrite).")
    run = load_run(run_dir, checkpoint=checkpoint)
    source = {
        "run": str(Path(run_dir).resolve()),
        "dataset": run.info.get("dataset"),
        "checkpoint": checkpoint,
        "best_epoch": run.info.get("best_epoch"),
        "best_metric": run.info.get("best_metric"),
    }
    dataset = run.info.get("dataset") or run.config.data.dataset
    return write_gift_artifact(
        root, run.model, run.split, dataset, model_name=str(run.config.model.name), source=source
    )


def write_gift_artifact(
    out: str | os.PathLike[str],
    model: Any,
    objective: Any,
    dataset: str | os.PathLike[str],
    *,
    model_name: str,
    source: Mapping[str, Any] | None = None,
) -> Path:
    """Write the gift artifact of a :class:`~lsec.nn.models.mmbee.gtr.GtrModel` and its
    :class:`~lsec.train.gtr.GtrObjective` (gift log, segment content) over ``dataset`` (ids, categories);
    ``out`` is replaced as a whole."""
    from lsec.data.store import load
    from lsec.graph.metapath import mean_pool

    root = Path(out)
    run_dir = (source or {}).get("run", "")
    data = objective.data
    graph = load(dataset)
    tmp = root.with_name(root.name + ".tmp-export")
    shutil.rmtree(tmp, ignore_errors=True)
    create_folder(tmp, shown=root)
    files: dict[str, dict[str, Any]] = {}

    def put(name: str, array: np.ndarray) -> None:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, np.ascontiguousarray(array), allow_pickle=False)
        files[name] = {"shape": list(array.shape), "dtype": array.dtype.str}

    state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items() if not k.startswith("gie.")}
    for name, array in state.items():
        put(f"weights/{name}.npy", array)
    for node_type in ("user", "streamer"):
        put(f"ids/{node_type}.npy", np.asarray([str(x) for x in graph.ids(node_type)], dtype=np.str_))
    category = graph.node_features.get("streamer", {}).get("category")
    num_streamers = int(graph.num_nodes["streamer"])
    put(
        "streamer_category.npy",
        np.zeros(num_streamers, np.int64) if category is None else np.asarray(category, np.int64),
    )
    for name in GiftLog._fields:
        put(f"gifts/{name.removeprefix('gift_')}.npy", np.asarray(getattr(data, name), np.int64))
    content = objective.content
    if content is not None:
        for name in ("streamers", "rooms", "ts"):
            put(f"segments/{name}.npy", np.asarray(getattr(content, name), np.int64))
        for modality, array in content.features.items():
            put(f"segments/{modality}.npy", np.asarray(array))
    hparams = dict(model.hparams, gie_pooled=bool(model.hparams.get("gie")))
    user_table = model.user.weight.detach().cpu().numpy()
    put("cold/user_embedding.npy", user_table.mean(0).astype(np.float32))
    if model.gie is not None:
        gie = model.gie
        tables = {
            "user": gie.theta_user.detach().cpu().numpy(),
            "streamer": gie.theta_streamer.detach().cpu().numpy(),
        }
        user_ids = gie.user_indices.cpu().numpy()  # type: ignore[operator]  # (U, 3, k)
        streamer_ids = gie.streamer_indices.cpu().numpy()  # type: ignore[operator]  # (S, 2, k)
        indices = {name: user_ids[:, i] for i, name in enumerate(USER_METAPATHS)}
        indices |= {name: streamer_ids[:, i] for i, name in enumerate(STREAMER_METAPATHS)}
        write_store(
            tmp / "store",
            tables=tables,
            indices=indices,
            pooled=lambda name: mean_pool(table=tables[TARGET[name]], indices=indices[name]),
            k=gie.k,
            counts={"user": tables["user"].shape[0], "streamer": num_streamers, "gift_edges": int(data.gift_ts.size)},
            max_frontier=0,
            provenance={"from_run": str(run_dir), "tables": "fine-tuned by the GTR run"},
        )
        gifted = np.bincount(data.gift_streamers, minlength=num_streamers)
        givers = np.bincount(data.gift_keys >> 32, minlength=tables["user"].shape[0])
        top_streamers = np.argsort(-gifted, kind="stable")[: gie.k][None, :]
        top_users = np.argsort(-givers, kind="stable")[: gie.k][None, :]
        cold = [
            mean_pool(table=tables[TARGET[name]], indices=top_users if TARGET[name] == "user" else top_streamers)
            for name in USER_METAPATHS
        ]
        put("cold/gie_user.npy", np.concatenate(cold, axis=1)[0].astype(np.float32))
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": model_name,
        "hparams": hparams,
        "max_history": int(objective.max_history),
        "modalities": [] if content is None else list(content.modalities),
        "store": model.gie is not None,
        "source": {**(source or {}), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        "files": files,
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    if root.exists():
        shutil.rmtree(root)
    os.replace(tmp, root)
    return root


def is_gift_artifact(path: str | os.PathLike[str]) -> bool:
    return (Path(path) / MANIFEST).is_file()


def load_gift_artifact(path: str | os.PathLike[str]) -> GiftArtifact:
    """Read a folder written by :func:`gift_artifact_from_run` (numpy only; arrays checked against the manifest)."""
    root = Path(path)
    manifest = read_manifest(
        root, MANIFEST, FORMAT, FORMAT_VERSION, "a gift artifact", "export a GTR run with `lsec export RUN --out DIR`"
    )
    files: dict[str, dict[str, Any]] = manifest["files"]

    def get(name: str, mmap: bool = False) -> np.ndarray:
        return checked_array(root, files, name, mmap)

    weights = {name[len("weights/") : -len(".npy")]: get(name) for name in files if name.startswith("weights/")}
    modalities = manifest.get("modalities") or []
    content = None
    if modalities:
        content = SegmentContent(
            streamers=get("segments/streamers.npy"),
            rooms=get("segments/rooms.npy"),
            ts=get("segments/ts.npy"),
            features={m: get(f"segments/{m}.npy", mmap=True) for m in modalities},
        )
    cold = {"user_embedding": get("cold/user_embedding.npy")}
    if manifest.get("store"):
        cold["gie_user"] = get("cold/gie_user.npy")
    return GiftArtifact(
        model=str(manifest["model"]),
        hparams=dict(manifest["hparams"]),
        weights=weights,
        ids={t: get(f"ids/{t}.npy") for t in ("user", "streamer")},
        streamer_category=get("streamer_category.npy"),
        gifts=GiftLog(*(get(f"gifts/{n.removeprefix('gift_')}.npy") for n in GiftLog._fields)),
        max_history=int(manifest["max_history"]),
        content=content,
        store=ExpansionStore.open(root / "store") if manifest.get("store") else None,
        cold=cold,
        source=dict(manifest.get("source", {})),
    )


# ----------------------------------------------------------------------------------------------- ranking
class GiftRanker:
    """Ranks live segments for a user with an exported GTR model (module docstring). Thread-safe for reads."""

    def __init__(self, artifact: GiftArtifact, *, content_cache: int = 100_000, device: str = "cpu") -> None:
        """``device``: where the model scores, ``"cpu"`` (default), ``"cuda"``, ``"cuda:N"`` or ``"auto"``."""
        import threading
        from collections import OrderedDict

        import torch

        from lsec.nn.models.mmbee.gtr import GtrModel

        self.artifact = artifact
        kwargs: dict[str, Any] = {
            k: tuple(v) if k in _TUPLES and isinstance(v, list) else v for k, v in artifact.hparams.items()
        }
        positional = [kwargs.pop(k) for k in ("num_users", "num_streamers", "num_categories")]
        self.model = GtrModel(*positional, **kwargs)
        try:
            self.model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in artifact.weights.items()})
        except RuntimeError as err:
            raise LsecError(f"gift artifact: weights do not match the model they describe ({err}).") from None
        from lsec.train.loop import resolve_device

        self.device = resolve_device(device)
        self.model.eval().to(self.device)
        self._index = {t: IdIndex(ids) for t, ids in artifact.ids.items()}  # no Python object per id
        self.modalities = () if artifact.content is None else artifact.content.modalities
        self.num_segments = 0 if self.model.mfq is None else self.model.mfq.num_segments
        self.content_cache = content_cache
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()  # segment row -> (N d_mfq,) h_m
        self._cache_lock = threading.Lock()

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, device: str = "cpu") -> GiftRanker:
        return cls(load_gift_artifact(path), device=device)

    @property
    def tasks(self) -> tuple[str, ...]:
        return self.model.tasks

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.artifact.model,
            "tasks": list(self.tasks),
            "nodes": {t: int(len(ids)) for t, ids in self.artifact.ids.items()},
            "segments": 0 if self.artifact.content is None else self.artifact.content.num_segments,
            "modalities": list(self.modalities),
            "num_segments": self.num_segments,
            "frames": self.frame_shapes(),
            "expansion_store": self.artifact.store is not None,
        }

    def frame_shapes(self) -> dict[str, list[int]]:
        """(frames, dim) of each modality a request's features must have."""
        content = self.artifact.content
        return {} if content is None else {m: list(a.shape[1:]) for m, a in content.features.items()}

    def user_index(self, user_id: str) -> int | None:
        return self._index["user"].get(user_id)

    def streamer_index(self, streamer_id: str) -> int | None:
        return self._index["streamer"].get(streamer_id)

    def segment_streamer(self, segment: int) -> int:
        assert self.artifact.content is not None
        return int(self.artifact.content.streamers[segment])

    @property
    def num_stored_segments(self) -> int:
        return 0 if self.artifact.content is None else self.artifact.content.num_segments

    def batch(
        self, user: int | None, candidates: Sequence[Candidate], ts: int, *, expansions: str = "store"
    ) -> dict[str, Any]:
        """The model batch of one user and its candidates (numpy). ``expansions="zeros"`` leaves the store out
        (the backbone alone, for the latency benchmark)."""
        from lsec.train.gtr import histories

        a = self.artifact
        b = len(candidates)
        streamers = np.fromiter((c.streamer for c in candidates), np.int64, b)
        out: dict[str, Any] = {
            "users": np.full(b, 0 if user is None else user, np.int64),
            "streamers": streamers,
            "categories": a.streamer_category[streamers].astype(np.int64),
        }
        if user is None:
            out["user_embedding"] = np.repeat(a.cold["user_embedding"][None], b, axis=0)
            empty = np.zeros((1, a.max_history), np.int64)
            seq: dict[str, np.ndarray] = {
                "history_streamers": empty,
                "history_categories": empty,
                "history_gaps": empty,
                "history_valid": np.zeros((1, a.max_history), bool),
            }
        else:
            seq = histories(a.gifts, np.array([user]), np.array([ts]), a.max_history, self.model.gap.num_embeddings)  # type: ignore[arg-type]
        out.update({k: np.repeat(v, b, axis=0) for k, v in seq.items()})
        if self.model.gie_pooled:
            width_u, width_a = self.model.gie_dims
            if expansions == "zeros" or a.store is None:
                out["gie_user"] = np.zeros((b, width_u), np.float32)
                out["gie_streamer"] = np.zeros((b, width_a), np.float32)
            else:
                found = a.store.lookup(users=None if user is None else np.array([user]), streamers=streamers)
                gie_user = (
                    a.cold["gie_user"][None]
                    if user is None
                    else np.concatenate([found[n].pooled for n in USER_METAPATHS], axis=1)
                )
                out["gie_user"] = np.repeat(gie_user, b, axis=0)
                out["gie_streamer"] = np.concatenate([found[n].pooled for n in STREAMER_METAPATHS], axis=1)
        if self.model.mfq is not None:
            if self.content_cache > 0:
                out["content_output"] = self._cached_content(candidates, streamers)
            else:
                out.update(self._content(candidates))
        return out

    def _cached_content(self, candidates: Sequence[Candidate], streamers: np.ndarray) -> np.ndarray:
        """(B, N d_mfq) ``h_m`` of the candidates: cached for stored segments (computed now when missing), fused
        now for frames sent with the request."""
        import torch

        assert self.model.mfq is not None
        segments = np.fromiter((c.segment for c in candidates), np.int64, len(candidates))
        output = np.zeros((len(candidates), self.model.mfq.output_dim), np.float32)
        compute = []
        with self._cache_lock:
            for i, segment in enumerate(segments.tolist()):
                cached = self._cache.get(segment) if segment >= 0 else None
                if cached is None:
                    compute.append(i)
                else:
                    output[i] = cached
                    self._cache.move_to_end(segment)
        if compute:
            part = {"streamers": torch.from_numpy(streamers[compute]).to(self.device)}
            fresh = self._content([candidates[i] for i in compute])
            part.update({k: torch.from_numpy(v).to(self.device) for k, v in fresh.items()})
            with torch.inference_mode():
                output[compute] = self.model.content(part).cpu().numpy()
            with self._cache_lock:
                for i in compute:
                    if segments[i] >= 0:
                        self._cache[int(segments[i])] = output[i].copy()
                while len(self._cache) > self.content_cache:
                    self._cache.popitem(last=False)
        return output

    def _content(self, candidates: Sequence[Candidate]) -> dict[str, np.ndarray]:
        content = self.artifact.content
        assert content is not None
        s = self.num_segments
        stored = [i for i, c in enumerate(candidates) if c.segment >= 0]
        rows = np.full((len(candidates), s), -1, np.int64)
        if stored:
            rows[stored] = content.sequences(np.array([candidates[i].segment for i in stored]), s)
        features, valid = content.gather(rows, self.modalities)  # stored rows filled, the others zero / masked
        for i, c in enumerate(candidates):
            if c.segment >= 0 or c.features is None:
                continue
            for m, frames in c.features.items():
                n = frames.shape[0]
                features[m][i, :n] = frames
                given = (c.valid or {}).get(m)
                valid[m][i, :n] = True if given is None else given
        return {f"content_{m}": features[m] for m in self.modalities} | {
            f"content_valid_{m}": valid[m] for m in self.modalities
        }

    def logits(self, batch: Mapping[str, Any], task: str | None = None) -> np.ndarray:
        """The model's logits of the ``task`` (default: the first) for a :meth:`batch`."""
        import torch

        tensors = {k: torch.from_numpy(np.ascontiguousarray(v)).to(self.device) for k, v in batch.items()}
        with torch.inference_mode():
            out: np.ndarray = self.model(tensors)[task or self.tasks[0]].cpu().numpy()
        return out

    def rank(self, user_id: str, candidates: Sequence[Candidate], *, ts: int | None = None) -> GiftRanking:
        """Score ``candidates`` for ``user_id`` at time ``ts`` (unix seconds; default now) and order them."""
        if not 1 <= len(candidates) <= MAX_CANDIDATES:
            raise LsecError(f"candidates: expected 1 to {MAX_CANDIDATES} live segments, found {len(candidates)}.")
        user = self.user_index(user_id)
        when = int(time.time()) if ts is None else int(ts)
        batch = self.batch(user, candidates, when)
        notes = []
        if user is None:
            notes.append("unknown user: mean user embedding, no gift history, popular-streamer expansions")
        logits = self.logits(batch)
        order = np.argsort(-logits, kind="stable")
        return GiftRanking(user_id, "cold-user" if user is None else "known-user", logits, order, notes)
