"""The DM-GNN part of ``lsec demo``: a small social-commerce simulation, links and tiers, with the ablation rows.

Simulates the ``dmgnn`` preset at a small scale and runs ``lsec experiment dmgnn`` (the one experiment runner)
for one seed with a short recipe: DM-GNN, DM-GNN without decay, the link task alone and the tier task alone,
plus the popularity / persistence baselines on the same test events; prints one table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

DEMO_ROWS = ("DM-GNN", "DM-GNN without decay", "link task alone", "tier task alone")
DEMO_OVERRIDES = (
    "model.hparams.num_layers=1",  # one attention layer: the demo's budget is about two minutes on 2 cores
    "model.hparams.embedding_dim=16",
    "train.epochs=4",
    "train.patience=2",
    "train.lr=0.01",
    "train.batch_size=100",
    "train.num_threads=1",
)
COLUMNS = ("link_auc_random", "link_auc_historical", "tier_macro_f1", "tier_accuracy")


def dmgnn_folders(out: Path, runs: Path) -> tuple[Path, Path]:
    """``(dataset folder, experiment folder)`` of the DM-GNN part, next to the demo's own."""
    return out.with_name(f"{out.name}-dmgnn"), runs / "dmgnn"


def summary_table(summary: dict[str, Any], first: str, columns: tuple[str, ...]) -> str:
    """Plain-text table of an experiment summary: one row per experiment row (the ``all`` group), one column per
    metric of ``columns`` (``-`` where the row has none); ``first`` heads the label column."""
    header = [first, *columns]
    body = []
    for label, entry in summary["rows"].items():
        values = entry.get("all", {})
        body.append([label, *(f"{values[m]['mean']:.4f}" if m in values else "-" for m in columns)])
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in [header, *body]
    )


def dmgnn_table(summary: dict[str, Any]) -> str:
    """One row per experiment row (test, all events), one column per :data:`COLUMNS`."""
    return summary_table(summary, "test, all events", COLUMNS)


def run_dmgnn_demo(out: Path, runs: Path, *, scale: float = 0.01, seed: int = 0) -> dict[str, Any]:
    """Simulate with ``seed``, run the four rows (training seed 0), return the experiment summary (folders replaced)."""
    import shutil

    from lsec.data.events import save_dataset
    from lsec.data.simulate.social import simulate_social
    from lsec.evaluate.experiments import run_table

    data_dir, exp_dir = dmgnn_folders(out, runs)
    simulated = simulate_social(preset="dmgnn", scale=scale, seed=seed)
    for folder in (data_dir, exp_dir):
        if folder.exists():
            shutil.rmtree(folder)
    save_dataset(simulated.graph, data_dir, events=simulated.events)
    return run_table(
        "dmgnn",
        data_dir,
        exp_dir,
        repeats=1,
        rows=list(DEMO_ROWS),
        overrides=list(DEMO_OVERRIDES),
    )
