"""Report figures (matplotlib, Agg backend), each returned as a base64 PNG ready for an ``<img src=data:...>``.

Every figure has a title, labelled axes and units. Colours: the pattern group is always blue, the
matched random baseline always grey, so a reader learns the code once.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import numpy as np

from lsec.analysis.influence import InfluenceResult, PatternResult
from lsec.analysis.overview import DatasetOverview

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TREATED = "#1f6fb4"
CONTROL = "#8c8c8c"
ENDS = ("#1f6fb4", "#e07b00")  # source / destination node type in degree plots
PALETTE = ("#1f6fb4", "#e07b00", "#2a9d3a", "#c23b3b", "#7b52ab", "#8c564b", "#d45fb0", "#17a2b8")
DPI = 110


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.titleweight": "bold",
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "legend.fontsize": 9,
            "legend.frameon": False,
            "font.family": "DejaVu Sans",
        }
    )
    return plt


def to_base64_png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    _pyplot().close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def degree_figure(overview: DatasetOverview) -> str:
    """Degree distributions per relation, both ends, on log-log axes."""
    plt = _pyplot()
    count = max(len(overview.relations), 1)
    cols = min(count, 3)
    rows = math.ceil(count / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols, 3.6 * rows), squeeze=False)
    for ax, rel in zip(axes.flat, overview.relations, strict=False):
        for colour, dist, marker in ((ENDS[0], rel.src_degree, "o"), (ENDS[1], rel.dst_degree, "s")):
            if dist.degree.size:
                label = f"{dist.node_type} (mean {dist.mean:.1f}, max {dist.max:,})"
                ax.loglog(dist.degree, dist.nodes, marker, ms=3.5, alpha=0.75, color=colour, label=label)
        ax.set_title(f"{rel.name}: {rel.src_type} \u2192 {rel.dst_type}")
        ax.set_xlabel("degree (distinct neighbours)")
        ax.set_ylabel("number of nodes")
        ax.legend(loc="upper right")  # "best" scans every point: slow on large graphs
    for ax in list(axes.flat)[len(overview.relations) :]:
        ax.set_axis_off()
    fig.suptitle(f"Degree distributions of {overview.name} (log-log)", fontweight="bold")
    fig.tight_layout()
    return to_base64_png(fig)


def activity_figure(overview: DatasetOverview) -> str | None:
    """Edges per day per timestamped relation (None when no relation has timestamps)."""
    timed = [r for r in overview.relations if r.timestamped]
    if not timed:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(len(timed), 1, figsize=(11, 2.3 * len(timed) + 0.6), sharex=True, squeeze=False)
    origin = datetime.fromtimestamp(overview.time_origin, tz=timezone.utc)
    # a log whose times are "seconds since its start" (no calendar origin) gets a day-number axis
    relative = overview.time_origin == 0 and max(int(r.day.max()) for r in timed) < 3650
    for i, (ax, rel) in enumerate(zip(axes[:, 0], timed, strict=True)):
        dates: Any = rel.day if relative else [origin + timedelta(days=int(d)) for d in rel.day]
        colour = PALETTE[i % len(PALETTE)]
        ax.fill_between(dates, rel.edges_per_day, step="mid", alpha=0.25, color=colour)
        ax.step(dates, rel.edges_per_day, where="mid", color=colour, lw=1.3)
        ax.set_title(f"{rel.name}: {rel.edges:,} edges over {rel.day.size} days", loc="left")
        ax.set_ylabel("edges per day")
        ax.set_ylim(bottom=0)
    if relative:
        axes[-1, 0].set_xlabel("day since the start of the log")
    else:
        axes[-1, 0].set_xlabel("date (UTC)")
        fig.autofmt_xdate()
    fig.suptitle(f"Activity over time of {overview.name}", fontweight="bold")
    fig.tight_layout()
    return to_base64_png(fig)


def pattern_figure(pattern: PatternResult) -> str:
    """Left: share of units with a value >= x (log-log; readable when most values are 0). Right: means, 95% CIs."""
    comparison = pattern.comparison
    assert comparison is not None
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [2.2, 1]})
    for values, colour, label in (
        (comparison.treated, TREATED, pattern.treated_label),
        (comparison.control, CONTROL, pattern.control_label),
    ):
        ordered = np.sort(values[values > 0])
        survival = (ordered.size - np.arange(ordered.size)) / values.size  # share of ALL units with value >= x
        zero_share = float(np.mean(values == 0))
        if ordered.size:
            left.step(ordered, survival, where="post", color=colour, lw=1.8, label=f"{label} (zero: {zero_share:.0%})")
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel(f"{pattern.value_label} (log scale)")
    left.set_ylabel("share of sampled units \u2265 x (log)")
    left.set_title("Distribution (complementary CDF)")
    left.legend(loc="lower left")

    means = [comparison.mean_treated, comparison.mean_control]
    errors = [1.96 * v.std(ddof=1) / math.sqrt(v.size) if v.size > 1 else 0.0 for v in (comparison.treated, comparison.control)]  # fmt: skip
    bars = right.bar([0, 1], means, yerr=errors, color=[TREATED, CONTROL], capsize=6, width=0.6)
    right.set_xticks([0, 1], ["pattern", "random"])
    right.set_ylabel("mean over sampled units")
    right.set_title(f"Means, 95% CI (x{comparison.ratio:.2f})")
    for bar, value, error in zip(bars, means, errors, strict=True):
        right.annotate(f"{value:.3g}", (bar.get_x() + bar.get_width() / 2, value + error), ha="center", va="bottom",
                       xytext=(0, 3), textcoords="offset points", fontsize=9)  # fmt: skip
    right.set_ylim(0, max(m + e for m, e in zip(means, errors, strict=True)) * 1.15 or 1.0)
    right.grid(axis="x", visible=False)
    fig.suptitle(
        f"{pattern.title}: n = {comparison.n:,} matched units, p = {comparison.p_value:.2g}", fontweight="bold"
    )
    fig.tight_layout()
    return to_base64_png(fig)


def effects_figure(result: InfluenceResult) -> str | None:
    """Forest plot: effect ratio (pattern / random) with its bootstrap CI per tested pattern, log axis."""
    tested = [p for p in result.patterns if p.tested]
    if not tested:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 0.8 * len(tested) + 1.4))
    for row, pattern in enumerate(reversed(tested)):
        c = pattern.comparison
        assert c is not None
        lo, hi = c.ratio_ci
        colour = TREATED if c.p_value < 0.01 else CONTROL
        ax.plot([lo, hi], [row, row], color=colour, lw=3, solid_capstyle="round")
        ax.plot([c.ratio], [row], "o", color=colour, ms=9)
        ax.annotate(f"x{c.ratio:.2f}  (p = {c.p_value:.2g})", (hi, row), xytext=(8, 0), textcoords="offset points",
                    va="center", fontsize=9)  # fmt: skip
    ax.axvline(1.0, color="black", lw=1, ls="--")
    ax.set_xscale("log")
    ax.set_yticks(range(len(tested)), [p.title for p in reversed(tested)])
    lows = [p.comparison.ratio_ci[0] for p in tested if p.comparison is not None]
    highs = [p.comparison.ratio_ci[1] for p in tested if p.comparison is not None]
    finite = [v for v in lows + highs + [1.0] if np.isfinite(v) and v > 0]
    ax.set_xlim(min(finite) / 1.5, max(finite) * 3.0)
    ax.set_xlabel("effect: mean of pattern group / mean of matched random baseline (log scale; 1 = no effect)")
    ax.set_title(f"Streamers' influence in {result.dataset}: effect ratios with 95% bootstrap CIs")
    ax.grid(axis="y", visible=False)
    fig.tight_layout()
    return to_base64_png(fig)


def learning_curves_figure(curves: Sequence[Mapping[str, Any]]) -> str | None:
    """Training loss per epoch and each validation metric per evaluation, one line per run.

    ``curves``: one mapping per run with ``label``, ``loss`` ((epochs,), (losses,)) and ``metrics``
    ({name: ((epochs,), (values,))}).
    """
    metric_names: list[str] = []
    for run in curves:
        metric_names += [m for m in run["metrics"] if m not in metric_names]
    has_loss = any(len(run["loss"][0]) for run in curves)
    panels = (["train loss"] if has_loss else []) + metric_names[:8]
    if not panels:
        return None
    plt = _pyplot()
    cols = min(len(panels), 3)
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, panel in zip(axes.flat, panels, strict=False):
        for i, run in enumerate(curves):
            epochs, values = run["loss"] if panel == "train loss" else run["metrics"].get(panel, ((), ()))
            if len(epochs):
                ax.plot(epochs, values, "-o", ms=3, lw=1.5, color=PALETTE[i % len(PALETTE)], label=run["label"])
        ax.set_title(panel if panel == "train loss" else f"validation {panel}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss (mean per batch)" if panel == "train loss" else f"{panel} (0-1)")
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_axis_off()
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="upper center", ncol=min(len(labels), 4), bbox_to_anchor=(0.5, 1.0))
    fig.suptitle("Learning curves", fontweight="bold", y=1.05 if handles else 1.0)
    fig.tight_layout()
    return to_base64_png(fig)


def influence_lift_figure(panels: Sequence[tuple[str, Mapping[str, Any]]]) -> str | None:
    """Later consumption lift of a user's ties per quantile bin of the model's influence score, one panel per run.

    ``panels``: ``(title, result)`` with ``result`` from :func:`lsec.analysis.dmgnn_influence.influence_lift`
    (the DM-GNN run first, then its null control). 1 = the ties buy no more after the user buys.
    """
    shown = [(title, result) for title, result in panels if result.get("bins")]
    if not shown:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(shown), figsize=(4.8 * len(shown), 3.6), squeeze=False, sharey=True)
    for ax, (i, (title, result)) in zip(axes.flat, enumerate(shown), strict=True):
        bins = result["bins"]
        x = np.arange(1, len(bins) + 1)
        lift = [b["lift"] for b in bins]
        ax.bar(x, lift, color=TREATED if i == 0 else CONTROL, width=0.7)
        for xi, b in zip(x, bins, strict=True):
            ax.annotate(f"{b['users']}", (xi, b["lift"]), xytext=(0, 3), textcoords="offset points",
                        ha="center", fontsize=8)  # fmt: skip
        ax.axhline(1.0, color="black", lw=1, ls="--")
        ax.set_xticks(x, [f"Q{j}" for j in x])
        ax.set_xlabel("influence score quantile (Q1 lowest; users above bars)")
        ax.set_title(f"{title}\nSpearman(score, lift) = {result['spearman']:.2f}, {result['users']} users")
    axes.flat[0].set_ylabel(
        f"ties' purchases in the {shown[0][1]['window_days']:g} day(s) after\n/ expected (1 = no lift)"
    )
    fig.tight_layout()
    return to_base64_png(fig)
