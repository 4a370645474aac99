"""``lsec data import kuailive|impressions-csv``: gifting logs into the canonical gift data (MMBee).

Library imports happen inside the commands so that ``lsec --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from lsec.cli.data_import import _TS_HELP, _prepare_out, _user_errors, import_app

_FORCE = "Replace a non-empty output folder (its splits are removed)."
_PROGRESS = "Show a progress bar (default: when stderr is a terminal)."


def _summary(graph: Any, out: Path) -> None:
    """Per file: rows read = kept + merged + rejected (top reasons); then what was written."""
    for label, entry in graph.meta["ingestion"]["files"].items():
        merged = (
            f" ({entry['merged_into_gift']:,} into a gift of the same segment)" if entry.get("merged_into_gift") else ""
        )
        typer.echo(
            f"{label}: {entry['rows_read']:,} rows read = {entry['kept']:,} kept + {entry['merged']:,} merged{merged} "
            f"+ {entry['rejected']:,} rejected"
        )
        for reason, count in list(entry["rejected_by_reason"].items())[:5]:
            typer.echo(f"    {count:>8,}  {reason}")
        if len(entry["rejected_by_reason"]) > 5:
            typer.echo(f"    ... {len(entry['rejected_by_reason']) - 5} more reasons in meta.json")
    for name in graph.meta.get("files_missing", []):
        typer.echo(f"note: no {name} in the folder (optional)")
    for name in graph.meta.get("files_not_imported", []):
        typer.echo(f"note: {name} is not part of the gift data and was not imported")
    gifting = graph.meta["gifting"]
    typer.echo(
        f"wrote {out}: {graph.num_nodes['user']:,} users, {graph.num_nodes['streamer']:,} streamers, "
        f"{gifting['rooms']:,} rooms, {gifting['segments']:,} segments; {gifting['impressions']:,} impressions "
        f"({gifting['gifts']:,} gifts, {100 * gifting['positive_rate']:.3f} % positive)"
    )
    if (out / "rejected").is_dir():
        typer.echo(f"rejected rows with their reasons: {out / 'rejected'}")


def _progress(progress: Optional[bool]) -> bool:
    return sys.stderr.isatty() if progress is None else progress


def kuailive_command(
    folder: Path = typer.Argument(
        ...,
        help="KuaiLive folder: gift.csv, click.csv, negative.csv, room.csv, user.csv, streamer.csv, title_embeddings*.npy.",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Dataset folder to write (new or empty)."),
    titles: Optional[Path] = typer.Option(
        None,
        "--titles",
        help="Title embeddings (.npy / .npz, one row per live_name_id; default: the folder's title_embeddings*).",
    ),
    utc_offset: float = typer.Option(
        8.0, "--utc-offset", help="Hours east of UTC at which the layout's days start (Kuaishou: 8, Beijing time)."
    ),
    name: Optional[str] = typer.Option(None, "--name", help="Dataset name (default: the output folder name)."),
    force: bool = typer.Option(False, "--force", help=_FORCE),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help=_PROGRESS),
) -> None:
    """Import the KuaiLive layout as MMBee gift data: impressions, rooms, 30-second segments, title features.

    gift.csv rows are gifts (label 1, amount = gift_price), click.csv and negative.csv rows exposures (label 0; one in the segment of a gift of the same user is merged into it). Timestamps are unix milliseconds; segments are 30-second slices from the room's start_timestamp; a room's title embedding becomes features/segment__title.npy. Only gift.csv is required. Rows with bad ids, times, prices, unknown users / streamers / rooms, or times outside their room are written to OUT/rejected/<file>.parquet with a reason.

    Example: lsec data import kuailive KuaiLive --out data/kuailive
    """
    with _user_errors():
        from lsec.data.formats.kuailive import import_kuailive
        from lsec.errors import LsecDataError

        if not folder.is_dir():
            raise LsecDataError(
                "folder not found", file=folder, expected="a KuaiLive folder (gift.csv, click.csv, ...)"
            )
        if titles is not None and not titles.is_file():
            raise LsecDataError("file not found", file=titles, expected="a .npy / .npz of title embeddings")
        _prepare_out(out, force)
        graph = import_kuailive(
            folder, out, titles=titles, utc_offset_hours=utc_offset, name=name, progress=_progress(progress)
        )
        _summary(graph, out)


def impressions_csv_command(
    file: Path = typer.Argument(..., help="CSV / TSV / Parquet with one impression per row."),
    out: Path = typer.Option(..., "--out", "-o", help="Dataset folder to write (new or empty)."),
    user_col: Optional[str] = typer.Option(None, "--user-col", help="User id column (default: user, user_id, uid)."),
    streamer_col: Optional[str] = typer.Option(
        None, "--streamer-col", help="Streamer id column (default: streamer, streamer_id, author, author_id, anchor)."
    ),
    ts_col: Optional[str] = typer.Option(
        None, "--ts-col", help="Timestamp column (default: ts, timestamp, time, ...)."
    ),
    label_col: Optional[str] = typer.Option(
        None,
        "--label-col",
        help="0 / 1 gift label column (default: label, gift, is_gift, y; 'none': amount > 0 is a gift).",
    ),
    amount_col: Optional[str] = typer.Option(
        None,
        "--amount-col",
        help="Gift amount column (default: amount, gift_price, price, value, coins; 'none': 1 per gift).",
    ),
    segment_col: Optional[str] = typer.Option(
        None,
        "--segment-col",
        help="Segment id column (default: segment, segment_id; 'none': 30-second slices of time).",
    ),
    room_col: Optional[str] = typer.Option(
        None,
        "--room-col",
        help="Room id column (default: room, room_id, live_id; 'none': one room per streamer and day).",
    ),
    ts_format: str = typer.Option("auto", "--ts-format", help=_TS_HELP),
    delimiter: Optional[str] = typer.Option(
        None, "--delimiter", "-d", help="Field delimiter (default: by extension, else sniffed)."
    ),
    utc_offset: float = typer.Option(
        0.0, "--utc-offset", help="Hours east of UTC at which days start (rooms without a room column, the time split)."
    ),
    name: Optional[str] = typer.Option(None, "--name", help="Dataset name (default: the output folder name)."),
    force: bool = typer.Option(False, "--force", help=_FORCE),
) -> None:
    """Import a generic file of gift impressions (user, streamer, ts, label and / or amount, optional segment and room).

    Ids of rooms and segments are scoped by streamer. A row in the segment of a gift of the same user with label 0 is merged into the gift. Rejected rows (bad ids, timestamps, labels, amounts, label and amount that disagree) go to OUT/rejected/<file>.parquet with a reason.

    Example: lsec data import impressions-csv impressions.csv --ts-format ms --out data/gifts
    """
    with _user_errors():
        from lsec.data.formats.common import parse_delimiter
        from lsec.data.formats.impressions_csv import import_impressions_csv

        parsed = parse_delimiter(delimiter)
        from lsec.data.formats.common import check_file

        check_file(file)
        _prepare_out(out, force)
        graph = import_impressions_csv(
            file,
            out,
            user_col=user_col,
            streamer_col=streamer_col,
            ts_col=ts_col,
            label_col=label_col,
            amount_col=amount_col,
            segment_col=segment_col,
            room_col=room_col,
            ts_format=ts_format,
            delimiter=parsed,
            utc_offset_hours=utc_offset,
            name=name,
        )
        _summary(graph, out)


def register(data_app: typer.Typer) -> None:
    del data_app  # the commands join `lsec data import`, registered by lsec.cli.data_import
    import_app.command("kuailive")(kuailive_command)
    import_app.command("impressions-csv")(impressions_csv_command)
