"""``lsec data import csv|rechub|lightgcn|tiktok-mm|tianchi|epinions|delicious|ciao|social-csv``, ``lsec data validate`` and ``lsec data info``.

Library imports happen inside the commands so that ``lsec --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

if TYPE_CHECKING:
    from lsec.data.ingest import IngestResult

import_app = typer.Typer(
    help="Import foreign files into a canonical dataset folder (every row kept, merged or rejected with a reason).",
    no_args_is_help=True,
)

_TS_HELP = (
    "Timestamp format: s (unix seconds), ms (unix milliseconds), iso (ISO-8601; no offset = UTC), a strftime pattern "
    "such as '%d/%m/%Y %H:%M', or auto (numbers: seconds, or milliseconds when their median is above 1e11; else iso)."
)
_PROGRESS_HELP = "Show a progress bar (default: when stderr is a terminal)."


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn lsec errors into one ``error: ...`` line on stderr and exit code 2 (no traceback)."""
    from lsec.errors import LsecError

    try:
        yield
    except LsecError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None


def _prepare_out(out: Path, force: bool) -> None:
    from lsec.data.store import prepare_output_folder

    prepare_output_folder(out, force=force)  # before reading any input: a bad --out fails first


def _summary(result: IngestResult, out: Path) -> None:
    for label, entry in result.report.items():
        typer.echo(
            f"{label}: {entry['rows_read']:,} rows read = {entry['kept']:,} kept + {entry['merged']:,} merged "
            f"+ {entry['rejected']:,} rejected"
        )
        for reason, count in list(entry["rejected_by_reason"].items())[:5]:
            typer.echo(f"    {count:>8,}  {reason}")
        if len(entry["rejected_by_reason"]) > 5:
            typer.echo(f"    ... {len(entry['rejected_by_reason']) - 5} more reasons in meta.json")
        if entry.get("relation") and not entry.get("timestamps"):
            typer.echo("    note: no timestamp column; ts = 0 on these edges")
    graph = result.graph
    nodes = ", ".join(f"{n:,} {t}s" for t, n in graph.num_nodes.items())
    edges = ", ".join(f"{len(t):,} {r[1]}" for r, t in graph.edges.items())
    typer.echo(f"wrote {out}: {nodes}; edges: {edges}")
    if result.rejected:
        typer.echo(f"rejected rows with their reasons: {out / 'rejected'}")


def _progress(progress: Optional[bool]) -> bool:
    return sys.stderr.isatty() if progress is None else progress


def csv_command(
    out: Path = typer.Option(..., "--out", "-o", help="Dataset folder to write (new or empty)."),
    buy: Optional[Path] = typer.Option(None, "--buy", help="user-item buy edges (CSV, TSV, .gz or Parquet)."),
    follow: Optional[Path] = typer.Option(None, "--follow", help="user-streamer follow edges."),
    sell: Optional[Path] = typer.Option(None, "--sell", help="streamer-item sell edges (weight = sales)."),
    edges: list[str] = typer.Option(
        [], "--edges", help="Another relation as REL=PATH, e.g. gift=gifts.csv or social=friends.csv (repeatable)."
    ),
    users: Optional[Path] = typer.Option(None, "--users", help="User list; edges naming other users are rejected."),
    items: Optional[Path] = typer.Option(None, "--items", help="Item list; edges naming other items are rejected."),
    streamers: Optional[Path] = typer.Option(None, "--streamers", help="Streamer list (same rule)."),
    node_id_col: Optional[str] = typer.Option(
        None, "--node-id-col", help="Id column of the node lists (default: id, <type>_id, <type>, else the first)."
    ),
    user_col: Optional[str] = typer.Option(None, "--user-col", help="User id column in every edge file."),
    item_col: Optional[str] = typer.Option(None, "--item-col", help="Item id column in every edge file."),
    streamer_col: Optional[str] = typer.Option(None, "--streamer-col", help="Streamer id column in every edge file."),
    ts_col: Optional[str] = typer.Option(
        None, "--ts-col", help="Timestamp column (default: ts, timestamp, time, ... if present; 'none': no timestamps)."
    ),
    weight_col: Optional[str] = typer.Option(
        None, "--weight-col", help="Weight column (default: weight, count, sales, ... if present; 'none': no weight)."
    ),
    columns: list[str] = typer.Option(
        [],
        "--columns",
        help="Per-file mapping REL:field=column,... with fields src, dst, ts, weight, e.g. "
        "buy:src=uid,dst=iid,ts=time,weight=none (repeatable; wins over the per-type options).",
    ),
    delimiter: Optional[str] = typer.Option(
        None,
        "--delimiter",
        "-d",
        help="Field delimiter: a character or tab/comma/semicolon/pipe/space "
        "(default: by extension, .csv comma, .tsv tab, else sniffed from the header).",
    ),
    header: bool = typer.Option(
        True,
        "--header/--no-header",
        help="First line is a header. Without one, columns are 1-based positions "
        "(1 source id, 2 destination id, 3 timestamp, 4 weight).",
    ),
    ts_format: str = typer.Option("auto", "--ts-format", help=_TS_HELP),
    name: Optional[str] = typer.Option(None, "--name", help="Dataset name (default: the output folder name)."),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty output folder (its splits are removed)."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help=_PROGRESS_HELP),
) -> None:
    """Import one CSV / TSV / Parquet file per relation.

    Ids are kept as strings (whitespace trimmed, "12.0" read as "12"). Every input row is kept, merged as an exact duplicate, or written to OUT/rejected/<file>.parquet with its line number and a reason; the counts per file go to meta.json ("ingestion").

    Rejected rows: empty or null-marker ids (null, NaN, NA, ...), ids missing from a given node list, missing, unparseable, negative or future (> now + 1 day) timestamps, missing, non-numeric, negative or infinite weights, rows with the wrong number of fields or invalid UTF-8, self-loops of user-user / streamer-streamer relations. A file that cannot be used at all (missing, empty, header only, not UTF-8, wrong delimiter, missing column) stops the import with exit code 2.

    Example: lsec data import csv --buy buys.csv --follow follows.csv --sell sells.csv --ts-format iso --out data/shop
    """
    with _user_errors():
        from lsec.data.formats.common import parse_delimiter
        from lsec.data.formats.csv import import_csv, parse_column_spec
        from lsec.errors import LsecDataError

        edge_files: dict[str, Path] = {}
        for rel_name, path in (("buy", buy), ("follow", follow), ("sell", sell)):
            if path is not None:
                edge_files[rel_name] = path
        for spec in edges:
            rel_name, eq, path_text = spec.partition("=")
            if not eq or not path_text:
                raise LsecDataError(column="--edges", expected="REL=PATH, e.g. gift=gifts.csv", found=spec)
            edge_files[rel_name.strip()] = Path(path_text)
        if not edge_files:
            raise LsecDataError("nothing to import", expected="at least one of --buy, --follow, --sell, --edges")
        mapping = dict(parse_column_spec(spec) for spec in columns)
        _prepare_out(out, force)
        result = import_csv(
            edge_files,
            users=users,
            items=items,
            streamers=streamers,
            node_id_col=node_id_col,
            columns=mapping,
            user_col=user_col,
            item_col=item_col,
            streamer_col=streamer_col,
            ts_col=ts_col,
            weight_col=weight_col,
            delimiter=parse_delimiter(delimiter),
            header=header,
            ts_format=ts_format,
            name=name,
            out=out,
            show_progress=_progress(progress),
        )
        _summary(result, out)


def rechub_command(
    folder: Path = typer.Argument(..., help="RecHub folder: user.tsv, item.tsv, streamer.tsv, train/ val/ test/."),
    out: Path = typer.Option(..., "--out", "-o", help="Dataset folder to write (new or empty)."),
    header: Optional[bool] = typer.Option(
        None, "--header/--no-header", help="Force header detection (default: detected per file)."
    ),
    ts_format: str = typer.Option("auto", "--ts-format", help=_TS_HELP),
    num_candidates: int = typer.Option(
        500, "--num-candidates", min=2, help="Length of each drawn candidate list (folds without value rows)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the drawn candidate lists' negatives."),
    name: Optional[str] = typer.Option(None, "--name", help="Dataset name (default: the output folder name)."),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty output folder (its splits are removed)."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help=_PROGRESS_HELP),
) -> None:
    """Import the LSEC-GNN / RecHub TSV layout as it is; its train/val/test folders become the split "given".

    The authors' layout (yusanshi/RecHub): train/user.tsv, item.tsv, streamer.tsv (node lists), train/user-item-buy.tsv, user-streamer-follow.tsv, streamer-item-sell.tsv (edges), and val/ test/ user-item-buy.tsv (and user-streamer-follow.tsv) with "user item value" rows. Those val/test rows are the fixed candidate lists: value 1 = positive (also an edge of the fold), 0 = sampled negative (never an edge); the split keeps every row as given (no drawn negatives, repeats kept, nothing merged with training edges).

    Other layouts are read with tolerant guesses: node lists at the top level; val/test files without a value column are plain edges (their lists are drawn: --num-candidates, --seed); tab-separated (else sniffed); a header detected by usual names (user, item_id, ts, ...) or by a text first line over numeric data; id columns first, in the file-name order (user-item-buy: user, then item); then an optional timestamp (unix s / ms after 2001, or ISO-8601) and an optional numeric weight. Node lists, when present, fix the ids: edges naming other ids are rejected.

    Example: lsec data import rechub LSEC-Small --out data/lsec-small
    """
    with _user_errors():
        from lsec.data.formats.rechub_tsv import SPLIT_NAME, import_rechub

        _prepare_out(out, force)
        result = import_rechub(
            folder,
            out=out,
            name=name,
            header=header,
            ts_format=ts_format,
            num_candidates=num_candidates,
            seed=seed,
            show_progress=_progress(progress),
        )
        _summary(result, out)
        for label, entry in result.report.items():
            if entry.get("candidate_list"):
                fold = "valid" if entry["fold"] == 1 else "test"
                typer.echo(
                    f"{label}: candidate list: {entry['positives']:,} positives ({fold} {entry['relation']} edges) + "
                    f"{entry['negatives']:,} negatives, {entry['users']:,} users, kept as given"
                )
        if result.folds is not None:
            typer.echo(f"split {SPLIT_NAME!r} written from the fold folders: {out / 'splits' / SPLIT_NAME}")


def lightgcn_command(
    folder: Path = typer.Argument(
        ..., help="LightGCN folder holding train.txt[.gz], test.txt[.gz] and optionally valid.txt[.gz]."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Dataset folder to write (new or empty)."),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty output folder (its splits are removed)."),
) -> None:
    """Import the LightGCN / NGCF text layout (one line per user: user item item ...); the files become split "given".

    Ids are kept as they are (0-based ints); no timestamps; evaluation is full-sort, so no candidate lists are drawn.
    A valid.txt becomes the validation fold; without one, `lsec train` carves a validation fold from training
    (train.valid_fraction, seeded) or trains a fixed budget with train.validate=false.

    Example: lsec data import lightgcn ../shared/data/gowalla --out data/gowalla
    """
    with _user_errors():
        from lsec.data.formats.lightgcn_txt import SPLIT_NAME, find_files, find_valid, import_lightgcn_txt

        train_path, test_path = find_files(folder)
        valid_path = find_valid(folder)
        _prepare_out(out, force)
        graph = import_lightgcn_txt(train_path, test_path, out, valid_path=valid_path)
        buy = graph["buy"]
        files = " / ".join(p.name for p in (train_path, valid_path, test_path) if p is not None)
        typer.echo(
            f"imported {graph.num_nodes['user']} users, {graph.num_nodes['item']} items, {len(buy.src)} buy edges "
            f"into {out}; split {SPLIT_NAME!r} written from {files}"
            + ("" if valid_path else " (no valid.txt: `lsec train` carves a validation fold from training)")
        )


def tiktok_mm_command(
    folder: Path = typer.Argument(
        ..., help="TikTok multi-modal folder: train/valid/test.tsv[.gz] (user<TAB>item), image/audio_feat.npy."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Dataset folder to write (new or empty)."),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty output folder (its splits are removed)."),
) -> None:
    """Import the TikTok multi-modal split of MMSSL / DiffMM; train / valid / test become split "given".

    Ids are kept as they are (0-based ints); no timestamps; evaluation is full-sort, so no candidate lists are drawn. image_feat.npy / audio_feat.npy / text_feat.npy, when present, become features/item__image.npy etc. (one row per item, checked).

    Example: lsec data import tiktok-mm ../shared/data/tiktok-mm --out data/tiktok
    """
    with _user_errors():
        from lsec.data.formats.tiktok_mm import SPLIT_NAME, find_files, import_tiktok_mm

        files = find_files(folder)
        _prepare_out(out, force)
        graph = import_tiktok_mm(folder, out)
        folds = " / ".join(path.name for path in files.interactions.values())
        modalities = ", ".join(files.features) or "none"
        typer.echo(
            f"imported {graph.num_nodes['user']} users, {graph.num_nodes['item']} items, {len(graph['buy'].src)} buy "
            f"edges into {out}; split {SPLIT_NAME!r} written from {folds}; item features: {modalities}"
        )


def _dmgnn_summary(graph: Any, out: Path) -> None:
    """Per file: rows read = kept + merged + rejected (with the top reasons); then what was written."""
    for label, entry in graph.meta["ingestion"]["files"].items():
        typer.echo(
            f"{label}: {entry['rows_read']:,} rows read = {entry['kept']:,} kept + {entry['merged']:,} merged "
            f"+ {entry['rejected']:,} rejected"
            + (f"; kinds: {', '.join(f'{k} {n:,}' for k, n in entry['kinds'].items())}" if entry.get("kinds") else "")
        )
        for reason, count in list(entry["rejected_by_reason"].items())[:5]:
            typer.echo(f"    {count:>8,}  {reason}")
        if entry.get("time_known") is False:
            typer.echo("    note: this file has no time; its edges have ts = 0 (meta.json: time.time_known)")
    nodes = ", ".join(f"{n:,} {t}s" for t, n in graph.num_nodes.items())
    social = len(graph.edges[("user", "social", "user")]) if graph.has("social") else 0
    events = next((e["rows"] for e in graph.meta.get("events", []) if e["name"] == "consumption"), 0)
    typer.echo(f"wrote {out}: {nodes}; {social:,} social edges; {events:,} consumption events")
    if (out / "rejected").is_dir():
        typer.echo(f"rejected rows with their reasons: {out / 'rejected'}")


def _dmgnn_import(folder: Path, out: Path, force: bool, layout: str) -> None:
    with _user_errors():
        from lsec.errors import LsecDataError

        if not folder.is_dir():
            raise LsecDataError("folder not found", file=folder, expected=f"a {layout} folder")
        _prepare_out(out, force)
        from lsec.data.formats.ciao import import_ciao
        from lsec.data.formats.delicious_contacts import import_delicious_contacts
        from lsec.data.formats.epinions_trust import import_epinions_trust
        from lsec.data.formats.tianchi_ecomm import import_tianchi_ecomm

        importers: dict[str, Callable[[Path, Path], Any]] = {
            "tianchi": import_tianchi_ecomm,
            "epinions": import_epinions_trust,
            "delicious": import_delicious_contacts,
            "ciao": import_ciao,
        }
        _dmgnn_summary(importers[layout](folder, out), out)


_DMGNN_FORCE = "Replace a non-empty output folder (its splits are removed)."


def tianchi_command(
    folder: Path = typer.Argument(
        ..., help="Tianchi ecomm folder: ecomm_edge_train.txt[.gz], ecomm_user/item_feature.txt[.gz]."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Dataset folder to write (new or empty)."),
    force: bool = typer.Option(False, "--force", help=_DMGNN_FORCE),
) -> None:
    """Import Tianchi e-commerce behaviour (DyHATR ecomm) as DM-GNN consumption events.

    type 1 click -> browse (0), 2 collect -> collect (1), 3 cart -> cart (2), 4 buy -> pay (3); ts = the day at 00:00 UTC; amount = the item's price. User / item features become columns of nodes/user.parquet / nodes/item.parquet.

    Example: lsec data import tianchi ../shared/data/tianchi-ecomm --out data/tianchi
    """
    _dmgnn_import(folder, out, force, "tianchi")


def epinions_command(
    folder: Path = typer.Argument(..., help="Epinions folder: trust_with_step.csv[.gz] (truster,trustee,step)."),
    out: Path = typer.Option(..., "--out", "-o", help="Dataset folder to write (new or empty)."),
    force: bool = typer.Option(False, "--force", help=_DMGNN_FORCE),
) -> None:
    """Import Epinions trust with time steps as social edges of kind trust (3).

    The layout has steps, not times: ts = step * 86400 (synthetic; step = ts // 86400), time_origin 0.

    Example: lsec data import epinions ../shared/data/epinions-trust --out data/epinions
    """
    _dmgnn_import(folder, out, force, "epinions")


def delicious_command(
    folder: Path = typer.Argument(
        ..., help="Delicious folder: user_contacts_timestamps.csv[.gz] (user,contact,timestamp_ms)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Dataset folder to write (new or empty)."),
    force: bool = typer.Option(False, "--force", help=_DMGNN_FORCE),
) -> None:
    """Import Delicious contacts as social edges of kind contact (4); milliseconds floored to seconds.

    Example: lsec data import delicious ../shared/data/delicious-contacts --out data/delicious
    """
    _dmgnn_import(folder, out, force, "delicious")


def ciao_command(
    folder: Path = typer.Argument(..., help="Ciao folder: rating_with_timestamp.tsv[.gz], trust.tsv[.gz]."),
    out: Path = typer.Option(..., "--out", "-o", help="Dataset folder to write (new or empty)."),
    force: bool = typer.Option(False, "--force", help=_DMGNN_FORCE),
) -> None:
    """Import Ciao: ratings as consumption events of kind review (4, amount = rating), trust as social edges.

    The trust file has no time: its edges get ts = 0 and meta.json says time_known false for them (never a rating's time).

    Example: lsec data import ciao ../shared/data/ciao --out data/ciao
    """
    _dmgnn_import(folder, out, force, "ciao")


def social_csv_command(
    out: Path = typer.Option(..., "--out", "-o", help="Dataset folder to write (new or empty)."),
    social: Optional[Path] = typer.Option(None, "--social", help="user-user interactions: src, dst, ts [, kind]."),
    consumption: Optional[Path] = typer.Option(
        None, "--consumption", help="consumption events: user, item, ts [, kind] [, amount]."
    ),
    social_kind: Optional[str] = typer.Option(
        None, "--social-kind", help="Kind of every social row when the file has no kind column (e.g. trust)."
    ),
    consumption_kind: Optional[str] = typer.Option(
        None, "--consumption-kind", help="Kind of every consumption row when the file has no kind column (e.g. pay)."
    ),
    delimiter: Optional[str] = typer.Option(None, "--delimiter", "-d", help="Field delimiter (default: sniffed)."),
    ts_format: str = typer.Option("auto", "--ts-format", help=_TS_HELP),
    force: bool = typer.Option(False, "--force", help=_DMGNN_FORCE),
) -> None:
    """Import DM-GNN social interactions and / or consumption events from CSV / TSV / Parquet.

    Kinds by name or code: social like 0, comment 1, repost 2, trust 3, contact 4; consumption browse 0, collect 1, cart 2, pay 3, review 4 (synonyms such as click, buy, favorite accepted).

    Example: lsec data import social-csv --social interactions.csv --consumption orders.csv --out data/shop
    """
    with _user_errors():
        from lsec.data.formats.common import parse_delimiter
        from lsec.data.formats.social_csv import import_social_csv

        for path in (social, consumption):
            if path is not None and not path.is_file():
                from lsec.errors import LsecDataError

                raise LsecDataError("file not found", file=path, expected="an existing file")
        parsed = parse_delimiter(delimiter)
        _prepare_out(out, force)
        graph = import_social_csv(
            out,
            social=social,
            consumption=consumption,
            social_kind=social_kind,
            consumption_kind=consumption_kind,
            ts_format=ts_format,
            delimiter=parsed,
        )
        _dmgnn_summary(graph, out)


def validate_command(
    dataset: Path = typer.Argument(..., help="Dataset folder (written by lsec data import / simulate)."),
) -> None:
    """Check a dataset folder: structure, meta.json counts, timestamps, duplicates, ingestion report, splits.

    Exit code 0 when it is valid (warnings are printed), 2 with the problems named when it is not.
    """
    with _user_errors():
        from lsec.data.formats.validate import validate_dataset

        report = validate_dataset(dataset)
        for check in report.checks:
            typer.echo(f"checked: {check}")
        for warning in report.warnings:
            typer.echo(f"warning: {warning}")
        if not report.ok:
            for problem in report.problems:
                typer.echo(f"problem: {problem}", err=True)
            typer.echo(f"error: {dataset} is not a valid dataset ({len(report.problems)} problem(s)).", err=True)
            raise typer.Exit(2)
        typer.echo(f"ok: {dataset} is a valid dataset ({len(report.warnings)} warning(s)).")


def info_command(
    dataset: Path = typer.Argument(..., help="Dataset folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the same figures as JSON."),
) -> None:
    """Node counts, edge counts, unique pairs and densities (as Tables 1-2 of the LSEC-GNN slides)."""
    with _user_errors():
        from lsec.data.formats.validate import dataset_info, format_info

        stats: dict[str, Any] = dataset_info(dataset)
        typer.echo(json.dumps(stats, indent=2) if as_json else format_info(stats))


def register(data_app: typer.Typer) -> None:
    import_app.command("csv")(csv_command)
    import_app.command("rechub")(rechub_command)
    import_app.command("lightgcn")(lightgcn_command)
    import_app.command("tiktok-mm")(tiktok_mm_command)
    import_app.command("tianchi")(tianchi_command)
    import_app.command("epinions")(epinions_command)
    import_app.command("delicious")(delicious_command)
    import_app.command("ciao")(ciao_command)
    import_app.command("social-csv")(social_csv_command)
    data_app.add_typer(import_app, name="import")
    data_app.command("validate")(validate_command)
    data_app.command("info")(info_command)
