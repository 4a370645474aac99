"""Sell edges from raw sales logs: the threshold, the crossing moment, rejected rows (lsec.data.sales)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from lsec.data.sales import REASONS, sell_edges_from_sales
from lsec.errors import LsecDataError

LOG = pl.DataFrame(
    {
        "streamer": [0, 0, 0, 0, 1, 0, 5, 1, 1, 0],
        "item": [0, 0, 0, 0, 2, 1, 0, -1, 2, 1],
        "ts": [10, 20, 20, 30, 7, 5, 1, 1, 8, 9],
        "quantity": [5.0, 5.0, 3.0, 10.0, 6.0, 12.0, 1.0, 1.0, 5.0, 0.0],
    }
)


def test_pairs_reaching_the_threshold_become_edges_at_the_crossing_moment():
    out = sell_edges_from_sales(LOG, num_streamers=2, num_items=3, threshold=12)
    # (0, 0): 5 @10, 8 @20 -> running 13 at ts 20, total 23; (0, 1): 12 @5; (1, 2): 11 < 12, dropped
    assert out.edges.src.tolist() == [0, 0] and out.edges.dst.tolist() == [0, 1]
    assert out.edges.ts.tolist() == [20, 5]
    assert out.edges.weight.tolist() == [23.0, 12.0]
    assert out.counts == {"rows_read": 10, "rows_used": 7, "rows_rejected": 3, "pairs": 3, "pairs_kept": 2}
    assert sorted(out.rejected["reason"].to_list()) == sorted(
        [REASONS["streamer"], REASONS["item"], REASONS["quantity"]]
    )
    assert out.rejected.columns == [*LOG.columns, "reason"]


def test_the_log_order_does_not_matter_and_a_missing_quantity_counts_rows():
    shuffled = LOG.sample(fraction=1.0, shuffle=True, seed=3)
    a = sell_edges_from_sales(LOG, num_streamers=2, num_items=3, threshold=12)
    b = sell_edges_from_sales(shuffled, num_streamers=2, num_items=3, threshold=12)
    for name in ("src", "dst", "ts", "weight"):
        np.testing.assert_array_equal(getattr(a.edges, name), getattr(b.edges, name))
    rows = sell_edges_from_sales(LOG.drop("quantity"), num_streamers=2, num_items=3, threshold=4)
    assert rows.edges.weight.tolist() == [4.0]  # (0, 0) has four rows; the fourth (ts 30) reaches 4
    assert rows.edges.ts.tolist() == [30]


@pytest.mark.parametrize("threshold", [0, -1, float("nan")])
def test_a_bad_threshold_is_named(threshold):
    with pytest.raises(LsecDataError, match="threshold"):
        sell_edges_from_sales(LOG, num_streamers=2, num_items=3, threshold=threshold)


def test_missing_columns_are_named():
    with pytest.raises(LsecDataError, match="ts"):
        sell_edges_from_sales(LOG.drop("ts"), num_streamers=2, num_items=3)
