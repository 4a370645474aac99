"""Per-user AUC of label-free history features on the test day: held-out sequences online vs frozen at train end.

Why (benchmarks/README.md, "Tables 1 and 4 on simulated gifting data"): with behaviour sequences updated
online inside the test day, a user's gifts of that day are each preceded by fewer of that day's gifts than
the user's non-gifts are, so minus the history length ranks a user's gifts first even on ``--null graph``
data. ``lsec.train.gtr`` now freezes validation / test sequences at the end of the training days
(``GiftData.history_until``); this probe measures both ways on the same impressions. No model, no training.

    .venv/bin/python benchmarks/mmbee_history_probe.py DATA [DATA ...] --out benchmarks/results/mmbee_history_probe.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from lsec.data.events import read_events
from lsec.data.store import load
from lsec.metrics.grouped import grouped_auc
from lsec.train.gtr import gift_data, histories


def probe(data: str) -> dict[str, dict[str, dict[str, float]]]:
    graph = load(data)
    events = read_events(data, "impressions")
    category = np.asarray(graph.node_features["streamer"]["category"])
    d = gift_data(
        users=events["user"], streamers=events["streamer"], ts=events["ts"], label=events["label"],
        amount=events["amount"], streamer_category=category, num_users=graph.num_nodes["user"],
        time_origin=int(graph.time_origin or 0),
    )  # fmt: skip
    test = d.indices("test")
    labels, users = d.labels["gift"][test], d.users[test]
    out: dict[str, dict[str, dict[str, float]]] = {}
    for mode, until in (("online", None), ("frozen_at_train_end", d.history_until(test))):
        seq = histories(d, users, d.ts[test], 50, 16, until)
        length = seq["history_valid"].sum(1).astype(float)
        target = (seq["history_valid"] & (seq["history_streamers"] == d.streamers[test][:, None])).any(1)
        features = {"minus_history_length": -length, "target_in_history": target.astype(float)}
        out[mode] = {}
        for name, values in features.items():
            r = grouped_auc(users, labels, values)
            out[mode][name] = {"uauc": float(r.uauc), "gauc": float(r.gauc)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="+")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results = {str(Path(data).resolve()): probe(data) for data in args.data}
    for data, modes in results.items():
        for mode, features in modes.items():
            shown = ", ".join(f"{n} UAUC {v['uauc']:.4f} GAUC {v['gauc']:.4f}" for n, v in features.items())
            print(f"{Path(data).name:<16} {mode:<20} {shown}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
