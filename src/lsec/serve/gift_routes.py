"""``POST /v1/gifts/rank``: gift-through-rate ranking of live segments for one user (:mod:`lsec.serve.gifts`).

A request names a user, optionally the time (unix seconds: the user's gift history is read strictly before it;
default now) and 1 to 500 candidate live segments, each either ``{"segment_id": "123"}`` (a segment stored
in the artifact: its streamer and frames, and the segments before it in its room) or ``{"streamer_id": "s7",
"features": {"visual": [[[...], ...]], ...}}`` (frames sent with the request: per modality a list of up to
``num_segments`` segments, current first, each a list of ``frames`` vectors of the modality's width; a
modality left out counts as missing). The answer lists the candidates best first with the model's logit and
probability, and the ``strategy``: ``known-user`` or ``cold-user`` (popular-streamer fallback of the store).
Every malformed input is a 422 whose ``errors[].field`` names it (``candidates[3].features.visual``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from lsec.serve.gifts import MAX_CANDIDATES, Candidate, GiftRanker

MAX_TS = 2**40
MAX_VALUE = 1e6  # feature values beyond this are not embeddings (and overflow float32 attention)
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
GIFT_FIELDS = {
    "candidates": f"a list of 1 to {MAX_CANDIDATES} candidate objects",
    "segment_id": "the id of a stored segment (a decimal integer string)",
    "streamer_id": "a streamer id the model was trained on",
    "features": "an object mapping modality names to [segments][frames][values] arrays of numbers",
    "ts": f"unix seconds, an integer from 0 to {MAX_TS}",
    "k": f"an integer from 1 to {MAX_CANDIDATES}",
}
GIFT_ALLOWED = "allowed: user_id, candidates, ts, k; per candidate: segment_id, streamer_id, features"


class GiftCandidate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    segment_id: str | None = Field(None, min_length=1, max_length=32, description="A stored segment.")
    streamer_id: str | None = Field(
        None, min_length=1, max_length=256, description="The live room's streamer (required with features)."
    )
    features: dict[str, list[list[list[FiniteFloat]]]] | None = Field(
        None,
        max_length=8,
        description="Per modality: segments (current first) x frames x values, instead of a stored segment.",
    )


class GiftRankRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"user_id": "u17", "candidates": [{"segment_id": "12"}, {"segment_id": "40"}], "ts": 1746920000}
            ]
        },
    )

    user_id: str = Field(min_length=1, max_length=256)
    candidates: list[GiftCandidate] = Field(min_length=1, max_length=MAX_CANDIDATES)
    ts: int | None = Field(None, ge=0, le=MAX_TS, description="Unix seconds; history before it (default: now).")
    k: int | None = Field(None, ge=1, le=MAX_CANDIDATES, description="Return the best k (default: all).")


class ScoredSegment(BaseModel):
    candidate: int = Field(description="Position of the candidate in the request.")
    segment_id: str | None
    streamer_id: str
    score: float = Field(description="Gift logit.")
    probability: float = Field(description="sigmoid(score), the gift-through-rate.")


class GiftRankResponse(BaseModel):
    user_id: str
    model: str
    strategy: Literal["known-user", "cold-user"]
    ranking: list[ScoredSegment] = Field(description="Best first.")
    notes: list[str] = Field(default_factory=list)


class _Invalid(Exception):
    def __init__(self, field: str, message: str, found: Any = None) -> None:
        super().__init__(message)
        self.field, self.message, self.found = field, message, found


def add_gift_routes(
    app: FastAPI,
    ranker: GiftRanker,
    *,
    errors: dict[int | str, dict[str, Any]],
    current: Callable[[], GiftRanker | None] | None = None,
) -> None:
    """Register ``POST /v1/gifts/rank`` on ``app`` (answers and errors through :mod:`lsec.serve.app`).

    ``current``: the ranker to use now (a hot-swapped gift artifact, :mod:`lsec.serve.live`); default ``ranker``.
    """
    served = ranker
    from lsec.serve.app import _error, _json

    @app.post("/v1/gifts/rank", response_model=GiftRankResponse, responses=errors, tags=["gifts"])
    def rank_gifts(request: GiftRankRequest) -> Any:
        """Rank up to 500 live segments for a user by predicted gift-through-rate (MMBee GTR model)."""
        ranker = (current() if current is not None else None) or served
        try:
            candidates = [_candidate(ranker, i, c) for i, c in enumerate(request.candidates)]
        except _Invalid as err:
            return _error(422, err.field, err.message, err.found)
        ranking = ranker.rank(request.user_id, candidates, ts=request.ts)
        if not np.isfinite(ranking.logits).all():
            bad = int(np.flatnonzero(~np.isfinite(ranking.logits))[0])
            return _error(422, f"candidates[{bad}].features", "features give a non-finite score; check their scale")
        order = ranking.order[: request.k] if request.k else ranking.order
        streamer_ids = ranker.artifact.ids["streamer"]
        rows = []
        for i in order.tolist():
            score = float(ranking.logits[i])
            segment = candidates[i].segment
            rows.append(
                {
                    "candidate": i,
                    "segment_id": str(segment) if segment >= 0 else None,
                    "streamer_id": str(streamer_ids[candidates[i].streamer]),
                    "score": score,
                    "probability": 1.0 / (1.0 + math.exp(-score)) if score > -700 else 0.0,
                }
            )
        body = {
            "user_id": request.user_id,
            "model": ranker.artifact.model,
            "strategy": ranking.strategy,
            "ranking": rows,
            "notes": ranking.notes,
        }
        return _json(body)


def _candidate(ranker: GiftRanker, i: int, c: GiftCandidate) -> Candidate:
    where = f"candidates[{i}]"
    streamer = None
    if c.streamer_id is not None:
        streamer = ranker.streamer_index(c.streamer_id)
        if streamer is None:
            raise _Invalid(
                f"{where}.streamer_id",
                f"body field '{where}.streamer_id': unknown streamer id {c.streamer_id!r} (expected one of the "
                f"{len(ranker.artifact.ids['streamer'])} streamers the model was trained on)",
                c.streamer_id,
            )
    if (c.segment_id is None) == (c.features is None):
        raise _Invalid(
            where,
            f"body field '{where}': expected exactly one of 'segment_id' (a stored segment) or 'features' (with "
            f"'streamer_id'), found {'both' if c.segment_id is not None else 'neither'}",
        )
    if c.segment_id is not None:
        count = ranker.num_stored_segments
        segment = int(c.segment_id) if c.segment_id.isdecimal() and len(c.segment_id) < 12 else -1
        if not 0 <= segment < count:
            raise _Invalid(
                f"{where}.segment_id",
                f"body field '{where}.segment_id': unknown segment {c.segment_id!r} (expected a stored segment id, "
                f"0 to {count - 1})"
                if count
                else f"body field '{where}.segment_id': this model stores no segments (send 'features')",
                c.segment_id,
            )
        own = ranker.segment_streamer(segment)
        if streamer is not None and streamer != own:
            raise _Invalid(
                f"{where}.streamer_id",
                f"body field '{where}.streamer_id': segment {segment} belongs to streamer "
                f"{ranker.artifact.ids['streamer'][own]!r}, not {c.streamer_id!r}",
                c.streamer_id,
            )
        return Candidate(streamer=own, segment=segment)
    if streamer is None:
        raise _Invalid(f"{where}.streamer_id", f"body field '{where}.streamer_id': required with 'features'")
    assert c.features is not None
    shapes = ranker.frame_shapes()
    features = {}
    for m, segments in c.features.items():
        field = f"{where}.features.{m}"
        if m not in shapes:
            raise _Invalid(field, f"body field '{field}': unknown modality (expected one of {sorted(shapes)})", m)
        frames, width = shapes[m]
        ok = 1 <= len(segments) <= ranker.num_segments and all(
            len(seg) == frames and all(len(v) == width for v in seg) for seg in segments
        )
        if not ok:
            raise _Invalid(
                field,
                f"body field '{field}': expected 1 to {ranker.num_segments} segments of {frames} frames of "
                f"{width} numbers each",
            )
        array = np.asarray(segments, np.float64)
        if np.abs(array).max(initial=0.0) > MAX_VALUE:
            raise _Invalid(field, f"body field '{field}': expected numbers of magnitude at most {MAX_VALUE:g}")
        features[m] = array.astype(np.float32)
    return Candidate(streamer=streamer, features=features)
