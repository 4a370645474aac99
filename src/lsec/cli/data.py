"""``lsec data ...``: simulate, import, validate, inspect and split datasets.

The sub-commands live in sibling modules (``data_import``, ``data_simulate``, ``data_split``), each
exposing ``register(data_app)``.
"""

from __future__ import annotations

import importlib

import typer

data_app = typer.Typer(
    help="Create, import, check, describe and split datasets in the canonical format.",
    no_args_is_help=True,
)

SUBMODULES = ("data_simulate", "data_import", "data_import_gifts", "data_split")


def register(app: typer.Typer) -> None:
    for name in SUBMODULES:
        try:
            module = importlib.import_module(f"lsec.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"lsec.cli.{name}":
                continue
            raise
        module.register(data_app)
    app.add_typer(data_app, name="data")
