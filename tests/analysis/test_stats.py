"""Sign-flip p-values against an exact enumeration (scipy); bootstrap intervals cover the truth."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from lsec.analysis.stats import paired_comparison, sign_flip_p_value


@pytest.mark.parametrize("shift", [0.0, 0.4, 1.0])
def test_sign_flip_p_value_matches_the_exact_permutation_test(shift):
    rng = np.random.default_rng(1)
    treated = rng.normal(shift, 1.0, 12)
    control = rng.normal(0.0, 1.0, 12)
    exact = scipy_stats.permutation_test(
        (treated, control),
        lambda x, y: np.mean(x - y),
        permutation_type="samples",
        n_resamples=np.inf,
        alternative="two-sided",
    ).pvalue
    estimate = sign_flip_p_value(treated - control, 20_000, np.random.default_rng(0))
    assert abs(estimate - exact) < 0.01


def test_p_value_floor_and_no_difference():
    assert sign_flip_p_value(np.ones(50), 999, np.random.default_rng(0)) == pytest.approx(1 / 1000)
    assert sign_flip_p_value(np.zeros(50), 999, np.random.default_rng(0)) == 1.0


def test_paired_comparison_effect_sizes_and_interval_coverage():
    rng = np.random.default_rng(2)
    control = rng.exponential(1.0, 4000)
    treated = rng.exponential(1.5, 4000)  # true ratio of means 1.5
    c = paired_comparison(treated, control, rng=np.random.default_rng(0), permutations=500, bootstrap=400)
    assert c.n == 4000
    assert c.mean_treated == pytest.approx(treated.mean())
    assert c.ratio == pytest.approx(treated.mean() / control.mean())
    assert c.ratio_ci[0] < 1.5 < c.ratio_ci[1]
    assert c.ratio_ci[1] - c.ratio_ci[0] < 0.2
    assert c.difference_ci[0] < c.difference < c.difference_ci[1]
    assert c.p_value == pytest.approx(1 / 501)


def test_p_values_are_uniform_under_the_null():
    rng = np.random.default_rng(5)
    p = [
        paired_comparison(rng.normal(size=200), rng.normal(size=200), rng=rng, permutations=200, bootstrap=0).p_value
        for _ in range(300)
    ]
    assert 0.02 < np.mean(np.array(p) < 0.05) < 0.09
    assert 0.4 < np.median(p) < 0.6
