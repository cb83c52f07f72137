"""The fast iMAML meta-iteration (issue 21) against independent references: the hand-written
Hessian-vector product against double backprop, the output Jacobian against torch.func.jacrev, the
Gauss-Newton preconditioner against a dense solve, and the meta-gradient at the shipped
configuration against the previous implementation (autograd products) and the dense solve."""

import pytest
import torch

from helpers import MLP, SinusoidTasks, SoftplusMLP, exact_imaml_grad, flatten, imaml_grad, unflatten
from helpers.cg import conjugate_gradient
from helpers.models import AutogradProducts, autograd_hvp_operator, hvp_operator, relative_error
from helpers.precondition import gauss_newton_preconditioner, output_jacobian
from helpers.pretrain import IMAML, IMAML_CG5
from helpers.pretrained import load_pretrained

F64 = torch.float64
MODELS = [MLP(), SoftplusMLP(beta=5.0), MLP((1, 7, 5, 3, 1))]


def perturbed(model, n_tasks, dtype, seed=0):
    """theta, per-task phi near theta and a task batch."""
    g = torch.Generator().manual_seed(seed)
    theta = model.init(g, dtype=dtype)
    phi = {k: v + 0.1 * torch.randn(n_tasks, *v.shape, generator=g, dtype=dtype) for k, v in theta.items()}
    return theta, phi, SinusoidTasks().sample(n_tasks, 10, 10, g, dtype)


@pytest.mark.parametrize("model", MODELS, ids=repr)
def test_hand_written_hvp_equals_double_backprop(model):
    theta, phi, batch = perturbed(model, 4, F64)
    v = torch.randn(4, model.n_params(), dtype=F64, generator=torch.Generator().manual_seed(1))
    fast = hvp_operator(model, phi, batch.x_tr, batch.y_tr, theta)(v)
    reference = autograd_hvp_operator(model, phi, batch.x_tr, batch.y_tr, theta)(v)
    assert relative_error(fast, reference).max() < 1e-12


@pytest.mark.parametrize("model", MODELS, ids=repr)
def test_output_jacobian_equals_jacrev(model):
    theta, phi, batch = perturbed(model, 3, F64)

    def f(flat, x):
        return model(unflatten(flat, theta), x).squeeze(-1)

    reference = torch.func.vmap(torch.func.jacrev(f))(flatten(phi, batch_dims=1), batch.x_tr)
    torch.testing.assert_close(output_jacobian(model, phi, batch.x_tr), reference, rtol=1e-12, atol=1e-12)


def test_output_jacobian_needs_a_scalar_output_and_the_preconditioner_a_factored_jacobian():
    model = MLP((1, 4, 2))
    with pytest.raises(ValueError, match="one output per point"):
        model.jacobian_factors(model.init(0), torch.zeros(1, 3, 1))
    theta, phi, batch = perturbed(MLP(), 2, F64)
    with pytest.raises(ValueError, match="jacobian_factors"):
        gauss_newton_preconditioner(AutogradProducts(MLP()), phi, batch.x_tr, 1.0)


def test_gauss_newton_preconditioner_is_the_dense_inverse():
    model = SoftplusMLP(beta=5.0)
    theta, phi, batch = perturbed(model, 3, F64)
    J = output_jacobian(model, phi, batch.x_tr)
    shift = torch.tensor([0.5, 7.0, 20.0], dtype=F64)
    M = shift.view(-1, 1, 1) * torch.eye(J.shape[-1], dtype=F64) + 2 / 10 * J.mT @ J
    r = torch.randn(3, J.shape[-1], dtype=F64, generator=torch.Generator().manual_seed(2))
    applied = gauss_newton_preconditioner(model, phi, batch.x_tr, shift, scale=3.0)(r)
    torch.testing.assert_close(applied, 3.0 * torch.linalg.solve(M, r.unsqueeze(-1)).squeeze(-1))


def test_preconditioned_cg_solves_the_system_and_reports_residuals():
    model = SoftplusMLP(beta=5.0)
    theta, phi, batch = perturbed(model, 3, F64)
    lam = 200.0  # I + H/lam positive definite at these phi
    hvp = hvp_operator(model, phi, batch.x_tr, batch.y_tr, theta)
    b = torch.randn(3, model.n_params(), dtype=F64, generator=torch.Generator().manual_seed(3))
    plain = conjugate_gradient(lambda u: u + hvp(u) / lam, b, 200, 1e-10)
    pre = conjugate_gradient(lambda u: u + hvp(u) / lam, b, 200, 1e-10,
                             gauss_newton_preconditioner(model, phi, batch.x_tr, lam, lam))
    assert not (plain.non_positive_curvature | pre.non_positive_curvature).any()
    torch.testing.assert_close(pre.x, plain.x, rtol=1e-7, atol=1e-9)
    residual = (b - pre.x - hvp(pre.x) / lam).norm(dim=-1)
    torch.testing.assert_close(pre.residuals[-1], residual, rtol=1e-6, atol=1e-12)
    assert (pre.steps_taken <= plain.steps_taken).all()


@pytest.fixture(scope="module")
def shipped():
    model, theta = load_pretrained("imaml")
    batch = SinusoidTasks().sample(25, 10, 10, generator=11)
    return model, theta, batch


@pytest.mark.numerics
def test_fast_meta_gradient_equals_the_previous_implementation(shipped):
    """Same algorithm, the configuration shipped before (5 plain CG steps): the hand-written products
    change only rounding, so the meta-gradient agrees to float32 precision (a rounding can flip one
    task's line-search decision: the bound is on the average over tasks, as training uses it)."""
    _, _, batch = shipped
    model, theta = load_pretrained("imaml_cg5")  # the model of that configuration
    fast, _ = imaml_grad(model, theta, batch, **IMAML_CG5)
    before, _ = imaml_grad(AutogradProducts(model), theta, batch, **IMAML_CG5)
    assert relative_error(flatten(fast), flatten(before)) < 1e-3


@pytest.mark.numerics
@pytest.mark.parametrize("precondition", [False, True])
def test_meta_gradient_at_the_shipped_theta_matches_the_dense_solve_within_delta_prime(shipped, precondition):
    """In float64 at the shipped theta, CG run to delta' = 1e-3 (relative residual, monitored per task)
    against the dense solve at the same phi: ||g_i - g_i*|| <= ||A_i^-1|| delta' ||v_i||, and
    ||A_i^-1|| = 1 / (1 + e_min/lam) < 2 here (e_min > -lam/2), so the mean is within 2 delta'."""
    model, theta, _ = shipped
    theta = {k: v.double() for k, v in theta.items()}
    batch = SinusoidTasks().sample(25, 10, 10, generator=11, dtype=F64)
    cfg = {**IMAML, "precondition": precondition, "delta_prime": 1e-3, "cg_steps": 10 if precondition else 60}
    grad, info = imaml_grad(model, theta, batch, **cfg)
    assert (info.cg_relative_residual <= 1e-3).all()
    exact, _ = exact_imaml_grad(model, theta, batch, IMAML["lam"], 0.01, 8, IMAML["delta"], phi=info.phi)
    bound = 2 * 1e-3 * info.cg_residuals[0].mean()  # cg_residuals[0] = ||v_i||
    assert (flatten(grad) - flatten(exact)).norm() <= bound


class ProductsWithoutLinearization:
    """`model` with its hand-written products but no Linearization: every product is set up from a
    fresh pass, as before the solver reused the line search's passes."""

    def __init__(self, model):
        self.model = model
        self.hvp_operator, self.jacobian_factors = model.hvp_operator, model.jacobian_factors

    def __call__(self, params, x):
        return self.model(params, x)

    def loss_grad(self, params, x, y):
        return self.model.loss_grad(params, x, y)


@pytest.mark.parametrize("model", MODELS, ids=repr)
def test_a_linearization_kept_for_a_subset_of_tasks_gives_that_subset_s_products(model):
    theta, phi, batch = perturbed(model, 5, F64)
    keep = torch.tensor([0, 2, 3])
    sub = {k: v[keep] for k, v in phi.items()}
    lin = model.linearize(phi, batch.x_tr, batch.y_tr).index(keep)
    v = torch.randn(3, model.n_params(), dtype=F64, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(lin.hvp_operator(theta)(v),
                               hvp_operator(model, sub, batch.x_tr[keep], batch.y_tr[keep], theta)(v))
    for (d, h), (d_ref, h_ref) in zip(lin.jacobian_factors(), model.jacobian_factors(sub, batch.x_tr[keep]),
                                      strict=True):
        torch.testing.assert_close(d, d_ref), torch.testing.assert_close(h, h_ref)


def test_reusing_the_line_search_passes_leaves_the_shipped_meta_gradient_unchanged():
    model, theta = load_pretrained("imaml")
    batch = SinusoidTasks().sample(25, 10, 10, 7)
    fast, info = imaml_grad(model, theta, batch, **IMAML)
    before, info_before = imaml_grad(ProductsWithoutLinearization(model), theta, batch, **IMAML)
    assert torch.equal(info.inner_steps, info_before.inner_steps)
    assert relative_error(flatten(fast), flatten(before)) < 1e-5  # float32 rounding of the same path


def test_the_meta_gradient_and_phi_are_ordinary_tensors_after_inference_mode():
    """imaml_grad runs the hand-written products in inference mode; what it returns can still be
    trained on (Adam) and differentiated through (phi as an input of a new graph)."""
    model, theta = load_pretrained("imaml")
    theta = {k: v.clone().requires_grad_() for k, v in theta.items()}
    grad, info = imaml_grad(model, theta, SinusoidTasks().sample(3, 10, 10, 0), **IMAML)
    assert not any(t.is_inference() for t in [*grad.values(), *info.phi.values()])
    for k, p in theta.items():
        p.grad = grad[k]
    torch.optim.Adam(theta.values()).step()
    phi = {k: v.requires_grad_() for k, v in info.phi.items()}
    model.loss_grad(phi, torch.zeros(3, 1, 1), torch.zeros(3, 1, 1))[0].sum().backward()
    assert all(v.grad is not None for v in phi.values())
