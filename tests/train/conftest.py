from __future__ import annotations

import pytest
import torch

from tests.train.checkerboard import write_checkerboard_dataset


@pytest.fixture(autouse=True)
def one_thread():  # type: ignore[no-untyped-def]
    """Tiny graphs: one torch thread is faster and avoids contention with parallel test workers."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def board_dataset(tmp_path_factory):  # type: ignore[no-untyped-def]
    return write_checkerboard_dataset(tmp_path_factory.mktemp("board") / "data", num_cold_users=2)
