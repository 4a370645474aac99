"""The graph-level Monte Carlo influence test (``analyze_influence(rewirings=R)``): its p-value against a naive
recomputation over the same rewirings, its dense and sparse paths, power on planted influence and quiet on
shuffled relations with many partners per anchor (where the one-rewiring sign-flip test is anti-conservative)."""

from __future__ import annotations

import numpy as np
import pytest

from lsec.analysis import influence
from lsec.analysis.influence import analyze_influence
from lsec.analysis.sparse import BinaryCSR, rewire
from tests.analysis.planted import planted_graph

PATTERNS = ("users_items", "similar_users", "similar_items")
DEPENDS = {"follow": ("users_items", "similar_users"), "sell": ("users_items", "similar_items")}


def _sets(graph, relation: str) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for s, d in zip(graph[relation].src.tolist(), graph[relation].dst.tolist(), strict=True):
        out.setdefault(s, set()).add(d)
    return out


def _rate(users, buys, follows, sells) -> float:
    """Mean over users of the purchase rate over their streamers' items (users without offered items left out)."""
    rates = []
    for user in users:
        offered = sum(len(sells.get(s, ())) for s in follows.get(user, ()))
        if offered:
            rates.append(sum(len(buys.get(user, set()) & sells.get(s, set())) for s in follows[user]) / offered)
    return float(np.mean(rates))


def test_pattern_one_p_value_equals_a_naive_count_over_the_same_rewirings():
    graph = planted_graph(seed=3, num_users=300, num_items=250, num_streamers=30)
    rewirings, seed = 19, 4
    result = analyze_influence(graph, samples=10_000, seed=seed, bootstrap=0, rewirings=rewirings)
    c = result["users_items"].comparison
    assert c is not None and c.permutations == rewirings
    buys, follows, sells = _sets(graph, "buy"), _sets(graph, "follow"), _sets(graph, "sell")
    users = sorted(u for u in set(buys) & set(follows))  # samples > eligible: every eligible user
    observed = _rate(users, buys, follows, sells)
    follow = BinaryCSR.from_table(graph["follow"], graph.num_users, graph.num_streamers)
    null = []
    for r in range(rewirings):  # the documented seeds of rewiring r of follow: [seed, 300, 0, r]
        rewired, _ = rewire(follow, np.random.default_rng([seed, 300, 0, r]))
        rows = np.repeat(np.arange(rewired.num_rows), rewired.degree)
        rewired_follows: dict[int, set[int]] = {}
        for u, s in zip(rows.tolist(), rewired.indices.tolist(), strict=True):
            rewired_follows.setdefault(u, set()).add(s)
        null.append(_rate(users, buys, rewired_follows, sells))
    expected = (1 + sum(value >= observed - 1e-12 for value in null)) / (rewirings + 1)
    assert c.p_value == pytest.approx(expected)
    assert c.mean_treated == pytest.approx(observed)
    assert result.to_dict()["rewirings"] == rewirings and "graph-level" in result.to_dict()["p_value_method"]


def test_dense_and_sparse_intersections_give_the_same_results(monkeypatch):
    graph = planted_graph(seed=1, num_users=400, num_items=300, num_streamers=40)
    dense = analyze_influence(graph, samples=300, seed=2, bootstrap=20, partners=5, rewirings=9).to_dict()
    monkeypatch.setattr(influence, "DENSE_INTERSECTIONS", 0)
    sparse = analyze_influence(graph, samples=300, seed=2, bootstrap=20, partners=5, rewirings=9).to_dict()
    for a, b in zip(dense["patterns"], sparse["patterns"], strict=True):
        assert a["result"].keys() == b["result"].keys()
        for name, value in a["result"].items():
            np.testing.assert_allclose(value, b["result"][name], rtol=1e-12, err_msg=f"{a['key']} {name}")
        assert a["counts"] == b["counts"]


def test_planted_influence_reaches_the_smallest_p_and_same_seed_same_numbers():
    graph = planted_graph(influence=0.6, seed=0)
    result = analyze_influence(graph, samples=800, seed=0, bootstrap=100, partners=10, rewirings=39)
    for key in PATTERNS:
        c = result[key].comparison
        assert c is not None and c.p_value == pytest.approx(1 / 40), key  # above every one of the 39 rewirings
        assert c.ratio > 1.2 and c.difference_ci[0] > 0, (key, c)
    again = analyze_influence(graph, samples=800, seed=0, bootstrap=100, partners=10, rewirings=39)
    for a, b in zip(again.to_dict()["patterns"], result.to_dict()["patterns"], strict=True):
        assert a["result"] == b["result"] and a["counts"] == b["counts"], a["key"]


@pytest.mark.parametrize("null", ["follow", "sell"])
def test_many_partners_stay_calibrated_on_shuffled_relations(null):
    # Five null datasets, twenty partners per anchor: a shuffled relation's patterns are "detected" at p < 0.05
    # at most once (5% each), and their p-values are spread (not piled at the minimum as an anti-conservative
    # test's would be); the relation left alone keeps its pattern.
    rejections = dict.fromkeys(DEPENDS[null], 0)
    p_values: dict[str, list[float]] = {key: [] for key in DEPENDS[null]}
    untouched = next(k for k in PATTERNS if k not in DEPENDS[null])
    for seed in range(2, 7):
        graph = planted_graph(influence=0.6, null=null, seed=seed, num_users=800, num_items=600, num_streamers=60)
        result = analyze_influence(graph, samples=600, seed=seed, bootstrap=0, partners=20, rewirings=39)
        for key in DEPENDS[null]:
            p = result[key].comparison.p_value  # type: ignore[union-attr]
            rejections[key] += p < 0.05
            p_values[key].append(p)
        assert result[untouched].comparison.p_value < 0.05, (null, untouched, seed)  # type: ignore[union-attr]
    assert all(count <= 1 for count in rejections.values()), (null, rejections)
    assert all(np.median(v) > 0.1 for v in p_values.values()), p_values


def test_negative_rewirings_are_refused():
    with pytest.raises(ValueError, match="rewirings"):
        analyze_influence(planted_graph(seed=0, num_users=100, num_items=80, num_streamers=10), rewirings=-1)


def test_sequential_stopping_changes_nothing_on_influence_and_stops_early_on_a_null_relation():
    graph = planted_graph(influence=0.6, seed=0, num_users=800, num_items=600, num_streamers=60)
    full = analyze_influence(graph, samples=400, seed=1, bootstrap=0, partners=5, rewirings=49)
    quick = analyze_influence(graph, samples=400, seed=1, bootstrap=0, partners=5, rewirings=49, exceedances=5)
    for key in PATTERNS:  # no rewiring reaches planted influence: every draw is made, same p-values
        assert quick[key].comparison.p_value == full[key].comparison.p_value == pytest.approx(1 / 50)  # type: ignore[union-attr]
    null = planted_graph(influence=0.6, null="follow", seed=3, num_users=800, num_items=600, num_streamers=60)
    result = analyze_influence(null, samples=400, seed=1, bootstrap=0, partners=5, rewirings=199, exceedances=5)
    drawn = result["similar_users"].counts["rewirings"]
    assert drawn < 199  # both follow patterns reached 5 exceedances early
    for key in DEPENDS["follow"]:
        p = result[key].comparison.p_value  # type: ignore[union-attr]
        stop = round(5 / p)
        assert stop <= drawn and 5 / stop == pytest.approx(p), key  # Besag-Clifford p = h / draws at the h-th
