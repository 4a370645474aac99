"""Issue 11.7: no traceback anywhere in the CLI.

Every command and sub-command is driven with inputs a user gets wrong (missing files and folders, output
under ``/proc`` or under a file, output folders that already hold something, missing / unknown-key /
malformed YAML configs, datasets and run folders that are garbage or of another version, checkpoints that
are garbage or do not fit the model). Each must end with exit code 2 and one ``error: ...`` message that
names the path concerned, never a Python traceback.

The commands run in-process through :func:`lsec.cli.main` (the console-script entry point), so torch is
imported once; an exception that escapes ``main`` is turned into the traceback a user would have seen.
One case runs ``python -m lsec`` in a subprocess to check the real entry point.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from lsec.cli import main

UNWRITABLE = Path("/proc/lsec-no-such-dir")  # /proc refuses new entries, even to root
TINY_TRAINING = ("train.epochs=1", "train.min_steps=0")  # one optimizer step: a real run folder in seconds


@dataclass
class Outcome:
    code: int
    output: str


def run_lsec(capsys: pytest.CaptureFixture[str], *args: object) -> Outcome:
    """``lsec ARGS`` in-process: exit code and stdout + stderr (with the traceback if one escaped ``main``)."""
    capsys.readouterr()
    code = 0
    escaped = ""
    try:
        main([str(a) for a in args])
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:  # what the console script would have printed
        escaped = traceback.format_exc()
        code = 1
    captured = capsys.readouterr()
    return Outcome(code, captured.out + captured.err + escaped)


def _corrupt_copy(run: Path, copy: Path, edit: Callable[[Path], None]) -> Path:
    shutil.copytree(run, copy)
    edit(copy)
    return copy


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A real tiny dataset and run, and broken copies of them; the keys are the ``{names}`` of CASES."""
    import torch

    root = tmp_path_factory.mktemp("no-traceback")
    dataset, run = root / "data", root / "run"
    for args in (
        ("data", "simulate", "--preset", "lsec-small", "--scale", "0.02", "--seed", "0", "--out", dataset),
        ("data", "split", dataset, "--candidates", "20", "--no-progress"),
        ("train", "--config", "configs/mf-bpr.yaml", "--data", dataset, "--out", run, "-q", *TINY_TRAINING),
    ):
        try:
            main([str(a) for a in args])
        except SystemExit as exit_:
            assert exit_.code in (0, None), f"setup command failed: lsec {' '.join(map(str, args))}"
    found = {"root": root, "dataset": dataset, "run": run, "missing": root / "no-such-thing", "unwritable": UNWRITABLE}

    found["file"] = root / "plain.txt"  # an output path below it cannot be created
    found["file"].write_text("not a folder\n")
    found["under_file"] = found["file"] / "out"
    found["full"] = root / "full"  # a non-empty folder that lsec did not write
    found["full"].mkdir()
    (found["full"] / "keep.txt").write_text("someone's file\n")

    found["config_unknown_key"] = root / "unknown-key.yaml"
    found["config_unknown_key"].write_text("model:\n  name: mf-bpr\ntrain:\n  epochs: 1\n  learning_rate: 0.1\n")
    found["config_malformed"] = root / "malformed.yaml"
    found["config_malformed"].write_text("model: [mf-bpr\ntrain: {epochs: 1\n")
    found["configs_unknown_key"] = root / "configs-unknown-key"  # a --configs folder of such recipes
    found["configs_unknown_key"].mkdir()
    for recipe in ("ncf", "ablation-r0-t0"):
        shutil.copy(found["config_unknown_key"], found["configs_unknown_key"] / f"{recipe}.yaml")

    found["dataset_garbage_meta"] = root / "data-garbage-meta"
    found["dataset_garbage_meta"].mkdir()
    (found["dataset_garbage_meta"] / "meta.json").write_text("{ this is not json")
    found["dataset_other_version"] = root / "data-other-version"
    shutil.copytree(dataset, found["dataset_other_version"])
    meta = json.loads((found["dataset_other_version"] / "meta.json").read_text())
    meta["schema_version"] = 999
    (found["dataset_other_version"] / "meta.json").write_text(json.dumps(meta))

    def garbage_json(path: Path) -> None:
        (path / "run.json").write_text("{ this is not json")

    def other_format(path: Path) -> None:
        info = json.loads((path / "run.json").read_text())
        info["format"] = 999
        (path / "run.json").write_text(json.dumps(info))

    def garbage_checkpoints(path: Path) -> None:
        for name in ("best.pt", "last.pt"):
            (path / "checkpoints" / name).write_bytes(b"this is not a checkpoint")

    def mismatched_checkpoint(path: Path) -> None:
        state = torch.load(path / "checkpoints" / "best.pt", weights_only=True)
        state = {name: torch.zeros(tensor.shape[0] + 7, *tensor.shape[1:]) for name, tensor in state.items()}
        state["not_a_parameter"] = torch.zeros(3)
        torch.save(state, path / "checkpoints" / "best.pt")

    def interrupted_garbage_last(path: Path) -> None:
        info = json.loads((path / "run.json").read_text())
        info["status"] = "running"  # so that --resume reads last.pt
        (path / "run.json").write_text(json.dumps(info))
        (path / "checkpoints" / "last.pt").write_bytes(b"this is not a checkpoint")

    def unknown_config_key(path: Path) -> None:
        with (path / "config.yaml").open("a") as handle:
            handle.write("colour: blue\n")

    for name, edit in (
        ("run_garbage_json", garbage_json),
        ("run_other_format", other_format),
        ("run_garbage_checkpoint", garbage_checkpoints),
        ("run_mismatched_checkpoint", mismatched_checkpoint),
        ("run_unknown_config_key", unknown_config_key),
        ("run_interrupted_garbage_last", interrupted_garbage_last),
    ):
        found[name] = _corrupt_copy(run, root / name, edit)
    found["artifact_garbage_manifest"] = root / "artifact-garbage"
    found["artifact_garbage_manifest"].mkdir()
    (found["artifact_garbage_manifest"] / "artifact.json").write_text("{ this is not json")

    # small valid inputs of the importers, so that only the output path is wrong
    found["buys"] = root / "buys.csv"
    found["buys"].write_text("user,item,ts\nu1,i1,1606780800\nu2,i2,1606867200\n")
    found["rechub"] = root / "rechub"
    (found["rechub"] / "train").mkdir(parents=True)
    (found["rechub"] / "train" / "user-item-buy.tsv").write_text("user\titem\tts\n1\t2\t1606780800\n")
    found["lightgcn"] = root / "lightgcn"
    found["lightgcn"].mkdir()
    (found["lightgcn"] / "train.txt").write_text("0 0 1\n1 1 2\n")
    (found["lightgcn"] / "test.txt").write_text("0 2\n1 0\n")
    found["tiktok"] = root / "tiktok"
    found["tiktok"].mkdir()
    for fold in ("train", "valid", "test"):
        (found["tiktok"] / f"{fold}.tsv").write_text("user\titem\n0\t0\n1\t1\n")
    found["kuailive"] = root / "kuailive"  # a KuaiLive folder holding its one required file
    found["kuailive"].mkdir()
    (found["kuailive"] / "gift.csv").write_text(
        "user_id,live_id,streamer_id,timestamp,gift_price\n1,100,10,1746374445000,2\n"
    )
    found["temporal_run"] = root / "dmgnn-run"  # a DM-GNN run for `lsec predict`
    for args in (
        ("data", "simulate", "--preset", "dmgnn", "--scale", "0.005", "--seed", "0", "--out", root / "dmgnn-data"),
        ("train", "--config", "configs/dmgnn/dmgnn.yaml", "--data", root / "dmgnn-data", "--out", root / "dmgnn-run",
         "-q", "model.hparams.num_layers=1", *TINY_TRAINING),
    ):  # fmt: skip
        try:
            main([str(a) for a in args])
        except SystemExit as exit_:
            assert exit_.code in (0, None), f"setup command failed: lsec {' '.join(map(str, args))}"
    return found


TRAIN_OWNED = "owned by train refactor"

# (case id, arguments, the path the message must name); "{name}" is a key of the `paths` fixture: "{missing}"
# does not exist, "{unwritable}" is under /proc, "{under_file}" below a plain file, "{full}" a folder with a file.
CASES: list[tuple[str, tuple[str, ...], str]] = [
    # data simulate / permute
    ("simulate-unwritable", ("data", "simulate", "--scale", "0.01", "--out", "{unwritable}"), "{unwritable}"),
    ("simulate-under-file", ("data", "simulate", "--scale", "0.01", "--out", "{under_file}"), "{under_file}"),
    ("simulate-existing", ("data", "simulate", "--scale", "0.01", "--out", "{full}"), "{full}"),
    ("simulate-out-is-file", ("data", "simulate", "--scale", "0.01", "--out", "{file}"), "{file}"),
    ("permute-missing", ("data", "permute", "{missing}", "--out", "{root}/permuted"), "{missing}"),
    ("permute-other-version", ("data", "permute", "{dataset_other_version}", "--out", "{root}/p"), "meta.json"),
    ("permute-unwritable", ("data", "permute", "{dataset}", "--out", "{unwritable}"), "{unwritable}"),
    ("permute-existing", ("data", "permute", "{dataset}", "--out", "{full}"), "{full}"),
    # data import csv / rechub / lightgcn
    ("import-csv-missing", ("data", "import", "csv", "--buy", "{missing}", "--out", "{root}/csv-a"), "{missing}"),
    ("import-csv-unwritable", ("data", "import", "csv", "--buy", "{buys}", "--out", "{unwritable}"), "{unwritable}"),
    ("import-csv-under-file", ("data", "import", "csv", "--buy", "{buys}", "--out", "{under_file}"), "{under_file}"),
    ("import-csv-buy-is-folder", ("data", "import", "csv", "--buy", "{full}", "--out", "{root}/csv-b"), "{full}"),
    ("import-csv-existing", ("data", "import", "csv", "--buy", "{buys}", "--out", "{full}"), "{full}"),
    ("import-rechub-missing", ("data", "import", "rechub", "{missing}", "--out", "{root}/rechub-a"), "{missing}"),
    ("import-rechub-unwritable", ("data", "import", "rechub", "{rechub}", "--out", "{unwritable}"), "{unwritable}"),
    ("import-rechub-existing", ("data", "import", "rechub", "{rechub}", "--out", "{full}"), "{full}"),
    ("import-lightgcn-missing", ("data", "import", "lightgcn", "{missing}", "--out", "{root}/lg-a"), "{missing}"),
    (
        "import-lightgcn-unwritable",
        ("data", "import", "lightgcn", "{lightgcn}", "--out", "{unwritable}"),
        "{unwritable}",
    ),
    ("import-lightgcn-existing", ("data", "import", "lightgcn", "{lightgcn}", "--out", "{full}"), "{full}"),
    ("import-tiktok-missing", ("data", "import", "tiktok-mm", "{missing}", "--out", "{root}/tt-a"), "{missing}"),
    ("import-tiktok-unwritable", ("data", "import", "tiktok-mm", "{tiktok}", "--out", "{unwritable}"), "{unwritable}"),
    ("import-tiktok-existing", ("data", "import", "tiktok-mm", "{tiktok}", "--out", "{full}"), "{full}"),
    # DM-GNN importers (issue 15)
    ("import-tianchi-missing", ("data", "import", "tianchi", "{missing}", "--out", "{root}/dm-a"), "{missing}"),
    ("import-epinions-missing", ("data", "import", "epinions", "{missing}", "--out", "{root}/dm-b"), "{missing}"),
    ("import-delicious-missing", ("data", "import", "delicious", "{missing}", "--out", "{root}/dm-c"), "{missing}"),
    ("import-ciao-missing", ("data", "import", "ciao", "{missing}", "--out", "{root}/dm-d"), "{missing}"),
    ("import-ciao-file", ("data", "import", "ciao", "{file}", "--out", "{root}/dm-e"), "{file}"),
    (
        "import-social-csv-missing",
        ("data", "import", "social-csv", "--social", "{missing}", "--out", "{root}/dm-f"),
        "{missing}",
    ),  # fmt: skip
    # MMBee gift importers (issue 13)
    ("import-kuailive-missing", ("data", "import", "kuailive", "{missing}", "--out", "{root}/kl-a"), "{missing}"),
    ("import-kuailive-no-gift", ("data", "import", "kuailive", "{full}", "--out", "{root}/kl-b"), "{full}/gift.csv"),
    ("import-kuailive-file", ("data", "import", "kuailive", "{file}", "--out", "{root}/kl-c"), "{file}"),
    ("import-kuailive-existing", ("data", "import", "kuailive", "{kuailive}", "--out", "{full}"), "{full}"),
    (
        "import-kuailive-unwritable",
        ("data", "import", "kuailive", "{kuailive}", "--out", "{unwritable}"),
        "{unwritable}",
    ),
    (
        "import-kuailive-titles-missing",
        ("data", "import", "kuailive", "{kuailive}", "--titles", "{missing}", "--out", "{root}/kl-d"),
        "{missing}",
    ),
    (
        "import-impressions-missing",
        ("data", "import", "impressions-csv", "{missing}", "--out", "{root}/im-a"),
        "{missing}",
    ),
    (
        "import-impressions-no-streamer",
        ("data", "import", "impressions-csv", "{buys}", "--out", "{root}/im-b"),
        "{buys}",
    ),
    ("import-impressions-existing", ("data", "import", "impressions-csv", "{buys}", "--out", "{full}"), "{full}"),
    (
        "import-impressions-unwritable",
        ("data", "import", "impressions-csv", "{buys}", "--out", "{unwritable}"),
        "{unwritable}",
    ),
    # data validate / info / split
    ("validate-missing", ("data", "validate", "{missing}"), "{missing}"),
    ("validate-file", ("data", "validate", "{file}"), "{file}"),
    ("validate-garbage-meta", ("data", "validate", "{dataset_garbage_meta}"), "{dataset_garbage_meta}"),
    ("validate-other-version", ("data", "validate", "{dataset_other_version}"), "{dataset_other_version}"),
    ("info-missing", ("data", "info", "{missing}"), "{missing}"),
    ("info-garbage-meta", ("data", "info", "{dataset_garbage_meta}"), "{dataset_garbage_meta}"),
    ("info-other-version", ("data", "info", "{dataset_other_version}"), "{dataset_other_version}"),
    ("split-missing", ("data", "split", "{missing}"), "{missing}"),
    ("split-file", ("data", "split", "{file}"), "{file}"),
    ("split-garbage-meta", ("data", "split", "{dataset_garbage_meta}"), "{dataset_garbage_meta}"),
    ("split-other-version", ("data", "split", "{dataset_other_version}"), "{dataset_other_version}"),
    # train
    (
        "train-missing-config",
        ("train", "--config", "{missing}", "--data", "{dataset}", "--out", "{root}/t1"),
        "{missing}",
    ),
    (
        "train-unknown-key",
        ("train", "--config", "{config_unknown_key}", "--data", "{dataset}", "--out", "{root}/t2"),
        "learning_rate",
    ),
    (
        "train-malformed",
        ("train", "--config", "{config_malformed}", "--data", "{dataset}", "--out", "{root}/t3"),
        "{config_malformed}",
    ),
    ("train-config-is-folder", ("train", "--config", "{full}", "--data", "{dataset}", "--out", "{root}/t7"), "{full}"),
    (
        "train-missing-data",
        ("train", "--config", "configs/mf-bpr.yaml", "--data", "{missing}", "--out", "{root}/t4"),
        "{missing}",
    ),
    (
        "train-other-version",
        ("train", "--config", "configs/mf-bpr.yaml", "--data", "{dataset_other_version}", "--out", "{root}/t5"),
        "meta.json",
    ),
    (
        "train-existing-run",
        ("train", "--config", "configs/mf-bpr.yaml", "--data", "{dataset}", "--out", "{run}"),
        "{run}",
    ),
    (
        "train-unwritable",
        ("train", "--config", "configs/mf-bpr.yaml", "--data", "{dataset}", "--out", "{unwritable}", *TINY_TRAINING),
        "{unwritable}",
    ),
    (
        "train-ddp-without-torchrun",
        ("train", "-c", "configs/mf-bpr.yaml", "-d", "{dataset}", "-o", "{root}/t8", "train.distributed=ddp"),
        "torchrun --nproc-per-node",
    ),
    (
        "train-under-file",
        ("train", "--config", "configs/mf-bpr.yaml", "--data", "{dataset}", "--out", "{under_file}", *TINY_TRAINING),
        "{under_file}",
    ),
    (
        "train-resume-other-format",
        ("train", "--resume", "--out", "{run_other_format}", "-q"),
        "{run_other_format}/run.json",
    ),
    (
        "train-resume-garbage-checkpoint",
        ("train", "--resume", "--out", "{run_interrupted_garbage_last}", "-q"),
        "{run_interrupted_garbage_last}/checkpoints/last.pt",
    ),
    (
        "train-unknown-override",
        ("train", "--config", "configs/mf-bpr.yaml", "--data", "{dataset}", "--out", "{root}/t6", "train.colour=blue"),
        "colour",
    ),
    # evaluate
    ("evaluate-missing", ("evaluate", "{missing}"), "{missing}"),
    ("evaluate-garbage-run-json", ("evaluate", "{run_garbage_json}"), "{run_garbage_json}/run.json"),
    ("evaluate-other-format", ("evaluate", "{run_other_format}"), "{run_other_format}/run.json"),
    (
        "evaluate-garbage-checkpoint",
        ("evaluate", "{run_garbage_checkpoint}"),
        "{run_garbage_checkpoint}/checkpoints/best.pt",
    ),
    (
        "evaluate-mismatched-checkpoint",
        ("evaluate", "{run_mismatched_checkpoint}"),
        "{run_mismatched_checkpoint}/checkpoints/best.pt",
    ),
    ("evaluate-unknown-config-key", ("evaluate", "{run_unknown_config_key}"), "colour"),
    ("evaluate-missing-data", ("evaluate", "{run}", "--data", "{missing}"), "{missing}"),
    ("evaluate-scores-unwritable", ("evaluate", "{run}", "--scores-out", "{unwritable}/s.parquet"), "{unwritable}"),
    ("evaluate-scores-under-file", ("evaluate", "{run}", "--scores-out", "{under_file}/s.parquet"), "{under_file}"),
    # predict (DM-GNN runs)
    ("predict-missing", ("predict", "{missing}", "--users", "u0", "--time", "2024-03-01"), "{missing}"),
    (
        "predict-garbage-run-json",
        ("predict", "{run_garbage_json}", "--users", "u0", "--time", "2024-03-01"),
        "{run_garbage_json}/run.json",
    ),
    ("predict-not-temporal", ("predict", "{run}", "--users", "u0", "--time", "2024-03-01"), "{run}"),
    ("predict-unknown-user", ("predict", "{temporal_run}", "--users", "nobody", "--time", "2024-03-01"), "nobody"),
    ("predict-unknown-pair-id", ("predict", "{temporal_run}", "--pairs", "u0:ghost", "--time", "0"), "ghost"),
    ("predict-bad-pair", ("predict", "{temporal_run}", "--pairs", "u0-u1", "--time", "2024-03-01"), "u0-u1"),
    ("predict-bad-time", ("predict", "{temporal_run}", "--users", "u0", "--time", "yesterday"), "yesterday"),
    (
        "predict-missing-data",
        ("predict", "{temporal_run}", "--users", "u0", "--time", "0", "--data", "{missing}"),
        "{missing}",
    ),
    # recommend
    ("recommend-missing", ("recommend", "{missing}", "--user", "u1"), "{missing}"),
    (
        "recommend-garbage-manifest",
        ("recommend", "{artifact_garbage_manifest}", "--user", "u1"),
        "{artifact_garbage_manifest}/artifact.json",
    ),
    ("recommend-garbage-run-json", ("recommend", "{run_garbage_json}", "--user", "u1"), "{run_garbage_json}/run.json"),
    ("recommend-other-format", ("recommend", "{run_other_format}", "--user", "u1"), "{run_other_format}/run.json"),
    (
        "recommend-garbage-checkpoint",
        ("recommend", "{run_garbage_checkpoint}", "--user", "u1"),
        "{run_garbage_checkpoint}/checkpoints/best.pt",
    ),
    (
        "recommend-mismatched-checkpoint",
        ("recommend", "{run_mismatched_checkpoint}", "--user", "u1"),
        "{run_mismatched_checkpoint}/checkpoints/best.pt",
    ),
    # experiment
    (
        "dmgnn-no-social-edges",  # the LSEC dataset has no user -> user social events
        ("experiment", "dmgnn", "--data", "{dataset}", "--out", "{root}/e-dm", "--repeats", "1", "--row", "TGAT"),
        "{dataset}",
    ),
    (
        "table3-missing-data",
        ("experiment", "table3", "--data", "{missing}", "--out", "{root}/e1", "--repeats", "1", "--row", "ncf"),
        "{missing}",
    ),
    (
        "table3-unwritable",
        ("experiment", "table3", "--data", "{dataset}", "--out", "{unwritable}", "--repeats", "1", "--row", "ncf"),
        "{unwritable}",
    ),
    (
        "table3-missing-configs",
        (
            "experiment",
            "table3",
            "--data",
            "{dataset}",
            "--out",
            "{root}/e2",
            "--configs",
            "{missing}",
            "--repeats",
            "1",
            "--row",
            "ncf",
        ),
        "{missing}",
    ),
    (
        "table3-unknown-key",
        (
            "experiment",
            "table3",
            "--data",
            "{dataset}",
            "--out",
            "{root}/e3",
            "--configs",
            "{configs_unknown_key}",
            "--repeats",
            "1",
            "--row",
            "ncf",
        ),
        "learning_rate",
    ),
    (
        "table5-missing-data",
        (
            "experiment",
            "table5",
            "--data",
            "{missing}",
            "--out",
            "{root}/e4",
            "--repeats",
            "1",
            "--row",
            "ablation-r0-t0",
        ),
        "{missing}",
    ),
    (
        "table5-under-file",
        (
            "experiment",
            "table5",
            "--data",
            "{dataset}",
            "--out",
            "{under_file}",
            "--repeats",
            "1",
            "--row",
            "ablation-r0-t0",
        ),
        "{under_file}",
    ),
    (
        "table5-unknown-key",
        (
            "experiment",
            "table5",
            "--data",
            "{dataset}",
            "--out",
            "{root}/e5",
            "--configs",
            "{configs_unknown_key}",
            "--repeats",
            "1",
            "--row",
            "ablation-r0-t0",
        ),
        "learning_rate",
    ),
    (
        "mmbee-table1-missing-data",
        ("experiment", "mmbee-table1", "--data", "{missing}", "--out", "{root}/e6", "--repeats", "1", "--row", "SIM"),
        "{missing}",
    ),
    (
        "mmbee-table4-no-gifts",  # the LSEC dataset has no gift relation: the seed's store cannot be built
        ("experiment", "mmbee-table4", "--data", "{dataset}", "--out", "{root}/e7", "--repeats", "1", "--row", "Θ(-)"),
        "{dataset}",
    ),
    # analyze influence
    ("influence-missing", ("analyze", "influence", "{missing}", "--quiet"), "{missing}"),
    ("influence-other-version", ("analyze", "influence", "{dataset_other_version}", "--quiet"), "meta.json"),
    (
        "influence-unwritable",
        (
            "analyze",
            "influence",
            "{dataset}",
            "--out",
            "{unwritable}/r.html",
            "--samples",
            "50",
            "--permutations",
            "5",
            "--bootstrap",
            "0",
            "--quiet",
        ),
        "{unwritable}",
    ),
    (
        "influence-json-unwritable",
        (
            "analyze",
            "influence",
            "{dataset}",
            "--out",
            "{root}/r.html",
            "--json",
            "{under_file}/r.json",
            "--samples",
            "50",
            "--permutations",
            "5",
            "--bootstrap",
            "0",
            "--quiet",
        ),
        "{under_file}",
    ),
    # report
    ("report-missing", ("report", "{missing}"), "{missing}"),
    ("report-missing-null-run", ("report", "{run}", "--null", "{missing}"), "{missing}"),
    ("report-garbage-run-json", ("report", "{run_garbage_json}"), "{run_garbage_json}/run.json"),
    ("report-unwritable", ("report", "{run}", "--out", "{unwritable}/report.html"), "{unwritable}"),
    ("report-under-file", ("report", "{run}", "--out", "{under_file}/report.html"), "{under_file}"),
    # export
    ("export-missing", ("export", "{missing}", "--out", "{root}/x1"), "{missing}"),
    ("export-garbage-run-json", ("export", "{run_garbage_json}", "--out", "{root}/x2"), "{run_garbage_json}/run.json"),
    ("export-other-format", ("export", "{run_other_format}", "--out", "{root}/x3"), "{run_other_format}/run.json"),
    (
        "export-garbage-checkpoint",
        ("export", "{run_garbage_checkpoint}", "--out", "{root}/x4"),
        "{run_garbage_checkpoint}/checkpoints/best.pt",
    ),
    (
        "export-mismatched-checkpoint",
        ("export", "{run_mismatched_checkpoint}", "--out", "{root}/x5"),
        "{run_mismatched_checkpoint}/checkpoints/best.pt",
    ),
    ("export-existing", ("export", "{run}", "--out", "{full}"), "{full}"),
    ("export-unwritable", ("export", "{run}", "--out", "{unwritable}"), "{unwritable}"),
    ("export-under-file", ("export", "{run}", "--out", "{under_file}"), "{under_file}"),
    # serve (never reaches uvicorn: every case fails while opening SOURCE)
    ("serve-missing", ("serve", "{missing}"), "{missing}"),
    ("serve-negative-watch", ("serve", "{missing}", "--watch", "-1"), "--watch"),
    ("serve-garbage-manifest", ("serve", "{artifact_garbage_manifest}"), "{artifact_garbage_manifest}/artifact.json"),
    (
        "serve-workers-garbage-manifest",
        ("serve", "{artifact_garbage_manifest}", "--workers", "2"),
        "{artifact_garbage_manifest}/artifact.json",
    ),
    ("serve-garbage-run-json", ("serve", "{run_garbage_json}"), "{run_garbage_json}/run.json"),
    (
        "serve-mismatched-checkpoint",
        ("serve", "{run_mismatched_checkpoint}"),
        "{run_mismatched_checkpoint}/checkpoints/best.pt",
    ),
    # mmbee build-store (the LSEC dataset has no gift relation)
    ("mmbee-store-missing", ("mmbee", "build-store", "--data", "{missing}", "--out", "{root}/store1"), "{missing}"),
    ("mmbee-store-no-gift", ("mmbee", "build-store", "--data", "{dataset}", "--out", "{root}/store2"), "{dataset}"),
    (
        "mmbee-store-garbage-meta",
        ("mmbee", "build-store", "--data", "{dataset_garbage_meta}", "--out", "{root}/store3"),
        "{dataset_garbage_meta}/meta.json",
    ),
    ("mmbee-store-existing", ("mmbee", "build-store", "--data", "{dataset}", "--out", "{full}"), "{full}"),
    (
        "mmbee-store-unwritable",
        ("mmbee", "build-store", "--data", "{dataset}", "--out", "{unwritable}"),
        "{unwritable}",
    ),
    (
        "mmbee-store-under-file",
        ("mmbee", "build-store", "--data", "{dataset}", "--out", "{under_file}"),
        "{under_file}",
    ),
    # demo (fails before simulating anything)
    ("demo-unwritable-out", ("demo", "--out", "{unwritable}", "--runs", "{root}/demo-runs"), "{unwritable}"),
    ("demo-unwritable-runs", ("demo", "--out", "{root}/demo-data", "--runs", "{under_file}"), "{under_file}"),
    ("demo-existing-out", ("demo", "--out", "{full}", "--runs", "{root}/demo-runs"), "{full}"),
]

XFAIL: dict[str, str] = {}
"""Cases that fail because of code owned by the train refactor (case id -> what fails, where)."""


def _params() -> list[object]:
    params = []
    for case_id, args, named in CASES:
        marks = []
        if case_id in XFAIL:
            marks.append(pytest.mark.xfail(reason=f"{TRAIN_OWNED}: {XFAIL[case_id]}", strict=True))
        params.append(pytest.param(args, named, id=case_id, marks=marks))
    return params


def _fill(text: str, paths: dict[str, Path]) -> str:
    return text.format(**{name: str(path) for name, path in paths.items()})


@pytest.mark.parametrize(("args", "named"), _params())
def test_bad_input_exits_2_with_one_message(
    args: tuple[str, ...], named: str, paths: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_lsec(capsys, *(_fill(a, paths) for a in args))
    tail = result.output[-1500:]  # the end of a traceback says what escaped
    assert "Traceback" not in result.output, tail
    assert result.code == 2, tail
    assert [line for line in result.output.splitlines() if line.startswith("error: ")] != [], tail
    assert _fill(named, paths) in result.output, tail


def test_every_command_is_covered() -> None:
    """Each leaf command of ``lsec --help`` (sub-groups walked) has a case above: a new command needs one."""
    import typer.main

    from lsec.cli import app

    commands: list[list[str]] = []

    def walk(command: object, words: list[str]) -> None:
        children = getattr(command, "commands", None)
        if not children:
            commands.append(words)
        for name, child in (children or {}).items():
            walk(child, [*words, name])

    walk(typer.main.get_command(app), [])
    untested = [" ".join(w) for w in commands if not any(list(args[: len(w)]) == w for _, args, _ in CASES)]
    assert untested == []


def test_console_entry_point_unwritable_output(paths: dict[str, Path]) -> None:
    """The reported case, through the real entry point: ``--out /proc/x`` ends in one message, not a traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "lsec", "data", "import", "csv", "--buy", str(paths["buys"]), "--out", "/proc/x"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "/proc/x" in result.stderr
