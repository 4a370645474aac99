"""The MMBee part of ``lsec demo``: a small gifting simulation, SIM against SIM + GIE and SIM + MFQ + GIE.

Simulates the ``mmbee`` preset at a small scale (content and gift history both drive gifting) and runs
``lsec experiment mmbee-table1`` (the one experiment runner) for one seed with a short recipe: the SIM backbone,
SIM with graph-guided interest expansion (an expansion store built from the training days' gifts), and SIM with
multi-modal fusion and GIE, plus the streamer-popularity row on the same test impressions; prints one table of
the gift task's AUC / UAUC / GAUC.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lsec.cli.demo_dmgnn import summary_table

DEMO_ROWS = ("SIM", "SIM+GIE", "SIM+MFQ+GIE")
DEMO_OVERRIDES = (
    "train.epochs=3",  # the demo's budget is about two minutes on 2 cores
    "train.min_steps=0",
    "train.patience=2",
    "train.batch_size=512",
    "train.lr=0.01",
    "train.num_threads=1",
    "train.device=cpu",
)
DEMO_STORE = {"k": 10, "epochs": 2, "dim": 16}
COLUMNS = ("auc", "uauc", "gauc")


def mmbee_folders(out: Path, runs: Path) -> tuple[Path, Path]:
    """``(dataset folder, experiment folder)`` of the MMBee part, next to the demo's own."""
    return out.with_name(f"{out.name}-mmbee"), runs / "mmbee"


def mmbee_table(summary: dict[str, Any]) -> str:
    """One row per experiment row (test impressions of the gift task), one column per :data:`COLUMNS`."""
    return summary_table(summary, "test, gift task", COLUMNS)


def run_mmbee_demo(out: Path, runs: Path, *, scale: float = 0.05, seed: int = 0) -> dict[str, Any]:
    """Simulate with ``seed``, run the three rows (training seed 0), return the experiment summary (folders replaced)."""
    import shutil

    from lsec.data.events import save_dataset
    from lsec.data.simulate.gifting import simulate_gifting
    from lsec.evaluate.experiments import run_table

    data_dir, exp_dir = mmbee_folders(out, runs)
    simulated = simulate_gifting(preset="mmbee", scale=scale, seed=seed)
    for folder in (data_dir, exp_dir):
        if folder.exists():
            shutil.rmtree(folder)
    save_dataset(simulated.graph, data_dir, events=simulated.events, features=simulated.features)
    return run_table(
        "mmbee-table1",
        data_dir,
        exp_dir,
        repeats=1,
        rows=list(DEMO_ROWS),
        overrides=list(DEMO_OVERRIDES),
        store_options=DEMO_STORE,
    )
