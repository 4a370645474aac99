from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from lsec.errors import LsecError
from lsec.graph.metapath import METAPATHS, mean_pool, metapath_neighbours
from lsec.graph.swing import swing
from lsec.serve.expansion_store import SOURCE, TARGET, ExpansionStore, UnknownIdError, build_store, expand
from tests.nn.models.mmbee.planted import two_communities

K = 6
DIM = 5


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    graph, _, _ = two_communities(num_users=60, num_streamers=16, gifts_per_user=2, cross=0.2, seed=4)
    neighbours = swing(graph=graph, k=8, mode="exact")
    rng = np.random.default_rng(0)
    tables = {"user": rng.normal(size=(60, DIM)), "streamer": rng.normal(size=(16, DIM))}
    path = tmp_path_factory.mktemp("stores") / "store"
    given = expand(graph=graph, swing=neighbours, k=K, metapaths=("u2a2u", "a2u2a"))  # as the CLI passes them
    store = build_store(
        path, graph=graph, swing=neighbours, user_embeddings=tables["user"], streamer_embeddings=tables["streamer"],
        k=K, neighbours=given, provenance={"seed": 0},
    )  # fmt: skip
    return graph, neighbours, tables, store


@pytest.mark.parametrize("seed", range(3))
def test_lookup_equals_on_the_fly_expansion(built, seed):
    graph, neighbours, tables, store = built
    rng = np.random.default_rng(seed)
    users = rng.integers(0, graph.num_users, 9)
    streamers = rng.integers(0, graph.num_streamers, 4)
    found = store.lookup(users=users, streamers=streamers)
    assert set(found) == set(METAPATHS)
    for name in METAPATHS:
        ids = users if SOURCE[name] == "user" else streamers
        walk = metapath_neighbours(metapath=name, graph=graph, k=K, swing=neighbours, sources=ids)
        pooled = mean_pool(table=tables[TARGET[name]].astype(np.float32), indices=walk.indices)
        assert found[name].indices.dtype == np.int32 and found[name].indices.shape == (ids.size, K)
        np.testing.assert_array_equal(found[name].indices, walk.indices)
        np.testing.assert_allclose(found[name].pooled, pooled, rtol=1e-6, atol=1e-7)
        assert found[name].pooled.shape == (ids.size, DIM)
    assert (found["u2a2u"].indices >= 0).any() and (found["a2a"].indices >= 0).any()  # not all padding
    only_users = store.lookup(users=users[:2])
    assert set(only_users) == {"u2a2u", "u2a2u2a", "u2a2a"}


def test_reopen_gives_identical_arrays_and_manifest(built):
    graph, _, tables, store = built
    again = ExpansionStore.open(store.path, verify=True)
    assert set(again.arrays) == set(store.arrays) and len(store.arrays) == 2 + 2 * len(METAPATHS)
    for name, array in store.arrays.items():
        assert isinstance(array, np.memmap)
        np.testing.assert_array_equal(again.arrays[name], array)
    np.testing.assert_array_equal(again.embeddings("user"), tables["user"].astype(np.float32))
    manifest = json.loads((store.path / "manifest.json").read_text())
    assert manifest["k"] == K and manifest["embedding_dim"] == DIM
    assert manifest["counts"] == {"user": 60, "streamer": 16, "gift_edges": graph.num_edges}
    assert list(manifest["metapaths"]) == list(METAPATHS) and manifest["provenance"] == {"seed": 0}
    assert all(len(entry["sha256"]) == 64 for entry in manifest["files"].values())
    assert (again.num_users, again.num_streamers, again.k) == (60, 16, K)


def test_unknown_ids_and_damaged_stores(built, tmp_path):
    _, neighbours, tables, store = built
    with pytest.raises(UnknownIdError, match="unknown user id 60 at position 1 .*users 0..59"):
        store.lookup(users=np.array([0, 60]))
    with pytest.raises(UnknownIdError, match="unknown streamer id -1"):
        store.lookup(streamers=np.array([-1]))
    with pytest.raises(ValueError, match="integer ids"):
        store.lookup(users=np.array([0.5]))
    with pytest.raises(LsecError, match="not an expansion store"):
        ExpansionStore.open(tmp_path)
    with pytest.raises(LsecError, match="exists and is not empty"):
        build_store(
            store.path, graph=None, swing=neighbours, user_embeddings=tables["user"],  # type: ignore[arg-type]
            streamer_embeddings=tables["streamer"], k=K,
        )  # fmt: skip
    # A copy with one flipped byte: open works (no hashing by default), verify=True names the file.
    copy = tmp_path / "copy"
    shutil.copytree(store.path, copy)
    target = copy / "user" / "u2a2u.pooled.npy"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    ExpansionStore.open(copy)
    with pytest.raises(LsecError, match="u2a2u.pooled.npy does not match its checksum"):
        ExpansionStore.open(copy, verify=True)


def test_overwrite_replaces_the_store(built, tmp_path):
    graph, neighbours, tables, _ = built
    path = tmp_path / "s"
    kwargs = dict(graph=graph, swing=neighbours, streamer_embeddings=tables["streamer"], k=3)
    build_store(path, user_embeddings=tables["user"], **kwargs)
    second = build_store(path, user_embeddings=tables["user"] * 2, overwrite=True, **kwargs)
    np.testing.assert_allclose(second.embeddings("user"), tables["user"].astype(np.float32) * 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]  # no temporary or old folder left behind
