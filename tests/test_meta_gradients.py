"""Every meta-gradient against an independent reference, in float64."""

import pytest
import torch

from helpers import (
    MLP,
    SinusoidTasks,
    adapt,
    exact_imaml_grad,
    flatten,
    fomaml_grad,
    imaml_grad,
    maml_grad,
    mse,
    proximal_solve,
    task_hessians,
    unflatten,
)

F64 = torch.float64


def rel_err(a, b):
    a, b = flatten(a) if isinstance(a, dict) else a, flatten(b) if isinstance(b, dict) else b
    return ((a - b).norm() / b.norm()).item()


@pytest.fixture(scope="module")
def setup():
    model = MLP()
    params = model.init(0, dtype=F64)
    batch = SinusoidTasks().sample(3, 10, 10, generator=1, dtype=F64)
    return model, params, batch


def maml_objective(model, theta, batch, steps, lr, lam=0.0):
    phi = adapt(model, theta, batch.x_tr, batch.y_tr, steps, lr, lam)
    return mse(model, phi, batch.x_te, batch.y_te).mean().item()


@pytest.mark.parametrize("steps, lam", [(1, 0.0), (3, 0.0), (2, 2.0)])
def test_maml_grad_matches_central_finite_differences(setup, steps, lam):
    model, params, batch = setup
    grad, info = maml_grad(model, params, batch, steps, 0.01, lam=lam)
    flat = flatten(params)
    eps = 1e-6
    fd = torch.empty_like(flat)
    for j in range(flat.numel()):
        e = torch.zeros_like(flat)
        e[j] = eps
        fd[j] = (maml_objective(model, unflatten(flat + e, params), batch, steps, 0.01, lam)
                 - maml_objective(model, unflatten(flat - e, params), batch, steps, 0.01, lam)) / (2 * eps)
    assert rel_err(flatten(grad), fd) <= 1e-5
    assert info.loss == pytest.approx(maml_objective(model, params, batch, steps, 0.01, lam), rel=1e-12)


@pytest.mark.numerics
def test_first_order_maml_is_the_query_gradient_at_phi(setup):
    model, params, batch = setup
    grad, _ = fomaml_grad(model, params, batch, 3, 0.01)
    phi = adapt(model, params, batch.x_tr, batch.y_tr, 3, 0.01)
    per_task = []
    for i in range(batch.n_tasks):  # an independent route: autograd, one task at a time
        phi_i = {k: v[i].clone().requires_grad_() for k, v in phi.items()}
        loss = mse(model, phi_i, batch.x_te[i], batch.y_te[i])
        per_task.append(flatten(dict(zip(phi_i, torch.autograd.grad(loss, list(phi_i.values()))))))
    assert rel_err(flatten(grad), torch.stack(per_task).mean(0)) <= 1e-12


# Settings where the proximal problem is solved to delta and I + H/lam is positive definite
# (checked below). Gradient descent often stalls on ReLU networks: the minimiser sits on a kink
# (a hidden unit exactly at zero on a support point) where ||grad G|| cannot reach a tight delta.
# These three tasks (of 256 drawn from seed 21) have smooth minimisers.
LAM, LR, STEPS, DELTA = 10.0, 0.05, 300, 1e-9
SMOOTH_TASKS = [8, 69, 201]


@pytest.fixture(scope="module")
def pd_setup():
    model = MLP()
    params = model.init(0, dtype=F64)
    batch = SinusoidTasks().sample(256, 10, 10, generator=21, dtype=F64)[torch.tensor(SMOOTH_TASKS)]
    sol = proximal_solve(model, params, batch.x_tr, batch.y_tr, LAM, LR, STEPS, DELTA)
    H = task_hessians(model, sol.phi, batch.x_tr, batch.y_tr)
    return model, params, batch, sol, H


@pytest.mark.numerics
def test_test_settings_are_converged_and_positive_definite(pd_setup):
    *_, sol, H = pd_setup
    assert torch.all(sol.final_grad_norm <= DELTA)
    smallest = torch.linalg.eigvalsh(torch.eye(H.shape[-1], dtype=F64) + H / LAM)[:, 0]
    assert torch.all(smallest > 0.05)


@pytest.mark.numerics
def test_imaml_grad_matches_dense_solve(pd_setup):
    model, params, batch, sol, _ = pd_setup
    grad, info = imaml_grad(model, params, batch, LAM, LR, STEPS, DELTA, cg_steps=200, cg_tol=1e-14)
    exact, _ = exact_imaml_grad(model, params, batch, LAM, LR, STEPS, DELTA)
    assert not info.non_positive_curvature.any()
    assert torch.all(info.inner_grad_norm <= DELTA)
    assert rel_err(grad, exact) <= 1e-6


def newton_proximal_solution(model, theta, x, y, lam, iterations=30):
    """phi* = argmin L_tr(phi) + lam/2 ||phi - theta||^2 by Newton's method on dense Hessians."""
    phi = proximal_solve(model, theta, x, y, lam, LR, STEPS, 1e-6).phi
    eye = torch.eye(sum(v[0].numel() for v in phi.values()), dtype=F64)
    for _ in range(iterations):
        phi_r = {k: v.clone().requires_grad_() for k, v in phi.items()}
        g = torch.autograd.grad(mse(model, phi_r, x, y).sum(), list(phi_r.values()))
        g = flatten(dict(zip(phi, g)), 1) + lam * (flatten(phi, 1) - flatten(theta).unsqueeze(0))
        step = torch.linalg.solve(task_hessians(model, phi, x, y) + lam * eye, g)
        phi = unflatten(flatten(phi, 1) - step, {k: v[0] for k, v in phi.items()})
    return phi


def test_exact_imaml_grad_matches_finite_differences_of_the_proximal_solution(pd_setup):
    model, params, batch, _, _ = pd_setup
    phi_star = newton_proximal_solution(model, params, batch.x_tr, batch.y_tr, LAM)
    grad, _ = exact_imaml_grad(model, params, batch, LAM, LR, STEPS, DELTA, phi=phi_star)

    def query_loss(theta):
        phi = newton_proximal_solution(model, theta, batch.x_tr, batch.y_tr, LAM, iterations=8)
        return mse(model, phi, batch.x_te, batch.y_te).mean()

    flat, g = flatten(params), flatten(grad)
    gen = torch.Generator().manual_seed(0)
    eps = 1e-4
    for _ in range(3):  # directional derivatives along random unit directions
        d = torch.randn(flat.shape, generator=gen, dtype=F64)
        d /= d.norm()
        fd = (query_loss(unflatten(flat + eps * d, params))
              - query_loss(unflatten(flat - eps * d, params))) / (2 * eps)
        assert abs(fd - g @ d) <= 1e-4 * g.norm()


@pytest.mark.numerics
def test_batched_meta_gradients_equal_a_loop_over_tasks(setup):
    model, params, batch = setup
    for fn, kwargs in [(maml_grad, dict(inner_steps=2, inner_lr=0.01)),
                       (fomaml_grad, dict(inner_steps=2, inner_lr=0.01)),
                       (imaml_grad, dict(lam=2.0, inner_lr=0.01, inner_steps=10, delta=0.0, cg_steps=5))]:
        batched, _ = fn(model, params, batch, **kwargs)
        looped = torch.stack([flatten(fn(model, params, batch[i], **kwargs)[0])
                              for i in range(batch.n_tasks)]).mean(0)
        assert rel_err(batched, looped) <= 1e-12, fn.__name__


@pytest.mark.numerics
def test_batched_forward_equals_vmap_over_tasks(setup):
    model, params, batch = setup
    phi = adapt(model, params, batch.x_tr, batch.y_tr, 2, 0.01)
    by_vmap = torch.func.vmap(model)(phi, batch.x_te)
    torch.testing.assert_close(model(phi, batch.x_te), by_vmap, rtol=1e-13, atol=1e-13)


@pytest.mark.numerics
def test_manual_backprop_equals_autograd(setup):
    model, params, batch = setup
    phi = adapt(model, params, batch.x_tr, batch.y_tr, 1, 0.01)
    loss, grads = model.loss_grad(phi, batch.x_tr, batch.y_tr)
    phi_r = {k: v.clone().requires_grad_() for k, v in phi.items()}
    ref = torch.autograd.grad(mse(model, phi_r, batch.x_tr, batch.y_tr).sum(), list(phi_r.values()))
    assert rel_err(grads, dict(zip(phi, ref))) <= 1e-13
    torch.testing.assert_close(loss, mse(model, phi, batch.x_tr, batch.y_tr))


def test_indefinite_system_is_reported_not_nan():
    """At a random init lam = 0.5 leaves I + H/lam indefinite for some tasks: CG must say so."""
    model = MLP()
    params = model.init(0, dtype=F64)
    batch = SinusoidTasks().sample(8, 10, 10, generator=3, dtype=F64)
    grad, info = imaml_grad(model, params, batch, lam=0.5, inner_lr=0.01, inner_steps=50, delta=0.0,
                            cg_steps=50)
    H = task_hessians(model, info.phi, batch.x_tr, batch.y_tr)
    indefinite = torch.linalg.eigvalsh(torch.eye(H.shape[-1], dtype=F64) + H / 0.5)[:, 0] < 0
    assert indefinite.any()
    assert info.non_positive_curvature.any()
    # CG flags only systems that really are indefinite
    assert not (info.non_positive_curvature & ~indefinite).any()
    assert torch.isfinite(flatten(grad)).all()


def test_float32_by_default_float64_on_request():
    model = MLP()
    b32 = SinusoidTasks().sample(2, 5, generator=0)
    g32, _ = maml_grad(model, model.init(0), b32, 1, 0.01)
    assert g32["w0"].dtype == torch.float32
    b64 = SinusoidTasks().sample(2, 5, generator=0, dtype=F64)
    g64, _ = imaml_grad(model, model.init(0, dtype=F64), b64, 2.0, 0.01, 5, 0.0, 3)
    assert g64["w0"].dtype == F64
