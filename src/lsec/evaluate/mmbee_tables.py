"""MMBee's Tables 1 and 4 as experiments (issue 13): the expansion store of each seed and its ablated variants.

``mmbee-table1`` trains MMoE, MMoE+GIE, SIM and SIM+GIE (``configs/mmbee/``); ``mmbee-table4`` is the paper's
graph-level ablation (section 6.5) of SIM+GIE:

* ``h_<metapath>(-)``: that metapath's neighbours removed. Its neighbour lists are emptied (all ``-1``), so its
  mean-pooled part of ``h_u`` / ``h_a`` is zero for every user or streamer, in training and in test: the tower
  gets nothing from it. The other four expansions are unchanged.
* ``Θ(-)``: "removing the learned graph node embedding layers but remaining the expanded sequence": the
  neighbour lists are kept and the GraphCL tables are replaced by a seeded random draw of GraphCL's own
  initialisation (``N(0, 0.1²)``), i.e. no pre-training; the tables are fine-tuned end to end as usual.
* ``h_g(-)``: "removing all features of graph modeling": the SIM backbone without GIE (the Table 1 row).

**Stores.** Every GIE row of seed ``k`` reads the store ``OUT/stores/seed<k>/full`` built as ``lsec mmbee
build-store --until train --seed k`` builds it (the same function,
:func:`lsec.serve.store_build.build_dataset_store`): from the gifts of the training days only, so neither ``h_u``
nor ``h_a`` sees a validation or test gift; an ablation reads ``OUT/stores/seed<k>/<variant>``, the full store with the ablated
arrays rewritten (:func:`ablated_store`). A recipe ``mmbee/sim-gie@drop-a2u2a`` means: the recipe
``mmbee/sim-gie`` on the store variant ``drop-a2u2a``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lsec.errors import LsecConfigError

METAPATH_NAMES = ("u2a2u", "u2a2u2a", "u2a2a", "a2a", "a2u2a")
GTR_METRICS: tuple[str, ...] = ("auc", "uauc", "gauc")
RANDOM_TABLE_STD = 0.1  # GraphCL's initialisation (lsec.nn.models.mmbee.gie.EMBEDDING_STD)
STORE_DEFAULTS: dict[str, Any] = {"k": 20, "epochs": 10, "dim": 64}
"""``lsec mmbee build-store`` options of the per-seed store (the recipes' comments use these)."""

TABLE1 = [
    ("MMoE", "mmbee/mmoe"),
    ("MMoE+MFQ", "mmbee/mmoe-mfq"),
    ("MMoE+GIE", "mmbee/mmoe-gie"),
    ("MMoE+MFQ+GIE", "mmbee/mmoe-gie-mfq"),
    ("SIM", "mmbee/sim"),
    ("SIM+MFQ", "mmbee/sim-mfq"),
    ("SIM+GIE", "mmbee/sim-gie"),
    ("SIM+MFQ+GIE", "mmbee/sim-gie-mfq"),
]
TABLE4 = [
    ("SIM+GIE", "mmbee/sim-gie"),
    *[(f"h_{name}(-)", f"mmbee/sim-gie@drop-{name}") for name in METAPATH_NAMES],
    ("Θ(-)", "mmbee/sim-gie@random-theta"),
    ("h_g(-)", "mmbee/sim"),
]
GAPS1 = [
    (f"{backbone}{added}", backbone, GTR_METRICS)
    for backbone in ("MMoE", "SIM")
    for added in ("+GIE", "+MFQ", "+MFQ+GIE")
]
GAPS4 = [("SIM+GIE", label, GTR_METRICS) for label, _ in TABLE4[1:]]  # full minus ablated: > 0 where it matters


def split_recipe(recipe: str) -> tuple[str, str | None]:
    """``"mmbee/sim-gie@drop-a2a"`` -> ``("mmbee/sim-gie", "drop-a2a")``; no ``@``: no store variant."""
    name, _, variant = recipe.partition("@")
    return name, variant or None


def needs_store(config_path: Path) -> bool:
    """Whether a recipe trains with GIE (``model.hparams.gie: true``)."""
    from lsec.config import load_config

    return bool(load_config(config_path).model.hparams.get("gie", False))


def store_path(out: Path, seed: int, variant: str | None) -> Path:
    """Where :func:`seed_store` keeps the store of ``seed`` (``variant`` None: the full one)."""
    return Path(out) / "stores" / f"seed{seed}" / (variant or "full")


def seed_store(
    out: Path,
    data_dir: Path,
    seed: int,
    variant: str | None,
    options: Mapping[str, Any] | None = None,
) -> Path:
    """The store of ``seed`` (built once, from the training days' gifts) or its ``variant``; built if missing.

    An existing store built with other ``options`` (k, GraphCL epochs, dim) or another seed is refused, not
    rebuilt: the runs of ``out`` name its path, so replacing it would silently change what they were trained on.
    """
    folder = out / "stores" / f"seed{seed}"
    full = folder / "full"
    settings = {**STORE_DEFAULTS, **dict(options or {})}
    if (full / "manifest.json").is_file():  # reused only when built with these options (the runs name its path)
        from lsec.data.expansion_store import ExpansionStore

        manifest = ExpansionStore.open(full).manifest
        graphcl = manifest.get("provenance", {}).get("graphcl", {})
        built = {"k": manifest.get("k"), "epochs": graphcl.get("epochs"), "dim": manifest.get("embedding_dim")}
        wanted = {name: int(settings[name]) for name in built}
        if built != wanted or graphcl.get("seed") != seed:
            raise LsecConfigError(
                f"{full}: the store there was built with {built} (seed {graphcl.get('seed')}), this experiment asks "
                f"for {wanted} (seed {seed}); choose another --out (its runs were trained on that store)."
            )
    else:
        from lsec.serve.store_build import StoreOptions, build_dataset_store

        build_dataset_store(
            data_dir,
            full,
            StoreOptions(k=int(settings["k"]), epochs=int(settings["epochs"]), dim=int(settings["dim"]), seed=seed),
            device="cpu",
            overwrite=True,
            echo=lambda line: print(line, file=sys.stderr),  # where the experiment's progress goes
        )
    if variant is None:
        return full
    target = folder / variant
    if not (target / "manifest.json").is_file():
        ablated_store(full, target, variant, seed=seed)
    return target


def ablated_store(source: Path, out: Path, variant: str, *, seed: int) -> Path:
    """Write the store at ``source`` to ``out`` with one ablation (module docstring).

    ``variant``: ``drop-<metapath>`` (that metapath's neighbour lists all ``-1``, its pooled rows zero) or
    ``random-theta`` (both tables redrawn ``N(0, 0.1²)`` from ``seed``, every pooled row recomputed from them).
    """
    from lsec.data.expansion_store import ExpansionStore, write_store
    from lsec.graph.metapath import mean_pool

    store = ExpansionStore.open(source)
    manifest = store.manifest
    tables = {side: np.array(store.embeddings(side), np.float32) for side in ("user", "streamer")}
    indices = {name: np.array(store.arrays[entry["indices"]]) for name, entry in manifest["metapaths"].items()}
    if variant.startswith("drop-") and variant[5:] in indices:
        indices[variant[5:]] = np.full_like(indices[variant[5:]], -1)
    elif variant == "random-theta":
        rng = np.random.default_rng([seed, 0x7468])
        tables = {
            side: (RANDOM_TABLE_STD * rng.standard_normal(t.shape)).astype(np.float32) for side, t in tables.items()
        }
    else:
        valid = ", ".join([f"drop-{name}" for name in indices] + ["random-theta"])
        raise LsecConfigError(f"Unknown store variant {variant!r}. Valid: {valid}.")
    targets = {name: entry["target"] for name, entry in manifest["metapaths"].items()}
    write_store(
        out,
        tables=tables,
        indices=indices,
        pooled=lambda name: mean_pool(table=tables[targets[name]], indices=indices[name]),
        k=int(manifest["k"]),
        counts=manifest["counts"],
        max_frontier=manifest.get("max_frontier", 0),
        provenance={**manifest.get("provenance", {}), "ablation": {"of": str(source), "variant": variant}},
    )
    return out


def gtr_row_report(results: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``({"all": gift-task metrics}, {"all": popularity's})`` of a GTR run's test results (None left out)."""

    def finite(metrics: dict[str, Any]) -> dict[str, float]:
        return {m: float(metrics[m]) for m in GTR_METRICS if metrics.get(m) is not None}

    return {"all": finite(results["tasks"]["gift"])}, {"all": finite(results["baselines"]["popularity"])}


def beside_control(summary: dict[str, Any], control: dict[str, Any]) -> str:
    """Markdown: each gap of ``summary`` next to the same gap on the control dataset (e.g. ``--null graph``)."""
    lines = [
        f"### {summary['table']}: gaps on the data and on the control ({control.get('dataset', 'control')})",
        "",
        "| better | baseline | metric | gap (data) | std | > 2 std | gap (control) | std | > 2 std |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    on_control = {(g["better"], g["baseline"], g["metric"]): g for g in control.get("gaps", [])}
    for gap in summary.get("gaps", []):
        other = on_control.get((gap["better"], gap["baseline"], gap["metric"]))
        right = (
            f"{other['mean_diff']:+.4f} | {other['std_diff']:.4f} | {other['beyond_two_std']}" if other else "- | - | -"
        )
        lines.append(
            f"| {gap['better']} | {gap['baseline']} | {gap['metric']} | {gap['mean_diff']:+.4f} | "
            f"{gap['std_diff']:.4f} | {gap['beyond_two_std']} | {right} |"
        )
    return "\n".join(lines) + "\n"
