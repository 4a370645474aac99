"""Simulate an LSEC dataset and write it with the paper's time split (30 / 10 / 10 days, 500 candidates).

Used by the paper-table runs and the training-speed benchmark (see benchmarks/README.md, issue 3 section)::

    .venv/bin/python benchmarks/lsec_data.py --scale 0.25 --influence 0.5 --out /tmp/lsec/s025
    .venv/bin/python benchmarks/lsec_data.py --scale 0.25 --influence 0.5 --null follow --out /tmp/lsec/s025-null-follow
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from lsec.data import store
from lsec.data.simulate.lsec import DEFAULT_DEGREE_EXPONENT, LsecModel, simulate_lsec
from lsec.data.split import split_by_time, write_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="lsec-small")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--influence", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--null", choices=["follow", "sell"], default=None)
    parser.add_argument("--degree-exponent", type=float, default=DEFAULT_DEGREE_EXPONENT)
    parser.add_argument(
        "--set", action="append", default=[], metavar="KNOB=VALUE", help="Override an LsecModel knob (repeatable)."
    )
    parser.add_argument("--num-candidates", type=int, default=500)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    started = time.perf_counter()
    knobs = {}
    for item in args.set:
        name, _, value = item.partition("=")
        if name not in LsecModel.__dataclass_fields__:
            parser.error(
                f"--set {item}: unknown knob {name!r}; expected one of {sorted(LsecModel.__dataclass_fields__)}"
            )
        knobs[name] = type(getattr(LsecModel(), name))(value)
    graph = simulate_lsec(
        args.preset,
        scale=args.scale,
        influence=args.influence,
        seed=args.seed,
        null=args.null,
        model=LsecModel(**knobs),
        degree_exponent=args.degree_exponent,
    )
    simulated = time.perf_counter() - started
    store.save(graph, args.out)
    split = write_split(
        args.out,
        split_by_time(graph, 30, 10, 10),
        tasks=("buy", "follow"),
        num_candidates=args.num_candidates,
        seed=args.seed,
        graph=graph,
    )
    summary = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "nodes": graph.num_nodes,
        "edges": {rel[1]: len(table) for rel, table in graph.items()},
        "split_edges": split.info["edges"],
        "candidates": split.info["candidates"],
        "seconds": {"simulate": round(simulated, 1), "total": round(time.perf_counter() - started, 1)},
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
