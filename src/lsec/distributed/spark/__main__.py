"""``python -m lsec.distributed.spark <job> --in DATASET --out FOLDER [options]``: one Spark job (see the package
docstring). The same file is what ``spark-submit`` runs on a cluster (docs/scale-out.md)::

    spark-submit --master yarn --py-files lsec.zip -m lsec.distributed.spark swing --in hdfs:///d --out hdfs:///o
    python -m lsec.distributed.spark sales --in data/lsec --out data/lsec-sell --threshold 20 --master local[2]

Bad input exits 2 with one message (no traceback); the counts of each job are printed as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from lsec.errors import LsecError

DESCRIPTIONS = {
    "sales": "Raw sales logs (events/sales.parquet: streamer, item, ts, quantity) -> sell edges of the pairs whose "
    "total sales reach --threshold (ts = when the running total reaches it, weight = total); rejected rows kept.",
    "swing": "Top-k Swing neighbours of every streamer (MMBee eq. 8) from the user -> streamer gift edges, exact or "
    "bounded (the same sampled users as in-process for the same --seed).",
    "expansions": "The five bounded metapath neighbourhoods of MMBee's expansion store (u2a2u, u2a2u2a, u2a2a, a2a, "
    "a2u2a) from the gift edges, with Swing computed first unless --swing is given.",
    "influence": "Counts behind the streamers' influence tests: per user followed / offered / hits (purchase rate), "
    "pair overlaps for given user or item pairs, degrees.",
    "split": "Time split (train / valid / test day windows) with fixed hashed candidate lists, written as "
    "splits/<name>/ (what `lsec data split` and lsec.data.split.load_split read).",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lsec.distributed.spark", description="lsec's graph preprocessing jobs on Spark."
    )
    jobs = parser.add_subparsers(dest="job", required=True, metavar="JOB")
    for name, text in DESCRIPTIONS.items():
        job = jobs.add_parser(name, help=text, description=text)
        job.add_argument("--in", dest="dataset", required=True, help="Canonical dataset folder (local path or URL).")
        job.add_argument("--out", required=True, help="Output folder (may be the dataset folder itself).")
        job.add_argument(
            "--master", default=None, help="Spark master, e.g. local[2] (default: spark-submit's, or local[*])."
        )
        job.add_argument(
            "--partitions", type=int, default=None, help="spark.sql.shuffle.partitions (default: Spark's)."
        )
        job.add_argument("--keep-parts", action="store_true",
                         help="Keep Spark's folders of part files instead of one Parquet file per table (always kept on URLs).")  # fmt: skip
        if name == "sales":
            job.add_argument(
                "--threshold", type=float, default=20, help="Minimum total sales of a sell edge (slides: 20)."
            )
            job.add_argument("--log", default=None, help="Sales log Parquet (default: DATASET/events/sales.parquet).")
        if name in ("swing", "expansions"):
            job.add_argument("--k", type=int, default=20, help="Neighbours kept per streamer (Swing) and per metapath.")
            job.add_argument("--alpha", type=float, default=1.0, help="Swing smoothing term alpha (eq. 8).")
            job.add_argument(
                "--mode",
                choices=("exact", "bounded"),
                default="bounded",
                help="Swing: all users or a sample per streamer.",
            )
            job.add_argument(
                "--max-users-per-streamer", type=int, default=100, help="Swing bounded mode: users drawn per streamer."
            )
            job.add_argument("--seed", type=int, default=0, help="Seed of the bounded mode's draw.")
        if name == "expansions":
            job.add_argument("--max-frontier", type=int, default=64, help="Nodes kept after each intermediate hop.")
            job.add_argument(
                "--swing", default=None, help="Swing edge file from the swing job (default: computed here)."
            )
        if name == "influence":
            job.add_argument(
                "--random-follow", default=None, help="A rewired follow edge table, counted alongside the real one."
            )
            job.add_argument(
                "--user-pairs", default=None, help="Parquet of user pairs (a, b) for pattern 2's overlaps."
            )
            job.add_argument(
                "--item-pairs", default=None, help="Parquet of item pairs (a, b) for pattern 3's overlaps."
            )
        if name == "split":
            job.add_argument("--name", default="default", help="Split name (folder splits/<name>).")
            job.add_argument("--tasks", default="buy,follow", help="Comma-separated evaluated tasks.")
            job.add_argument("--train-days", type=float, default=30, help="Days of the train window.")
            job.add_argument("--valid-days", type=float, default=10, help="Days of the valid window (0: none).")
            job.add_argument("--test-days", type=float, default=10, help="Days of the test window.")
            job.add_argument(
                "--start", default=None, help="Window start: unix seconds or ISO date (default: time origin)."
            )
            job.add_argument("--num-candidates", type=int, default=500, help="Rows per candidate list.")
            job.add_argument("--seed", type=int, default=0, help="Seed of the hashed candidate draws.")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for option in ("k", "max_users_per_streamer", "max_frontier", "num_candidates", "partitions"):
        value = getattr(args, option, None)
        if value is not None and value < (2 if option == "num_candidates" else 1):
            parser.error(
                f"--{option.replace('_', '-')} must be >= {2 if option == 'num_candidates' else 1}; got {value}"
            )
    try:
        report = _run(args)
    except LsecError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2, default=str))
    return 0


def _run(args: argparse.Namespace) -> dict:
    from lsec.distributed.spark import spark_session

    spark = spark_session(master=args.master, app_name=f"lsec-{args.job}", partitions=args.partitions)
    single = not args.keep_parts
    started = time.perf_counter()
    if args.job == "sales":
        from lsec.distributed.spark import sales

        report = sales.run(spark, args.dataset, args.out, threshold=args.threshold, log=args.log, single_file=single)
    elif args.job in ("swing", "expansions"):
        options = {
            "alpha": args.alpha,
            "mode": args.mode,
            "max_users_per_streamer": args.max_users_per_streamer,
            "seed": args.seed,
        }
        if args.job == "swing":
            from lsec.distributed.spark import swing

            report = swing.run(spark, args.dataset, args.out, k=args.k, single_file=single, **options)
        else:
            from lsec.distributed.spark import expansions

            report = expansions.run(spark, args.dataset, args.out, k=args.k, max_frontier=args.max_frontier,
                                    swing=args.swing, swing_options=options, single_file=single)  # fmt: skip
    elif args.job == "influence":
        from lsec.distributed.spark import influence

        report = influence.run(spark, args.dataset, args.out, random_follow=args.random_follow,
                               user_pairs=args.user_pairs, item_pairs=args.item_pairs, single_file=single)  # fmt: skip
    else:
        from lsec.distributed.spark import split

        report = split.run(
            spark, args.dataset, args.out, name=args.name, tasks=[t for t in args.tasks.split(",") if t],
            train_days=args.train_days, valid_days=args.valid_days, test_days=args.test_days, start=args.start,
            num_candidates=args.num_candidates, seed=args.seed, single_file=single,
        )  # fmt: skip
    return {"job": args.job, "seconds": round(time.perf_counter() - started, 2), "report": report}


if __name__ == "__main__":
    sys.exit(main())
