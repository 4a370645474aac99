"""``lsec data simulate`` and ``lsec data permute``: synthetic LSEC datasets and null controls.

Library imports happen inside the commands so that ``lsec --help`` stays fast.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Optional

import typer

_SIMULATE_HELP = """Generate a synthetic live-stream e-commerce dataset calibrated to the LSEC-GNN slides.

Users, items and streamers get latent topics and heavy-tailed popularity / activity; users follow streamers (interest match and popularity), streamers sell items in live sessions (a pair becomes a sell edge once its sales reach --sales-threshold, weight = sales), and a share --influence of the purchases is made through a followed streamer while it sells the item.

At --scale 1 the node counts equal Tables 1-2 (lsec-small: 29,422 users, 31,630 items, 4,633 streamers; lsec-large: 202,850 / 109,502 / 7,395) and the buy / follow / sell edge counts match them within 1 %. --scale S multiplies node counts by S and edge counts by S**(1 + G), G = --degree-exponent (default 0.5): mean degrees are the tables' times S**G (G = 0 keeps the mean degrees, G = 1 the densities).

--version 3 (simulator v3) keeps the counts and the story but gives every ~247 items, ~230 users and ~36 streamers one niche at any --scale (128 niches at --scale 1), with 95 % of organic purchases in the user's primary niche: data that collaborative filtering can learn, as the real data is. The default stays 2 (same seed, same bytes as before).

Timestamps cover 50 days from 2020-12-01 00:00 UTC. --null follow|sell shuffles the streamer endpoint of that relation (degrees kept, information gone): the control for the streamers' influence tests. Same --seed, same dataset.

Gifting presets (MMBee): --preset kuailive (23,772 users, 452,621 streamers, 21 days) or mmbee (20,000 users, 8,000 streamers, 7 + 1 days) simulate live rooms cut into 30-second segments, impressions (events/impressions.parquet: user, streamer, segment, ts, label, amount), gift edges (weight = amount) and segment features per modality (features/segment__{visual,speech,comment}.npy, segments x 3 frames x 16, float16). Both are calibrated to MMBee's 0.32 streamers gifted per user and 0.03 % positive impressions; every positive and 1.2 % of the negatives are written (meta.json "simulation" has the full-stream counts). --null graph makes a user's gift history uninformative; --null content shuffles the features across segments. Co-gifting communities (off by default, same bytes as before): --communities C cuts each category into C communities whose users gift each other's streamers (--community-boost on the gift logit), --streamer-share S keeps S x the preset's streamers (a denser gift graph); benchmarks/README.md "GIE gain: signal and model". --influence, --sales-threshold and --degree-exponent apply to the LSEC presets only.

Social-commerce preset (DM-GNN): --preset dmgnn (12,890 users, 8,000 items, 90 days from 2024-01-01 UTC; in expectation 457,000 social edges and 1,200,000 consumption records at --scale 1) writes edges/user__social__user.parquet (src acts on dst's content: like / comment / repost / trust as kind) and events/consumption.parquet (user, item, ts, kind browse / cart / pay, amount). Purchases are a Hawkes process on latent ties: a purchase of user v raises each follower's purchase rate by its share of --influence x (v's influence score) x --decay x exp(-decay x dt), dt in days (--influence in [0, 1): purchases triggered per purchase of a user with score 1); users who buy in the same categories come to interact. --null social rewires the social edges (degrees, times and kinds kept) so they carry no information about consumption. Knobs (defaults unchanged): --follows (latent ties per user), --burst (share of tie interactions that follow the followed user's purchases), --feedback (share of co-buyer edges); issue 15's strong-influence setting is --influence 0.9 --follows 1 --burst 0.5 --feedback 0.03.

Example: lsec data simulate --preset lsec-small --scale 0.1 --influence 0.5 --seed 0 --out data/lsec-small-0.1"""

_PERMUTE_HELP = """Write a copy of a dataset in which one relation carries no information.

The chosen endpoint of every edge of --relation (default: the streamer side, i.e. follow -> streamer, sell -> streamer, otherwise the destination) is shuffled at random: every node keeps its degree and each edge keeps its timestamp and weight. Pairs repeated by the shuffle are re-shuffled and, if still repeated, dropped (counted in meta.json under "permuted"). Splits of the input are not copied.

Example: lsec data permute data/lsec-small --relation follow --seed 1 --out data/lsec-small-null-follow"""


def _progress(progress: Optional[bool]) -> bool:
    return sys.stderr.isatty() if progress is None else progress


def _prepare_out(out: Path, force: bool) -> None:
    from lsec.data.store import prepare_output_folder

    prepare_output_folder(out, force=force)


def format_stats(stats: dict[str, Any], targets: dict[str, int] | None = None) -> str:
    """Tables 1-2 layout: node counts, edge counts (and targets when given), unique pairs, densities."""
    lines = [f"dataset {stats['name']}", f"{'node':<10}{'count':>12}" + (f"{'target':>12}" if targets else "")]
    for node_type, count in stats["nodes"].items():
        target = targets.get(f"num_{node_type}s") if targets else None
        lines.append(f"{node_type:<10}{count:>12,}" + (f"{target:>12,}" if target is not None else ""))
    header = f"{'relation':<10}{'edges':>12}{'pairs':>12}{'density':>11}"
    lines.append(header + (f"{'target':>12}{'ratio':>8}" if targets else ""))
    for rel in stats["relations"]:
        row = f"{rel['relation']:<10}{rel['edges']:>12,}{rel['unique_pairs']:>12,}{100 * rel['density']:>10.4f}%"
        target = targets.get(f"num_{rel['relation']}") if targets else None
        if target:
            row += f"{target:>12,}{rel['edges'] / target:>8.3f}"
        lines.append(row)
    return "\n".join(lines)


def simulate_command(
    out: Path = typer.Option(..., "--out", "-o", help="Dataset folder to write (new or empty)."),
    preset: str = typer.Option(
        "lsec-small",
        "--preset",
        help="lsec-small (Table 1), lsec-large (Table 2), the gifting presets kuailive, mmbee, or dmgnn (social).",
    ),
    scale: float = typer.Option(
        1.0, "--scale", help="Multiplies node counts (edges: see --degree-exponent), in (0, 4]."
    ),
    influence: float = typer.Option(
        0.5,
        "--influence",
        help="Share of purchases made through a followed streamer's live session, in [0, 1]; dmgnn: purchases "
        "triggered among its followers by a purchase of a user with influence score 1, in [0, 1).",
    ),
    decay: float = typer.Option(
        1.0, "--decay", help="dmgnn: per day, exponential decay of a tie's purchase's effect (recency), > 0."
    ),
    follows: float = typer.Option(
        6.0,
        "--follows",
        help="dmgnn: mean number of users a user follows (latent ties); fewer followers per influencer make each "
        "tie's purchase raise a follower's purchase rate more.",
    ),
    burst: float = typer.Option(
        0.0,
        "--burst",
        help="dmgnn: share of the tie interactions triggered by the followed user's purchases (exponential delay, "
        "mean 6 hours), in [0, 1]; 0 = all at uniform times.",
    ),
    feedback: float = typer.Option(
        0.15,
        "--feedback",
        help="dmgnn: share of the social edges between co-buyers of a category (consumption feeding back into who "
        "interacts with whom), in [0, 1); the rest ride on the latent ties.",
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same dataset)."),
    null: Optional[str] = typer.Option(
        None,
        "--null",
        help="Null control: 'follow' or 'sell' shuffles that relation's streamer endpoint (LSEC presets); "
        "'graph' (gift history uninformative) or 'content' (features shuffled) for the gifting presets; "
        "'social' (social edges rewired) for dmgnn.",
    ),
    sales_threshold: int = typer.Option(20, "--sales-threshold", help="Minimum sales for a sell edge."),
    degree_exponent: float = typer.Option(
        0.5,
        "--degree-exponent",
        help="Mean degrees are the tables' times scale**this: 0 keeps the mean degrees (dense at small scales), "
        "1 keeps the densities. No effect at --scale 1.",
    ),
    version: str = typer.Option(
        "2",
        "--version",
        help="LSEC presets: simulator version, 2 (default) or 3 (niches of ~250 items at every --scale and sharper "
        "interests, so collaborative filtering can learn them; benchmarks/README.md 'Simulator v3').",
    ),
    communities: int = typer.Option(
        0, "--communities", help="Gifting presets: communities per category (0: none, the default data)."
    ),
    community_boost: float = typer.Option(
        0.0,
        "--community-boost",
        help="Gifting presets: gift logit added inside a user's community (needs --communities).",
    ),
    streamer_share: float = typer.Option(
        1.0, "--streamer-share", help="Gifting presets: share of the preset's streamers kept, in (0, 1]."
    ),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty output folder (its splits are removed)."),
    progress: Optional[bool] = typer.Option(
        None, "--progress/--no-progress", help="Show a progress bar (default: when stderr is a terminal)."
    ),
) -> None:
    from lsec.cli import fail
    from lsec.data.simulate.gifting import PRESETS as GIFTING_PRESETS
    from lsec.data.simulate.lsec import check_version, simulate_lsec
    from lsec.data.simulate.social import PRESETS as SOCIAL_PRESETS
    from lsec.data.store import save
    from lsec.errors import LsecError

    if preset in GIFTING_PRESETS:
        knobs = {"communities_per_category": communities, "community_boost": community_boost}
        _simulate_gifting(
            out, preset, scale, seed, null, force, _progress(progress), knobs | {"streamer_share": streamer_share}
        )
        return
    if preset in SOCIAL_PRESETS:
        knobs = {"follows_per_user": follows, "burst_share": burst, "feedback_share": feedback}
        _simulate_social(out, preset, scale, influence, decay, seed, null, force, _progress(progress), knobs)
        return
    try:
        check_version(version)  # before the output folder is touched
        _prepare_out(out, force)
        began = time.perf_counter()
        graph = simulate_lsec(
            preset=preset,
            scale=scale,
            influence=influence,
            seed=seed,
            null=null,
            sales_threshold=sales_threshold,
            progress=_progress(progress),
            degree_exponent=degree_exponent,
            version=version,
        )
        save(graph, out)
    except LsecError as err:
        raise fail(str(err)) from None
    typer.echo(format_stats(graph.stats(), graph.meta["simulation"]["targets"]))
    typer.echo(f"wrote {out} in {time.perf_counter() - began:.1f} s")


def _simulate_gifting(
    out: Path,
    preset: str,
    scale: float,
    seed: int,
    null: Optional[str],
    force: bool,
    progress: bool,
    knobs: dict[str, Any],
) -> None:
    from lsec.cli import fail
    from lsec.data.events import save_dataset
    from lsec.data.simulate.gifting import GiftingModel, check_model, simulate_gifting
    from lsec.errors import LsecError

    try:
        model = GiftingModel(**knobs)
        check_model(model)  # before the output folder is touched
        _prepare_out(out, force)
        began = time.perf_counter()
        dataset = simulate_gifting(preset=preset, scale=scale, seed=seed, null=null, progress=progress, model=model)
        save_dataset(dataset.graph, out, events=dataset.events, features=dataset.features)
    except LsecError as err:
        raise fail(str(err)) from None
    sim = dataset.graph.meta["simulation"]
    full, targets = sim["full_stream"], sim["targets"]
    typer.echo(format_stats(dataset.graph.stats(), targets))
    typer.echo(
        f"full stream: {full['impressions']:,} impressions, {100 * full['positive_rate']:.4f}% positive "
        f"(target {100 * targets['positive_rate']:.4f}%); {sim['gifted_per_user']:.3f} streamers gifted per user "
        f"(target {targets['gifted_per_user']}); written: {sim['written_impressions']:,} impressions "
        f"(negatives kept at rate {sim['negative_rate']:.4g}), {sim['segments']:,} segments"
    )
    typer.echo(f"wrote {out} in {time.perf_counter() - began:.1f} s")


def _simulate_social(
    out: Path,
    preset: str,
    scale: float,
    influence: float,
    decay: float,
    seed: int,
    null: Optional[str],
    force: bool,
    progress: bool,
    knobs: dict[str, float] | None = None,
) -> None:
    from lsec.cli import fail
    from lsec.data.events import save_dataset
    from lsec.data.simulate.social import simulate_social, social_model
    from lsec.errors import LsecError

    try:
        model = social_model(**(knobs or {}))  # checked before the output folder is touched
        _prepare_out(out, force)
        began = time.perf_counter()
        dataset = simulate_social(
            preset=preset, scale=scale, influence=influence, decay=decay, seed=seed, null=null, progress=progress,
            model=model,
        )  # fmt: skip
        save_dataset(dataset.graph, out, events=dataset.events)
    except LsecError as err:
        raise fail(str(err)) from None
    sim = dataset.graph.meta["simulation"]
    realised, expected = sim["realised"], sim["expected"]
    typer.echo(format_stats(dataset.graph.stats()))
    typer.echo(
        f"social edges {realised['social_edges']:,} (expected {expected['social_edges']:,.0f}; "
        f"{realised['feedback_edges']:,} from co-purchases); consumption records "
        f"{realised['consumption_records']:,} (expected {expected['consumption_records']:,.0f}): "
        f"{realised['browse_records']:,} browse, {realised['cart_records']:,} cart, {realised['pay_records']:,} pay "
        f"({realised['triggered_pays']:,} triggered by a tie's purchase)"
    )
    typer.echo(f"wrote {out} in {time.perf_counter() - began:.1f} s")


def permute_command(
    dataset: Path = typer.Argument(..., help="Dataset folder (canonical format).", show_default=False),
    out: Path = typer.Option(..., "--out", "-o", help="Dataset folder to write (new or empty)."),
    relation: str = typer.Option("follow", "--relation", help="Relation to shuffle, e.g. follow or sell."),
    endpoint: Optional[str] = typer.Option(
        None, "--endpoint", help="src or dst (default: the streamer side, else dst)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the permutation."),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty output folder."),
) -> None:
    from lsec.cli import fail
    from lsec.data.simulate.permute import permute_relation
    from lsec.data.store import load, save
    from lsec.errors import LsecError

    try:
        if out.resolve() == dataset.resolve():
            raise LsecError(f"--out must differ from the input folder {dataset} (the input is never overwritten).")
        graph = load(dataset)
        try:
            shuffled = permute_relation(graph, relation, seed=seed, endpoint=endpoint)
        except (KeyError, ValueError) as err:
            message = err.args[0] if err.args else str(err)
            raise LsecError(f"{dataset}: {message}") from None
        _prepare_out(out, force)
        save(shuffled, out)
    except LsecError as err:
        raise fail(str(err)) from None
    record = shuffled.meta["permuted"][-1]
    typer.echo(format_stats(shuffled.stats()))
    typer.echo(
        f"shuffled the {record['endpoint']} of {relation!r} (seed {seed}; "
        f"{record['duplicates_dropped']:,} repeated pairs dropped); wrote {out}"
    )


def register(data_app: typer.Typer) -> None:
    data_app.command("simulate", help=_SIMULATE_HELP)(simulate_command)
    data_app.command("permute", help=_PERMUTE_HELP)(permute_command)
