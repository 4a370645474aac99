"""Our TGAT (lsec, ``train.engine: temporal``) and DyGLib's TGAT side by side: same data, settings and machine.

    flock /tmp/lsec-cpu.lock .venv/bin/python benchmarks/dyglib_side_by_side.py \\
        [--datasets dmgnn-1.0 delicious] [--epochs 3] [--out benchmarks/results/dyglib_side_by_side.json]

Issue 15 point 7. Per dataset, in one run:

1. **Data.** ``dmgnn-1.0``: ``lsec data simulate --preset dmgnn --scale 1 --seed 0`` (456,579 social events among
   12,890 users); ``delicious``: ``lsec data import delicious ../shared/data/delicious-contacts`` (15,328 contacts
   among 1,861 users). Both are written once under ``--work`` (outside git) and reused.
2. **Export** to DyGLib's processed layout, ``<work>/export/processed_data/<name>/``: ``ml_<name>.csv`` (a pandas
   index column, then ``u, i, ts, label, idx``: node ids ``user + 1``, edge ids ``1..E`` in time order, ``ts`` our
   unix seconds, label 0), ``ml_<name>.npy`` (``(E + 1, K)`` edge features: one-hot of the social kinds present,
   row 0 = padding) and ``ml_<name>_node.npy`` (``(N + 1, D)`` zeros: the data have no node features, which is
   what DyGLib's ``preprocess_data.py`` writes then), plus ``folds.npy`` (our fold of every row) and
   ``test_pairs.npz``.
3. **Ours**: ``configs/dmgnn/tgat.yaml`` (TGAT = DM-GNN without decay, link task only) with the shared settings
   below, trained by :class:`lsec.train.loop.Loop` (``run_epoch``, no validation), its epoch clock and its
   ``sampling`` phase timer (the temporal objective samples the hops under ``timer("sampling")``).
4. **DyGLib**: ``benchmarks/_dyglib_runner.py`` in DyGLib's throwaway venv, a child process (its docstring says
   what it reuses and what differs from DyGLib's own script); its sampler's ``get_historical_neighbors`` calls
   are timed by a wrapper on the instance.
5. **Test**: the same test pairs for both (our test fold's events, each with one random negative destination
   drawn uniformly over the users, seeded: :meth:`TemporalTask.evaluation_pairs`), both scored with neighbours
   from all events strictly before each pair's time, AUC / AP by :func:`lsec.metrics.link.link_metrics`.

Shared settings: 2 layers, ``--num-neighbors`` (20) most recent neighbours, 2 heads, dropout 0.1, node width
``--embedding-dim`` (ours: the learnable table; DyGLib: the zero node features, it has no table), time encoding
``--time-dim``, edge width = number of social kinds (ours: the kind embedding; DyGLib: the one-hot features),
``--epochs`` epochs of batches of ``--batch-size`` consecutive training events, one random negative per positive,
Adam at ``--lr``, the same chronological 70 / 15 / 15 split, ``torch.set_num_threads(--threads)`` both sides.
Model-level differences that remain (documented, not tuned away): ours embeds ``[src || dst || neg]`` in one
pass (3B queries), DyGLib embeds (src, dst) and (src, neg) apart (4B); ours skips padded neighbours, DyGLib
computes them; ours has a learnable node table, DyGLib's TGAT reads fixed features only.

Set-up of the peer (outside the repository; nothing of it is committed):

    # the fetch tool, or any clone of github.com/yule-BUAA/DyGLib
    git clone <mirror of yule-BUAA/DyGLib> /work/peers/DyGLib   # its data files are not needed
    python3 -m venv /work/peers/dyglib-venv
    /work/peers/dyglib-venv/bin/pip install torch==2.13.0
    /work/peers/dyglib-venv/bin/pip install numpy pandas scikit-learn tqdm tabulate

Without the checkout or the venv the script prints these commands and exits 0 (``--ours-only`` runs our side).
Load averages (``os.getloadavg``) are recorded before and after each side. Peak memory: each side's process
peak resident set (``VmHWM``) over training and test, reset (``/proc/self/clear_refs``) once its data are
loaded; ours runs in this process (which also holds the dataset and the export), DyGLib's in its child. Results: ``--out`` (JSON) and a
Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "_work" / "dyglib"
DYGLIB = Path("/work/peers/DyGLib")
DYGLIB_PYTHON = Path("/work/peers/dyglib-venv/bin/python")
SETUP = """DyGLib is not set up; to run the peer side:
    git clone <mirror of github.com/yule-BUAA/DyGLib> {dyglib}
    python3 -m venv {venv}
    {venv}/bin/pip install torch==2.13.0
    {venv}/bin/pip install numpy pandas scikit-learn tqdm tabulate"""
DATASETS = ("dmgnn-1.0", "delicious")


# ------------------------------------------------------------------------------------------------ data
def ensure_dataset(name: str, work: Path) -> Path:
    """The lsec dataset folder of ``name`` under ``work/data``, made by our CLI when missing."""
    folder = work / "data" / name
    if (folder / "meta.json").is_file():
        return folder
    lsec = str(Path(sys.executable).with_name("lsec"))
    if name.startswith("dmgnn-"):
        scale = name.removeprefix("dmgnn-")
        cmd = [lsec, "data", "simulate", "--preset", "dmgnn", "--scale", scale, "--seed", "0", "--out", str(folder)]
    elif name == "delicious":
        source = ROOT.parent / "shared" / "data" / "delicious-contacts"
        cmd = [lsec, "data", "import", "delicious", str(source), "--out", str(folder)]
    else:
        raise SystemExit(f"--datasets: expected dmgnn-<scale> or delicious. Got {name!r} instead.")
    subprocess.run(cmd, check=True)
    return folder


def our_config(dataset: Path, args: argparse.Namespace) -> Any:
    from lsec.config import load_config

    overrides = [
        f"data.dataset={dataset}",
        f"train.epochs={args.epochs}",
        f"train.batch_size={args.batch_size}",
        f"train.lr={args.lr}",
        f"train.seed={args.seed}",
        "train.validate=false",
        "train.device=cpu",
        f"model.hparams.num_neighbors={args.num_neighbors}",
        f"model.hparams.embedding_dim={args.embedding_dim}",
        f"model.hparams.time_dim={args.time_dim}",
        "model.hparams.num_layers=2",
        "model.hparams.num_heads=2",
        "model.hparams.dropout=0.1",
        "model.hparams.sampler=recent",
        "model.hparams.consumption_features=false",
    ]
    return load_config(ROOT / "configs" / "dmgnn" / "tgat.yaml", overrides)


def export_dyglib(task: Any, name: str, export_root: Path, embedding_dim: int) -> dict[str, Any]:
    """Write ``processed_data/<name>/`` in DyGLib's layout, the folds and the test pairs (module docstring)."""
    data = task.data
    folder = export_root / "processed_data" / name
    folder.mkdir(parents=True, exist_ok=True)
    num_events = len(data.src)
    kinds = np.zeros(num_events, np.int64) if data.kinds is None else data.kinds
    present, kind_column = np.unique(kinds, return_inverse=True)
    with open(folder / f"ml_{name}.csv", "w") as fh:
        fh.write(",u,i,ts,label,idx\n")
        rows = np.stack([np.arange(num_events), data.src + 1, data.dst + 1, data.ts, np.zeros(num_events, np.int64),
                         np.arange(1, num_events + 1)], axis=1)  # fmt: skip
        np.savetxt(fh, rows, fmt="%d", delimiter=",")
    edge_features = np.zeros((num_events + 1, len(present)), np.float64)
    edge_features[np.arange(1, num_events + 1), kind_column] = 1.0
    np.save(folder / f"ml_{name}.npy", edge_features)
    np.save(folder / f"ml_{name}_node.npy", np.zeros((data.num_users + 1, embedding_dim), np.float64))
    np.save(folder / "folds.npy", data.fold.astype(np.int8))
    pairs = task.evaluation_pairs("test")
    np.savez(
        folder / "test_pairs.npz",
        src=pairs["src"] + 1,
        dst=pairs["dst"] + 1,
        neg=pairs["random"] + 1,
        ts=pairs["ts"].astype(np.float64),
    )
    return {
        "events": num_events,
        "users": int(data.num_users),
        "kinds": [int(k) for k in present],
        "folds": {f: int((data.fold == i).sum()) for i, f in enumerate(("train", "valid", "test"))},
        "test_pairs": len(pairs["src"]),
        "folder": str(folder),
    }


# ------------------------------------------------------------------------------------------------ sides
def run_ours(task: Any, cfg: Any, args: argparse.Namespace, num_kinds: int) -> dict[str, Any]:
    import torch

    from lsec.metrics.link import link_metrics
    from lsec.train.loop import Loop
    from lsec.train.temporal import TemporalObjective, build_dmgnn

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg.model.hparams["edge_dim"] = num_kinds
    model = build_dmgnn(cfg, task)
    objective = TemporalObjective(model, task, lr=args.lr, batch_size=args.batch_size, seed=args.seed)
    loop = Loop(objective, epochs=args.epochs, validate=False)
    rss_start = reset_peak_rss()
    epochs = []
    for epoch in range(1, args.epochs + 1):
        start, cpu_start = time.perf_counter(), time.process_time()
        loss = loop.run_epoch(epoch)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        phases = loop.timer.pop()
        epochs.append(
            {"epoch": epoch, "seconds": round(seconds, 3), "cpu_seconds": round(cpu_seconds, 3),
             "sampler_seconds": phases.get("sampling", 0.0), "phases": phases, "train_loss": loss,
             "batches": objective.steps_per_epoch()}
        )  # fmt: skip
        print(f"ours epoch {epoch}: {seconds:.1f} s, sampler {phases.get('sampling', 0.0):.1f} s", flush=True)
    pairs = task.evaluation_pairs("test")
    model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        positive = task.link_scores(model, pairs["src"], pairs["dst"], pairs["ts"])
        negative = task.link_scores(model, pairs["src"], pairs["random"], pairs["ts"])
    test_seconds = time.perf_counter() - start
    return {
        "epochs": epochs,
        "memory_mib": {"rss_at_start": rss_start, "peak_rss": peak_rss(), "what": MEMORY_NOTE},
        "test_seconds": round(test_seconds, 3),
        "test": link_metrics(positive, negative),
        "parameters": int(sum(p.numel() for p in model.parameters() if p.requires_grad)),
        "widths": {"node": args.embedding_dim, "edge": num_kinds, "time": args.time_dim},
        "threads": torch.get_num_threads(),
    }


MEMORY_NOTE = "process VmHWM (peak resident MiB) over training and test, reset by /proc/self/clear_refs after set-up"


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def reset_peak_rss() -> float:
    """Reset the process's peak resident set (Linux ``clear_refs`` 5) and return the current RSS in MiB."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return _status_mib("VmRSS")


def peak_rss() -> float:
    """Peak resident set of this process in MiB since the last :func:`reset_peak_rss` (``VmHWM``)."""
    return _status_mib("VmHWM")


def run_dyglib(name: str, export: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from lsec.metrics.link import link_metrics

    folder = Path(export["folder"])
    out, scores = folder / "dyglib_result.json", folder / "dyglib_scores.npz"
    cmd = [
        str(args.dyglib_python), str(HERE / "_dyglib_runner.py"), "--dyglib", str(args.dyglib),
        "--root", str(folder.parent.parent), "--name", name, "--folds", str(folder / "folds.npy"),
        "--pairs", str(folder / "test_pairs.npz"), "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
        "--lr", str(args.lr), "--num-neighbors", str(args.num_neighbors), "--time-dim", str(args.time_dim),
        "--seed", str(args.seed), "--threads", str(args.threads), "--out", str(out), "--scores", str(scores),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, cwd=args.dyglib)
    result: dict[str, Any] = json.loads(out.read_text())
    test = np.load(scores)
    result["test"] = link_metrics(test["positive"], test["negative"])
    return result


# ------------------------------------------------------------------------------------------------ main
def summary(side: dict[str, Any]) -> dict[str, float]:
    seconds = [e["seconds"] for e in side["epochs"]]
    shares = [e["sampler_seconds"] / e["seconds"] for e in side["epochs"] if e["seconds"] > 0]
    return {
        "median_epoch_seconds": statistics.median(seconds),
        "median_epoch_cpu_seconds": statistics.median(e["cpu_seconds"] for e in side["epochs"]),
        "median_sampler_share": statistics.median(shares) if shares else float("nan"),
        "median_sampler_seconds": statistics.median(e["sampler_seconds"] for e in side["epochs"]),
        "peak_rss_mib": side.get("memory_mib", {}).get("peak_rss", float("nan")),
        "rss_at_start_mib": side.get("memory_mib", {}).get("rss_at_start", float("nan")),
        "test_auc": side["test"]["auc"],
        "test_ap": side["test"]["ap"],
    }


def peer_ready(args: argparse.Namespace) -> bool:
    if not (args.dyglib / "models" / "TGAT.py").is_file() or not args.dyglib_python.is_file():
        return False
    probe = subprocess.run([str(args.dyglib_python), "-c", "import torch, pandas, sklearn"], capture_output=True)
    return probe.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", nargs="+", default=list(DATASETS), help="dmgnn-<scale> (simulator) and / or delicious"
    )
    parser.add_argument("--epochs", type=int, default=3, help="training epochs, both sides")
    parser.add_argument("--batch-size", type=int, default=200, help="training events per batch, both sides")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate, both sides")
    parser.add_argument("--num-neighbors", type=int, default=20, help="most recent neighbours per node and layer")
    parser.add_argument("--embedding-dim", type=int, default=64, help="node width (ours: table; DyGLib: features)")
    parser.add_argument("--time-dim", type=int, default=64, help="time-encoding width, both sides")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads, both sides")
    parser.add_argument("--seed", type=int, default=0, help="seed of data split pairs, negatives and init")
    parser.add_argument("--work", type=Path, default=WORK, help="folder for datasets and exports (outside git)")
    parser.add_argument("--dyglib", type=Path, default=DYGLIB, help="DyGLib checkout")
    parser.add_argument("--dyglib-python", type=Path, default=DYGLIB_PYTHON, help="python of DyGLib's venv")
    parser.add_argument("--ours-only", action="store_true", help="run our side even without the peer")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "dyglib_side_by_side.json", help="JSON")
    args = parser.parse_args()

    has_peer = peer_ready(args)
    if not has_peer:
        print(SETUP.format(dyglib=args.dyglib, venv=args.dyglib_python.parent.parent))
        if not args.ours_only:
            print("skipped: DyGLib side by side needs the peer (or --ours-only)")
            return
    from lsec.train.temporal import temporal_task

    report: dict[str, Any] = {
        "machine": {"cpu": _cpu_name(), "cores": os.cpu_count(), "python": platform.python_version()},
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "out"},
        "datasets": {},
    }
    for name in args.datasets:
        dataset = ensure_dataset(name, args.work)
        cfg = our_config(dataset, args)
        task = temporal_task(cfg)
        export = export_dyglib(task, name, args.work / "export", args.embedding_dim)
        entry: dict[str, Any] = {"export": export}
        entry["load_before_ours"] = os.getloadavg()
        entry["ours"] = run_ours(task, cfg, args, len(export["kinds"]))
        entry["load_after_ours"] = os.getloadavg()
        if has_peer:
            entry["dyglib"] = run_dyglib(name, export, args)
            entry["load_after_dyglib"] = os.getloadavg()
        entry["summary"] = {side: summary(entry[side]) for side in ("ours", "dyglib") if side in entry}
        if has_peer:
            ours, theirs = entry["summary"]["ours"], entry["summary"]["dyglib"]
            entry["speedup_per_epoch"] = theirs["median_epoch_seconds"] / ours["median_epoch_seconds"]
            entry["speedup_per_epoch_cpu"] = theirs["median_epoch_cpu_seconds"] / ours["median_epoch_cpu_seconds"]
            entry["auc_difference"] = ours["test_auc"] - theirs["test_auc"]
            entry["peak_rss_ratio"] = theirs["peak_rss_mib"] / ours["peak_rss_mib"]
        report["datasets"][name] = entry
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1, default=float))
    print(table(report))


def table(report: dict[str, Any]) -> str:
    lines = [
        "| dataset | side | wall s / epoch (median) | CPU s / epoch | sampler share | peak RSS MiB (at start) "
        "| test AUC | test AP |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, entry in report["datasets"].items():
        for side, row in entry["summary"].items():
            lines.append(
                f"| {name} | {side} | {row['median_epoch_seconds']:.1f} | {row['median_epoch_cpu_seconds']:.1f} | "
                f"{row['median_sampler_share']:.0%} | {row['peak_rss_mib']:.0f} ({row['rss_at_start_mib']:.0f}) | "
                f"{row['test_auc']:.4f} | {row['test_ap']:.4f} |"
            )
        if "speedup_per_epoch" in entry:
            lines.append(
                f"| {name} | DyGLib / ours | {entry['speedup_per_epoch']:.1f}x | {entry['speedup_per_epoch_cpu']:.1f}x | | "
                f"{entry['peak_rss_ratio']:.2f}x | {entry['auc_difference']:+.4f} (ours - DyGLib) | |"
            )
    return "\n".join(lines)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
