"""Smoke test of benchmarks/bench_peers.py on a tiny setting, and the check that makes its speed
ratios meaningful: the peers compute the same meta-gradient as ours (float64).

The peer tests need higher and torchopt (test extras of pyproject.toml) and are skipped
without them; the memory checks use only helpers.
"""

import importlib
import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # benchmarks/ is a folder of scripts, not an installed package
bench = importlib.import_module("benchmarks.bench_peers")

from helpers.imaml import imaml_grad  # noqa: E402
from helpers.maml import maml_grad  # noqa: E402


def _peers_missing():
    try:
        import higher  # noqa: F401
        import torchopt  # noqa: F401
    except Exception as e:  # an ImportError, or a peer that breaks on import with this torch
        return f"peers higher / torchopt not usable (pip install -e '.[test]'): {e!r}"
    return None


# torchopt 0.7.3 calls functorch.grad / functorch.vjp: deprecated in torch 2.x, still working.
pytestmark = pytest.mark.filterwarnings("ignore:We've integrated functorch:FutureWarning")
needs_peers = pytest.mark.skipif(_peers_missing() is not None, reason=str(_peers_missing()))


def rel_err(a, b):
    """||a - b|| / ||b|| over all parameters of two dicts named like helpers' params."""
    num = sum((a[k] - b[k]).pow(2).sum() for k in b).sqrt()
    den = sum(b[k].pow(2).sum() for k in b).sqrt()
    return (num / den).item()


@pytest.fixture
def tiny64():
    return bench.setup(n_tasks=4, dtype=torch.float64)


@pytest.fixture
def keep_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.mark.numerics
@needs_peers
@pytest.mark.parametrize("inner_steps", [1, 3])
def test_higher_maml_grad_equals_maml_grad(tiny64, inner_steps):
    model, params, batch = tiny64
    ours, _ = maml_grad(model, params, batch, inner_steps, bench.INNER_LR)
    net = bench.torch_net(params)
    bench.higher_maml_backward(net, batch, inner_steps, bench.INNER_LR)
    assert rel_err(bench.net_grads(net), ours) < 1e-5


def _ours_imaml(model, params, batch):
    grad, _ = imaml_grad(model, params, batch, lam=bench.LAM, inner_lr=bench.INNER_LR,
                         inner_steps=bench.IMAML_STEPS, delta=0.0, cg_steps=bench.CG_STEPS)
    return grad


@pytest.mark.numerics
@needs_peers
def test_torchopt_custom_root_grad_matches_imaml_grad(tiny64):
    # Same inner steps, same CG iterations (rtol = atol = 0, our cg_tol = 0): the same algorithm,
    # so float64 agreement is far tighter than 1e-6 (measured about 1e-8).
    model, params, batch = tiny64
    net = bench.torch_net(params)
    bench.torchopt_imaml_backward(net, batch, bench.LAM, bench.INNER_LR, bench.IMAML_STEPS,
                                  bench.CG_STEPS)
    assert rel_err(bench.net_grads(net), _ours_imaml(model, params, batch)) < 1e-6


@pytest.mark.numerics
@needs_peers
def test_torchopt_module_api_grad_matches_imaml_grad(tiny64):
    model, params, batch = tiny64
    net = bench.torch_net(params)
    inner_nets = bench.torchopt_module_inner_nets(
        net, batch.n_tasks, bench.LAM, bench.INNER_LR, bench.IMAML_STEPS, bench.CG_STEPS)
    bench.torchopt_module_backward(inner_nets, batch)
    assert rel_err(bench.net_grads(net), _ours_imaml(model, params, batch)) < 1e-6


@needs_peers
def test_benchmark_runs_and_writes_json(tmp_path, keep_threads):
    out = tmp_path / "bench.json"
    bench.main(["--tasks", "2", "--repeats", "1", "--warmup", "0", "--memory-steps", "1", "3",
                "--out", str(out)])
    res = json.loads(out.read_text())
    assert res["config"]["threads"] == 1 and res["config"]["tasks"] == 2
    peers = {r["peer"] for r in res["speed"]}
    assert peers == {"higher", "torchopt custom_root", "torchopt ImplicitMetaGradientModule"}
    assert len(res["speed"]) == len(bench.MAML_STEPS) + 2
    for row in res["speed"]:
        assert row["ours_it_per_s"] > 0 and row["peer_it_per_s"] > 0
        assert row["speedup"] == pytest.approx(row["ours_it_per_s"] / row["peer_it_per_s"])
    assert [r["inner_steps"] for r in res["memory"]] == [1, 3]


def test_benchmark_runs_without_peers(keep_threads, capsys):
    res = bench.main(["--no-peers", "--tasks", "2", "--repeats", "1", "--warmup", "0",
                      "--memory-steps", "1", "2", "--threads", "1"])
    assert all("peer" not in row for row in res["speed"])
    assert "Meta-iterations per second" in capsys.readouterr().out


def test_maml_memory_grows_with_steps_imaml_memory_stays_flat():
    model, params, batch = bench.setup(n_tasks=2)
    rows = bench.bench_memory(model, params, batch, inner_steps=(2, 8))
    verdict = bench.memory_verdict(rows)
    assert verdict["maml_grows"] and verdict["maml_ratio"] > 2.0
    assert verdict["imaml_flat"] and verdict["imaml_ratio"] == pytest.approx(1.0, abs=0.1)


def test_memory_verdict_flags_growth_and_flatness():
    rows = [{"inner_steps": 5, "maml_bytes": 100, "imaml_bytes": 100},
            {"inner_steps": 100, "maml_bytes": 100, "imaml_bytes": 111}]
    verdict = bench.memory_verdict(rows)
    assert not verdict["maml_grows"] and not verdict["imaml_flat"]


def test_bad_cli_arguments_are_rejected():
    with pytest.raises(SystemExit):
        bench.parse_args(["--threads", "0"])


def test_meta_iteration_benchmark_runs_and_writes_its_ratios(tmp_path, keep_threads):
    out = tmp_path / "mi.json"
    ms = importlib.import_module("benchmarks.bench_meta_iteration").main(["--quick", "--out", str(out)])
    res = json.loads(out.read_text())
    assert set(res["ms_per_meta_iteration"]) == set(ms) >= {"MAML, 5 steps", "iMAML (shipped)"}
    assert all(t > 0 for t in ms.values()) and res["ratio_to_maml5"]["MAML, 5 steps"] == 1.0


def test_race_benchmark_reports_each_target(tmp_path, keep_threads):
    out = tmp_path / "race.json"
    results = importlib.import_module("benchmarks.bench_race").main(["--seconds", "3", "--out", str(out)])
    assert json.loads(out.read_text()) == results and set(results) == {"maml", "imaml"}
    for r in results.values():
        assert r["meta_iterations"] > 0 and r["final_mse"] > 0
        assert r["reached_at_s"] is None or 0 <= r["reached_at_s"] <= 3.5
