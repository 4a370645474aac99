"""Ours (GF-CF, LightGCN) vs the models users compare against (implicit ALS / BPR, RecBole's LightGCN), one run.

    flock /tmp/lsec-cpu.lock .venv/bin/python benchmarks/compare_peers.py [--data-dir ../shared/data/gowalla]
        [--ours-epochs 40] [--als 256:40:0.01 ...] [--als-snapshots 1,2,...] [--bpr 256:0.05:0.01 ...]
        [--bpr-snapshots 10,20,...] [--recbole-budget 1800] [--skip recbole ...] [--out FILE]

Same Gowalla split (the LightGCN paper's), same machine, one process tree:

1. **Ours**, in this process: GF-CF (``lsec.nn.models.gfcf.GFCF``, as in gowalla_gfcf.py: alpha 0.3, k 256,
   randomized SVD) and LightGCN trained by ``lsec.train.bpr.train_bpr`` with the recipe of gowalla_lightgcn.py
   (batch 32,768, K = 4 negatives each the hardest of C = 16 draws, L2 3e-3, Adam 0.05 cosine to 0.005),
   evaluated every ``--ours-eval-every`` epochs (evaluation excluded from the training clocks).
2. **implicit** (PyPI ``implicit``, CPU build) in a throwaway venv ``benchmarks/_work/implicit-venv``: ALS for
   each ``--als FACTORS:ALPHA:REG`` and BPR for each ``--bpr FACTORS:LR:REG``. One fit of the largest iteration
   count per configuration; a fit callback saves the factors after each iteration count of the snapshot list
   (ALS and BPR have no schedule, so the factors after n iterations of a long fit are those of an n-iteration
   fit). The time spent saving is subtracted from the fit clocks. BPR's default learning rate is 0.05, not
   implicit's 0.01: on Gowalla, 0.01 still ranks only ~50% of the sampled pairs right after 10 iterations
   (implicit's own progress counts), 0.05 reaches 89% (a probe before the run, 128 factors).
3. **RecBole 1.2.1 LightGCN** in the venv of compare_recbole.py (its ``ensure_venv`` and ``write_atomic`` are
   imported, not copied), with the paper's setting as there (64-d, 3 layers, reg 1e-4, Adam 1e-3, batch 2,048,
   one uniform negative), trained by RecBole's dataloader and ``calculate_loss`` until ``--recbole-budget``
   seconds of training wall time have passed; the propagated embeddings (``model.forward()``) are saved every
   ``--recbole-snapshot-batches`` batches and at the end (saving excluded from the clocks), mapped from RecBole's
   internal ids back to ours.

Every peer is evaluated here, after its child has finished, with OUR full-sort protocol
(``lsec.evaluate.full_sort.full_sort_metrics``: every item scored as the dot product of the returned factors,
training items masked, all 29,858 test users), so all numbers are comparable. Per model: fit wall and process
CPU seconds (a child's own ``time.process_time``, all its threads; the child's whole CPU from ``getrusage`` is
recorded too), time to its best recall@20, the best and final recall@20 / ndcg@20, and the curve of
(training seconds, recall@20). Then "quality at equal time": for each peer's time to its best and its whole fit
time, the best recall@20 any of ours had reached within the same wall (and CPU) seconds.

Load averages are recorded at the start and end of every phase (the 2 cores are shared).
Results: benchmarks/results/compare_peers.json; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work"
PEERS = WORK / "peers"
IMPLICIT_VENV = WORK / "implicit-venv"
IMPLICIT_VERSION = "0.7.3"


# ------------------------------------------------------------------------------------------------ setup
def ensure_implicit_venv() -> Path:
    """A throwaway venv with implicit (CPU build, from PyPI); reused when it already imports."""
    python = IMPLICIT_VENV / "bin" / "python"
    probe = [str(python), "-c", f"import implicit; assert implicit.__version__ == {IMPLICIT_VERSION!r}"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", str(IMPLICIT_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", f"implicit=={IMPLICIT_VERSION}"], check=True)
    return python


def parse_triple(text: str) -> tuple[int, float, float]:
    """``"A:B:C"`` -> (int, float, float), e.g. factors:alpha:regularization."""
    try:
        first, second, third = text.split(":")
        return int(first), float(second), float(third)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected INT:FLOAT:FLOAT, e.g. 256:40:0.01; found {text!r}") from None


def parse_ints(text: str) -> list[int]:
    return sorted({int(part) for part in text.split(",") if part})


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# ------------------------------------------------------------------------------------------------ children
class SnapshotClock:
    """Wall and process-CPU seconds since start, minus the time spent inside ``pause()`` blocks."""

    def __init__(self) -> None:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        self.paused_wall = self.paused_cpu = 0.0

    def read(self) -> tuple[float, float]:
        return (
            time.perf_counter() - self.wall0 - self.paused_wall,
            time.process_time() - self.cpu0 - self.paused_cpu,
        )

    def add_pause(self, wall: float, cpu: float) -> None:
        self.paused_wall += wall
        self.paused_cpu += cpu


def save_snapshot(folder: Path, label: int, users, items, clock: SnapshotClock, rows: list[dict], **extra) -> None:
    """Record the clocks, then save the factors (the saving itself is excluded from the clocks)."""
    import numpy as np

    wall, cpu = clock.read()
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    np.save(folder / f"user_{label}.npy", np.ascontiguousarray(users, dtype=np.float32), allow_pickle=False)
    np.save(folder / f"item_{label}.npy", np.ascontiguousarray(items, dtype=np.float32), allow_pickle=False)
    clock.add_pause(time.perf_counter() - start_wall, time.process_time() - start_cpu)
    rows.append({"label": label, "train_wall_s": wall, "train_cpu_s": cpu, **extra})


def child_implicit(args: argparse.Namespace) -> None:
    """Inside the implicit venv: one fit, factors saved after each snapshot iteration; prints RESULT json."""
    import implicit
    import numpy as np
    import scipy.sparse as sp
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking
    from threadpoolctl import threadpool_info

    folder = Path(args.snapshot_dir)
    folder.mkdir(parents=True, exist_ok=True)
    data = np.load(args.train_file)
    shape = tuple(int(x) for x in data["shape"])
    first, second, third = parse_triple(args.config)
    snapshots = parse_ints(args.snapshots)
    iterations = max(snapshots)
    rows: list[dict] = []
    clock = SnapshotClock()
    # The CSR is built inside the timed fit: it is part of what a user of implicit does.
    train = sp.csr_matrix((np.ones(len(data["users"]), np.float32), (data["users"], data["items"])), shape=shape)
    if args.child == "implicit-als":
        model = AlternatingLeastSquares(
            factors=first, alpha=second, regularization=third, iterations=iterations, random_state=args.seed
        )
    else:
        model = BayesianPersonalizedRanking(
            factors=first, learning_rate=second, regularization=third, iterations=iterations, random_state=args.seed
        )

    def callback(iteration: int, *_) -> None:  # ALS passes (it, s, loss), BPR (it, s, correct, skipped)
        done = iteration + 1
        if done in snapshots:
            save_snapshot(folder, done, model.user_factors, model.item_factors, clock, rows, iterations=done)

    model.fit(train, show_progress=False, callback=callback)
    fit_wall, fit_cpu = clock.read()
    result = {
        "implicit_version": implicit.__version__,
        "config": args.config,
        "iterations": iterations,
        "fit_wall_s": fit_wall,
        "fit_cpu_s": fit_cpu,
        "snapshots": rows,
        "factors_shape": [list(model.user_factors.shape), list(model.item_factors.shape)],
        "num_threads": model.num_threads,
        "blas": [{k: v for k, v in x.items() if k in ("internal_api", "num_threads")} for x in threadpool_info()],
    }
    print("RESULT " + json.dumps(result), flush=True)


def child_recbole(args: argparse.Namespace) -> None:
    """Inside the RecBole venv: train RecBole's LightGCN for a wall-time budget, saving the propagated factors."""
    import numpy as np
    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.model.general_recommender import LightGCN
    from recbole.utils import init_seed

    folder = Path(args.snapshot_dir)
    folder.mkdir(parents=True, exist_ok=True)
    setup = SnapshotClock()
    config = Config(
        model="LightGCN",
        dataset="gowalla",
        config_dict={
            "data_path": str(Path(args.atomic_dir).parent),
            "benchmark_filename": ["train", "valid", "test"],
            "load_col": {"inter": ["user_id", "item_id"]},
            "embedding_size": 64,
            "n_layers": 3,
            "reg_weight": 1e-4,
            "learning_rate": 1e-3,
            "train_batch_size": 2048,
            "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1},
            "eval_args": {"mode": "full", "order": "RO", "group_by": "user"},
            "metrics": ["Recall", "NDCG"],
            "topk": [20],
            "epochs": 10_000,
            "device": "cpu",
            "use_gpu": False,
            "show_progress": False,
            "checkpoint_dir": str(WORK / "recbole-saved"),
            "seed": 2020,
            "reproducibility": True,
            "worker": 0,
            "state": "WARNING",
        },
    )
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, _, _ = data_preparation(config, dataset)
    model = LightGCN(config, train_data.dataset).to("cpu")
    optimizer = torch.optim.Adam(model.parameters(), lr=config["learning_rate"])
    setup_wall, setup_cpu = setup.read()
    # RecBole numbers tokens 1..n in order of appearance (0 = padding): map rows back to our indices.
    user_rows = np.asarray([int(t) for t in dataset.field2id_token["user_id"][1:]])
    item_rows = np.asarray([int(t) for t in dataset.field2id_token["item_id"][1:]])
    batches_per_epoch = len(train_data)
    rows: list[dict] = []

    def snapshot(step: int, epoch: float) -> None:
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        model.eval()
        with torch.no_grad():
            users, items = model.forward()
        ours_users = np.zeros((args.num_users, users.shape[1]), np.float32)
        ours_items = np.zeros((args.num_items, items.shape[1]), np.float32)
        ours_users[user_rows] = users[1:].numpy()
        ours_items[item_rows] = items[1:].numpy()
        model.train()
        clock.add_pause(time.perf_counter() - start_wall, time.process_time() - start_cpu)
        save_snapshot(folder, step, ours_users, ours_items, clock, rows, epoch=epoch, batches=step)

    clock = SnapshotClock()
    step = 0
    over = False
    epoch = 0
    while not over:
        model.train()
        if hasattr(train_data, "set_epoch"):
            train_data.set_epoch(epoch)
        for interaction in train_data:
            optimizer.zero_grad()
            loss = model.calculate_loss(interaction)
            loss.backward()
            optimizer.step()
            step += 1
            over = clock.read()[0] >= args.budget
            if over or step % args.snapshot_batches == 0 or step % batches_per_epoch == 0:
                snapshot(step, step / batches_per_epoch)
            if over:
                break
        epoch += 1
    fit_wall, fit_cpu = clock.read()
    result = {
        "setup_wall_s": setup_wall,
        "setup_cpu_s": setup_cpu,
        "fit_wall_s": fit_wall,
        "fit_cpu_s": fit_cpu,
        "batches": step,
        "batches_per_epoch": batches_per_epoch,
        "epochs_done": step / batches_per_epoch,
        "budget_s": args.budget,
        "snapshots": rows,
        "threads": torch.get_num_threads(),
        "recbole_users": len(user_rows),
        "recbole_items": len(item_rows),
    }
    print("RESULT " + json.dumps(result), flush=True)


# ------------------------------------------------------------------------------------------------ parent
def run_child(python: Path, child_args: list[str], env: dict | None = None, cwd: Path = WORK) -> dict:
    """Run this file as a child in another interpreter; return its RESULT line plus its own rusage."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    load_start = load_average()
    done = subprocess.run([str(python), __file__, *child_args], env=env, capture_output=True, text=True, cwd=str(cwd))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"child {child_args[:2]} failed:\n{done.stderr[-4000:]}")
    result = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:])
    result["process_wall_s"] = time.perf_counter() - wall
    result["process_cpu_s_rusage"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result["load_average"] = {"start": load_start, "end": load_average()}
    return result


def evaluate_snapshots(folder: Path, snapshots: list[dict], train, test) -> list[dict]:
    """Our full-sort metrics on each saved (user, item) factor pair; the files are removed afterwards."""
    import numpy as np
    import torch

    from lsec.evaluate.full_sort import dot_scores, full_sort_metrics

    curve = []
    for row in snapshots:
        label = row["label"]
        users = torch.from_numpy(np.load(folder / f"user_{label}.npy"))
        items = torch.from_numpy(np.load(folder / f"item_{label}.npy"))
        start = time.perf_counter()
        metrics = full_sort_metrics(dot_scores(users, items), train, test, ks=(20,))
        point = {**row, "recall@20": metrics["recall@20"], "ndcg@20": metrics["ndcg@20"]}
        point["eval_wall_s"] = time.perf_counter() - start
        curve.append(point)
        print(json.dumps(point), file=sys.stderr, flush=True)
        (folder / f"user_{label}.npy").unlink()
        (folder / f"item_{label}.npy").unlink()
    return curve


def summarise(name: str, kind: str, curve: list[dict], fit_wall: float, fit_cpu: float, **extra) -> dict:
    """Best / final metrics and the time to the best of one model's curve."""
    best = max(curve, key=lambda p: p["recall@20"])  # the first of equal bests
    final = curve[-1]
    return {
        "model": name,
        "side": kind,
        "fit_wall_s": fit_wall,
        "fit_cpu_s": fit_cpu,
        "wall_s_to_best": best["train_wall_s"],
        "cpu_s_to_best": best["train_cpu_s"],
        "best_recall@20": best["recall@20"],
        "best_ndcg@20": best["ndcg@20"],
        "final_recall@20": final["recall@20"],
        "final_ndcg@20": final["ndcg@20"],
        "curve": [[p["train_wall_s"], p["train_cpu_s"], p["recall@20"], p["ndcg@20"]] for p in curve],
        **extra,
    }


def run_gfcf(train, test) -> dict:
    import torch

    from lsec.evaluate.full_sort import full_sort_metrics
    from lsec.nn.models.gfcf import GFCF

    load_start = load_average()
    wall, cpu = time.perf_counter(), time.process_time()
    model = GFCF(alpha=0.3, k=256, solver="randomized").fit(train)
    fit_wall, fit_cpu = time.perf_counter() - wall, time.process_time() - cpu
    metrics = full_sort_metrics(model.score_block(), train, test, ks=(20,))
    point = {"train_wall_s": fit_wall, "train_cpu_s": fit_cpu, **metrics}
    return summarise(
        "GF-CF (alpha 0.3, k 256, randomized SVD)",
        "ours",
        [point],
        fit_wall,
        fit_cpu,
        eval_wall_s=time.perf_counter() - wall - fit_wall,
        eval_cpu_s=time.process_time() - cpu - fit_cpu,
        threads=torch.get_num_threads(),
        load_average={"start": load_start, "end": load_average()},
    )


def run_lightgcn(split, train, test, epochs: int, eval_every: int) -> dict:
    """gowalla_lightgcn.py's recipe; the clocks include building the adjacency, not the evaluations."""
    import torch

    from lsec.evaluate.full_sort import dot_scores, full_sort_metrics
    from lsec.graph.adjacency import bipartite_adjacency
    from lsec.nn.models.lightgcn import LightGCN
    from lsec.train.bpr import BPRConfig, train_bpr

    load_start = load_average()
    clock = SnapshotClock()
    adjacency = bipartite_adjacency(split.train_users, split.train_items, split.num_users, split.num_items)
    torch.manual_seed(0)
    model = LightGCN(split.num_users, split.num_items, embedding_dim=64, num_layers=3)
    config = BPRConfig(
        epochs=epochs, batch_size=32768, lr=0.05, reg=3e-3, seed=0, negatives=4, hard_candidates=16, lr_decay_to=0.1
    )
    curve: list[dict] = []

    def on_epoch(epoch: int, current: LightGCN) -> None:
        if epoch % eval_every and epoch != epochs:
            return None
        wall, cpu = clock.read()
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        with torch.no_grad():
            enc = current.encode({"buy": adjacency})
        metrics = full_sort_metrics(dot_scores(enc["buy.user"], enc["buy.item"]), train, test, ks=(20,))
        clock.add_pause(time.perf_counter() - start_wall, time.process_time() - start_cpu)
        point = {"label": epoch, "train_wall_s": wall, "train_cpu_s": cpu, **metrics}
        point["eval_wall_s"] = time.perf_counter() - start_wall
        curve.append(point)
        print(json.dumps(point), file=sys.stderr, flush=True)
        return None

    train_bpr(model, adjacency, split.train_users, split.train_items, config, on_epoch=on_epoch)
    fit_wall, fit_cpu = clock.read()
    return summarise(
        "LightGCN (lsec train_bpr: 64-d, 3 layers, K 4, C 16, L2 3e-3)",
        "ours",
        curve,
        fit_wall,
        fit_cpu,
        epochs=epochs,
        threads=torch.get_num_threads(),
        evaluations=curve,
        load_average={"start": load_start, "end": load_average()},
    )


def run_implicit(kind: str, config: str, snapshots: list[int], split, train, test, seed: int) -> dict:
    import numpy as np

    python = ensure_implicit_venv()
    PEERS.mkdir(parents=True, exist_ok=True)
    train_file = PEERS / "train.npz"
    if not train_file.exists():
        np.savez(train_file, users=split.train_users, items=split.train_items, shape=np.asarray(train.shape))
    folder = PEERS / f"{kind}-{config.replace(':', '_')}"
    # implicit's own advice: its threads, not BLAS's (it warns otherwise).
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    child_args = ["--child", f"implicit-{kind}", "--config", config, "--snapshots", ",".join(map(str, snapshots))]
    child_args += ["--train-file", str(train_file), "--snapshot-dir", str(folder), "--seed", str(seed)]
    result = run_child(python, child_args, env=env)
    curve = evaluate_snapshots(folder, result.pop("snapshots"), train, test)
    factors, second, third = parse_triple(config)
    name = (
        f"implicit ALS (factors {factors}, alpha {second:g}, reg {third:g})"
        if kind == "als"
        else f"implicit BPR (factors {factors}, lr {second:g}, reg {third:g})"
    )
    return summarise(name, "peer", curve, result["fit_wall_s"], result["fit_cpu_s"], evaluations=curve, child=result)


def run_recbole(split, train, test, budget: float, snapshot_batches: int) -> dict:
    import compare_recbole

    python = compare_recbole.ensure_venv()
    atomic = WORK / "recbole-data" / "gowalla"
    compare_recbole.write_atomic(split, atomic)
    folder = PEERS / "recbole-lightgcn"
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
    child_args = ["--child", "recbole", "--budget", str(budget), "--snapshot-batches", str(snapshot_batches)]
    child_args += ["--atomic-dir", str(atomic), "--snapshot-dir", str(folder)]
    child_args += ["--num-users", str(split.num_users), "--num-items", str(split.num_items)]
    result = run_child(python, child_args, env=env)
    curve = evaluate_snapshots(folder, result.pop("snapshots"), train, test)
    return summarise(
        "RecBole 1.2.1 LightGCN (64-d, 3 layers, lr 1e-3, batch 2048, 1 negative)",
        "peer",
        curve,
        result["fit_wall_s"],
        result["fit_cpu_s"],
        evaluations=curve,
        child=result,
    )


def ours_within(ours: list[dict], seconds: float, column: int) -> tuple[float | None, str | None]:
    """Best recall@20 any of our models had reached within ``seconds`` (column 0 = wall, 1 = CPU)."""
    best: tuple[float | None, str | None] = (None, None)
    for model in ours:
        for point in model["curve"]:
            if point[column] <= seconds and (best[0] is None or point[2] > best[0]):
                best = (point[2], model["model"])
    return best


def equal_time(ours: list[dict], peers: list[dict]) -> list[dict]:
    rows = []
    for peer in peers:
        for what, wall, cpu in (
            ("to its best", peer["wall_s_to_best"], peer["cpu_s_to_best"]),
            ("whole fit", peer["fit_wall_s"], peer["fit_cpu_s"]),
        ):
            ours_wall, model_wall = ours_within(ours, wall, 0)
            ours_cpu, model_cpu = ours_within(ours, cpu, 1)
            rows.append(
                {
                    "peer": peer["model"],
                    "peer_time": what,
                    "peer_wall_s": wall,
                    "peer_cpu_s": cpu,
                    "peer_best_recall@20": peer["best_recall@20"],
                    "ours_best_recall@20_within_wall": ours_wall,
                    "ours_model_within_wall": model_wall,
                    "ours_best_recall@20_within_cpu": ours_cpu,
                    "ours_model_within_cpu": model_cpu,
                }
            )
    return rows


def markdown(models: list[dict], rows: list[dict]) -> str:
    def f(x, digits=4):
        return "-" if x is None else f"{x:.{digits}f}"

    lines = [
        "| model | fit wall s | fit CPU s | wall s to best | CPU s to best | best recall@20 | best ndcg@20 "
        "| final recall@20 | final ndcg@20 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m in models:
        lines.append(
            f"| {m['model']} | {m['fit_wall_s']:.1f} | {m['fit_cpu_s']:.1f} | {m['wall_s_to_best']:.1f} "
            f"| {m['cpu_s_to_best']:.1f} | {f(m['best_recall@20'])} | {f(m['best_ndcg@20'])} "
            f"| {f(m['final_recall@20'])} | {f(m['final_ndcg@20'])} |"
        )
    lines += [
        "",
        "| peer | peer's time | wall s | CPU s | peer best recall@20 | ours within the wall s | ours within the CPU s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['peer']} | {r['peer_time']} | {r['peer_wall_s']:.1f} | {r['peer_cpu_s']:.1f} "
            f"| {f(r['peer_best_recall@20'])} | {f(r['ours_best_recall@20_within_wall'])} "
            f"({r['ours_model_within_wall'] or '-'}) | {f(r['ours_best_recall@20_within_cpu'])} "
            f"({r['ours_model_within_cpu'] or '-'}) |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--ours-epochs", type=int, default=40, help="our LightGCN's epochs (cosine schedule)")
    parser.add_argument("--ours-eval-every", type=int, default=2)
    parser.add_argument("--als", type=parse_triple, nargs="*", default=[(256, 40.0, 0.01)], metavar="F:ALPHA:REG")
    parser.add_argument("--als-snapshots", type=parse_ints, default=parse_ints("1,2,3,4,5,6,8,10,12,15,20,25,30"))
    parser.add_argument("--bpr", type=parse_triple, nargs="*", default=[(256, 0.05, 0.01)], metavar="F:LR:REG")
    parser.add_argument("--bpr-snapshots", type=parse_ints, default=parse_ints("10,20,30,50,75,100,150,200"))
    parser.add_argument("--recbole-budget", type=float, default=1800.0, help="RecBole's training wall seconds")
    parser.add_argument("--recbole-snapshot-batches", type=int, default=99, help="396 batches = 1 epoch")
    parser.add_argument("--skip", nargs="*", default=[], choices=["gfcf", "lightgcn", "als", "bpr", "recbole"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(HERE / "results" / "compare_peers.json"))
    # children
    parser.add_argument("--child", choices=["implicit-als", "implicit-bpr", "recbole"], help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--snapshots", help=argparse.SUPPRESS)
    parser.add_argument("--train-file", help=argparse.SUPPRESS)
    parser.add_argument("--snapshot-dir", help=argparse.SUPPRESS)
    parser.add_argument("--atomic-dir", help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--snapshot-batches", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--num-users", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--num-items", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "recbole":
        child_recbole(args)
        return
    if args.child:
        child_implicit(args)
        return

    sys.path.insert(0, str(HERE))
    import torch

    from _gowalla import DEFAULT_DIR, load_gowalla, peak_rss_gib

    # Venvs first, outside every clock (first use installs packages).
    if "als" not in args.skip or "bpr" not in args.skip:
        ensure_implicit_venv()
    if "recbole" not in args.skip:
        import compare_recbole

        compare_recbole.ensure_venv()

    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    load_start = load_average()
    split, train, test = load_gowalla(args.data_dir or DEFAULT_DIR)
    ours: list[dict] = []
    peers: list[dict] = []
    if "gfcf" not in args.skip:
        ours.append(run_gfcf(train, test))
    if "lightgcn" not in args.skip:
        ours.append(run_lightgcn(split, train, test, args.ours_epochs, args.ours_eval_every))
    for factors, alpha, reg in args.als if "als" not in args.skip else []:
        peers.append(
            run_implicit("als", f"{factors}:{alpha:g}:{reg:g}", args.als_snapshots, split, train, test, args.seed)
        )
    for factors, lr, reg in args.bpr if "bpr" not in args.skip else []:
        peers.append(
            run_implicit("bpr", f"{factors}:{lr:g}:{reg:g}", args.bpr_snapshots, split, train, test, args.seed)
        )
    if "recbole" not in args.skip:
        peers.append(run_recbole(split, train, test, args.recbole_budget, args.recbole_snapshot_batches))

    rows = equal_time(ours, peers)
    table = markdown(ours + peers, rows)
    result = {
        "started": started,
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {
            "cores": os.cpu_count(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "load_average_start": load_start,
            "load_average_end": load_average(),
        },
        "git_commit": subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=str(HERE)
        ).stdout.strip(),
        "config": {k: v for k, v in vars(args).items() if v is not None},
        "models": ours + peers,
        "equal_time": rows,
        "peak_rss_gib_parent": peak_rss_gib(),
        "table": table,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(table)


if __name__ == "__main__":
    main()
