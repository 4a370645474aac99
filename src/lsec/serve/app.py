"""HTTP service (FastAPI): ``lsec serve ARTIFACT`` runs :func:`create_app` under uvicorn.

Endpoints (OpenAPI docs at ``/docs``, schema at ``/openapi.json``)::

    GET  /healthz                                   liveness + what is served
    GET  /v1/users/{user_id}/items?k=50&exclude_seen=true        items for a known user
    GET  /v1/users/{user_id}/streamers?k=20&exclude_seen=true    streamers for a known user
    POST /v1/recommendations                        a batch; new users may carry their history (fold-in)
    POST /v1/gifts/rank                             gift ranking of live segments (a GTR artifact is served)
    POST /admin/reload?force=false                  swap in the artifact the served path points to now

Every answer says which ``strategy`` produced it: ``"model"`` (known user), ``"fold-in"`` (new user
with a history) or ``"popular"`` (new user without one). Bad requests get a 4xx whose ``detail`` names the
field, what was expected and what was found; ``errors`` lists every problem. Unknown users on the GET
endpoints are 404; unknown ids inside a history are 422.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from lsec import __version__
from lsec.errors import LsecError
from lsec.serve import kernels
from lsec.serve.batching import MicroBatcher
from lsec.serve.gift_routes import GIFT_ALLOWED, GIFT_FIELDS
from lsec.serve.gifts import GiftRanker
from lsec.serve.live import Live
from lsec.serve.recommender import MAX_K, Recommendation, Recommender, UnknownIdError

MAX_BATCH = 100
"""Largest number of users in one ``POST /v1/recommendations``."""
MAX_HISTORY = 10_000
"""Largest history list (items bought or streamers followed) per user."""

FIELD_EXPECTED = {
    "k": f"an integer from 1 to {MAX_K}",
    "exclude_seen": "a boolean (true or false)",
    "task": "'buy' (items) or 'follow' (streamers)",
    "users": f"a list of 1 to {MAX_BATCH} user objects",
    "user_id": "a non-empty string of at most 256 characters",
    "bought_items": f"a list of at most {MAX_HISTORY} item id strings",
    "followed_streamers": f"a list of at most {MAX_HISTORY} streamer id strings",
}


# ------------------------------------------------------------------------------------------ schemas
class ScoredTarget(BaseModel):
    id: str = Field(description="External id of the item or streamer.")
    score: float = Field(description="Model logit (strategy model / fold-in) or training count (popular).")


class UserRecommendations(BaseModel):
    user_id: str
    task: Literal["buy", "follow"] = Field(description="buy: items; follow: streamers.")
    strategy: Literal["model", "fold-in", "popular"] = Field(
        description="model: known user; fold-in: new user folded in from the history sent; popular: no history."
    )
    recommendations: list[ScoredTarget] = Field(description="Best first.")
    notes: list[str] = Field(default_factory=list)


class UserQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1, max_length=256)
    bought_items: list[str] = Field(
        default_factory=list, max_length=MAX_HISTORY, description="New users only: item ids they bought."
    )
    followed_streamers: list[str] = Field(
        default_factory=list, max_length=MAX_HISTORY, description="New users only: streamer ids they follow."
    )


class RecommendationRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "users": [
                        {"user_id": "u17"},
                        {"user_id": "new-42", "bought_items": ["i3"], "followed_streamers": ["s1"]},
                    ],
                    "k": 10,
                    "task": "buy",
                    "exclude_seen": True,
                }
            ]
        },
    )

    users: list[UserQuery] = Field(min_length=1, max_length=MAX_BATCH)
    k: int = Field(10, ge=1, le=MAX_K)
    task: Literal["buy", "follow"] = "buy"
    exclude_seen: bool = True


class RecommendationResponse(BaseModel):
    task: str
    k: int
    results: list[UserRecommendations]


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    model: str
    tasks: list[str]
    nodes: dict[str, int]
    gifts: dict[str, Any] | None = Field(None, description="The gift model served, if any (POST /v1/gifts/rank).")
    serving: dict[str, Any] | None = Field(
        None, description="This process: generation (swaps so far), the folders served, pid (POST /admin/reload)."
    )


class ErrorItem(BaseModel):
    field: str
    message: str
    found: Any = None


class ErrorResponse(BaseModel):
    detail: str
    errors: list[ErrorItem] = Field(default_factory=list)


ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Unknown user or task."},
    422: {"model": ErrorResponse, "description": "Invalid parameter or body; `detail` names the field."},
}


# ------------------------------------------------------------------------------------------ the app
def create_app(
    recommender: Recommender | None,
    *,
    batching: bool = True,
    gifts: GiftRanker | None = None,
    live: Live | None = None,
) -> FastAPI:
    """The FastAPI application serving ``recommender`` and / or a gift model (routes, schemas, error handlers).

    With ``batching``, concurrent GET requests of known users are scored together
    (:class:`~lsec.serve.batching.MicroBatcher`); answers are identical either way. ``gifts`` adds
    ``POST /v1/gifts/rank`` (:mod:`lsec.serve.gift_routes`); without a ``recommender`` only the gift routes and
    ``/healthz`` are served. ``live`` (:class:`~lsec.serve.live.Live`, which then holds the recommender and gift
    ranker) makes ``POST /admin/reload`` swap in a new artifact; every request reads what is served once.
    """
    if live is None:
        if recommender is None and gifts is None:
            raise LsecError("create_app: nothing to serve (give a recommender, a gift ranker or both).")
        live = Live(recommender, gifts, batching=batching)
    recommender, gifts = live.current.recommender, live.current.gifts  # which routes exist

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        live.close()

    described = []
    if recommender is not None:
        described.append(
            f"Model `{recommender.model}` ranking {' and '.join(recommender.tasks)}. Items for users "
            "(buy task) and streamers for users (follow task); new users are folded in from their history."
        )
    if gifts is not None:
        described.append(f"Gift model `{gifts.artifact.model}` ranking live segments for a user (POST /v1/gifts/rank).")
    app = FastAPI(lifespan=lifespan, title="lsec recommendations", version=__version__, description=" ".join(described))
    app.state.recommender = recommender
    app.state.gifts = gifts
    app.state.live = live

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        gift = request.url.path.startswith("/v1/gifts")
        items = [_describe(err, gift=gift) for err in exc.errors()]
        detail = "; ".join(item.message for item in items[:5]) + ("; ..." if len(items) > 5 else "")
        body = ErrorResponse(detail=detail or "invalid request", errors=items)
        return JSONResponse(status_code=422, content=body.model_dump(mode="json"))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:  # unparsable body, no route
        field = {400: "body", 404: "path", 405: "method"}.get(exc.status_code, "request")
        response = _error(exc.status_code, field, f"{field}: {exc.detail}")
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:  # a bug: say so, stay alive
        body = ErrorResponse(detail=f"internal error ({type(exc).__name__}); the request was not served")
        return JSONResponse(status_code=500, content=body.model_dump())

    @app.get("/healthz", response_model=Health, tags=["service"])
    def healthz() -> Health:
        """Liveness and what is served."""
        served = live.current
        gift_info = None if served.gifts is None else served.gifts.describe()
        info = served.recommender.describe() if served.recommender is not None else gift_info
        assert info is not None
        return Health(
            status="ok",
            version=__version__,
            model=info["model"],
            tasks=info["tasks"],
            nodes=info["nodes"],
            gifts=gift_info,
            serving=live.describe(),
        )

    @app.post("/admin/reload", tags=["service"], responses={409: {"model": ErrorResponse}})
    def reload(
        force: bool = Query(False, description="Reload even if the served folders did not change."),
    ) -> Any:
        """Swap in the artifact (and gift artifact with its expansion store) the served paths point to now.

        Atomic: requests in flight finish on the old artifact, the next ones use the new one. The other worker
        processes follow within ``--watch`` seconds. 409 when the new artifact cannot be loaded (the old one
        stays served)."""
        try:
            return live.reload(force=force)
        except LsecError as err:
            return _error(409, "artifact", str(err))

    if gifts is not None:
        from lsec.serve.gift_routes import add_gift_routes

        add_gift_routes(app, gifts, errors=ERRORS, current=lambda: live.current.gifts)
    if recommender is None:
        return app

    user_path = Path(description="External user id.", min_length=1, max_length=256)
    k_query = Query(10, ge=1, le=MAX_K, description=f"Number of results, 1 to {MAX_K}.")
    seen_query = Query(True, description="Leave out what the user interacted with in training.")

    @app.get("/v1/users/{user_id}/items", response_model=UserRecommendations, responses=ERRORS, tags=["recommend"])
    async def items_for_user(user_id: str = user_path, k: int = k_query, exclude_seen: bool = seen_query) -> Any:
        """Top-k items for a user the model knows (new users: POST /v1/recommendations with their history)."""
        served = live.current
        return await _known_user(served.recommender, served.batcher, user_id, k, exclude_seen, "buy")

    @app.get("/v1/users/{user_id}/streamers", response_model=UserRecommendations, responses=ERRORS, tags=["recommend"])
    async def streamers_for_user(user_id: str = user_path, k: int = k_query, exclude_seen: bool = seen_query) -> Any:
        """Top-k streamers to follow for a user the model knows (needs a model trained on the follow task)."""
        served = live.current
        return await _known_user(served.recommender, served.batcher, user_id, k, exclude_seen, "follow")

    @app.post("/v1/recommendations", response_model=RecommendationResponse, responses=ERRORS, tags=["recommend"])
    def recommendations(request: RecommendationRequest) -> Any:
        """Recommendations for a batch of users; a new user may carry the items they bought and streamers they follow."""
        recommender = live.current.recommender
        if recommender is None:
            return _error(404, "task", "no recommender is served now")
        if request.task not in recommender.tasks:
            return _error(422, "task", f"this model ranks {recommender.tasks}, not {request.task!r}", request.task)
        queries = [(q.user_id, q.bought_items, q.followed_streamers) for q in request.users]
        try:  # known users share one pass over the table
            answers = recommender.recommend_users(
                queries, k=request.k, exclude_seen=request.exclude_seen, task=request.task
            )
        except UnknownIdError as err:
            return _error(422, err.field, str(err), err.ids)
        return _json({"task": request.task, "k": request.k, "results": [_answer_dict(a) for a in answers]})

    return app


async def _known_user(
    recommender: Recommender | None, batcher: MicroBatcher | None, user_id: str, k: int, exclude_seen: bool, task: str
) -> Any:
    if recommender is None:
        return _error(404, "task", "no recommender is served now")
    if task not in recommender.tasks:
        what = "items" if task == "buy" else "streamers"
        return _error(404, "task", f"model {recommender.model!r} does not rank {what} (tasks: {recommender.tasks})")
    if not recommender.knows("user", user_id):
        message = (
            f"unknown user id {user_id!r} (expected one of the {recommender.num_nodes('user')} users the model "
            "was trained on; for a new user POST /v1/recommendations with the items they bought and the "
            "streamers they follow)"
        )
        return _error(404, "user_id", message, user_id)
    try:
        if batcher is None:  # scored in a worker thread: the event loop keeps accepting requests
            answer = await asyncio.to_thread(
                recommender.recommend_user, user_id, k=k, exclude_seen=exclude_seen, task=task
            )
        else:
            future = batcher.submit(user_id, k=k, exclude_seen=exclude_seen, task=task)
            pairs = await asyncio.wrap_future(future)
            answer = Recommendation(user_id, task, "model", [i for i, _ in pairs], [s for _, s in pairs])
    except LsecError as err:  # not expected for a known user and a served task; still a clean answer
        return _error(422, "request", str(err))
    return _json(_answer_dict(answer))


def _answer_dict(answer: Recommendation) -> dict[str, Any]:
    """The :class:`UserRecommendations` JSON of ``answer``, built directly (the schema documents it; validating
    our own output through pydantic on every request cost more than scoring with the fused kernel)."""
    return {
        "user_id": answer.user_id,
        "task": answer.task,
        "strategy": answer.strategy,
        "recommendations": [{"id": i, "score": s} for i, s in zip(answer.ids, answer.scores, strict=True)],
        "notes": answer.notes,
    }


def _json(content: dict[str, Any]) -> Response:
    body = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Response(content=body.encode("utf-8"), media_type="application/json")


def _error(status: int, field: str, message: str, found: Any = None) -> JSONResponse:
    body = ErrorResponse(detail=message, errors=[ErrorItem(field=field, message=message, found=found)])
    return JSONResponse(status_code=status, content=body.model_dump(mode="json"))


def _describe(err: Any, *, gift: bool = False) -> ErrorItem:
    """One pydantic/FastAPI validation error as "<where> '<field>': expected ..., found ... (<reason>)"."""
    loc = [str(x) if not isinstance(x, int) else x for x in err.get("loc", ())]
    source = loc[0] if loc else "request"
    parts = loc[1:]
    if err.get("type") == "json_invalid":
        position = parts[0] if parts else "?"
        reason = (err.get("ctx") or {}).get("error", "")
        return ErrorItem(field="body", message=f"request body: malformed JSON at position {position} ({reason})")
    field = ""
    for part in parts:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    names = [p for p in parts if isinstance(p, str)]
    last = names[-1] if names else ""
    where = {"query": "query parameter", "path": "path parameter", "body": "body field"}.get(str(source), str(source))
    reason = str(err.get("msg", "invalid"))
    found = err.get("input")
    if not field:
        wanted = (
            "'user_id' and 'candidates', and optionally 'ts', 'k'"
            if gift
            else "'users', and optionally 'k', 'task', 'exclude_seen'"
        )
        return ErrorItem(field="body", message=f"request body: {reason} (expected a JSON object with {wanted})")
    expected = (GIFT_FIELDS if gift else FIELD_EXPECTED).get(last) or FIELD_EXPECTED.get(last)
    if gift and "features" in names and last != "features":
        expected = GIFT_FIELDS["features"]
    if err.get("type") == "extra_forbidden":
        expected = (
            f"no such field ({GIFT_ALLOWED})"
            if gift
            else (
                "no such field (allowed: users, k, task, exclude_seen; per user: user_id, bought_items, followed_streamers)"
            )
        )
    shown = repr(found) if isinstance(found, (str, int, float, bool)) or found is None else type(found).__name__
    if len(shown) > 80:
        shown = shown[:77] + "..."
    text = f"{where} '{field}': " + (f"expected {expected}, " if expected else "") + f"found {shown} ({reason})"
    return ErrorItem(field=field, message=text, found=found if isinstance(found, (str, int, float, bool)) else None)


def app_from_env() -> FastAPI:
    """Uvicorn factory for several worker processes: serves the artifact named by ``LSEC_ARTIFACT`` and / or
    the gift artifact named by ``LSEC_GIFTS``."""
    path = os.environ.get("LSEC_ARTIFACT")
    gift_path = os.environ.get("LSEC_GIFTS")
    if not path and not gift_path:
        raise LsecError("LSEC_ARTIFACT is not set (the artifact folder to serve).")
    threads = os.environ.get("LSEC_KERNEL_THREADS")
    if threads:  # several workers: each kernel launch on fewer threads, so workers x threads <= cores
        kernels.set_threads(int(threads))
    return create_app(
        Recommender.load(path) if path else None,
        batching=os.environ.get("LSEC_BATCHING", "1") != "0",
        gifts=GiftRanker.load(gift_path) if gift_path else None,
    )
