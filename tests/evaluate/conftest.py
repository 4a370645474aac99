"""The evaluation tests use the training tests' fixtures (one torch thread, the checkerboard dataset)."""

from tests.train.conftest import board_dataset, one_thread  # noqa: F401
