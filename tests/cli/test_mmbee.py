"""``lsec mmbee build-store`` on a tiny simulated gifting dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lsec.cli import main
from lsec.data.store import load
from lsec.graph.metapath import METAPATHS, mean_pool, metapath_neighbours
from lsec.graph.swing import gift_graph, swing
from lsec.serve.expansion_store import SOURCE, TARGET, ExpansionStore


def lsec(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str]:
    capsys.readouterr()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("mmbee") / "data"
    with pytest.raises(SystemExit) as exit_:
        main(["data", "simulate", "--preset", "mmbee", "--scale", "0.02", "--seed", "0", "--out", str(path)])
    assert exit_.value.code == 0
    return path


def test_build_store_writes_a_store_that_matches_the_graph(dataset, tmp_path, capsys):
    out = tmp_path / "store"
    args = (
        "mmbee",
        "build-store",
        "--data",
        dataset,
        "--out",
        out,
        "--k",
        5,
        "--epochs",
        2,
        "--dim",
        8,
        "--until",
        "all",
    )
    code, output = lsec(capsys, *args, "--seed", 1, "--device", "cpu")
    assert code == 0, output
    assert f"wrote {out}" in output and "done in" in output and "GraphCL 2 epochs on cpu" in output
    for name in METAPATHS:
        assert f"  {name} " in output
    store = ExpansionStore.open(out, verify=True)
    data = load(dataset)
    assert (store.num_users, store.num_streamers, store.k, store.embedding_dim) == (
        data.num_users, data.num_streamers, 5, 8,
    )  # fmt: skip
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["provenance"]["graphcl"]["epochs"] == 2 and manifest["provenance"]["graphcl"]["seed"] == 1
    # The stored expansions are the walks over the dataset's gift graph, pooled over the stored tables.
    edges = data.edges[("user", "gift", "streamer")]
    graph = gift_graph(
        src=edges.src, dst=edges.dst, num_users=data.num_users, num_streamers=data.num_streamers, weight=edges.weight
    )
    similar = swing(graph=graph, k=5, mode="bounded", max_users_per_streamer=100, seed=1)
    users = np.unique(edges.src)[:10]  # gifting users: non-empty expansions
    streamers = np.unique(edges.dst)[:10]
    found = store.lookup(users=users, streamers=streamers)
    for name in METAPATHS:
        ids = users if SOURCE[name] == "user" else streamers
        walk = metapath_neighbours(metapath=name, graph=graph, k=5, swing=similar, sources=ids)
        np.testing.assert_array_equal(found[name].indices, walk.indices)
        pooled = mean_pool(table=store.embeddings(TARGET[name]), indices=walk.indices)
        np.testing.assert_allclose(found[name].pooled, pooled, rtol=1e-6, atol=1e-7)
    assert (found["u2a2u"].indices >= 0).any()
    # Same seed, same store; a non-empty --out is refused before any work, --overwrite replaces it.
    code, output = lsec(capsys, *args, "--seed", 1)
    assert code == 2 and "exists and is not empty" in output
    code, output = lsec(capsys, *args, "--seed", 1, "--overwrite")
    assert code == 0, output
    again = ExpansionStore.open(out)
    for name, array in store.arrays.items():
        np.testing.assert_array_equal(again.arrays[name], array)


def test_build_store_needs_gift_edges(tmp_path, capsys):
    from lsec.data import store
    from tests.train.checkerboard import checkerboard

    store.save(checkerboard(), tmp_path / "board")
    code, output = lsec(capsys, "mmbee", "build-store", "--data", tmp_path / "board", "--out", tmp_path / "s")
    assert code == 2
    assert "no gift edges" in output and "'gift' relation" in output and "Traceback" not in output
    assert not (tmp_path / "s").exists()  # --out was created early (checked before reading), then removed
