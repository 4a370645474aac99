"""Paired comparison of a pattern group against its matched random baseline.

Each sampled unit ``k`` (a user, a user pair, an item pair) yields one value for the pattern group
(``treated[k]``) and one for its matched random counterpart (``control[k]``). Under the null hypothesis
"the relation carries no signal", matching makes the two exchangeable within each unit, so the sign of
``d_k = treated[k] - control[k]`` is a fair coin. Hence:

- p-value: two-sided Monte Carlo sign-flip permutation test of ``mean(d)``, with the add-one estimate
  ``(1 + #{|mean(d * signs)| >= |mean(d)|}) / (permutations + 1)`` (never 0; smallest ``1 / (B + 1)``).
- confidence intervals: percentile bootstrap over units for the difference of means and for the ratio
  of means ``mean(treated) / mean(control)``.
- ``z``: the normal-approximation statistic ``mean(d) / (sd(d) / sqrt(n))`` for readers who want to know
  how far beyond the permutation floor an effect lies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class PairedComparison:
    """Summary of treated-vs-control values over ``n`` matched units."""

    n: int
    mean_treated: float
    mean_control: float
    difference: float
    difference_ci: tuple[float, float]
    ratio: float
    ratio_ci: tuple[float, float]
    p_value: float
    z: float
    permutations: int
    bootstrap: int
    confidence: float
    treated: np.ndarray = field(repr=False)
    control: np.ndarray = field(repr=False)

    def significant(self, alpha: float = 0.01) -> bool:
        return self.p_value < alpha

    def to_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "mean_treated": self.mean_treated,
            "mean_control": self.mean_control,
            "difference": self.difference,
            "difference_ci": list(self.difference_ci),
            "ratio": self.ratio,
            "ratio_ci": list(self.ratio_ci),
            "p_value": self.p_value,
            "z": self.z,
            "permutations": self.permutations,
            "bootstrap": self.bootstrap,
            "confidence": self.confidence,
        }


def _ratio(numerator: np.ndarray | float, denominator: np.ndarray | float) -> np.ndarray:
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.where(num > 0, np.inf, np.nan))


def sign_flip_p_value(differences: np.ndarray, permutations: int, rng: np.random.Generator, chunk: int = 256) -> float:
    """Two-sided Monte Carlo sign-flip test of ``mean(differences) == 0`` (add-one estimate)."""
    d = np.asarray(differences, dtype=np.float64)
    n = d.shape[0]
    if n == 0 or not np.any(d):
        return 1.0
    observed = abs(d.mean())
    tolerance = 1e-12 * max(np.abs(d).max(), 1e-300)
    extreme = 0
    done = 0
    while done < permutations:
        size = min(chunk, permutations - done)
        signs = rng.integers(0, 2, size=(size, n), dtype=np.int8) * 2 - 1  # (size, n) of +-1
        means = np.abs(signs @ d) / n
        extreme += int(np.count_nonzero(means >= observed - tolerance))
        done += size
    return (1 + extreme) / (permutations + 1)


def paired_comparison(
    treated: np.ndarray,
    control: np.ndarray,
    *,
    rng: np.random.Generator,
    permutations: int = 2000,
    bootstrap: int = 1000,
    confidence: float = 0.95,
) -> PairedComparison:
    """Compare matched values: effect sizes, bootstrap CIs, sign-flip p-value (module docstring)."""
    treated = np.asarray(treated, dtype=np.float64)
    control = np.asarray(control, dtype=np.float64)
    if treated.shape != control.shape or treated.ndim != 1:
        raise ValueError(f"treated and control must be 1-d arrays of one length. Got {treated.shape}, {control.shape}.")
    n = int(treated.shape[0])
    nan = float("nan")
    if n == 0:
        return PairedComparison(0, nan, nan, nan, (nan, nan), nan, (nan, nan), 1.0, nan, permutations, bootstrap,
                                confidence, treated, control)  # fmt: skip
    d = treated - control
    sd = float(d.std(ddof=1)) if n > 1 else 0.0
    z = float(d.mean() / (sd / np.sqrt(n))) if sd > 0 else (0.0 if not d.any() else float(np.sign(d.mean()) * np.inf))
    p_value = sign_flip_p_value(d, permutations, rng)

    boot_diff = np.empty(bootstrap)
    boot_ratio = np.empty(bootstrap)
    chunk = max(1, min(bootstrap, 4_000_000 // max(n, 1)))
    for start in range(0, bootstrap, chunk):
        size = min(chunk, bootstrap - start)
        idx = rng.integers(0, n, size=(size, n))  # (size, n) resampled units
        mean_t = treated[idx].mean(axis=1)
        mean_c = control[idx].mean(axis=1)
        boot_diff[start : start + size] = mean_t - mean_c
        boot_ratio[start : start + size] = _ratio(mean_t, mean_c)
    tail = (1 - confidence) / 2 * 100
    diff_ci = tuple(float(v) for v in np.percentile(boot_diff, [tail, 100 - tail])) if bootstrap else (nan, nan)
    finite = boot_ratio[np.isfinite(boot_ratio)]
    ratio_ci = tuple(float(v) for v in np.percentile(finite, [tail, 100 - tail])) if finite.size else (nan, nan)
    return PairedComparison(
        n=n,
        mean_treated=float(treated.mean()),
        mean_control=float(control.mean()),
        difference=float(d.mean()),
        difference_ci=(diff_ci[0], diff_ci[1]),
        ratio=float(_ratio(treated.mean(), control.mean())),
        ratio_ci=(ratio_ci[0], ratio_ci[1]),
        p_value=float(p_value),
        z=z,
        permutations=permutations,
        bootstrap=bootstrap,
        confidence=confidence,
        treated=treated,
        control=control,
    )
