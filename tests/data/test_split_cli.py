from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lsec.cli import app
from lsec.data import save
from lsec.data.split import load_split
from tests.data.test_split import graph_for_candidates

runner = CliRunner()


@pytest.fixture
def dataset(tmp_path):
    save(graph_for_candidates(0), tmp_path / "ds")
    return tmp_path / "ds"


def test_time_split_command_writes_and_summarises(dataset):
    result = runner.invoke(app, ["data", "split", str(dataset), "--candidates", "50", "--seed", "3"])
    assert result.exit_code == 0, result.output
    split = load_split(dataset)
    assert split.info["seed"] == 3 and split.info["num_candidates"] == 50
    assert split.tasks == ("buy", "follow")
    buy = split.info["edges"]["buy"]
    # the summary table shows the edge counts per fold
    line = next(line for line in result.output.splitlines() if line.strip().startswith("buy "))
    assert line.split()[1:] == [f"{buy[k]:,}" for k in ("train", "valid", "test", "outside")]
    assert "cold users" in result.output
    assert (
        len(split.candidates("follow", "valid")) == 50 * split.info["candidates"]["follow"]["valid"]["evaluated_users"]
    )


def test_ratio_split_command(dataset):
    result = runner.invoke(
        app, ["data", "split", str(dataset), "--ratio", "0.5,0.25,0.25", "--name", "r", "--tasks", "buy"]
    )
    assert result.exit_code == 0, result.output
    info = json.loads((dataset / "splits" / "r" / "split.json").read_text())
    assert info["mode"] == "ratio" and info["tasks"] == ["buy"]
    total = sum(info["edges"]["buy"].values())
    assert info["edges"]["buy"]["train"] / total == pytest.approx(0.5, abs=0.03)


def test_random_split_command(dataset):
    result = runner.invoke(app, ["data", "split", str(dataset), "--ratio", "0.8,0.1,0.1", "--random", "--name", "rnd"])
    assert result.exit_code == 0, result.output
    assert "at random" in result.output
    assert load_split(dataset, "rnd").info["mode"] == "random"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--ratio", "0.6,0.2"], "ratios"),
        (["--ratio", "a,b,c"], "invalid --ratio"),
        (["--ratio", "0.6,0.2,0.2", "--train-days", "20"], "cannot be combined"),
        (["--train-days", "60"], "no test edges"),
        (["--tasks", "gift"], "task 'gift' needs a 'gift' relation"),
        (["--start", "yesterday"], "invalid start time"),
        (["--random"], "only apply to --ratio"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(dataset, args, message):
    result = runner.invoke(app, ["data", "split", str(dataset), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
