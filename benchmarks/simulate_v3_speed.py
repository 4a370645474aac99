"""Generation time of simulator v3 against v2 (issue 12 point 4: "generation speed as today").

Generates lsec-small (and lsec-large) at scale 1.0 with each version, alternating v2 / v3 ``--repeats`` times in
one process so both see the same machine load, and prints one JSON line per run plus the counts against Table 1 /
Table 2 (node counts exact; edge counts within 1 %: buy and follow are filled exactly, sell is calibrated).

    flock /tmp/lsec-cpu.lock .venv/bin/python benchmarks/simulate_v3_speed.py --repeats 2 \\
        >> benchmarks/results/learnability_v3_speed.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

from lsec.data.simulate.lsec import PRESETS, simulate_lsec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="lsec-small")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    for preset in args.presets.split(","):
        table = PRESETS[preset]
        for repeat in range(args.repeats):
            for version in ("2", "3"):
                load = os.getloadavg()[0]
                began, cpu = time.perf_counter(), time.process_time()
                graph = simulate_lsec(preset, scale=1.0, seed=0, version=version)
                wall, cpu = time.perf_counter() - began, time.process_time() - cpu
                edges = {r["relation"]: r["edges"] for r in graph.stats()["relations"]}
                target = {"buy": table.num_buy, "follow": table.num_follow, "sell": table.num_sell}
                print(
                    json.dumps(
                        {
                            "preset": preset,
                            "version": version,
                            "repeat": repeat,
                            "wall_s": round(wall, 2),
                            "cpu_s": round(cpu, 2),
                            "load_before": round(load, 2),
                            "load_after": round(os.getloadavg()[0], 2),
                            "num_topics": graph.meta["simulation"]["model"]["num_topics"],
                            "nodes": graph.num_nodes,
                            "edges": edges,
                            "edge_ratio": {k: round(edges[k] / v, 4) for k, v in target.items()},
                            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                        }
                    ),
                    flush=True,
                )


if __name__ == "__main__":
    main()
