"""Notebook 05 (iMAML): the explorer, the Figure 2 analogue, the spectrum tools and the checkers."""

import math

import pytest
import torch

from helpers import (
    MLP,
    SinusoidTasks,
    conjugate_gradient,
    exact_imaml_grad,
    flatten,
    imaml_grad,
    mse,
    task_hessians,
    unflatten,
)
from helpers.cg import CGResult
from helpers.lessons.imaml import exercises as ex
from helpers.lessons.imaml import figure2, spectrum
from helpers.lessons.imaml.panels import MAX_NEWTON_STEPS, ExplorerPanel, explorer_tasks
from helpers.models import SoftplusMLP
from helpers.pretrained import load_pretrained, pretrained_record

F64 = torch.float64


@pytest.fixture(scope="module")
def shipped():
    """The shipped iMAML network (softplus) and its meta-parameters in float64, and its config."""
    model, params = load_pretrained("imaml")
    config = pretrained_record("imaml")["config"]
    return model, {k: v.double() for k, v in params.items()}, config


@pytest.fixture(scope="module")
def panel():
    return ExplorerPanel()


def rel(a, b):
    return ((a - b).norm() / b.norm()).item()


# ---------------------------------------------------------------- the explorer

def test_explorer_tight_delta_and_many_cg_steps_drive_error_below_1e3(panel):
    panel.set(task=0, lam=panel.default_lam, delta=1e-6, cg_steps=panel.max_cg_steps)
    tight = panel.last
    assert panel.last_error is None
    assert tight["meta_grad"].dtype == F64
    assert tight["stopped_at_delta"] and tight["grad_norm"] <= 1e-6
    assert tight["error"] < 1e-3
    panel.set(delta=1e-1, cg_steps=2)
    loose = panel.last
    assert loose["error"] > 30 * tight["error"]
    # at fixed delta, more CG steps help until the delta floor
    assert tight["errors"][panel.max_cg_steps] < 0.1 * tight["errors"][2]
    assert f"{tight['error']:.1e}" in tight["caption"] and f"λ = {panel.default_lam:.3g}" in tight["caption"]


@pytest.mark.numerics
def test_explorer_meta_gradient_is_the_library_imaml_grad(panel, shipped):
    model, theta, config = shipped
    lam, delta, k, task = config["lam"], 1e-4, 5, 1
    panel.set(task=task, lam=lam, delta=delta, cg_steps=k)
    assert panel.last["stopped_at_delta"]
    tasks = explorer_tasks()
    grad, info = imaml_grad(model, theta, tasks[task:task + 1], lam, inner_steps=MAX_NEWTON_STEPS,
                            delta=delta, cg_steps=k, solver="hessian_free",
                            solver_cg_steps=panel.solver_cg_steps)
    assert info.inner_grad_norms.shape[0] - 1 == panel.last["step"]  # Newton steps of the inner solve
    assert rel(panel.last["meta_grad"], flatten(grad)) < 1e-9
    # the panel's exact reference: Cholesky of the dense system, against the library's LU solve
    ref = panel.last["solve"].ref
    _, g = exact_imaml_grad(model, theta, tasks[task:task + 1], lam, 0.01, 1, 0.0, phi=ref.phi)
    assert rel(ref.g, g) < 1e-10


def test_small_lambda_shows_a_clear_message_not_nan(panel):
    lam = min(panel.lam_values)
    panel.set(task=0, lam=lam, delta=1.0, cg_steps=10)  # delta = 1: a step or two from theta
    out = panel.last
    assert panel.last_error is None
    assert "nan" not in panel.caption.value.replace("NaN", "")  # no number printed as nan
    assert math.isfinite(out["error"]) and torch.isfinite(out["meta_grad"]).all()
    assert len(panel.image.value) > 1000
    # CG's breakdown (p^T A p <= 0) is what the caption reports: then I + H/lam is indefinite there
    if "NOT positive definite" in out["caption"]:
        task = explorer_tasks()[0]
        H = task_hessians(panel.model, out["phi"], task.x_tr, task.y_tr)[0]
        assert torch.linalg.eigvalsh(H)[0].item() < -lam


def test_explorer_bad_input_is_a_value_error_naming_the_argument(panel):
    for kwargs, name in ((dict(lam=-1.0), "lam"), (dict(cg_steps=999), "cg_steps"),
                         (dict(delta=-1.0), "delta"), (dict(task=99), "task")):
        args = dict(lam=2.0, cg_steps=5, delta=1e-3, task=0) | kwargs
        with pytest.raises(ValueError, match=name):
            panel.compute(**args)


def test_explorer_shows_a_figure_or_a_message_over_every_slider_range(panel):
    # lam's ends and middle, tasks 0, 2 and 3 (each a first visit of ~1 s), and the corners
    assert panel.sweep_problems() == {}  # latency: make bench


def test_explorer_runs_the_shipped_network_and_its_settings(shipped):
    model, _, config = shipped
    panel = ExplorerPanel()  # its initial settings
    assert set(panel.controls) == {"lam", "cg_steps", "delta", "task"}
    assert panel.default_lam == config["lam"] and panel.controls["delta"].value == config["delta"]
    assert panel.solver_cg_steps == config["solver_cg_steps"] and panel.train_steps == config["inner_steps"]
    assert type(panel.model) is type(model) and panel.model.beta == model.beta


@pytest.mark.numerics
def test_softplus_network_backprop_is_exact(shipped):
    model, theta, _ = shipped
    assert isinstance(model, SoftplusMLP)
    batch = SinusoidTasks().sample(3, 10, 10, 1, F64)
    leaves = {k: v.expand(3, *v.shape).clone().requires_grad_() for k, v in theta.items()}
    _, manual = model.loss_grad(leaves, batch.x_tr, batch.y_tr)
    auto = torch.autograd.grad(mse(model, leaves, batch.x_tr, batch.y_tr).sum(), list(leaves.values()))
    for k, a in zip(leaves, auto, strict=True):
        torch.testing.assert_close(manual[k], a, rtol=1e-12, atol=1e-13)


def test_explorer_tasks_have_smooth_minimisers_in_the_shipped_network(shipped):
    # The explorer, the implicit-function-theorem check and Figure 2 rely on this at the shipped lam.
    model, theta, config = shipped
    tasks = explorer_tasks()
    _, norm = figure2.solve_inner_exactly(model, theta, tasks.x_tr, tasks.y_tr, config["lam"])
    assert (norm <= figure2.CONVERGED_TOL).all(), norm


def test_relu_network_minimisers_sit_on_hinges_where_softplus_converges(shipped):
    # Notebook 06: with ReLU (the same weights) the inner solve stalls with support points exactly on
    # second-layer hinges; the shipped softplus network converges on the same tasks.
    smooth, theta, config = shipped
    relu = MLP(smooth.sizes)
    pool = SinusoidTasks().sample(6, 10, 10, 99, F64)
    final = {name: figure2.solve_inner_exactly(m, theta, pool.x_tr, pool.y_tr, config["lam"])
             for name, m in (("relu", relu), ("smooth", smooth))}
    z2 = figure2.second_layer_preactivations(final["relu"][0], pool.x_tr).abs().flatten(1).min(1).values
    stalled = final["relu"][1] > 1e-4  # a smooth minimiser reaches CONVERGED_TOL (1e-6)
    assert stalled.sum() >= 3 and (z2[stalled] < 1e-4).all(), (final["relu"][1], z2)  # on a kink
    assert (final["smooth"][1] <= figure2.CONVERGED_TOL).all(), final["smooth"][1]


# ---------------------------------------------------------------- Figure 2 and the reference

@pytest.mark.numerics
def test_reference_is_the_implicit_gradient_by_finite_differences(shipped):
    model, theta, config = shipped
    lam = config["lam"]
    one = explorer_tasks()[:1]
    ref = figure2.reference(model, theta, one, lam)
    assert ref.converged.all() and ref.positive_definite.all()
    u = torch.randn(ref.g.shape[-1], generator=torch.Generator().manual_seed(3), dtype=F64)
    ud = unflatten(u, theta)

    def loss(t):
        phi, _ = figure2.solve_inner_exactly(model, t, one.x_tr, one.y_tr, lam, phi=ref.phi)
        return mse(model, phi, one.x_te, one.y_te).item()

    eps = 1e-5
    fd = (loss({k: theta[k] + eps * ud[k] for k in theta})
          - loss({k: theta[k] - eps * ud[k] for k in theta})) / (2 * eps)
    assert fd == pytest.approx((ref.g[0] @ u).item(), rel=1e-5)
    assert abs(fd - (ref.v[0] @ u).item()) > 1e-3 * abs(fd)  # first order is measurably off


def test_figure2_shape_imaml_converges_fomaml_biased_memory_flat_vs_growing(shipped):
    model, theta, config = shipped
    lam = config["lam"]
    tasks = explorer_tasks()[:2]
    ref = figure2.reference(model, theta, tasks, lam)
    assert ref.converged.all()
    maml_lr = figure2.stable_step(model, theta, tasks, lam, ref.phi)
    errors = figure2.meta_gradient_errors(model, theta, tasks, ref, lam, maml_lr,
                                          inner_steps=[1, 16, 64], cg_steps=[1, 4, 16, 32])
    imaml = [e for _, e in errors["imaml"]]
    fomaml = [e for _, e in errors["fomaml"]]
    maml = [e for _, e in errors["maml"]]
    assert all(b < a for a, b in zip(imaml, imaml[1:], strict=False))
    assert imaml[-1] < 1e-4 and imaml[-1] < 1e-3 * imaml[0]
    assert min(fomaml) > 1e3 * imaml[-1]
    assert maml[-1] < 0.5 * maml[0]  # MAML converges, slowly (stable steps on a sharp problem)
    batch = SinusoidTasks().sample(5, 10, 10, 0)
    rows = figure2.cost_rows(MLP(), MLP().init(0), batch, [1, 8, 32], lam, 0.01, repeats=1)
    mem = {m: [r["saved_bytes"] for r in rows if r["method"] == m] for m in ("maml", "imaml")}
    assert max(mem["imaml"]) <= 1.05 * min(mem["imaml"])
    assert mem["maml"][0] < mem["maml"][1] < mem["maml"][2] and mem["maml"][2] > 4 * mem["maml"][0]


@pytest.mark.numerics
def test_solve_inner_exactly_reaches_machine_accuracy_where_g_is_smooth():
    # A 1-1 "network" is linear: G is a quadratic with a closed-form minimiser.
    model = MLP((1, 1))
    theta = model.init(0, dtype=F64)
    batch = SinusoidTasks().sample(3, 10, 10, 1, F64)
    phi, norm = figure2.solve_inner_exactly(model, theta, batch.x_tr, batch.y_tr, 0.5, newton_steps=6)
    assert (norm <= figure2.CONVERGED_TOL).all()
    # closed form: least squares with a ridge towards theta
    for i in range(3):
        X = torch.cat([batch.x_tr[i], torch.ones(10, 1, dtype=F64)], 1)
        t = torch.cat([theta["w0"].flatten(), theta["b0"]])
        A = 2 * X.T @ X / 10 + 0.5 * torch.eye(2, dtype=F64)
        want = torch.linalg.solve(A, 2 * X.T @ batch.y_tr[i].flatten() / 10 + 0.5 * t)
        got = torch.cat([phi["w0"][i].flatten(), phi["b0"][i]])
        assert torch.allclose(got, want, atol=1e-10)


# ---------------------------------------------------------------- spectrum tools

def random_symmetric(n_systems, n, seed, shift=0.0):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n_systems, n, n, generator=g, dtype=F64))
    e = torch.linspace(-1, 10, n, dtype=F64) + shift
    return q @ torch.diag_embed(e.expand(n_systems, n)) @ q.transpose(-1, -2)


@pytest.mark.numerics
def test_cg_path_iterates_equal_conjugate_gradient_after_each_step():
    A = torch.cat([random_symmetric(1, 15, 0, shift=1.5), random_symmetric(1, 15, 1)])  # SPD, indefinite
    b = torch.randn(2, 15, generator=torch.Generator().manual_seed(2), dtype=F64)

    def matvec(v):
        return (A @ v.unsqueeze(-1)).squeeze(-1)

    path = spectrum.cg_path(matvec, b, 12)
    for j in range(13):
        torch.testing.assert_close(path.xs[j], conjugate_gradient(matvec, b, j).x, rtol=1e-12, atol=1e-12)
    res = conjugate_gradient(matvec, b, 12)
    assert path.breakdown[0].item() == -1
    assert (path.breakdown[1].item() >= 0) == res.non_positive_curvature[1].item()


@pytest.mark.numerics
def test_extreme_eigenvalues_match_a_dense_eigendecomposition():
    A = random_symmetric(3, 60, 4)
    lo, hi = spectrum.extreme_eigenvalues(lambda v: (A @ v.unsqueeze(-1)).squeeze(-1), 3, 60, steps=60)
    e = torch.linalg.eigvalsh(A)
    torch.testing.assert_close(lo, e[:, 0], rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(hi, e[:, -1], rtol=1e-8, atol=1e-8)


@pytest.mark.numerics
def test_spectrum_of_i_plus_h_over_lambda_and_its_conditioning():
    H = random_symmetric(1, 30, 5)[0]  # eigenvalues from -1 to 10
    e = torch.linalg.eigvalsh(H)
    for lam in (0.5, 2.0):
        direct = torch.linalg.eigvalsh(torch.eye(30, dtype=F64) + H / lam)
        torch.testing.assert_close(spectrum.system_eigenvalues(e, lam), direct)
    assert spectrum.critical_lambda(e).item() == pytest.approx(1.0)
    assert math.isinf(spectrum.condition_number(e, 0.5).item())
    assert spectrum.condition_number(e, 2.0).item() == pytest.approx((1 + 10 / 2) / (1 - 1 / 2))
    with pytest.raises(ValueError, match="lam"):
        spectrum.system_eigenvalues(e, 0.0)


# ---------------------------------------------------------------- exercise checkers

def test_cg_checker_accepts_conjugate_gradient_and_rejects_wrong_answers(capsys):
    assert ex.check_conjugate_gradient(conjugate_gradient)
    assert ex.check_conjugate_gradient(
        lambda m, b, s: CGResult(conjugate_gradient(m, b, s).x, None, None, None))
    assert not ex.check_conjugate_gradient(lambda m, b, s: None)
    assert not ex.check_conjugate_gradient(lambda m, b, s: b)  # x = b: one Richardson step
    assert not ex.check_conjugate_gradient(lambda m, b, s: conjugate_gradient(m, b, s + 1).x)  # off by one

    def no_breakdown_check(matvec, b, steps):  # divides by p^T A p <= 0 on the indefinite system
        x, r = torch.zeros_like(b), b.clone()
        p, rs = r.clone(), (r * r).sum(-1, keepdim=True)
        for _ in range(steps):
            Ap = matvec(p)
            alpha = rs / (p * Ap).sum(-1, keepdim=True)
            x, r = x + alpha * p, r - alpha * Ap
            new = (r * r).sum(-1, keepdim=True)
            p, rs = r + new / rs * p, new
        return x

    assert not ex.check_conjugate_gradient(no_breakdown_check)
    assert "not yet right" in capsys.readouterr().out


def test_quadratic_checker_accepts_the_closed_form_and_rejects_wrong_ones():
    def right(A, b, theta, lam):
        return torch.linalg.solve(A + lam * torch.eye(len(b), dtype=A.dtype), b + lam * theta)

    def wrong(A, b, theta, lam):
        return torch.linalg.solve(A + lam * torch.eye(len(b), dtype=A.dtype), b + theta)

    assert ex.check_quadratic_phi_star(right)
    assert not ex.check_quadratic_phi_star(wrong)
    assert not ex.check_quadratic_phi_star(lambda A, b, theta, lam: None)


def test_hvp_checker_accepts_double_backprop_and_rejects_wrong_ones():
    def right(model, phi, x, y, v):
        phi = {k: p.detach().requires_grad_() for k, p in phi.items()}
        g = torch.autograd.grad(mse(model, phi, x, y), list(phi.values()), create_graph=True)
        dot = sum((gi * v[k]).sum() for gi, k in zip(g, phi, strict=True))
        return dict(zip(phi, torch.autograd.grad(dot, list(phi.values())), strict=True))

    def gauss_newton_only(model, phi, x, y, v):  # drops the residual term: not the Hessian
        out = right(model, phi, x, y, v)
        return {k: 0.5 * t for k, t in out.items()}

    assert ex.check_hvp(right)
    assert not ex.check_hvp(gauss_newton_only)
    assert not ex.check_hvp(lambda model, phi, x, y, v: v)
    assert not ex.check_hvp(lambda model, phi, x, y, v: None)


def test_slider_prediction_checker_measures_the_explorer(panel):
    res, err = ex.measured_slider_effects(panel)
    assert res["large"] < res["small"]  # larger lam: better conditioned, faster CG
    assert err[1e-2] > 2 * err[1e-6]  # a loose delta sets an error floor
    assert ex.check_slider_predictions(panel, "large", "rises")
    assert not ex.check_slider_predictions(panel, "small", "rises")
    assert not ex.check_slider_predictions(panel, "large", "stays")
    assert not ex.check_slider_predictions(panel, 4, "rises")  # not one of the two words
    assert not ex.check_slider_predictions(panel, None, None)


def _eye(b, A):
    return torch.eye(len(b), dtype=A.dtype)


@pytest.mark.parametrize("wrong, named", [
    (lambda A, b, theta, lam: torch.linalg.solve(A + lam * _eye(b, A), b), "theta is missing"),
    (lambda A, b, theta, lam: torch.linalg.solve(A + lam * _eye(b, A), b + theta),
     "lam is missing on theta"),
    (lambda A, b, theta, lam: torch.linalg.solve(A + lam * _eye(b, A), b - lam * theta), "a sign"),
    (lambda A, b, theta, lam: torch.linalg.solve(A, b), "the proximal term is dropped"),
])
def test_phi_star_checker_names_the_likely_mistake(wrong, named, capsys):
    assert not ex.check_quadratic_phi_star(wrong)
    out = capsys.readouterr().out
    assert "(A + lam I) phi* = b + lam theta" in out and "Likely mistake: " + named in out


def _hvp(model, phi, x, y, v, create_graph=True):
    phi = {k: p.detach().requires_grad_() for k, p in phi.items()}
    g = torch.autograd.grad(mse(model, phi, x, y), list(phi.values()), create_graph=create_graph)
    dot = sum((gi * v[k]).sum() for gi, k in zip(g, phi, strict=True))
    return dict(zip(phi, torch.autograd.grad(dot, list(phi.values())), strict=True))


def _gradient_only(model, phi, x, y, v):
    phi = {k: p.detach().requires_grad_() for k, p in phi.items()}
    return dict(zip(phi, torch.autograd.grad(mse(model, phi, x, y), list(phi.values())), strict=True))


@pytest.mark.parametrize("wrong, named", [
    (lambda model, phi, x, y, v: _hvp(model, phi, x, y, v, create_graph=False), "create_graph=True"),
    (lambda model, phi, x, y, v: torch.autograd.grad(mse(model, phi, x, y), list(phi.values())),
     "require grad"),
    (_gradient_only, "this is the gradient g, not H v"),
    (lambda model, phi, x, y, v: v, "this is v itself"),
])
def test_hvp_checker_names_the_likely_mistake(wrong, named, capsys):
    assert ex.check_hvp(lambda *a: _hvp(*a)) and not ex.check_hvp(wrong)
    out = capsys.readouterr().out.split("not yet right: ")[1]
    assert "Likely mistake: " in out and named in out
