"""``lsec predict``: consumption tiers of given users and link scores of given pairs at a time t (temporal runs)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import typer


def register(app: typer.Typer) -> None:
    app.command(
        "predict",
        help=(
            "Predict with a DM-GNN run (train.engine: temporal) at time T from the events strictly before T: the "
            "consumption-tier probabilities of --users (tier of the window [T, T + W)), or the probability that "
            "src acts on dst for --pairs src:dst. T is unix seconds or an ISO date / datetime (UTC unless it "
            "says otherwise).\n\n"
            "Example: lsec predict runs/dmgnn --users u0,u1 --time 2024-03-20; "
            "lsec predict runs/dmgnn --pairs u0:u1,u2:u3 --time 1710892800 --json"
        ),
    )(predict)


def parse_time(text: str) -> int:
    """Unix seconds from ``text``: an integer, or an ISO-8601 date / datetime (naive = UTC)."""
    from lsec.errors import LsecError

    value = text.strip()
    if value.lstrip("-").isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise LsecError(
            f"--time must be unix seconds or an ISO date / datetime (2024-03-20, 2024-03-20T12:00). Got {text!r}."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


def predict(
    run: Path = typer.Argument(..., help="Run folder written by `lsec train` with train.engine: temporal."),
    users: Optional[str] = typer.Option(None, "--users", help="Comma-separated external user ids: their tiers."),
    pairs: Optional[str] = typer.Option(None, "--pairs", help="Comma-separated src:dst user-id pairs: link scores."),
    time: str = typer.Option(..., "--time", help="Query time: unix seconds or ISO date / datetime (UTC)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Dataset folder, if it moved since training."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    import numpy as np

    from lsec.errors import LsecError
    from lsec.train.runs import load_run, read_run_info
    from lsec.train.temporal_runs import predict_links, predict_tiers

    if (users is None) == (pairs is None):
        raise LsecError("pass exactly one of --users u1,u2 and --pairs u1:u2,... (with --time T).")
    moment = parse_time(time)
    engine = read_run_info(run).get("engine")
    if engine != "temporal":
        raise LsecError(f"{run}: `lsec predict` needs a temporal run (train.engine: temporal). Got engine {engine!r}.")
    loaded = load_run(run, dataset=None if data is None else str(data))
    ids = loaded.split.data.user_ids
    index = {str(u): i for i, u in enumerate(ids)}

    def lookup(user: str) -> int:
        if user not in index:
            raise LsecError(
                f"{run}: unknown user id {user!r} (the run's dataset has {len(ids)} users, e.g. {ids[0]!r})."
            )
        return index[user]

    out: list[dict[str, Any]] = []
    if users is not None:
        names = [u.strip() for u in users.split(",") if u.strip()]
        if not names:
            raise LsecError(f"--users must list user ids. Got {users!r}.")
        rows = [lookup(u) for u in names]
        probabilities = predict_tiers(loaded, np.asarray(rows, np.int64), moment)
        for name, p in zip(names, probabilities, strict=True):
            out.append(
                {
                    "user": name,
                    "time": moment,
                    "tier": int(p.argmax()),
                    "probabilities": [round(float(x), 6) for x in p],
                }
            )
    else:
        assert pairs is not None
        parsed = []
        for item in (p.strip() for p in pairs.split(",")):
            src, sep, dst = item.partition(":")
            if not sep or not src or not dst:
                raise LsecError(f"--pairs must be src:dst user-id pairs separated by commas. Got {item!r}.")
            parsed.append((src, dst))
        src_rows = np.asarray([lookup(s) for s, _ in parsed], np.int64)
        dst_rows = np.asarray([lookup(d) for _, d in parsed], np.int64)
        scores = predict_links(loaded, src_rows, dst_rows, moment)
        for (src, dst), score in zip(parsed, scores, strict=True):
            out.append({"src": src, "dst": dst, "time": moment, "probability": round(float(score), 6)})
    if as_json:
        typer.echo(json.dumps(out, indent=2))
        return
    for row in out:
        typer.echo("  ".join(f"{k}={v}" for k, v in row.items()))
