"""meta_train's learning curves, learning-rate decay and the monitor of Algorithm 2's two accuracies."""

import math

import pytest
import torch

from helpers import SinusoidTasks, SoftplusMLP, imaml_grad
from helpers.inner import Adaptation
from helpers.training import InnerSolveMonitor, LearningCurve, meta_train

IMAML_SMALL = {"lam": 20.0, "solver": "hessian_free", "inner_steps": 4, "solver_cg_steps": 5, "delta": 1e-3}


def test_learning_curve_points_every_few_iterations_with_training_time_only():
    curve = LearningCurve(Adaptation(0.01), every=10, n_tasks=20, k_shots=(5, 10), steps=2)
    _, params, hist = meta_train("maml", iterations=30, meta_batch=5, progress=False, curve=curve,
                                 inner_steps=1, inner_lr=0.01)
    assert [p["iteration"] for p in curve.points] == [0, 10, 20, 30]
    seconds = [p["seconds"] for p in curve.points]
    assert seconds[0] == 0 and seconds == sorted(seconds) and seconds[-1] <= hist.seconds + 0.01
    assert all(set(p) >= {"K=5", "K=10"} for p in curve.points)
    # the kept checkpoint is the one with the lowest mean validation MSE over the shot counts
    scores = [(p["K=5"]["mean"] + p["K=10"]["mean"]) / 2 for p in curve.points]
    assert curve.best_iteration == curve.points[scores.index(min(scores))]["iteration"]
    if curve.best_iteration == 30:
        torch.testing.assert_close(curve.best_params, params)
    assert curve.as_dict()["best_iteration"] == curve.best_iteration


def test_training_with_a_curve_follows_the_same_path():
    """Evaluating checkpoints draws no random numbers from the training stream."""
    kwargs = dict(iterations=12, meta_batch=4, progress=False, inner_steps=1, inner_lr=0.01, seed=3)
    _, a, _ = meta_train("maml", **kwargs)
    _, b, _ = meta_train("maml", curve=LearningCurve(Adaptation(0.01), every=4, n_tasks=10), **kwargs)
    for k in a:
        assert torch.equal(a[k], b[k])


def test_cosine_decay_ends_with_a_zero_step_and_bad_schedules_are_rejected():
    _, a, _ = meta_train("fomaml", iterations=5, meta_batch=3, progress=False, inner_steps=1, inner_lr=0.01,
                         lr_decay="cosine")
    _, b, _ = meta_train("fomaml", iterations=5, meta_batch=3, progress=False, inner_steps=1, inner_lr=0.01)
    assert any(not torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="lr_decay"):
        meta_train("maml", iterations=1, progress=False, lr_decay="linear")


def test_monitor_reports_delta_and_delta_prime():
    model = SoftplusMLP(beta=5.0)
    theta = model.init(0)
    batch = SinusoidTasks().sample(6, 10, 10, generator=1)
    monitor = InnerSolveMonitor(1e-3, 2, tail=2, delta_prime=1e-2)
    for it in range(2):
        _, info = imaml_grad(model, theta, batch, cg_steps=3, **IMAML_SMALL)
        monitor(it, info)
    s = monitor.summary()
    assert s["solves"] == 12 and 0 <= s["met_delta"] <= 1
    residual = info.cg_relative_residual
    assert s["met_delta_prime"] == pytest.approx((residual <= 1e-2).double().mean().item())
    assert s["cg_relative_residual_quantiles"]["0.5"] == pytest.approx(residual.double().quantile(0.5).item())


def test_delta_prime_stops_cg_at_the_relative_residual():
    model = SoftplusMLP(beta=5.0)
    theta = model.init(0, dtype=torch.float64)
    batch = SinusoidTasks().sample(5, 10, 10, generator=2, dtype=torch.float64)
    _, loose = imaml_grad(model, theta, batch, cg_steps=100, delta_prime=1e-2, **IMAML_SMALL)
    _, tight = imaml_grad(model, theta, batch, cg_steps=100, delta_prime=1e-6, **IMAML_SMALL)
    assert (loose.cg_relative_residual <= 1e-2).all() and (tight.cg_relative_residual <= 1e-6).all()
    assert loose.cg_residuals.shape[0] < tight.cg_residuals.shape[0]
    with pytest.raises(ValueError, match="delta_prime"):
        imaml_grad(model, theta, batch, delta_prime=-1.0, **IMAML_SMALL)


def test_skip_unsolved_averages_over_the_tasks_that_met_delta():
    model = SoftplusMLP(beta=5.0)
    theta = model.init(0, dtype=torch.float64)
    batch = SinusoidTasks().sample(8, 10, 10, generator=3, dtype=torch.float64)
    cfg = {**IMAML_SMALL, "inner_steps": 2, "delta": 1e-2, "cg_steps": 5}  # 2 Newton steps: some miss
    full, info = imaml_grad(model, theta, batch, **cfg)
    solved = info.inner_grad_norm <= cfg["delta"]
    assert 0 < solved.sum() < len(solved), "the setting must leave some tasks unsolved"
    kept, _ = imaml_grad(model, theta, batch, skip_unsolved=True, **cfg)
    sub, _ = imaml_grad(model, theta, batch[solved.nonzero().squeeze(1).tolist()], **cfg)
    for k in full:
        torch.testing.assert_close(kept[k], sub[k])
    assert not math.isclose(full["w1"].norm().item(), kept["w1"].norm().item())
