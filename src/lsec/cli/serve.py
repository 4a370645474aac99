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
    workers: int = typer.Option(
        1,
        "--workers",
        help="Worker processes (artifact folders only): forked after the artifact is memory-mapped, so they share "
        "its pages.",
    ),
    watch: float = typer.Option(
        2.0,
        "--watch",
        help="Every N seconds each worker checks whether the artifact path (e.g. a symlink) points to a new export "
        "and swaps it in atomically; 0 = only on POST /admin/reload.",
    ),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level (info logs every request)."),
    batching: bool = typer.Option(
        True, "--batching/--no-batching", help="Score concurrent requests together (one table pass per batch)."
    ),
    device: str = typer.Option(
        "cpu",
        "--device",
        help="Where scores are computed: cpu (numba / numpy kernels), cuda, cuda:N, or auto (CUDA when torch sees "
        "a GPU, else cpu). One worker per GPU: with --device other than cpu, --workers must be 1.",
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
    from lsec.serve import kernels
    from lsec.serve.artifact import MANIFEST
    from lsec.serve.gifts import GiftRanker, is_gift_artifact
    from lsec.serve.live import Live
    from lsec.serve.recommender import Recommender

    if not 1 <= port <= 65535:
        raise LsecError(f"--port: expected 1 to 65535, found {port}.")
    if workers < 1:
        raise LsecError(f"--workers: expected a positive integer, found {workers}.")
    if watch < 0:
        raise LsecError(f"--watch: expected seconds >= 0, found {watch}.")
    if device != "cpu":
        from lsec.train.loop import resolve_device

        device = str(resolve_device(device))  # LsecError when CUDA is asked for and absent
        if device != "cpu" and workers > 1:
            raise LsecError(f"--workers {workers} with --device {device}: serve one worker per GPU (--workers 1).")
    if gifts is not None and not is_gift_artifact(gifts):
        raise LsecError(f"--gifts: {gifts} is not a gift artifact (export a GTR run with `lsec export RUN --out DIR`).")
    if is_gift_artifact(source):
        if gifts is not None:
            raise LsecError(f"--gifts: SOURCE {source} is already a gift artifact; pass an LSEC artifact as SOURCE.")
        gifts, source = source, None  # type: ignore[assignment]
    ranker = None if gifts is None else GiftRanker.load(gifts, device=device)
    is_artifact = source is not None and (source / MANIFEST).is_file()
    if workers > 1 and source is not None and not is_artifact:
        raise LsecError(f"--workers {workers} needs an artifact folder (lsec export); {source} is not one.")
    if source is None:
        rec = None
    elif is_artifact:  # arrays memory-mapped: every worker (and a swapped-in export) shares the file pages
        rec = Recommender.load(source, mmap=True, warm_up=workers == 1, device=device)
    else:
        rec = Recommender.open(source, device=device)  # a run folder: encoded here, no reload
    what = f"{rec.model} ({', '.join(rec.tasks)})" if rec is not None else f"gift model {ranker.artifact.model}"  # type: ignore[union-attr]

    def make_live() -> Live:
        live = Live(
            rec,
            ranker,
            batching=batching,
            artifact_path=source if is_artifact else None,
            gift_path=gifts,
            device=device,
        )
        live.watch(watch)
        return live

    if workers == 1:
        typer.echo(f"serving {what} on http://{host}:{port} (docs at /docs)", err=True)
        uvicorn.run(create_app(None, live=make_live()), host=host, port=port, log_level=log_level)
        return
    from lsec.serve.prefork import bind, serve_forked

    threads = max(1, (os.cpu_count() or 1) // workers)  # workers x kernel threads never oversubscribe the cores
    if rec is not None:  # the one-thread kernels, compiled here and shared by every worker (no thread pool)
        kernels.warm_up(serial=True)

    # The app is built here, before the fork: its routes, schemas and imports are shared by every worker.
    live = Live(rec, ranker, batching=batching, artifact_path=source if is_artifact else None, gift_path=gifts,
                device=device, start=False)  # fmt: skip
    app = create_app(None, live=live)

    def make_app() -> object:  # in each forked worker: its threads
        kernels.set_threads(threads)
        if rec is not None and threads > 1:
            kernels.warm_up()  # the parallel kernel: its thread pool must start in the worker
        live.start()
        live.watch(watch)
        return app

    try:
        sock = bind(host, port)
    except OSError as err:
        raise LsecError(f"--host {host} --port {port}: cannot listen there ({err.strerror or err}).") from None
    typer.echo(f"serving {what} on http://{host}:{port} ({workers} forked workers; docs at /docs)", err=True)
    serve_forked(make_app, sock, workers, log_level=log_level)
