"""``lsec recommend SOURCE --user ID -k 10``: top-k items (or streamers) for users, by external id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command(
        "recommend",
        help=(
            "Recommend items (--task buy) or streamers (--task follow) for users of a run or artifact folder.\n\n"
            "Examples: lsec recommend runs/lsec-gcn --user u17 -k 10;  "
            "lsec recommend artifacts/lsec-gcn --user u17 --user u42 --task follow --json;  "
            "lsec recommend artifacts/lsec-gcn --user new-1 --follows s3 --bought i7   (new user: fold-in)"
        ),
    )(recommend)


def recommend(
    source: Path = typer.Argument(..., help="Run folder (`lsec train`) or artifact folder (`lsec export`)."),
    users: list[str] = typer.Option(..., "--user", "-u", help="External user id (repeat for several users)."),
    k: int = typer.Option(10, "-k", "--k", help="Number of recommendations per user."),
    task: str = typer.Option("buy", "--task", "-t", help="'buy' (items) or 'follow' (streamers)."),
    include_seen: bool = typer.Option(False, "--include-seen", help="Keep what the user interacted with in training."),
    bought: Optional[list[str]] = typer.Option(None, "--bought", help="New user: an item id they bought (repeat)."),
    follows: Optional[list[str]] = typer.Option(
        None, "--follows", help="New user: a streamer id they follow (repeat)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (same shape as the HTTP API) instead of a table."),
) -> None:
    from lsec.errors import LsecError
    from lsec.serve.recommender import Recommender, UnknownIdError

    if k <= 0:
        raise LsecError(f"-k: expected a positive integer, found {k}.")
    if task not in ("buy", "follow"):
        raise LsecError(f"--task: expected 'buy' or 'follow', found {task!r}.")
    rec = Recommender.open(source)
    bought_items, followed_streamers = list(bought or []), list(follows or [])
    new = [u for u in users if not rec.knows("user", u)]
    if new and not (bought_items or followed_streamers):
        raise UnknownIdError("user", new, field="--user", known=rec.num_nodes("user"))
    options = {"bought_items": "--bought", "followed_streamers": "--follows"}
    try:
        answers = [
            rec.recommend_user(
                u,
                k=k,
                exclude_seen=not include_seen,
                task=task,
                bought_items=bought_items if u in new else (),
                followed_streamers=followed_streamers if u in new else (),
            )
            for u in users
        ]
    except UnknownIdError as err:  # name the command-line option, not the API field
        raise UnknownIdError(
            err.node_type, err.ids, field=options.get(err.field, err.field), known=len(err.ids)
        ) from None
    if as_json:
        payload = {
            "task": task,
            "k": k,
            "results": [
                {
                    "user_id": a.user_id,
                    "task": a.task,
                    "strategy": a.strategy,
                    "recommendations": [{"id": i, "score": s} for i, s in a.pairs()],
                    "notes": a.notes,
                }
                for a in answers
            ],
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    what = "item" if task == "buy" else "streamer"
    for a in answers:
        typer.echo(f"user {a.user_id} ({a.strategy}): top {len(a.ids)} {what}s")
        width = max([len(what), *(len(i) for i in a.ids)])
        typer.echo(f"  {'rank':>4}  {what:<{width}}  score")
        for rank, (target, score) in enumerate(a.pairs(), start=1):
            typer.echo(f"  {rank:>4}  {target:<{width}}  {score:.4f}")
        for note in a.notes:
            typer.echo(f"  note: {note}")
