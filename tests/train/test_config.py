from __future__ import annotations

from pathlib import Path

import pytest

from lsec.config import Config, apply_overrides, config_to_dict, dump_config, load_config
from lsec.errors import LsecConfigError

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_defaults_are_the_slides() -> None:
    cfg = Config()
    assert (cfg.train.lr, cfg.train.batch_size, cfg.train.num_negatives, cfg.train.task_weight) == (5e-4, 4096, 4, 0.5)
    assert cfg.eval.ks == (10, 50)


def test_overrides_are_coerced_to_field_types() -> None:
    cfg = apply_overrides(
        Config(),
        ["train.lr=1e-3", "train.epochs=7", "eval.ks=[5, 20]", "model.name=lightgcn", "model.hparams.embedding_dim=64"],
    )
    assert cfg.train.lr == pytest.approx(0.001) and isinstance(cfg.train.lr, float)
    assert cfg.train.epochs == 7 and cfg.eval.ks == (5, 20)
    assert cfg.model.name == "lightgcn" and cfg.model.hparams == {"embedding_dim": 64}


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("train.learning_rate=1", "unknown key 'learning_rate'. Valid keys: lr, weight_decay"),
        ("trian.lr=1", "unknown key 'trian'. Valid keys: model, data, train, eval"),
        ("train.epochs=many", "expected an integer, found 'many'"),
        ("train.lr", "not of the form section.field=value"),
        ("train.batch_size=0", "train.batch_size must be positive"),
        ("train.metric=hitrate@5", "train.metric must be"),  # precision@k is valid since the full-sort engines
    ],
)
def test_bad_overrides_name_the_key(override: str, fragment: str) -> None:
    with pytest.raises(LsecConfigError, match=None) as err:
        apply_overrides(Config(), [override])
    assert fragment in str(err.value)


def test_yaml_unknown_key_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  lr: 0.1\n  bach_size: 5\n")
    with pytest.raises(LsecConfigError, match="unknown key 'bach_size'.*batch_size"):
        load_config(path)


def test_dump_and_load_round_trip(tmp_path: Path) -> None:
    cfg = apply_overrides(Config(), ["train.seed=3", "model.hparams.relations=[buy, follow]"])
    dump_config(cfg, tmp_path / "c.yaml")
    again = load_config(tmp_path / "c.yaml")
    assert again == cfg and config_to_dict(again)["model"]["hparams"]["relations"] == ["buy", "follow"]


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_recipe_loads_and_names_a_registered_model(path: Path) -> None:
    registry = pytest.importorskip("lsec.nn.models.registry")
    cfg = load_config(path)
    if cfg.train.engine == "closed_form":  # fitted, not trained: not a torch model of the registry
        import inspect

        from lsec.nn.models.gfcf import GFCF
        from lsec.train.engines import CLOSED_FORM_MODELS

        assert cfg.model.name in CLOSED_FORM_MODELS
        assert set(cfg.model.hparams) <= set(inspect.signature(GFCF).parameters)
        return
    assert cfg.model.name in registry.MODEL_NAMES
    assert set(cfg.model.hparams) <= set(registry.model_defaults(cfg.model.name))


def test_recipes_cover_every_table() -> None:
    from lsec.evaluate.experiments import TABLES

    names = {p.relative_to(CONFIGS).with_suffix("").as_posix() for p in CONFIGS.rglob("*.yaml")}
    for rows in TABLES.values():
        assert {recipe.split("@")[0] for _, recipe in rows} <= names  # "<recipe>@<store variant>": the recipe
    assert {"lightgcn-dot", "mf-bpr"} <= names


@pytest.mark.parametrize("path", sorted((CONFIGS / "official").glob("*.yaml")), ids=lambda p: p.stem)
def test_official_recipes_set_the_authors_protocol(path: Path) -> None:
    cfg = load_config(path)
    default = load_config(CONFIGS / path.name)
    assert cfg.model.name == default.model.name
    tc = cfg.train
    assert (tc.positives, tc.negatives, tc.exclude_seed_edges) == ("one_per_source", "uniform", True)
    assert (tc.task_weight, tc.eval_every, tc.patience, tc.metric) == (1.0, 5, 20, "mean")
    assert (cfg.model.hparams.get("lightgcn_combine") == "last") == ("lightgcn" in path.stem)
    assert (tc.lr, tc.batch_size, tc.num_negatives) == (default.train.lr, default.train.batch_size, 4)


def test_official_recipes_cover_table_3() -> None:
    from lsec.evaluate.experiments import TABLES

    assert {recipe for _, recipe in TABLES["table3"]} == {p.stem for p in (CONFIGS / "official").glob("*.yaml")}


@pytest.mark.parametrize("value", ["[]", "[-1]", "[0, .inf]"])
def test_popularity_prior_must_be_finite_non_negative_values(value: str) -> None:
    with pytest.raises(LsecConfigError, match=r"eval\.popularity_prior must be a non-empty list"):
        load_config(None, [f"eval.popularity_prior={value}"])
    assert load_config(None, ["eval.popularity_prior=[0, 1, 10]"]).eval.popularity_prior == (0.0, 1.0, 10.0)
