import pytest
import torch

from helpers import (
    MLP,
    SinusoidTasks,
    adapt,
    conjugate_gradient,
    imaml_grad,
    maml_grad,
    meta_train,
    proximal_solve,
)

F64 = torch.float64


def random_spd(n_systems, n, cond, seed):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n_systems, n, n, generator=g, dtype=F64))
    eig = torch.logspace(0, torch.log10(torch.tensor(cond)).item(), n, dtype=F64)
    return q @ torch.diag_embed(eig.expand(n_systems, n)) @ q.transpose(-1, -2)


@pytest.mark.numerics
def test_cg_matches_direct_solve_on_random_spd_systems():
    A = random_spd(4, 50, cond=100.0, seed=0)
    b = torch.randn(4, 50, generator=torch.Generator().manual_seed(1), dtype=F64)
    res = conjugate_gradient(lambda v: (A @ v.unsqueeze(-1)).squeeze(-1), b, steps=200, tol=1e-12)
    x = torch.linalg.solve(A, b)
    assert ((res.x - x).norm(dim=-1) / x.norm(dim=-1)).max() <= 1e-9
    assert torch.all(res.residuals[-1] <= 1e-12)
    assert not res.non_positive_curvature.any()


@pytest.mark.numerics
def test_cg_residual_falls_and_exact_in_n_steps_without_rounding():
    A = random_spd(1, 8, cond=10.0, seed=2)[0]
    b = torch.ones(8, dtype=F64)
    res = conjugate_gradient(lambda v: v @ A, b, steps=8)
    assert res.residuals.shape == (9,)
    assert res.residuals[-1] <= 1e-10 * res.residuals[0]
    torch.testing.assert_close(res.x, torch.linalg.solve(A, b))


@pytest.mark.numerics
def test_cg_reports_non_positive_curvature_instead_of_nan():
    A = torch.diag(torch.tensor([1.0, 2.0, -3.0], dtype=F64))
    spd = torch.eye(3, dtype=F64)
    mats = torch.stack([A, spd])
    b = torch.ones(2, 3, dtype=F64)
    res = conjugate_gradient(lambda v: (mats @ v.unsqueeze(-1)).squeeze(-1), b, steps=10)
    assert res.non_positive_curvature.tolist() == [True, False]
    assert torch.isfinite(res.x).all() and torch.isfinite(res.residuals).all()
    torch.testing.assert_close(res.x[1], b[1])


@pytest.fixture(scope="module")
def tiny():
    model = MLP()
    return model, model.init(0), SinusoidTasks().sample(2, 5, generator=0)


@pytest.mark.parametrize("kwargs, name", [
    (dict(lam=0.0), "lam"), (dict(lam=-1.0), "lam"), (dict(inner_lr=0.0), "inner_lr"),
    (dict(inner_steps=-1), "inner_steps"), (dict(delta=-1e-3), "delta"), (dict(cg_steps=-2), "cg_steps"),
])
def test_imaml_bad_input_names_the_argument(tiny, kwargs, name):
    model, params, batch = tiny
    args = dict(lam=2.0, inner_lr=0.01, inner_steps=5, delta=0.0, cg_steps=3) | kwargs
    with pytest.raises(ValueError, match=name):
        imaml_grad(model, params, batch, **args)


def test_inner_loop_bad_input_names_the_argument(tiny):
    model, params, batch = tiny
    with pytest.raises(ValueError, match="lr"):
        adapt(model, params, batch.x_tr, batch.y_tr, 1, lr=-0.1)
    with pytest.raises(ValueError, match="steps"):
        maml_grad(model, params, batch, inner_steps=-1, inner_lr=0.01)
    with pytest.raises(ValueError, match="delta"):
        proximal_solve(model, params, batch.x_tr, batch.y_tr, 1.0, 0.01, 5, delta=-1.0)
    with pytest.raises(ValueError, match="shape"):
        adapt(model, params, batch.x_tr, batch.y_tr[:, :3], 1, 0.01)
    with pytest.raises(ValueError, match="conjugate|steps"):
        conjugate_gradient(lambda v: v, torch.ones(3), steps=-1)


def test_non_finite_or_mismatched_inputs_name_the_argument_not_the_learning_rate(tiny):
    model, params, batch = tiny
    x = batch.x_tr[0].clone()
    x[1] = float("nan")
    with pytest.raises(ValueError, match="^x contains NaN"):
        adapt(model, params, x, batch.y_tr[0], 1, 0.01)
    with pytest.raises(ValueError, match="^y contains NaN"):
        proximal_solve(model, params, batch.x_tr, batch.y_tr * float("inf"), 1.0, 0.01, 5, 0.0)
    with pytest.raises(ValueError, match="params\\['w0'\\] contains NaN"):
        adapt(model, {k: v * float("nan") for k, v in params.items()}, batch.x_tr, batch.y_tr, 1, 0.01)
    with pytest.raises(ValueError, match=r"x and y .*got \(5, 1\) and \(4, 1\)"):
        adapt(model, params, batch.x_tr[0], batch.y_tr[0, :4], 1, 0.01)


@pytest.mark.parametrize("call, name", [
    (lambda m, p, b: imaml_grad(m, p, b, lam=2.0, cg_steps=2.5), "cg_steps"),
    (lambda m, p, b: imaml_grad(m, p, b, lam=2.0, inner_steps=3.0), "inner_steps"),
    (lambda m, p, b: adapt(m, p, b.x_tr, b.y_tr, 1.5, 0.01), "steps"),
    (lambda m, p, b: conjugate_gradient(lambda v: v, torch.ones(3), steps=2.5), "steps"),
])
def test_a_fractional_step_count_names_the_argument(tiny, call, name):
    model, params, batch = tiny
    with pytest.raises(ValueError, match=f"^{name} must be an integer"):
        call(model, params, batch)


def test_diverging_learning_rate_is_a_clear_error_not_nan(tiny):
    model, params, batch = tiny
    with pytest.raises(FloatingPointError, match="learning rate"):
        adapt(model, params, batch.x_tr, batch.y_tr, 200, lr=5.0)


def test_meta_train_is_reproducible_and_lowers_the_loss():
    kw = dict(iterations=60, meta_batch=10, inner_steps=1, inner_lr=0.01, outer_lr=3e-3, progress=False)
    _, p1, h1 = meta_train("maml", seed=7, **kw)
    _, p2, h2 = meta_train("maml", seed=7, **kw)
    _, p3, _ = meta_train("maml", seed=8, **kw)
    assert all(torch.equal(p1[k], p2[k]) for k in p1) and h1.loss == h2.loss
    assert not torch.equal(p1["w1"], p3["w1"])
    assert sum(h1.loss[-10:]) < sum(h1.loss[:10])
    with pytest.raises(ValueError, match="method"):
        meta_train("mamal", iterations=1)
