"""Is the follow / sell information there at a small scale? Graph heuristics on a split's candidate lists, no training.

Companion of ``simulate_learnability_train.py`` (issue 12 point 4): on a dataset folder with a split (e.g. one the
training probe wrote, /tmp/lsec-learnability/TAG/data), scores the buy validation and test lists by
``log1p(training purchases)`` plus ``w`` times one of

* ``reach``: the user's followed streamers' catalogues (row-normalised follow @ row-normalised sell);
* ``icf``: buy-only item co-purchase (user -> items -> buyers -> items, row-normalised): what a buy-only model sees;
* ``scf``: the items listed by the streamers that list the user's purchases (user -> items -> sellers -> items);

and prints one JSON line of AUCs (all users), the popularity AUC first.

    .venv/bin/python benchmarks/simulate_learnability_graph.py /tmp/lsec-learnability/TAG/data TAG \\
        >> benchmarks/results/learnability_v3_graph.jsonl
"""

from __future__ import annotations

import json
import sys

import numpy as np
import scipy.sparse as sp

from lsec.data.split import load_split
from lsec.evaluate.protocols import candidate_report

WEIGHTS = (1.0, 30.0)


def _matrix(table, shape: tuple[int, int]) -> sp.csr_matrix:  # noqa: ANN001
    out = sp.csr_matrix((np.ones(len(table.src)), (table.src, table.dst)), shape=shape)
    out.data[:] = 1.0
    return out


def _rows(m: sp.csr_matrix) -> sp.csr_matrix:
    degree = np.asarray(m.sum(1)).ravel()
    degree[degree == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / degree) @ m)


def main() -> None:
    folder, tag = sys.argv[1], sys.argv[2]
    split = load_split(folder)
    train = split.train_graph()
    u, i, s = train.num_nodes["user"], train.num_nodes["item"], train.num_nodes["streamer"]
    buys, follows, sells = (
        _matrix(train["buy"], (u, i)),
        _matrix(train["follow"], (u, s)),
        _matrix(train["sell"], (s, i)),
    )
    pop = np.asarray(buys.sum(0)).ravel()
    signals = {
        "reach": (_rows(follows) @ _rows(sells)).tocsr(),
        "icf": (_rows(buys) @ _rows(buys.T.tocsr()) @ _rows(buys)).tocsr(),
        "scf": (_rows(buys) @ _rows(sells.T.tocsr()) @ _rows(sells)).tocsr(),
    }
    out: dict = {"tag": tag, "dataset": folder}
    for fold in ("valid", "test"):
        rows = split.candidates("buy", fold)
        user, target = np.asarray(rows.user), np.asarray(rows.target)
        prior = np.log1p(pop[target])
        values = {name: np.asarray(m[user, target]).ravel() for name, m in signals.items()}
        values["reach+scf"] = values["reach"] + values["scf"]

        def auc(score: np.ndarray, rows=rows) -> float:  # noqa: ANN001
            return round(float(candidate_report(rows, score, groups=("all",))["all"]["auc"]), 4)

        figures = {"pop": auc(prior)}
        for name, value in values.items():
            for w in WEIGHTS:
                figures[f"pop+{w:g}*{name}"] = auc(prior + w * value)
        out[fold] = figures
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
