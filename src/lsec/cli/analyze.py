"""``lsec analyze ...``: data analyses with an HTML report (streamers' influence, dataset overview)."""

from __future__ import annotations

from pathlib import Path

import typer

analyze_app = typer.Typer(help="Analyse a dataset and write a self-contained HTML report.", no_args_is_help=True)


@analyze_app.command("influence")
def influence(
    dataset: Path = typer.Argument(..., help="Dataset folder in the canonical format (lsec data simulate/import)."),
    out: Path = typer.Option(Path("influence.html"), "--out", "-o", help="HTML report to write."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write every number as JSON to this file."),
    samples: int = typer.Option(
        20_000, "--samples", min=2, help="Sampled units per pattern (users, user / item anchors)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of every random draw (same seed, same numbers)."),
    permutations: int = typer.Option(2000, "--permutations", min=1, help="Sign-flip permutations per p-value."),
    bootstrap: int = typer.Option(1000, "--bootstrap", min=0, help="Bootstrap resamples per confidence interval."),
    partners: int = typer.Option(
        1, "--partners", min=1, help="Partners per anchor in patterns 2-3 (their Jaccard values are averaged)."
    ),
    rewirings: int = typer.Option(
        0,
        "--rewirings",
        min=0,
        help="0: sign-flip test against one rewiring (calibrated with --partners 1 only); R > 0: graph-level Monte "
        "Carlo test against R rewirings, calibrated with any --partners (R >= 199 reaches p < 0.01).",
    ),
    exceedances: int = typer.Option(
        0,
        "--exceedances",
        min=0,
        help="With --rewirings: stop a relation's draws once its patterns were reached h times (p = h / draws).",
    ),
    progress: bool = typer.Option(True, "--progress/--quiet", help="Show a progress bar on stderr."),
) -> None:
    """Test the three patterns of streamers' influence against matched random baselines.

    Patterns: (1) streamers connect users with items (needs buy, follow, sell); (2) streamers connect similar users (buy, follow); (3) streamers connect similar items (buy, sell).

    Each pattern gets an effect ratio with a bootstrap CI, a p-value (sign-flip permutations, or with --rewirings the graph-level Monte Carlo test), its sample counts and a figure. The report also holds the dataset overview: statistics, degree distributions, edges per day. Patterns whose relations are missing are reported as not testable.
    """
    from lsec.analysis.report import influence_report
    from lsec.data.store import create_folder, load

    graph = load(dataset)
    for path in (out, json_out):  # fail before the tests run, not after
        if path is not None:
            create_folder(path.parent)
    html, result, _ = influence_report(
        graph,
        out,
        samples=samples,
        seed=seed,
        permutations=permutations,
        bootstrap=bootstrap,
        partners=partners,
        rewirings=rewirings,
        exceedances=exceedances,
        json_out=json_out,
        dataset_path=str(dataset.resolve()),
        show_progress=progress,
    )
    typer.echo(f"{'pattern':<36} {'ratio':>8} {'95% CI':>20} {'p-value':>9} {'units':>8}")
    for pattern in result.patterns:
        c = pattern.comparison
        if not pattern.tested or c is None:
            typer.echo(f"{pattern.title:<36} not testable: {pattern.skipped}")
            continue
        ci = f"[{c.ratio_ci[0]:.3g}, {c.ratio_ci[1]:.3g}]"
        typer.echo(f"{pattern.title:<36} {c.ratio:>8.3g} {ci:>20} {c.p_value:>9.2g} {c.n:>8,}")
    typer.echo(f"report: {html}" + (f"  numbers: {json_out}" if json_out else ""))


def register(app: typer.Typer) -> None:
    app.add_typer(analyze_app, name="analyze")
