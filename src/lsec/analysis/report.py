"""Self-contained HTML reports: streamers' influence + dataset overview, and training runs side by side.

Pages are rendered from the jinja2 templates in ``lsec/analysis/templates`` with every figure embedded as a
base64 PNG, so one ``.html`` file can be mailed, archived or opened offline.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lsec.analysis.influence import InfluenceResult, PatternResult, analyze_influence
from lsec.analysis.overview import DatasetOverview, dataset_overview
from lsec.analysis.runs import RunRecord, metric_tables, read_runs
from lsec.data.graph import HeteroGraph

METHODS = {
    "users_items": (
        "Units: users who bought something and follow someone. Value: items bought among the items their followed "
        "streamers sell, pooled over those streamers. Baseline: the same user's streamers in a random rewiring of "
        "the follow relation (every user keeps its follow count, every streamer its follower count)."
    ),
    "similar_users": (
        "Units: anchor users; partner = another follower of one of their followed streamers. Value: Jaccard index of "
        "bought items. Baseline: the partner drawn the same way in a random rewiring of the follow relation."
    ),
    "similar_items": (
        "Units: anchor items; partner = another item of one of their sellers. Value: Jaccard index of buyer sets. "
        "Baseline: the partner drawn the same way in a random rewiring of the sell relation."
    ),
}


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("lsec.analysis", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["num"] = _format_number
    env.filters["pval"] = _format_p_value
    env.filters["int_fmt"] = lambda v: f"{int(v):,}" if v is not None else ""
    return env


def _format_number(value: Any, digits: int = 3) -> str:
    if value is None or isinstance(value, str):
        return "" if value is None else value
    value = float(value)
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "\u221e" if value > 0 else "-\u221e"
    return f"{value:.{digits}g}"


def _format_p_value(value: float) -> str:
    return f"{value:.2g}" if value >= 1e-3 else f"{value:.1e}"


def _page_context() -> dict[str, Any]:
    from lsec import __version__

    return {"version": __version__, "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def _pattern_context(pattern: PatternResult, alpha: float) -> dict[str, Any]:
    from lsec.analysis.figures import pattern_figure

    context: dict[str, Any] = {
        "key": pattern.key,
        "title": pattern.title,
        "hypothesis": pattern.hypothesis,
        "method": METHODS[pattern.key],
        "tested": pattern.tested,
        "skipped": pattern.skipped,
        "counts": pattern.counts,
        "treated_label": pattern.treated_label,
        "control_label": pattern.control_label,
        "value_label": pattern.value_label,
        "verdict": "na",
    }
    comparison = pattern.comparison
    if pattern.tested and comparison is not None:
        significant = comparison.p_value < alpha
        context.update(comparison.to_dict())
        context["verdict"] = "yes" if significant else "no"
        context["verdict_text"] = f"Significant at {alpha:.0%}" if significant else f"Not significant at {alpha:.0%}"
        context["figure"] = pattern_figure(pattern)
    return context


def render_influence_report(
    result: InfluenceResult, overview: DatasetOverview, *, dataset_path: str = "", alpha: float = 0.01
) -> str:
    """HTML text of the influence report (verdict cards, per-pattern figures, dataset overview)."""
    from lsec.analysis.figures import activity_figure, degree_figure, effects_figure

    template = _environment().get_template("influence.html")
    return str(
        template.render(
            **_page_context(),
            dataset={"name": result.dataset, "path": dataset_path},
            params={
                "samples": result.samples,
                "seed": result.seed,
                "permutations": result.permutations,
                "bootstrap": result.bootstrap,
                "seconds": result.seconds,
                "rewirings": result.rewirings,
                "partners": result.partners,
            },
            patterns=[_pattern_context(p, alpha) for p in result.patterns],
            effects_figure=effects_figure(result),
            overview=overview,
            degree_figure=degree_figure(overview),
            activity_figure=activity_figure(overview),
            untimed=[r.name for r in overview.relations if not r.timestamped],
        )
    )


def influence_report(
    graph: HeteroGraph,
    out_html: str | os.PathLike[str],
    *,
    samples: int = 20_000,
    seed: int = 0,
    json_out: str | os.PathLike[str] | None = None,
    dataset_path: str = "",
    show_progress: bool = False,
    **test: Any,
) -> tuple[Path, InfluenceResult, DatasetOverview]:
    """Analyse an in-memory graph and write the HTML report (and optionally the numbers as JSON).

    ``test``: the options of :func:`~lsec.analysis.influence.analyze_influence` (permutations, bootstrap,
    partners, rewirings, exceedances)."""
    result = analyze_influence(graph, samples=samples, seed=seed, show_progress=show_progress, **test)
    overview = dataset_overview(graph)
    out = Path(out_html)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_influence_report(result, overview, dataset_path=dataset_path), encoding="utf-8")
    if json_out is not None:
        payload = {"influence": result.to_dict(), "overview": overview.to_dict(), "dataset_path": dataset_path}
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(payload, indent=2) + "\n")
    return out, result, overview


def write_influence_report(
    dataset_dir: str | os.PathLike[str],
    out_html: str | os.PathLike[str],
    samples: int = 20_000,
    seed: int = 0,
    *,
    json_out: str | os.PathLike[str] | None = None,
    show_progress: bool = False,
    **test: Any,
) -> Path:
    """Load a canonical dataset folder, test the three patterns and write the report; returns the HTML path."""
    from lsec.data.store import load

    graph = load(dataset_dir)
    out, _, _ = influence_report(
        graph,
        out_html,
        samples=samples,
        seed=seed,
        json_out=json_out,
        dataset_path=str(Path(dataset_dir).resolve()),
        show_progress=show_progress,
        **test,
    )
    return out


def dmgnn_influence_context(
    run_dirs: Sequence[str | os.PathLike[str]], null_run: str | os.PathLike[str] | None
) -> list[dict[str, Any]]:
    """Per temporal run with attention (DM-GNN / TGAT): the influence-score vs tie-lift figure and its numbers,
    next to the same for ``null_run`` (a run on the null-control dataset) when given."""
    from lsec.analysis.dmgnn_influence import influence_lift
    from lsec.analysis.figures import influence_lift_figure
    from lsec.nn.models.dmgnn.encoder import TemporalEncoder
    from lsec.train.runs import load_run, read_run_info

    def lift(path: str | os.PathLike[str]) -> dict[str, Any] | None:
        if read_run_info(Path(path)).get("engine") != "temporal":
            return None
        loaded = load_run(path)
        if not isinstance(loaded.model.encoder, TemporalEncoder):
            return None
        return influence_lift(loaded)

    def name(path: str | os.PathLike[str]) -> str:  # run folders are often .../<model>/seed<k>
        return "/".join(Path(path).resolve().parts[-2:])

    control = lift(null_run) if null_run is not None else None
    sections = []
    for path in run_dirs:
        result = lift(path)
        if result is None:
            continue
        panels = [(name(path), result)]
        if control is not None:
            panels.append((f"{name(str(null_run))} (null control)", control))
        sections.append(
            {
                "label": name(path),
                "figure": influence_lift_figure(panels),
                "rows": [
                    {"run": title, "spearman": r["spearman"], "users": r["users"], "bins": r["bins"]}
                    for title, r in panels
                ],
            }
        )
    return sections


def render_runs_report(runs: list[RunRecord], influence: list[dict[str, Any]] | None = None) -> str:
    from lsec.analysis.figures import learning_curves_figure

    template = _environment().get_template("runs.html")
    rows = []
    for run in runs:
        info = {key: run.info.get(key) for key in ("model", "dataset", "split", "seed", "status", "best_epoch")}
        info = {key: "" if value is None else value for key, value in info.items()}
        info["best_metric"] = run.info.get("best_metric")
        rows.append(
            {
                "label": run.label,
                "info": info,
                "loss": run.loss,
                "evaluations": max((len(v[0]) for v in run.metrics.values()), default=0),
                "warnings": run.warnings,
            }
        )
    return str(
        template.render(
            **_page_context(),
            runs=rows,
            curves_figure=learning_curves_figure([run.curve() for run in runs]),
            tables=metric_tables(runs),
            influence=influence or [],
        )
    )


def write_runs_report(
    run_dirs: Sequence[str | os.PathLike[str]],
    out_html: str | os.PathLike[str],
    *,
    null_run: str | os.PathLike[str] | None = None,
) -> Path:
    """Learning curves and metric tables of one or several run folders side by side; returns the HTML path.

    Temporal runs with attention also get the influence figure (:mod:`lsec.analysis.dmgnn_influence`), next
    to ``null_run``'s (a run on the null-control dataset) when given.
    """
    runs = read_runs(list(run_dirs))
    influence = dmgnn_influence_context(list(run_dirs), null_run)
    out = Path(out_html)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_runs_report(runs, influence), encoding="utf-8")
    return out
