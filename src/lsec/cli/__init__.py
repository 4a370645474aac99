"""The ``lsec`` command line.

Each command group lives in its own module under ``lsec.cli`` and exposes ``register(app)``.
Modules import heavy libraries (torch, matplotlib, fastapi) inside the command functions, so that
``lsec --help`` stays fast.
"""

from __future__ import annotations

import importlib
import sys

import typer

from lsec.errors import LsecDataError, LsecError

# Order here is the order in `lsec --help`.
COMMAND_MODULES = (
    "demo",
    "data",
    "train",
    "evaluate",
    "predict",
    "recommend",
    "experiment",
    "analyze",
    "report",
    "export",
    "serve",
    "mmbee",
)

app = typer.Typer(
    name="lsec",
    help="Recommendation for live-stream e-commerce: datasets, LSEC-GNN training, evaluation, reports, serving.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
) -> None:
    if version:
        from lsec import __version__

        typer.echo(__version__)
        raise typer.Exit()


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"lsec.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"lsec.cli.{name}":
                continue  # command group not built yet
            raise
        module.register(app)


_register_all()


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` on stderr and return the Exit to raise (code 2: bad input)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: user errors print one message and exit 2, never a traceback.

    A file-system error that no command turned into an :class:`LsecError` (an output folder that cannot be
    created, a file that cannot be read or written) is the user's too: it names the path the OS names.
    """
    try:
        app(args=argv, standalone_mode=True)
    except LsecError as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(2)
    except OSError as err:  # last resort: PermissionError, FileNotFoundError, NotADirectoryError, ENOSPC ...
        typer.echo(f"error: {LsecDataError.from_os_error(err)}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
