"""Streamers' influence: three Monte Carlo tests against matched random baselines (LSEC-GNN slides 8-11).

The random baseline of a pattern is the same measurement on a **degree-preserving random rewiring**
(configuration model) of the relation that carries the pattern: every user keeps its number of follows,
every streamer its number of followers and of items sold, every item its number of sellers, only who is
linked to whom is random. Each sampled unit is measured twice, on the real and on the rewired relation,
so the baseline is matched unit by unit (same user / same anchor, same activity, same popularity profile).

1. *Streamers connect users with items* (needs buy, follow, sell; baseline: follow rewired). Unit: a user
   who bought something and follows someone. Value: purchase rate over the items the followed streamers
   sell, pooled over streamers, ``sum_s |B(u) ∩ S(s)| / sum_s |S(s)|``; baseline: the same over the
   user's streamers in the rewired follow graph.
2. *Streamers connect similar users* (needs buy, follow; baseline: follow rewired). Unit: an anchor user
   ``u``; ``partners`` partners ``v``, each another follower of a random one of ``u``'s streamers (a streamer
   with >= 2 followers), drawn with replacement. Value: the mean Jaccard similarity of bought items
   ``J(u, v)`` over the partners; baseline: the same mean over partners ``v'`` drawn the same way in the
   rewired follow graph (random users with the same follow-activity bias). One partner per anchor is too
   little evidence for Jaccard indices of users with 3-5 purchases; the mean over many is not.
3. *Streamers connect similar items* (needs buy, sell; baseline: sell rewired). Same design with items:
   anchor item ``i``, partner ``j`` = another item of one of its sellers; value = Jaccard of buyer sets.

Two tests of "real above rewired". ``rewirings=0`` (one rewiring per relation): the sign-flip test of the
units' paired differences; calibrated with one partner per anchor, anti-conservative with many, since every
anchor shares the one real graph and the one rewiring. ``rewirings=R > 0`` (graph-level Monte Carlo): the
statistic (mean value over the fixed sample of units) on the real relation against its values on ``R``
independent rewirings, one-sided ``p = (1 + #{T_r >= T_real}) / (R + 1)`` (``R >= 199`` reaches p < 0.01);
each unit's control is its mean over the ``R`` rewirings, and the interval still comes from resampling whole
units. This one is exact under the null whatever the number of partners, because the real relation is then
one more exchangeable draw among the ``R + 1``.

Why rewiring: when the relation is itself random with these degrees (the null controls of the simulator),
real and rewired are two draws of the same distribution, so each unit's pair of values is exchangeable
and the sign-flip p-value of :mod:`lsec.analysis.stats` is calibrated; popularity alone cannot create an
effect. Units are sampled without replacement, so each anchor contributes once, and the uncertainty (sign-flip
p-value, bootstrap interval) comes from resampling whole anchors: an anchor's partners stay together.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from lsec.analysis.sparse import BinaryCSR, jaccard, rewire
from lsec.analysis.stats import PairedComparison, paired_comparison
from lsec.data.graph import HeteroGraph

PATTERN_KEYS = ("users_items", "similar_users", "similar_items")


@dataclass
class PatternResult:
    """Outcome of one pattern: the comparison (or why it could not be run) and the sample counts."""

    key: str
    title: str
    hypothesis: str
    requires: tuple[str, ...]
    treated_label: str
    control_label: str
    value_label: str
    comparison: PairedComparison | None = None
    counts: dict[str, int] = field(default_factory=dict)
    skipped: str | None = None
    seconds: float = 0.0

    @property
    def tested(self) -> bool:
        return self.comparison is not None and self.skipped is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "hypothesis": self.hypothesis,
            "requires": list(self.requires),
            "treated": self.treated_label,
            "control": self.control_label,
            "value": self.value_label,
            "tested": self.tested,
            "skipped": self.skipped,
            "counts": self.counts,
            "seconds": round(self.seconds, 3),
            "result": None if self.comparison is None else self.comparison.to_dict(),
        }


@dataclass
class InfluenceResult:
    dataset: str
    samples: int
    seed: int
    permutations: int
    bootstrap: int
    patterns: list[PatternResult]
    seconds: float
    partners: int = 1
    rewirings: int = 0

    def __getitem__(self, key: str) -> PatternResult:
        for pattern in self.patterns:
            if pattern.key == key:
                return pattern
        raise KeyError(f"No pattern {key!r}; known: {', '.join(p.key for p in self.patterns)}.")

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "samples": self.samples,
            "seed": self.seed,
            "permutations": self.permutations,
            "bootstrap": self.bootstrap,
            "partners": self.partners,
            "rewirings": self.rewirings,
            "seconds": round(self.seconds, 3),
            "p_value_method": (
                f"one-sided graph-level Monte Carlo: the mean over units on the real relation against {self.rewirings} "
                "independent degree-preserving rewirings (add-one)"
                if self.rewirings
                else "two-sided Monte Carlo sign-flip permutation test on paired differences (add-one)"
            ),
            "ci_method": "percentile bootstrap over sampled units",
            "patterns": [p.to_dict() for p in self.patterns],
        }


def _sample_without_replacement(population: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    if population.shape[0] <= size:
        return population.copy()
    return np.sort(rng.choice(population, size=size, replace=False))


def purchase_counts(
    buy: BinaryCSR, follow: BinaryCSR, sell: BinaryCSR, users: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pattern 1's counts per user: ``hits = sum_{s in F(u)} |B(u) ∩ S(s)|`` and ``offered = sum_{s in F(u)} |S(s)|``
    (``F`` the follows given, ``B`` buy, ``S`` sell; the purchase rate is ``hits / offered``). The Spark job
    :mod:`lsec.distributed.spark.influence` computes the same counts for every user.

    Shapes: users (U,) -> hits (U,) float64, offered (U,) float64
    """
    # hits[k, s] = |B(users[k]) ∩ S(s)| for every streamer at once: one sparse product (sampled users x streamers)
    hits = (buy.to_scipy()[users] @ sell.to_scipy().T).tocsr()
    hits.sum_duplicates()
    hits.sort_indices()
    hit_rows = np.repeat(np.arange(users.size, dtype=np.int64), np.diff(hits.indptr))
    hit_keys = hit_rows * sell.num_rows + hits.indices  # sorted (row-major, sorted columns)
    owner, streamer = follow.expand(users)
    query = owner * sell.num_rows + streamer
    pos = np.minimum(np.searchsorted(hit_keys, query), max(hit_keys.size - 1, 0))
    pair_hits = np.where(hit_keys[pos] == query, hits.data[pos], 0.0) if hit_keys.size else np.zeros(query.size)
    total_hits = np.bincount(owner, weights=pair_hits, minlength=users.size)
    offered = np.bincount(owner, weights=sell.degree[streamer], minlength=users.size)
    return total_hits, offered


def users_with_items(
    buy: BinaryCSR,
    follow: BinaryCSR,
    sell: BinaryCSR,
    random_follow: BinaryCSR,
    samples: int,
    rng: np.random.Generator,
    **test: int,
) -> tuple[PairedComparison, dict[str, int]]:
    """Pattern 1 (module docstring): per-user purchase rate over followed streamers' items, real vs rewired."""
    population = np.flatnonzero((follow.degree > 0) & (random_follow.degree > 0) & (buy.degree > 0))
    users = _sample_without_replacement(population, samples, rng)

    def rate(graph: BinaryCSR) -> np.ndarray:
        total_hits, offered = purchase_counts(buy, graph, sell, users)
        return np.where(offered > 0, total_hits / np.maximum(offered, 1), np.nan)

    treated, control = rate(follow), rate(random_follow)
    ok = ~(np.isnan(treated) | np.isnan(control))
    counts = {
        "eligible_users": int(population.size),
        "users": int(ok.sum()),
        "users_without_offered_items": int((~ok).sum()),
        "followed_streamers": int(follow.degree[users[ok]].sum()),
    }
    return paired_comparison(treated[ok], control[ok], rng=rng, **test), counts


def _partners(via: BinaryCSR, anchors: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """For each anchor, another row sharing a random one of its columns (columns with >= 2 rows only).

    Returns (partner, ok); ``ok`` is False for anchors without such a column.
    """
    column_degree = np.bincount(via.indices, minlength=via.num_cols)
    shared = via.select(column_degree[via.indices] >= 2)
    ok = shared.degree[anchors] > 0
    partner = np.full(anchors.shape[0], -1, dtype=np.int64)
    connector = shared.sample_neighbour(anchors[ok], rng)
    partner[ok] = shared.transpose().sample_other_neighbour(connector, anchors[ok], rng)
    return partner, ok


def similar_pairs(
    similarity_of: BinaryCSR,
    via: BinaryCSR,
    random_via: BinaryCSR,
    samples: int,
    rng: np.random.Generator,
    *,
    partners: int = 1,
    **test: int,
) -> tuple[PairedComparison, dict[str, int]]:
    """Patterns 2 and 3: Jaccard of anchors and partners sharing a ``via`` neighbour, real vs rewired ``via``.

    ``via`` is (anchor type x connector type), e.g. user x streamer for pattern 2; ``similarity_of`` is
    (anchor type x anything), e.g. user x item; similarity is the Jaccard index of its rows. Each anchor's
    value is the mean over ``partners`` partners (drawn with replacement) on each side; the unit of the test is
    the anchor.
    """
    if partners < 1:
        raise ValueError(f"The 'partners' parameter of similar_pairs must be an int >= 1. Got {partners} instead.")
    population = np.flatnonzero((via.degree > 0) & (similarity_of.degree > 0))
    anchors = _sample_without_replacement(population, samples, rng)
    repeated = np.repeat(anchors, partners)  # anchor-major: partners of anchor a at a * partners + p
    partner, ok_real = _partners(via, repeated, rng)
    random_partner, ok_random = _partners(random_via, repeated, rng)
    ok = (ok_real & ok_random).reshape(anchors.size, partners)[:, 0]  # partner existence is a property of the anchor
    rows = np.repeat(ok, partners)
    treated = jaccard(similarity_of, repeated[rows], partner[rows]).reshape(-1, partners).mean(1)
    control = jaccard(similarity_of, repeated[rows], random_partner[rows]).reshape(-1, partners).mean(1)
    counts = {
        "eligible_anchors": int(population.size),
        "anchors": int(ok.sum()),
        "partners_per_anchor": int(partners),
        "pairs": int(ok.sum()) * partners,
        "anchors_without_partner": int((~ok).sum()),
    }
    return paired_comparison(treated, control, rng=rng, **test), counts


Measure = Callable[[BinaryCSR, np.random.Generator], np.ndarray]
"""A pattern as a function of its relation: (relation, rng) -> per-unit values, NaN where a unit has none."""

DENSE_INTERSECTIONS = 32_000_000
"""Anchor x row intersection counts are precomputed as one dense int32 table up to this many entries (128 MiB)."""


def _graph_monte_carlo(
    measures: dict[str, tuple[Measure, np.random.Generator]],
    real: BinaryCSR,
    rewirings: int,
    seed: Sequence[int],
    bootstrap: int,
    exceedances: int = 0,
) -> dict[str, tuple[PairedComparison, int]]:
    """Graph-level Monte Carlo test (module docstring) of each measure on ``real`` against the same ``rewirings``
    rewirings of it (rewiring ``r`` seeded by ``[*seed, r]``, drawn once and measured by every pattern of that
    relation). Returns per measure (comparison with the Monte Carlo p-value, pairs dropped by the rewirings).

    ``exceedances`` h > 0: sequential Monte Carlo (Besag and Clifford, 1991): once a measure's statistic has been
    reached or exceeded by h rewirings, its p-value is h / (rewirings drawn then), and the draws stop when every
    measure got there (a clearly null pattern needs a few dozen rewirings, not all of them); measures that never
    do keep ``(1 + k) / (R + 1)``."""
    treated = {key: measure(real, rng) for key, (measure, rng) in measures.items()}
    observed = {
        key: float(np.nanmean(values)) if np.isfinite(values).any() else float("nan") for key, values in treated.items()
    }
    controls = {key: np.empty((rewirings, values.size)) for key, values in treated.items()}
    extreme = dict.fromkeys(measures, 0)
    stopped_at: dict[str, int] = {}
    dropped = drawn = 0
    for r in range(rewirings):
        rewired, lost = rewire(real, np.random.default_rng([*seed, r]))
        dropped += lost
        drawn = r + 1
        for key, (measure, rng) in measures.items():
            controls[key][r] = measure(rewired, rng)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                statistic = np.nanmean(controls[key][r])
            extreme[key] += bool(not np.isfinite(observed[key]) or statistic >= observed[key])
            if exceedances and key not in stopped_at and extreme[key] >= exceedances:
                stopped_at[key] = drawn
        if exceedances and len(stopped_at) == len(measures):
            break
    out = {}
    for key, (_, rng) in measures.items():
        with warnings.catch_warnings():  # units without a value in every rewiring: NaN, left out below
            warnings.simplefilter("ignore", RuntimeWarning)
            control = np.nanmean(controls[key][:drawn], axis=0)
        values = treated[key]
        ok = np.isfinite(values) & np.isfinite(control)
        comparison = paired_comparison(values[ok], control[ok], rng=rng, permutations=0, bootstrap=bootstrap)
        stop = stopped_at.get(key)
        p_value = exceedances / stop if stop else (1 + extreme[key]) / (rewirings + 1)
        out[key] = (dataclasses.replace(comparison, p_value=p_value, permutations=drawn), dropped)
    return out


def _rate_values(buy: BinaryCSR, sell: BinaryCSR, users: np.ndarray) -> Measure:
    """Pattern 1 as a measure of the follow relation given: each user's purchase rate over its streamers' items
    (NaN without offered items), as :func:`purchase_counts`. ``|B(u) ∩ S(s)|`` does not depend on follow, so it
    is computed once (a dense users x streamers table when it fits)."""
    if users.size * sell.num_rows > DENSE_INTERSECTIONS:

        def slow(follow: BinaryCSR, _rng: np.random.Generator) -> np.ndarray:
            total_hits, offered = purchase_counts(buy, follow, sell, users)
            return np.where(offered > 0, total_hits / np.maximum(offered, 1), np.nan)

        return slow
    table = np.asarray((buy.to_scipy()[users] @ sell.to_scipy().T).toarray(), dtype=np.float64)  # (U, streamers)

    def measure(follow: BinaryCSR, _rng: np.random.Generator) -> np.ndarray:
        owner, streamer = follow.expand(users)
        total_hits = np.bincount(owner, weights=table[owner, streamer], minlength=users.size)
        offered = np.bincount(owner, weights=sell.degree[streamer], minlength=users.size)
        return np.where(offered > 0, total_hits / np.maximum(offered, 1), np.nan)

    return measure


def _pair_values(similarity_of: BinaryCSR, anchors: np.ndarray, partners: int) -> Measure:
    """Patterns 2-3 as a measure: each anchor's mean Jaccard over ``partners`` partners drawn in the relation
    given (NaN for an anchor without a partner there). The similarity side never changes between rewirings, so
    the anchors' intersection counts with every row are computed once when they fit in a dense table."""
    repeated = np.repeat(anchors, partners)
    position = np.repeat(np.arange(anchors.size), partners)
    table = None
    if anchors.size * similarity_of.num_rows <= DENSE_INTERSECTIONS:
        scipy_form = similarity_of.to_scipy()
        table = np.asarray((scipy_form[anchors] @ scipy_form.T).toarray(), dtype=np.int32)  # (A, rows)

    def measure(via: BinaryCSR, rng: np.random.Generator) -> np.ndarray:
        partner, ok = _partners(via, repeated, rng)
        values = np.full(repeated.size, np.nan)
        if table is None:
            values[ok] = jaccard(similarity_of, repeated[ok], partner[ok])
        else:
            inter = table[position[ok], partner[ok]].astype(np.float64)
            union = similarity_of.degree[repeated[ok]] + similarity_of.degree[partner[ok]] - inter
            values[ok] = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        return values.reshape(anchors.size, partners).mean(1)  # NaN when the anchor has no partner

    return measure


def _monte_carlo_patterns(
    wanted: Sequence[str],
    buy: BinaryCSR | None,
    follow: BinaryCSR | None,
    sell: BinaryCSR | None,
    samples: int,
    seed: int,
    partners: int,
    rewirings: int,
    bootstrap: int,
    exceedances: int = 0,
) -> dict[str, tuple[PairedComparison, dict[str, int]]]:
    """The graph-level Monte Carlo tests of the patterns ``wanted`` (keys; their relations present): units sampled
    once per pattern (rng ``[seed, pattern index]``), measured on the real relation and on each rewiring;
    patterns 1 and 2 share the rewirings of follow, pattern 3 rewires sell."""
    assert buy is not None
    by_relation: dict[str, dict[str, tuple[Measure, np.random.Generator]]] = {"follow": {}, "sell": {}}
    counts: dict[str, dict[str, int]] = {}
    for index, key in enumerate(PATTERN_KEYS):
        if key not in wanted:
            continue
        rng = np.random.default_rng([seed, index])
        measure: Measure
        if key == "users_items":
            assert follow is not None and sell is not None
            population = np.flatnonzero((follow.degree > 0) & (buy.degree > 0))
            units = _sample_without_replacement(population, samples, rng)

            measure, relation = _rate_values(buy, sell, units), "follow"
        elif key == "similar_users":
            assert follow is not None
            population = np.flatnonzero((follow.degree > 0) & (buy.degree > 0))
            units = _sample_without_replacement(population, samples, rng)
            measure, relation = _pair_values(buy, units, partners), "follow"
        else:
            assert sell is not None
            population = np.flatnonzero((sell.transpose().degree > 0) & (buy.transpose().degree > 0))
            units = _sample_without_replacement(population, samples, rng)
            measure, relation = _pair_values(buy.transpose(), units, partners), "sell"
        by_relation[relation][key] = (measure, rng)
        counts[key] = {"eligible_units": int(population.size), "sampled_units": int(units.size)}
        if key != "users_items":
            counts[key]["partners_per_anchor"] = int(partners)
    out = {}
    for relation, measures in by_relation.items():
        if not measures:
            continue
        real = follow if relation == "follow" else sell.transpose()  # type: ignore[union-attr]
        assert real is not None
        tested = _graph_monte_carlo(
            measures, real, rewirings, (seed, 300, ("follow", "sell").index(relation)), bootstrap, exceedances
        )
        for key, (comparison, dropped) in tested.items():
            counts[key].update(
                units=int(comparison.n),
                units_without_value=counts[key]["sampled_units"] - int(comparison.n),
                rewired_pairs_dropped=int(dropped),
                rewirings=int(comparison.permutations),
            )
            out[key] = (comparison, counts[key])
    return out


def analyze_influence(
    graph: HeteroGraph,
    *,
    samples: int = 20_000,
    seed: int = 0,
    permutations: int = 2000,
    bootstrap: int = 1000,
    partners: int = 1,
    rewirings: int = 0,
    exceedances: int = 0,
    show_progress: bool = False,
) -> InfluenceResult:
    """Run the three streamers' influence tests on ``graph`` (patterns whose relations are missing are skipped).

    Args:
        samples: sampled units per pattern (users for pattern 1, anchor users / items for 2 and 3).
        seed: seeds every random draw (sampling, matching, permutations, bootstrap).
        permutations: sign-flip permutations per p-value (smallest reachable p = 1 / (permutations + 1)).
        bootstrap: bootstrap resamples per confidence interval.
        partners: partners per anchor in patterns 2 and 3 (their values are averaged per anchor). More partners
            give more power but make the anchor-level sign-flip test anti-conservative: every anchor shares the one
            rewiring and the one real graph, a component the test treats as independent noise
            (benchmarks/README.md, "Influence tests: power and calibration"). 1 is calibrated.
        rewirings: 0 (default): the sign-flip test against one rewiring; R > 0: the graph-level Monte Carlo test
            against R rewirings (module docstring), calibrated with any number of partners; R >= 199 for p < 0.01.
            ``permutations`` is then unused.
        exceedances: with ``rewirings``, h > 0 stops a relation's draws once each of its patterns has been reached
            by h rewirings (sequential Monte Carlo, p = h / draws; a clearly null pattern then needs a few dozen
            rewirings); 0 draws all R.
    """
    if rewirings < 0:
        raise ValueError(f"The 'rewirings' parameter of analyze_influence must be an int >= 0. Got {rewirings}.")
    if samples < 2:
        raise ValueError(f"The 'samples' parameter of analyze_influence must be an int >= 2. Got {samples} instead.")
    started = time.perf_counter()
    has = {name: graph.has(name) and len(graph[name]) > 0 for name in ("buy", "follow", "sell")}
    nu, ni, ns = graph.num_users, graph.num_items, graph.num_streamers
    buy = BinaryCSR.from_table(graph["buy"], nu, ni) if has["buy"] else None
    follow = BinaryCSR.from_table(graph["follow"], nu, ns) if has["follow"] else None
    sell = BinaryCSR.from_table(graph["sell"], ns, ni) if has["sell"] else None
    test = {"permutations": permutations, "bootstrap": bootstrap}
    single: dict[str, tuple[BinaryCSR, int]] = {}

    def rewired(name: str, matrix: BinaryCSR) -> tuple[BinaryCSR, int]:
        """One random rewiring per relation, shared by the patterns that use it (seeded by ``seed``)."""
        if name not in single:
            single[name] = rewire(matrix, np.random.default_rng([seed, 100, ("follow", "sell").index(name)]))
        return single[name]

    patterns = [
        PatternResult(
            "users_items",
            "Streamers connect users with items",
            "Users are more likely to buy items sold by the streamers they follow.",
            ("buy", "follow", "sell"),
            "items of followed streamers",
            "items of the user's streamers in a random rewiring",
            "purchase rate (items bought / items offered)",
        ),
        PatternResult(
            "similar_users",
            "Streamers connect similar users",
            "Users who follow a common streamer buy more similar items.",
            ("buy", "follow"),
            "pairs sharing a followed streamer",
            "pairs sharing a streamer in a random rewiring",
            "Jaccard similarity of bought items",
        ),
        PatternResult(
            "similar_items",
            "Streamers connect similar items",
            "Items sold by a common streamer have more similar buyers.",
            ("buy", "sell"),
            "pairs sold by a common streamer",
            "pairs sharing a seller in a random rewiring",
            "Jaccard similarity of buyers",
        ),
    ]
    monte_carlo: dict[str, tuple[PairedComparison, dict[str, int]]] | None = None
    for index, pattern in enumerate(tqdm(patterns, desc="influence patterns", disable=not show_progress)):
        missing = [name for name in pattern.requires if not has[name]]
        if missing:
            pattern.skipped = f"needs the {', '.join(missing)} relation{'s' if len(missing) > 1 else ''}, absent here"
            continue
        tic = time.perf_counter()
        rng = np.random.default_rng([seed, index])
        if rewirings:
            if monte_carlo is None:
                wanted = [p.key for p in patterns if all(has[name] for name in p.requires)]
                monte_carlo = _monte_carlo_patterns(
                    wanted, buy, follow, sell, samples, seed, partners, rewirings, bootstrap, exceedances
                )
            pattern.comparison, pattern.counts = monte_carlo[pattern.key]
            if pattern.comparison.n < 2:
                pattern.skipped = "fewer than 2 units could be sampled"
            pattern.seconds = time.perf_counter() - tic
            continue
        if pattern.key == "users_items":
            assert buy is not None and follow is not None and sell is not None
            random_follow, dropped = rewired("follow", follow)
            pattern.comparison, pattern.counts = users_with_items(
                buy, follow, sell, random_follow, samples, rng, **test
            )
        elif pattern.key == "similar_users":
            assert buy is not None and follow is not None
            random_follow, dropped = rewired("follow", follow)
            pattern.comparison, pattern.counts = similar_pairs(
                buy, follow, random_follow, samples, rng, partners=partners, **test
            )
        else:
            assert buy is not None and sell is not None
            sellers = sell.transpose()
            random_sellers, dropped = rewired("sell", sellers)
            pattern.comparison, pattern.counts = similar_pairs(
                buy.transpose(), sellers, random_sellers, samples, rng, partners=partners, **test
            )
        pattern.counts["rewired_pairs_dropped"] = dropped
        if pattern.comparison.n < 2:
            pattern.skipped = "fewer than 2 units could be sampled"
        pattern.seconds = time.perf_counter() - tic
    return InfluenceResult(
        dataset=graph.name,
        samples=samples,
        seed=seed,
        permutations=permutations,
        bootstrap=bootstrap,
        patterns=patterns,
        seconds=time.perf_counter() - started,
        partners=partners,
        rewirings=rewirings,
    )
