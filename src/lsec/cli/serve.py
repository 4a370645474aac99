"""``lsec serve ARTIFACT``: the HTTP recommendation service (FastAPI + uvicorn, the ``serve`` extra)."""

from __future__ import annotations

import os
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command(
        "serve",
        help=(
            "Serve recommendations over HTTP: GET /healthz, GET /v1/users/{id}/items, GET /v1/users/{id}/streamers, "
            "POST /v1/recommendations; with a gift artifact (lsec export of a GTR run, as SOURCE or --gifts) "
            "POST /v1/gifts/rank; OpenAPI docs at /docs.\n\n"
            "Example: lsec serve artifacts/lsec-gcn --gifts artifacts/sim-gie-mfq --host 127.0.0.1 --port 8000"
        ),
    )(serve)


def serve(
    source: Path = typer.Argument(..., help="Artifact folder (`lsec export`), run folder, or a gift artifact."),
    gifts: Path | None = typer.Option(
        None, "--gifts", help="Gift artifact (`lsec export` of a GTR run) to serve as well: POST /v1/gifts/rank."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (127.0.0.1: this machine only)."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    workers: int = typer.Option(1, "--workers", help="Worker processes (artifact folders only; each loads a copy)."),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level (info logs every request)."),
    batching: bool = typer.Option(
        True, "--batching/--no-batching", help="Score concurrent requests together (one table pass per batch)."
    ),
) -> None:
    from lsec.errors import LsecError

    try:
        import uvicorn

        from lsec.serve.app import create_app
    except ModuleNotFoundError as err:
        raise LsecError(
            f"serving needs the 'serve' extra ({err.name} is missing): pip install 'lsec[serve]'."
        ) from None
    from lsec.serve.artifact import MANIFEST
    from lsec.serve.gifts import GiftRanker, is_gift_artifact
    from lsec.serve.recommender import Recommender

    if not 1 <= port <= 65535:
        raise LsecError(f"--port: expected 1 to 65535, found {port}.")
    if workers < 1:
        raise LsecError(f"--workers: expected a positive integer, found {workers}.")
    if gifts is not None and not is_gift_artifact(gifts):
        raise LsecError(f"--gifts: {gifts} is not a gift artifact (export a GTR run with `lsec export RUN --out DIR`).")
    if is_gift_artifact(source):
        if gifts is not None:
            raise LsecError(f"--gifts: SOURCE {source} is already a gift artifact; pass an LSEC artifact as SOURCE.")
        gifts, source = source, Path()
    ranker = None if gifts is None else GiftRanker.load(gifts)
    if ranker is not None and source == Path():
        if workers > 1:
            os.environ["LSEC_GIFTS"] = str(gifts.resolve()) if gifts else ""
            os.environ.pop("LSEC_ARTIFACT", None)
            typer.echo(f"serving gifts {gifts} on http://{host}:{port} ({workers} workers; docs at /docs)", err=True)
            uvicorn.run(
                "lsec.serve.app:app_from_env", factory=True, host=host, port=port, workers=workers, log_level=log_level
            )
            return
        typer.echo(f"serving gift model {ranker.artifact.model} on http://{host}:{port} (docs at /docs)", err=True)
        uvicorn.run(create_app(None, gifts=ranker), host=host, port=port, log_level=log_level)
        return
    if workers > 1:
        if not (source / MANIFEST).is_file():
            raise LsecError(f"--workers {workers} needs an artifact folder (lsec export); {source} is not one.")
        Recommender.load(source)  # fail here, with a message, rather than in every worker
        os.environ["LSEC_ARTIFACT"] = str(source.resolve())
        os.environ["LSEC_BATCHING"] = "1" if batching else "0"
        if gifts is not None:
            os.environ["LSEC_GIFTS"] = str(gifts.resolve())
        # each worker's kernel on cores // workers threads: workers x kernel threads never oversubscribe the cores
        os.environ.setdefault("LSEC_KERNEL_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
        typer.echo(f"serving {source} on http://{host}:{port} ({workers} workers; docs at /docs)", err=True)
        uvicorn.run(
            "lsec.serve.app:app_from_env", factory=True, host=host, port=port, workers=workers, log_level=log_level
        )
        return
    rec = Recommender.open(source)
    typer.echo(f"serving {rec.model} ({', '.join(rec.tasks)}) on http://{host}:{port} (docs at /docs)", err=True)
    uvicorn.run(create_app(rec, batching=batching, gifts=ranker), host=host, port=port, log_level=log_level)
