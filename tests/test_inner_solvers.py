"""iMAML's two inner solvers, the adaptation rules of the shipped models, divergence-aware evaluation."""

import math

import pytest
import torch

from helpers import MLP, SinusoidTasks, exact_imaml_grad, flatten, imaml_grad, mse
from helpers.evaluation import DIVERGED_MSE, adaptation_errors, evaluate, summarize
from helpers.inner import Adaptation, hessian_free_solve, inner_solve, proximal_solve
from helpers.models import SoftplusMLP

F64 = torch.float64


@pytest.fixture(scope="module")
def smooth_setup():
    model = SoftplusMLP(beta=5.0)
    theta = model.init(3, dtype=F64)
    batch = SinusoidTasks().sample(4, 10, 10, generator=8, dtype=F64)
    return model, theta, batch


@pytest.mark.numerics
def test_hessian_free_solve_converges_superlinearly_on_a_smooth_network(smooth_setup):
    model, theta, batch = smooth_setup
    sol = hessian_free_solve(model, theta, batch.x_tr, batch.y_tr, lam=10.0, max_steps=12, delta=1e-10,
                             cg_steps=100)
    assert (sol.final_grad_norm <= 1e-10).all(), sol.final_grad_norm
    # Newton near the minimiser: the last accepted steps square the gradient norm (up to a constant)
    norms = sol.grad_norms.max(1).values
    k = int((norms > 1e-10).sum())
    assert norms[k] <= 10 * norms[k - 1] ** 1.4, norms
    # gradient descent with a stable step needs far more iterations to get as close
    gd = proximal_solve(model, theta, batch.x_tr, batch.y_tr, 10.0, 0.02, 12, 1e-10)
    assert (gd.final_grad_norm > 1e-6).all()


def test_hessian_free_counts_its_gradient_evaluations(smooth_setup):
    model, theta, batch = smooth_setup
    sol = hessian_free_solve(model, theta, batch.x_tr, batch.y_tr, 10.0, 1, 0.0, cg_steps=3)
    # one gradient at theta, at most 3 CG steps of 2 gradients each, at least one line-search trial
    assert ((sol.grad_evals >= 1 + 1) & (sol.grad_evals <= 1 + 6 + 30)).all(), sol.grad_evals
    gd = proximal_solve(model, theta, batch.x_tr, batch.y_tr, 10.0, 0.01, 5, 0.0)
    assert (gd.grad_evals == 6).all()  # the gradient at theta and one per trial step


@pytest.mark.numerics
def test_hessian_free_meta_gradient_equals_the_dense_reference_at_its_phi(smooth_setup):
    model, theta, batch = smooth_setup
    grad, info = imaml_grad(model, theta, batch, lam=10.0, inner_steps=6, delta=1e-8, cg_steps=200,
                            cg_tol=1e-14, solver="hessian_free", solver_cg_steps=50)
    assert not info.non_positive_curvature.any()
    exact, _ = exact_imaml_grad(model, theta, batch, 10.0, 0.01, 0, 0.0, phi=info.phi)
    assert (flatten(grad) - flatten(exact)).norm() <= 1e-8 * flatten(exact).norm()


def test_inner_solve_dispatches_by_name_and_rejects_unknown_solvers(smooth_setup):
    model, theta, batch = smooth_setup
    a = inner_solve(model, theta, batch.x_tr, batch.y_tr, 5.0, 0.0, "gd", 0.01, 4)
    b = proximal_solve(model, theta, batch.x_tr, batch.y_tr, 5.0, 0.01, 4, 0.0)
    assert torch.equal(flatten(a.phi, 1), flatten(b.phi, 1))
    with pytest.raises(ValueError, match="solver must be one of"):
        inner_solve(model, theta, batch.x_tr, batch.y_tr, 5.0, 0.0, "newton")
    with pytest.raises(ValueError, match="solver must be one of"):
        Adaptation(lam=1.0, solver="adam")


@pytest.mark.numerics
def test_adaptation_rule_is_gradient_descent_or_the_named_inner_solver(smooth_setup):
    model, theta, batch = smooth_setup
    plain = Adaptation(lr=0.01)(model, theta, batch, 3)
    ref = {k: v.expand(batch.n_tasks, *v.shape) for k, v in theta.items()}
    for _ in range(3):
        loss = mse(model, {k: v.requires_grad_() for k, v in ref.items()}, batch.x_tr, batch.y_tr).sum()
        grads = torch.autograd.grad(loss, list(ref.values()))
        ref = {k: (v - 0.01 * g).detach() for (k, v), g in zip(ref.items(), grads)}
    assert torch.allclose(flatten(plain, 1), flatten(ref, 1), rtol=0, atol=1e-12)
    hf = Adaptation(lam=10.0, solver="hessian_free", cg_steps=20)(model, theta, batch, 4)
    direct = hessian_free_solve(model, theta, batch.x_tr, batch.y_tr, 10.0, 4, 0.0, 20).phi
    assert torch.equal(flatten(hf, 1), flatten(direct, 1))
    assert "Hessian-free" in Adaptation(lam=10.0, solver="hessian_free").describe()


def test_summary_leaves_out_and_counts_diverged_tasks():
    errors = torch.tensor([1.0, 2.0, 3.0, math.inf, math.nan, DIVERGED_MSE * 2])
    s = summarize(errors)
    assert s.diverged == 3 and s.n_tasks == 6
    assert s.mean == pytest.approx(2.0)
    assert s.median == pytest.approx(3.0)  # over all tasks: the diverged ones count as +inf
    assert math.isfinite(s.ci)


def test_evaluate_counts_a_task_where_a_fixed_step_diverges():
    """A step far above 2 / curvature (lr = 5 at a random initialisation) diverges on some tasks."""
    model = MLP()
    theta = model.init(0)
    batch = SinusoidTasks().sample(20, 5, 50, 4)
    errors = adaptation_errors(model, theta, batch, 10, lr=5.0)
    assert (~torch.isfinite(errors[-1]) | (errors[-1] > DIVERGED_MSE)).any()
    result = evaluate(model, theta, n_tasks=20, k_shot=5, steps=(0, 10), lr=5.0, k_query=50, seed=4)
    assert result[10].diverged > 0 and result[0].diverged == 0
    assert result[10].diverged + (errors[-1] <= DIVERGED_MSE).sum() == 20
