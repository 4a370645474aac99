"""Scoring on a torch device (``lsec serve --device``) against the CPU kernels, and the no-GPU errors.

CI has no GPU: the torch path is checked on torch's CPU device, which runs the same code as CUDA would.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lsec.errors import LsecError
from lsec.nn.heads import PairMLPScorer
from lsec.serve import device_scoring
from lsec.serve.device_scoring import DeviceScorer
from lsec.serve.scoring import MLPRest, dot_scores, mlp_scores
from tests.conftest import cli

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")


def _rest(head: PairMLPScorer) -> MLPRest:
    layers = [x for x in head.rest if isinstance(x, torch.nn.Linear)]
    return MLPRest(tuple(x.weight.detach().numpy() for x in layers), tuple(x.bias.detach().numpy() for x in layers))


@pytest.mark.parametrize("hidden", [(16,), (16, 8)])
@pytest.mark.parametrize("block", [7 * 3 * 16, 1 << 26])  # several target blocks, and one
def test_device_mlp_scores_equal_the_cpu_kernel(hidden, block, monkeypatch):
    monkeypatch.setattr(device_scoring, "BLOCK_ELEMENTS", block)
    torch.manual_seed(0)
    head = PairMLPScorer(query_dim=6, target_dim=10, hidden_dims=hidden).eval()
    query, target = torch.randn(3, 6), torch.randn(301, 10)
    with torch.no_grad():
        q_part = head.query_part(query).numpy()
        t_part = np.ascontiguousarray(head.target_part(target).numpy())
        expected = head.score_all(query, target).numpy()
    got = DeviceScorer("cpu").scores("mlp", t_part, q_part, _rest(head))
    assert got.shape == (3, 301) and got.dtype == np.float32
    np.testing.assert_allclose(got, mlp_scores(q_part, t_part, _rest(head)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_device_dot_scores_equal_inner_products():
    rng = np.random.default_rng(0)
    q, t = rng.standard_normal((4, 5)).astype(np.float32), rng.standard_normal((50, 5)).astype(np.float32)
    scorer = DeviceScorer("cpu")
    np.testing.assert_allclose(scorer.scores("dot", t, q, None), dot_scores(q, t), rtol=1e-6)
    scorer.scores("dot", t, q[:1], None)
    assert len(scorer._tables) == 1  # the table is copied to the device once


@NO_CUDA
def test_recommender_on_cuda_without_a_gpu_is_a_clear_error():
    from lsec.serve.recommender import Recommender

    with pytest.raises(LsecError, match="no CUDA device"):
        Recommender(None, device="cuda")  # type: ignore[arg-type]


@NO_CUDA
@pytest.mark.parametrize("command", [["evaluate", "{run}", "--device", "cuda"], ["serve", "{run}", "--device", "cuda"]])
def test_cli_device_cuda_without_a_gpu_exits_2_without_traceback(command, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text("{}")
    assert cli(*[part.format(run=run) for part in command]) == 2
    err = capsys.readouterr().err
    assert "no CUDA device" in err and "Traceback" not in err
