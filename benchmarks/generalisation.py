"""Issue 11 point 6: the Gowalla recipes, unchanged, on two other real datasets (Ciao, TikTok).

    flock /tmp/lsec-cpu.lock .venv/bin/python benchmarks/generalisation.py [--data-root ../shared/data]
        [--work benchmarks/_work/generalisation] [--datasets tiktok,ciao] [--models gf-cf,lightgcn-dot,mf-bpr]

For each dataset, through the CLI (child processes, timed):

- TikTok (MMSSL / DiffMM split): ``lsec data import tiktok-mm DIR --out DS``; split ``given`` (train / valid /
  test as published: valid and test hold one item per user present).
- Ciao: ``lsec data import csv --buy rating_with_timestamp.tsv.gz --user-col user --item-col item --ts-col
  timestamp --weight-col none --ts-format s --out DS`` (every review is one implicit buy, rating ignored), then
  ``lsec data split DS --ratio 0.7,0.1,0.2 --tasks "" --name time``: the edges are cut at the time quantiles
  0.7 and 0.9, so the last 20% of reviews in time are the test fold and the 10% before them the valid fold;
  ``--tasks ""`` draws no candidate lists, so the runs use the full-sort protocol.
- Ciao, random (``--datasets ciao-random``): the same import, then ``lsec data split DS --ratio 0.7,0.1,0.2
  --random --seed 0 --tasks "" --name random``: each review's fold drawn at random, the protocol of the Gowalla
  split itself (a random share of each user's interactions held out), instead of the time cut.

Then for gf-cf, lightgcn-dot and mf-bpr, with ``configs/<model>.yaml`` UNCHANGED (only ``--data``, ``--out`` and
``data.split=``): ``lsec train ... -q data.split=SPLIT`` and ``lsec evaluate RUN --split test --json``;
recall@20 / ndcg@20 of the test fold and the wall seconds of both commands. The popularity ranking (items by
training-fold count, training items masked) is scored in process with
:func:`lsec.evaluate.full_sort.popularity_block` + :func:`~lsec.evaluate.full_sort.full_sort_metrics` on the same
matrices as ``lsec evaluate``. The same metrics restricted to *warm* test users (with training pairs) are
computed in process from each run folder, and the validation curve of each trained run is copied from its
``log.jsonl``. Load averages are recorded around every command. Writes benchmarks/results/generalisation.json.

Ranking (``lsec.evaluate.full_sort``, "Popularity prior"): ``lsec evaluate`` ranks users without a training pair
by popularity (``eval.cold_fallback``) and blends popularity into every user's ranking with the prior the run chose
on validation from the recipe's ``eval.popularity_prior`` grid (``run.json``). Each model row also records
``model_alone`` (no prior, no fallback: the trained ranking itself) and, untimed after the commands,
``prior_sensitivity``: valid and test figures of the same weights at every prior of ``--sensitivity``.

Probes of a default change (NOT the result, which uses the configs unchanged): ``--override train.KEY=VALUE``
(repeatable) is appended to every ``lsec train``, ``--tag`` keeps the run folders apart, ``--reuse-data`` keeps the
imported datasets, e.g. ``--models lightgcn-dot,mf-bpr --override train.lr=0.01 --tag=-lr0.01 --reuse-data
--out benchmarks/results/generalisation_probe_lr0.01.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LSEC = str(Path(sys.executable).parent / "lsec")
MODELS = ("gf-cf", "lightgcn-dot", "mf-bpr")
PUBLISHED = {  # DiffMM (ACM MM 2024) Table 1, TikTok, recall@20 / ndcg@20 (three modalities; shared/data/README.md)
    "tiktok": {"mf-bpr": (0.0346, 0.0130), "lightgcn": (0.0653, 0.0282)},
}


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def timed(cmd: list[str], log: Path) -> tuple[float, str]:
    start = time.perf_counter()
    with open(log, "w") as fh:
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=fh, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}); see {log}")
    return time.perf_counter() - start, done.stdout


def prepare(name: str, data_root: Path, work: Path, reuse: bool = False) -> tuple[Path, str, dict[str, Any]]:
    """Import (and split) one dataset; returns (dataset folder, split name, what was run and how long)."""
    ds = work / name
    split = {"tiktok": "given", "ciao": "time", "ciao-random": "random"}.get(name, "")
    if reuse and (ds / "splits" / split / "split.json").is_file():
        return ds, split, {"commands": [], "seconds": 0.0, "output": [], "reused": True}
    shutil.rmtree(ds, ignore_errors=True)
    commands: list[list[str]] = []
    if name == "tiktok":
        split = "given"
        commands.append([LSEC, "data", "import", "tiktok-mm", str(data_root / "tiktok-mm"), "--out", str(ds)])
    elif name in ("ciao", "ciao-random"):
        split = "time" if name == "ciao" else "random"
        commands.append(
            [LSEC, "data", "import", "csv", "--buy", str(data_root / "ciao" / "rating_with_timestamp.tsv.gz"),
             "--user-col", "user", "--item-col", "item", "--ts-col", "timestamp", "--weight-col", "none",
             "--ts-format", "s", "--no-progress", "--out", str(ds)]
        )  # fmt: skip
        how = ["--random", "--seed", "0"] if split == "random" else []
        commands.append(
            [LSEC, "data", "split", str(ds), "--ratio", "0.7,0.1,0.2", *how, "--tasks", "", "--name", split,
             "--no-progress"]
        )  # fmt: skip
    else:
        raise SystemExit(f"unknown dataset {name!r}: expected tiktok, ciao or ciao-random")
    seconds = 0.0
    outputs = []
    for i, cmd in enumerate(commands):
        s, out = timed(cmd, work / f"{name}-prepare{i}.log")
        seconds += s
        outputs.append(out)
    return ds, split, {"commands": [" ".join(c[1:]) for c in commands], "seconds": seconds, "output": outputs}


def matrices(ds: Path, split_name: str) -> tuple[Any, Any, Any, dict[str, Any]]:
    """(train, valid, test) CSR matrices of the split, as ``lsec evaluate`` builds them, and fold statistics."""
    import numpy as np

    from lsec.data.split import load_split
    from lsec.train.engines import csr, distinct_pairs

    split = load_split(ds, name=split_name)
    num_users, num_items = int(split.graph.num_nodes["user"]), int(split.graph.num_nodes["item"])
    shape = (num_users, num_items)
    train, valid, test = (
        csr(*distinct_pairs(split.edges("buy", f), num_items), shape) for f in ("train", "valid", "test")
    )
    train_users = np.diff(train.indptr) > 0
    train_items = np.asarray(train.sum(axis=0)).ravel() > 0
    test_coo = test.tocoo()
    test_users = np.flatnonzero(np.diff(test.indptr) > 0)
    stats = {
        "users": num_users,
        "items": num_items,
        "pairs": {"train": int(train.nnz), "valid": int(valid.nnz), "test": int(test.nnz)},
        "test_users": int(len(test_users)),
        "test_users_warm": int(train_users[test_users].sum()),
        "test_pairs_with_warm_user": float(train_users[test_coo.row].mean()),
        "test_pairs_with_seen_item": float(train_items[test_coo.col].mean()),
        "test_pairs_already_in_train": int(test.multiply(train).nnz),
    }
    return train, valid, test, stats


def warm_only(test: Any, train: Any) -> Any:
    """``test`` with the rows of users who have no training pair emptied."""
    import numpy as np
    import scipy.sparse as sp

    warm = (np.diff(train.indptr) > 0).astype(np.float32)
    return sp.csr_matrix(sp.diags(warm) @ test)


def metrics_of(block: Any, train: Any, test: Any) -> dict[str, float]:
    from lsec.evaluate.full_sort import full_sort_metrics

    result = full_sort_metrics(block, train, test, ks=(20,))
    return {k: result[k] for k in ("recall@20", "ndcg@20", "num_users")}


def run_block(run_dir: Path, train: Any, prior: float | None = None, cold_fallback: bool | None = None) -> Any:
    """Full-catalogue score block of a run folder, ranked as ``lsec evaluate`` ranks it (the run's popularity prior
    and cold fallback) unless ``prior`` / ``cold_fallback`` are given (``prior=0, cold_fallback=False``: the model
    alone)."""
    from lsec.evaluate.full_sort import model_score_block, with_popularity_prior
    from lsec.evaluate.protocols import run_popularity_prior
    from lsec.nn.models.base import RecommenderModel
    from lsec.train.runs import load_run

    run = load_run(run_dir)
    enc = run.encode() if isinstance(run.model, RecommenderModel) else None
    block = model_score_block(run.model, enc)
    prior = run_popularity_prior(run) if prior is None else prior
    fallback = run.config.eval.cold_fallback if cold_fallback is None else cold_fallback
    return with_popularity_prior(block, train, prior=prior, cold_fallback=fallback)


def prior_sensitivity(run_dir: Path, train: Any, valid: Any, test: Any, grid: tuple[float, ...]) -> dict[str, Any]:
    """Validation and test recall@20 / ndcg@20 of a trained run at every popularity prior of ``grid`` (no
    retraining), and the prior validation recall@20 would choose from it: how much the result owes to the grid."""
    from lsec.evaluate.full_sort import choose_popularity_prior

    block = run_block(run_dir, train, prior=0.0, cold_fallback=False)
    chosen, table = choose_popularity_prior(block, train, valid, grid, metric="recall@20")
    rows = {
        key: {"valid": {m: round(v, 5) for m, v in metrics.items() if m in ("recall@20", "ndcg@20")}}
        | {"test": {m: round(v, 5) for m, v in metrics_of(run_block(run_dir, train, float(key)), train, test).items()
                    if m != "num_users"}}
        for key, metrics in table.items()
    }  # fmt: skip
    return {"grid": list(grid), "chosen_on_valid": chosen, "rows": rows}


def curve(run_dir: Path) -> list[dict[str, float]]:
    rows = []
    for line in (run_dir / "log.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == "eval":
            loss = event.get("train_loss")  # a closed-form fit has none
            rows.append(
                {"epoch": event.get("epoch"), "step": event.get("step"), "train_loss": loss and round(loss, 4)}
                | {k: round(v, 5) for k, v in event.get("metrics", {}).items() if k in ("recall@20", "ndcg@20")}
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--work", default=str(HERE / "_work" / "generalisation"))
    parser.add_argument("--datasets", default="tiktok,ciao")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--out", default=str(HERE / "results" / "generalisation.json"))
    parser.add_argument(
        "--override", action="append", default=[], help="A probe, not the result: extra KEY=VALUE for lsec train."
    )
    parser.add_argument("--tag", default="", help="Suffix of the run folders (keeps probes apart).")
    parser.add_argument("--reuse-data", action="store_true", help="Keep imported datasets of an earlier run.")
    parser.add_argument(
        "--sensitivity",
        default="0,0.3,1,3,10,30,100",
        help="Popularity priors to score every trained run with, on valid and test, after the timed commands "
        "(comma-separated; empty: skip).",
    )
    args = parser.parse_args()
    from lsec.evaluate.full_sort import popularity_block

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "load_average_start": load()},
        "recipes": {
            m: f"configs/{m}.yaml" + (f" with {' '.join(args.override)}" if args.override else " (unchanged)")
            for m in args.models.split(",")
        },
        "datasets": {},
    }
    for name in args.datasets.split(","):
        ds, split_name, prep = prepare(name, Path(args.data_root), work, reuse=args.reuse_data)
        train, valid, test, stats = matrices(ds, split_name)
        test_warm = warm_only(test, train)
        entry: dict[str, Any] = {"dataset": str(ds), "split": split_name, "prepare": prep, "stats": stats}
        popularity = popularity_block(train)
        entry["popularity"] = {
            "test": metrics_of(popularity, train, test),
            "test_warm": metrics_of(popularity, train, test_warm),
        }
        entry["models"] = {}
        for model in args.models.split(","):
            run_dir = work / f"{name}-{model}{args.tag}"
            shutil.rmtree(run_dir, ignore_errors=True)
            before = load()
            train_cmd = [LSEC, "train", "--config", f"configs/{model}.yaml", "--data", str(ds), "--out", str(run_dir),
                         "-q", f"data.split={split_name}", *args.override]  # fmt: skip
            train_s, train_out = timed(train_cmd, work / f"{name}-{model}{args.tag}-train.log")
            eval_s, eval_out = timed(
                [LSEC, "evaluate", str(run_dir), "--split", "test", "--json"],
                work / f"{name}-{model}{args.tag}-eval.log",
            )
            after = load()
            test_metrics = json.loads(eval_out)["tasks"]["buy"]["all"]
            info = json.loads((run_dir / "run.json").read_text())
            entry["models"][model] = {
                "command": " ".join(train_cmd[1:]),
                "recall@20": test_metrics["recall@20"],
                "ndcg@20": test_metrics["ndcg@20"],
                "train_seconds": round(train_s, 1),
                "evaluate_seconds": round(eval_s, 1),
                "wall_seconds": round(train_s + eval_s, 1),
                "load_average_before": before,
                "load_average_after": after,
                "ranking": json.loads(eval_out)["tasks"]["buy"].get("ranking"),
                "popularity_prior": info.get("popularity_prior"),
                "test_warm": metrics_of(run_block(run_dir, train), train, test_warm),
                "model_alone": {  # no popularity prior, no cold fallback: the trained ranking itself
                    "test": metrics_of(run_block(run_dir, train, 0.0, False), train, test),
                    "test_warm": metrics_of(run_block(run_dir, train, 0.0, False), train, test_warm),
                },
                "run": {k: info.get(k) for k in ("validation", "best_epoch", "best_metrics", "epochs_run", "steps",
                                                  "steps_per_epoch", "stopped_early", "baselines", "warnings")},
                "validation_curve": curve(run_dir) if (run_dir / "log.jsonl").exists() else [],
                "summary": train_out.strip().splitlines()[-1:],
            }  # fmt: skip
            if args.sensitivity:
                grid = tuple(float(x) for x in args.sensitivity.split(","))
                entry["models"][model]["prior_sensitivity"] = prior_sensitivity(run_dir, train, valid, test, grid)
            print(
                f"{name:7s} {model:13s} recall@20 {test_metrics['recall@20']:.4f}  ndcg@20 {test_metrics['ndcg@20']:.4f}"
                f"  train {train_s:6.1f} s  evaluate {eval_s:5.1f} s  load {before[0]} -> {after[0]}",
                flush=True,
            )
            result["datasets"][name] = entry
            write(result, args.out)  # partial results survive a failure later on
        pop = entry["popularity"]["test"]
        print(
            f"{name:7s} {'popularity':13s} recall@20 {pop['recall@20']:.4f}  ndcg@20 {pop['ndcg@20']:.4f}", flush=True
        )
        models = entry["models"]
        if {"lightgcn-dot", "mf-bpr"} <= set(models):
            lg = models["lightgcn-dot"]
            entry["lightgcn_dot_beats"] = {
                other: {m: lg[m] > ref[m] for m in ("recall@20", "ndcg@20")}
                for other, ref in (("mf-bpr", models["mf-bpr"]), ("popularity", pop))
            }
        if name in PUBLISHED:
            entry["published"] = {
                k: {"recall@20": r, "ndcg@20": n, "source": "DiffMM (ACM MM 2024) Table 1"}
                for k, (r, n) in PUBLISHED[name].items()
            }
        result["datasets"][name] = entry
    result["machine"]["load_average_end"] = load()
    write(result, args.out)
    print(f"wrote {args.out}")


def write(result: dict[str, Any], out: str) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
