"""Shared helpers of the Gowalla benchmarks: read the LightGCN files, check the published counts."""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "gowalla"
COUNTS = {"users": 29_858, "items": 40_981, "train": 810_128, "test": 217_242}


def load_gowalla(data_dir: str | os.PathLike[str] = DEFAULT_DIR, check: bool = True):
    """(split, train CSR, test CSR) of the Gowalla LightGCN folder; asserts the published counts."""
    from lsec.data.formats.lightgcn_txt import read_lightgcn

    data_dir = Path(data_dir)
    split = read_lightgcn(data_dir / "train.txt.gz", data_dir / "test.txt.gz")
    shape = (split.num_users, split.num_items)
    train = sp.csr_matrix((np.ones(len(split.train_users), np.float32), (split.train_users, split.train_items)), shape)
    test = sp.csr_matrix((np.ones(len(split.test_users), np.float32), (split.test_users, split.test_items)), shape)
    if check:
        found = {"users": shape[0], "items": shape[1], "train": train.nnz, "test": test.nnz}
        if found != COUNTS:
            raise SystemExit(f"Gowalla counts differ from the published ones: {found} != {COUNTS}")
    return split, train, test


class Clock:
    """Wall and process-CPU seconds since creation (CPU time is the honest figure on a shared machine)."""

    def __init__(self) -> None:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()

    def wall(self) -> float:
        return time.perf_counter() - self.wall0

    def cpu(self) -> float:
        return time.process_time() - self.cpu0


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
