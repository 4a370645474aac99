"""RecBole 1.2.1's LightGCN vs ours on the same Gowalla split, in one run.

    .venv/bin/python benchmarks/compare_recbole.py [--data-dir ../shared/data/gowalla] [--epochs 2]
        [--max-batches N]

1. Makes a throwaway venv ``benchmarks/_work/recbole-venv`` (gitignored) on first use: the local torch
   2.13.0 CPU wheel first (``--no-deps``: torch 2.13 wants setuptools>=77, RecBole 1.2.1 needs <70), then
   RecBole 1.2.1 with its pins (numpy<2, scipy 1.11, pandas<2.3, setuptools<70).
2. Writes the split as RecBole atomic files (``gowalla.train.inter`` / ``.valid.inter`` / ``.test.inter``,
   ``user_id:token item_id:token``). RecBole needs a validation file: it gets one training interaction per
   user, so masking it at test time masks nothing that is not already a training item.
3. Child process in that venv: RecBole's LightGCN with the paper's setting (64-d, 3 layers, reg 1e-4,
   Adam lr 1e-3, batch 2048, one uniform negative), trained by RecBole's own dataloader and
   ``calculate_loss`` for ``--epochs`` epochs (per-batch times recorded), then RecBole's full-sort test
   evaluation (Recall@20, NDCG@20). ``--max-batches`` times only the first N batches of epoch 1 and
   extrapolates the epoch time (no quality then): for a shared, overloaded machine.
4. Ours (``lsec.train.bpr.train_bpr``, unchanged) for the same number of epochs, once per variant of
   ``--ours`` (default: the recipe of gowalla_lightgcn.py, 4 negatives per positive, lr 0.05; and 1 negative
   per positive, lr 0.01, the same triples per epoch as RecBole). Each is evaluated (full sort, all test users)
   after each epoch and, until it first reaches RecBole's recall@20, every ``--eval-every-steps`` steps (a
   wrapper around ``bpr_gradient`` evaluates the model before the step; evaluation time is excluded from the
   training clocks). The time to RecBole's quality is our training time at the first evaluation that reaches
   RecBole's recall@20 (granularity: ``--eval-every-steps`` steps).

Time ratios are computed from both wall seconds and process CPU seconds (``time.process_time`` of each side's
process, all its threads), so the CPU ratio stays meaningful on a shared machine.
Prints a JSON line per side and a final JSON line with the per-epoch time ratio.
Results: benchmarks/results/compare_recbole.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work"
VENV = WORK / "recbole-venv"
TORCH_WHEEL = "/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
RECBOLE_DEPS = [
    "numpy<2", "scipy==1.11.*", "pandas<2.3", "setuptools<70", "filelock", "typing-extensions", "sympy",
    "networkx", "jinja2", "fsspec", "tqdm", "colorlog==4.7.2", "colorama==0.4.4", "scikit-learn", "pyyaml",
    "tensorboard", "tabulate", "plotly", "texttable",
]  # fmt: skip


def ensure_venv() -> Path:
    python = VENV / "bin" / "python"
    probe = [str(python), "-c", "import recbole, torch; assert torch.__version__.startswith('2.13.0')"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    wheel = TORCH_WHEEL if Path(TORCH_WHEEL).exists() else "torch==2.13.0"
    subprocess.run([*pip, "--no-deps", wheel], check=True)  # never an unpinned torch (CUDA wheels)
    subprocess.run([*pip, "--no-deps", "recbole==1.2.1", "thop"], check=True)
    subprocess.run([*pip, *RECBOLE_DEPS], check=True)
    return python


def write_atomic(split, folder: Path) -> None:
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    first = np.unique(split.train_users, return_index=True)[1]
    files = {
        "train": (split.train_users, split.train_items),
        "valid": (split.train_users[first], split.train_items[first]),
        "test": (split.test_users, split.test_items),
    }
    for name, (users, items) in files.items():
        lines = "\n".join(f"{u}\t{i}" for u, i in zip(users.tolist(), items.tolist()))
        (folder / f"gowalla.{name}.inter").write_text("user_id:token\titem_id:token\n" + lines + "\n")


# ---------------------------------------------------------------------------------------------- child
def child(args: argparse.Namespace) -> None:
    """Runs inside the RecBole venv: train and evaluate RecBole's LightGCN, print one JSON line."""
    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.model.general_recommender import LightGCN
    from recbole.trainer import Trainer
    from recbole.utils import init_seed

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
            "valid_metric": "Recall@20",
            "eval_batch_size": 4096,
            "epochs": args.epochs,
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
    train_data, _, test_data = data_preparation(config, dataset)
    model = LightGCN(config, train_data.dataset).to("cpu")
    trainer = Trainer(config, model)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["learning_rate"])
    batches_per_epoch = len(train_data)
    epochs = []
    for epoch in range(args.epochs):
        model.train()
        train_data.set_epoch(epoch) if hasattr(train_data, "set_epoch") else None
        wall, cpu = time.perf_counter(), time.process_time()
        batch_times = []
        for index, interaction in enumerate(train_data):
            start = time.perf_counter()
            optimizer.zero_grad()
            loss = model.calculate_loss(interaction)
            loss.backward()
            optimizer.step()
            batch_times.append(time.perf_counter() - start)
            if args.max_batches and index + 1 >= args.max_batches:
                break
        done = len(batch_times)
        epochs.append(
            {
                "batches": done,
                "wall_s": time.perf_counter() - wall,
                "cpu_s": time.process_time() - cpu,
                "epoch_wall_s_estimate": (time.perf_counter() - wall) * batches_per_epoch / done,
                "epoch_cpu_s_estimate": (time.process_time() - cpu) * batches_per_epoch / done,
            }
        )
        epochs[-1]["median_batch_wall_s"] = sorted(batch_times)[done // 2]
        if args.max_batches:
            break
    result = {"batches_per_epoch": batches_per_epoch, "epochs": epochs, "threads": torch.get_num_threads()}
    if not args.max_batches:
        wall, cpu = time.perf_counter(), time.process_time()
        model.eval()
        metrics = trainer.evaluate(test_data, load_best_model=False, show_progress=False)
        result["eval_wall_s"] = time.perf_counter() - wall
        result["eval_cpu_s"] = time.process_time() - cpu
        result["recall@20"] = float(metrics["recall@20"])
        result["ndcg@20"] = float(metrics["ndcg@20"])
        result["num_test_users"] = int(len(test_data.uid_list)) if hasattr(test_data, "uid_list") else None
    print("RESULT " + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------------------------- ours
def ours(
    split,
    train,
    test,
    epochs: int,
    batch_size: int,
    lr: float,
    lr_decay_to: float,
    negatives: int,
    target_recall: float | None,
    eval_every_steps: int,
) -> dict:
    """Train our LightGCN with ``train_bpr`` (unchanged) and evaluate it along the way.

    Evaluations run after every epoch and, while ``target_recall`` has not been reached, also every
    ``eval_every_steps`` steps (before the step: a wrapper around ``lsec.train.bpr.bpr_gradient``). Their
    time is subtracted from the training clocks, so ``train_wall_s`` / ``train_cpu_s`` are training only.
    """
    import torch

    import lsec.train.bpr as bpr
    from lsec.evaluate.full_sort import dot_scores, full_sort_metrics
    from lsec.graph.adjacency import bipartite_adjacency
    from lsec.nn.models.lightgcn import LightGCN

    adjacency = bipartite_adjacency(split.train_users, split.train_items, split.num_users, split.num_items)
    torch.manual_seed(0)
    model = LightGCN(split.num_users, split.num_items)
    steps_per_epoch = -(-len(split.train_users) // batch_size)
    rows: list[dict] = []
    eval_wall = [0.0]
    eval_cpu = [0.0]
    steps = [0]
    reached = [target_recall is None]
    start_wall, start_cpu = time.perf_counter(), time.process_time()

    def evaluate(current, epoch: float) -> dict:
        wall, cpu = time.perf_counter(), time.process_time()
        with torch.no_grad():
            enc = current.encode({"buy": adjacency})
        metrics = full_sort_metrics(dot_scores(enc["buy.user"], enc["buy.item"]), train, test, ks=(20,))
        row = {
            "epoch": epoch,
            "step": steps[0],
            "recall@20": metrics["recall@20"],
            "ndcg@20": metrics["ndcg@20"],
            "train_wall_s": wall - start_wall - eval_wall[0],
            "train_cpu_s": cpu - start_cpu - eval_cpu[0],
        }
        eval_wall[0] += time.perf_counter() - wall
        eval_cpu[0] += time.process_time() - cpu
        row["eval_wall_s"] = time.perf_counter() - wall
        rows.append(row)
        if target_recall is not None and row["recall@20"] >= target_recall:
            reached[0] = True
        print(json.dumps(row), file=sys.stderr, flush=True)
        return row

    original = bpr.bpr_gradient

    def gradient_with_evaluation(current, *args, **kwargs):
        if steps[0] and not reached[0] and steps[0] % eval_every_steps == 0 and steps[0] % steps_per_epoch:
            current.eval()
            evaluate(current, steps[0] / steps_per_epoch)
            current.train()
        steps[0] += 1
        return original(current, *args, **kwargs)

    def on_epoch(epoch: int, current) -> dict:
        return evaluate(current, float(epoch))

    config = bpr.BPRConfig(
        epochs=epochs, batch_size=batch_size, lr=lr, lr_decay_to=lr_decay_to, negatives=negatives, seed=0
    )
    bpr.bpr_gradient = gradient_with_evaluation  # type: ignore[assignment]
    try:
        bpr.train_bpr(model, adjacency, split.train_users, split.train_items, config, on_epoch=on_epoch)
    finally:
        bpr.bpr_gradient = original  # type: ignore[assignment]
    return {
        "evaluations": rows,
        "threads": torch.get_num_threads(),
        "batch_size": batch_size,
        "lr": lr,
        "lr_decay_to": lr_decay_to,
        "negatives": negatives,
        "steps_per_epoch": steps_per_epoch,
    }


def parse_variant(text: str) -> tuple[int, float]:
    """``"NEG:LR"`` -> (negatives per positive, Adam learning rate)."""
    try:
        negatives, lr = text.split(":")
        return int(negatives), float(lr)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--ours expects NEG:LR, e.g. 4:0.05; found {text!r}") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-batches", type=int, default=0, help="time only the first N RecBole batches")
    parser.add_argument("--batch-size", type=int, default=32768, help="our batch size (positives per step)")
    parser.add_argument(
        "--ours",
        type=parse_variant,
        nargs="+",
        default=[(4, 0.05), (1, 0.01)],
        help="our variants as NEG:LR (negatives per positive : Adam lr); the first one is the headline",
    )
    parser.add_argument("--lr-decay-to", type=float, default=0.1, help="our cosine schedule's final lr fraction")
    parser.add_argument("--eval-every-steps", type=int, default=5, help="our evaluations before reaching RecBole")
    parser.add_argument("--skip-recbole", default=None, help="reuse the RecBole side of this results JSON")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--atomic-dir", default=str(WORK / "recbole-data" / "gowalla"), help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(HERE / "results" / "compare_recbole.json"))
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    sys.path.insert(0, str(HERE))
    from _gowalla import DEFAULT_DIR, load_gowalla

    split, train, test = load_gowalla(args.data_dir or DEFAULT_DIR)
    machine = {"load_average_start": os.getloadavg(), "cores": os.cpu_count()}
    if args.skip_recbole:
        recbole = json.loads(Path(args.skip_recbole).read_text())["recbole"]
    else:
        python = ensure_venv()
        write_atomic(split, Path(args.atomic_dir))
        env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
        command = [str(python), __file__, "--child", "--epochs", str(args.epochs), "--atomic-dir", args.atomic_dir]
        if args.max_batches:
            command += ["--max-batches", str(args.max_batches)]
        wall = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=str(WORK))
        if done.returncode != 0:
            raise SystemExit(f"RecBole child failed:\n{done.stderr[-4000:]}")
        recbole = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:])
        recbole["process_wall_s"] = time.perf_counter() - wall
    print(json.dumps({"side": "recbole", **recbole}), flush=True)
    rb_epoch_wall = sum(e["epoch_wall_s_estimate"] for e in recbole["epochs"]) / len(recbole["epochs"])
    rb_epoch_cpu = sum(e["epoch_cpu_s_estimate"] for e in recbole["epochs"]) / len(recbole["epochs"])
    target = recbole.get("recall@20")

    variants = []
    for negatives, lr in args.ours:
        mine = ours(
            split, train, test, args.epochs, args.batch_size, lr, args.lr_decay_to, negatives, target,
            args.eval_every_steps,
        )  # fmt: skip
        print(json.dumps({"side": "lsec", **mine}), flush=True)
        epoch_ends = [e for e in mine["evaluations"] if float(e["epoch"]).is_integer()]
        last = epoch_ends[-1]
        our_epoch_wall = last["train_wall_s"] / len(epoch_ends)
        our_epoch_cpu = last["train_cpu_s"] / len(epoch_ends)
        row = {
            "negatives": negatives,
            "lr": lr,
            "lsec_epoch_wall_s": our_epoch_wall,
            "lsec_epoch_cpu_s": our_epoch_cpu,
            "epoch_time_ratio_wall": rb_epoch_wall / our_epoch_wall,
            "epoch_time_ratio_cpu": rb_epoch_cpu / our_epoch_cpu,
            "lsec_recall@20": last["recall@20"],
            "lsec_ndcg@20": last["ndcg@20"],
        }
        if target is not None:
            hit = [e for e in mine["evaluations"] if e["recall@20"] >= target]
            row["lsec_first_reaching_recbole_recall"] = hit[0] if hit else None
            row["lsec_wall_s_to_recbole_recall"] = hit[0]["train_wall_s"] if hit else None
            row["lsec_cpu_s_to_recbole_recall"] = hit[0]["train_cpu_s"] if hit else None
        variants.append({"summary": row, "run": mine})

    summary = {
        "epochs": args.epochs,
        "machine": {**machine, "load_average_end": os.getloadavg()},
        "recbole_epoch_wall_s": rb_epoch_wall,
        "recbole_epoch_cpu_s": rb_epoch_cpu,
        "recbole_recall@20": target,
        "recbole_ndcg@20": recbole.get("ndcg@20"),
        "recbole_eval_wall_s": recbole.get("eval_wall_s"),
        "recbole_batches_timed": sum(e["batches"] for e in recbole["epochs"]),
        "recbole_train_wall_s_for_its_recall": rb_epoch_wall * args.epochs if target is not None else None,
        "recbole_train_cpu_s_for_its_recall": rb_epoch_cpu * args.epochs if target is not None else None,
        "lsec": [v["summary"] for v in variants],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps({"summary": summary, "recbole": recbole, "lsec": [v["run"] for v in variants]}, indent=1)
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
