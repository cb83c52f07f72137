"""Checkers for notebook 05 (iMAML).

Each check_* calls the student's function (or reads the student's answer), compares it with an
independent computation, prints "correct: ..." or "not yet right: ..." and returns True / False.
An unfinished answer (a stub returning None, or raising) never raises here.
"""

import math

import torch

from helpers.exercises import call, likely_mistake, report, with_hint
from helpers.models import MLP, mse
from helpers.tasks import SinusoidTasks

F64 = torch.float64


def _spd(n_systems, n, cond, seed):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n_systems, n, n, generator=g, dtype=F64))
    eig = torch.logspace(0, math.log10(cond), n, dtype=F64)
    return q @ torch.diag_embed(eig.expand(n_systems, n)) @ q.transpose(-1, -2)


def krylov_solution(A, b, k):
    """The k-step CG iterate computed without CG: the minimiser of ||x - A^-1 b||_A over the Krylov
    space span{b, Ab, ..., A^(k-1) b}, by an orthonormal basis and a k x k solve. A: (n, n)."""
    if k == 0:
        return torch.zeros_like(b)
    vectors, v = [], b
    for _ in range(k):
        vectors.append(v)
        v = A @ v
    Q, _ = torch.linalg.qr(torch.stack(vectors, -1))
    return Q @ torch.linalg.solve(Q.T @ A @ Q, Q.T @ b)


def _solution(value):
    """Accept x, (x, ...) or an object with .x (like helpers.cg.CGResult)."""
    if isinstance(value, tuple | list):
        value = value[0]
    return getattr(value, "x", value)


# ---------------------------------------------------------------- exercise: conjugate gradient

def check_conjugate_gradient(cg):
    """cg(matvec, b, steps) -> x for T systems at once: b of shape (T, P), matvec acting row-wise.
    Compared with (1) a dense solve after enough steps, (2) the Krylov-space minimiser after k < P
    steps (what CG's k-th iterate is, computed without CG), (3) finite output on an indefinite
    system (no NaN: stop at a direction with p^T A p <= 0)."""
    A = _spd(3, 12, cond=50.0, seed=0)
    b = torch.randn(3, 12, generator=torch.Generator().manual_seed(1), dtype=F64)

    def matvec(v):
        return (A @ v.unsqueeze(-1)).squeeze(-1)

    value, problem = call(cg, matvec, b, 40)
    if problem:
        return report(False, problem)
    x = _solution(value)
    if not isinstance(x, torch.Tensor) or x.shape != b.shape:
        return report(False, f"expected x of shape {tuple(b.shape)}, got "
                              f"{getattr(x, 'shape', type(x).__name__)}")
    exact = torch.linalg.solve(A, b)
    err = ((x - exact).norm(dim=-1) / exact.norm(dim=-1)).max().item()
    if not err <= 1e-8:
        return report(False, f"after 40 steps on 12 x 12 systems x should equal A^-1 b; relative "
                              f"error {err:.2e}")
    for k in (1, 3):
        value, problem = call(cg, matvec, b, k)
        if problem:
            return report(False, problem)
        x = _solution(value)
        want = torch.stack([krylov_solution(A[i], b[i], k) for i in range(3)])
        err = ((x - want).norm(dim=-1) / want.norm(dim=-1)).max().item()
        if not err <= 1e-8:
            return report(False, f"after k = {k} steps x is not the k-th CG iterate (the best x in "
                                  f"span{{b, Ab, ...}}): relative difference {err:.2e}. Start from "
                                  "x = 0 and do exactly `steps` updates.")
    D = torch.diag(torch.tensor([1.0, 2.0, -3.0, 4.0], dtype=F64))
    b = torch.tensor([[1.0, 1.0, 1.0, 0.0]], dtype=F64)  # b^T D b = 0: the first step divides by 0
    value, problem = call(cg, lambda v: v @ D, b, 10)
    if problem:
        return report(False, f"on the indefinite system diag(1, 2, -3, 4): {problem}")
    x = _solution(value)
    if not torch.isfinite(x).all():
        return report(False, "on the indefinite system diag(1, 2, -3, 4) x contains NaN or inf: "
                              "stop when p^T A p <= 0 instead of dividing by it")
    return report(True, "matches the dense solve, the Krylov-space iterates after 1 and 3 steps, and "
                         "stays finite on an indefinite system")


# ---------------------------------------------------------------- exercise: implicit Jacobian

def _close(got, want, rtol=1e-6):
    return got.shape == want.shape and (got - want).norm().item() <= rtol * want.norm().item()


def _phi_star_mistakes(A, b, theta, lam):
    """(hint, wrong answer) for the usual slips in solving the proximal quadratic."""
    eye = torch.eye(len(b), dtype=A.dtype)

    def solve(M, r):
        return lambda: torch.linalg.solve(M, r)

    return [
        ("theta is missing: the proximal term lam/2 ||phi - theta||^2 pulls phi towards theta, so "
         "the right side is b + lam theta", solve(A + lam * eye, b)),
        ("lam is missing on theta: the proximal term's gradient is lam (phi - theta), so the right "
         "side is b + lam theta", solve(A + lam * eye, b + theta)),
        ("a sign: the right side is b + lam theta", solve(A + lam * eye, b - lam * theta)),
        ("a sign: the gradient of 1/2 phi^T A phi - b^T phi is A phi - b, so the right side is "
         "b + lam theta, not lam theta - b", solve(A + lam * eye, lam * theta - b)),
        ("lam is missing on the identity: the left side is A + lam I",
         solve(A + eye, b + lam * theta)),
        ("dividing by lam: divide every term, (I + A/lam) phi = b/lam + theta",
         solve(eye + A / lam, b + theta)),
        ("this is theta: phi* moves from theta to where the gradient of the objective vanishes",
         lambda: theta),
        ("the proximal term is dropped: that is argmin of the quadratic alone, A^-1 b",
         solve(A, b)),
        ("one gradient step from theta is not the minimiser: solve the linear system",
         lambda: theta - (A @ theta - b) / lam),
    ]


def check_quadratic_phi_star(phi_star):
    """phi_star(A, b, theta, lam) -> argmin_phi 1/2 phi^T A phi - b^T phi + lam/2 ||phi - theta||^2
    in closed form. Compared with gradient descent on that objective, and its Jacobian in theta (by
    central finite differences of the student's function) with (I + A/lam)^-1."""
    A = _spd(1, 6, cond=20.0, seed=3)[0] - 1.5 * torch.eye(6, dtype=F64)  # one eigenvalue < 0
    g = torch.Generator().manual_seed(4)
    b, theta = torch.randn(6, generator=g, dtype=F64), torch.randn(6, generator=g, dtype=F64)
    lam = 2.0
    value, problem = call(phi_star, A, b, theta, lam)
    if problem:
        return report(False, problem)
    if not isinstance(value, torch.Tensor) or value.shape != theta.shape:
        return report(False, f"expected a tensor of shape {tuple(theta.shape)}")
    phi = theta.clone()
    for _ in range(3000):  # gradient descent on the proximal objective: an independent answer
        phi = phi - 0.05 * (A @ phi - b + lam * (phi - theta))
    err = (value - phi).norm().item() / phi.norm().item()
    if not err <= 1e-8:
        hint = likely_mistake(value, _phi_star_mistakes(A, b, theta, lam), _close)
        return report(False, with_hint(
            f"phi_star is not the minimiser: relative error {err:.2e} against gradient descent on "
            "the objective. Check: its gradient A phi - b + lam (phi - theta) is zero at phi*, so "
            "(A + lam I) phi* = b + lam theta", hint))
    eps = 1e-5
    cols = []
    for j in range(6):
        e = torch.zeros(6, dtype=F64)
        e[j] = eps
        cols.append((phi_star(A, b, theta + e, lam) - phi_star(A, b, theta - e, lam)) / (2 * eps))
    jac = torch.stack(cols, -1)
    want = torch.linalg.inv(torch.eye(6, dtype=F64) + A / lam)
    err = (jac - want).norm().item() / want.norm().item()
    if not err <= 1e-6:
        return report(False, f"the minimiser is right but d phi*/d theta differs from "
                              f"(I + A/lam)^-1 by {err:.2e}")
    return report(True, "phi* matches gradient descent, and d phi*/d theta = (I + A/lam)^-1 "
                         "(finite differences): the implicit function theorem, exactly")


# ---------------------------------------------------------------- exercise: Hessian-vector product

def _autograd_hint(problem):
    """What to check when the student's Hessian-vector product raised inside autograd."""
    signs = ("does not require grad", "grad_fn", "second time", "appears to not have been used")
    if any(sign in problem for sign in signs):
        return ("the first gradient g = grad L_tr(phi) must itself be differentiable: make phi's "
                "tensors require grad (p.detach().requires_grad_()) and compute g with "
                "torch.autograd.grad(..., create_graph=True) before differentiating g . v")
    return None


def check_hvp(hvp):
    """hvp(model, phi, x, y, v) -> H v, H the Hessian of L_tr(phi) = mse(model, phi, x, y) for one
    task (phi and v dicts of unbatched tensors). Compared with the dense Hessian from
    torch.func.hessian times v, in float64."""
    model = MLP((1, 8, 8, 1))
    phi = model.init(0, dtype=F64)
    task = SinusoidTasks().sample(1, 5, generator=2, dtype=F64)
    x, y = task.x_tr[0], task.y_tr[0]
    g = torch.Generator().manual_seed(5)
    v = {k: torch.randn(p.shape, generator=g, dtype=F64) for k, p in phi.items()}
    value, problem = call(hvp, model, {k: p.clone() for k, p in phi.items()}, x, y, v)
    if problem:
        return report(False, with_hint(problem, _autograd_hint(problem)))
    if not isinstance(value, dict) or set(value) != set(phi):
        return report(False, f"return a dict with the keys {sorted(phi)}, like phi")
    flat = torch.cat([p.flatten() for p in phi.values()])
    shapes = [(k, p.shape, p.numel()) for k, p in phi.items()]

    def loss(f):
        parts, i = {}, 0
        for k, shape, n in shapes:
            parts[k] = f[i:i + n].view(shape)
            i += n
        return mse(model, parts, x, y)

    H = torch.func.hessian(loss)(flat)
    want = H @ torch.cat([v[k].flatten() for k in phi])
    got = torch.cat([torch.as_tensor(value[k]).detach().flatten() for k in phi])
    if got.shape != want.shape:
        return report(False, "each entry of H v must have the shape of the matching entry of phi")
    err = (got - want).norm().item() / want.norm().item()
    if not err <= 1e-8:
        grad = torch.func.grad(loss)(flat)
        flat_v = torch.cat([v[k].flatten() for k in phi])
        hint = likely_mistake(got, [
            ("this is the gradient g, not H v: differentiate the scalar g . v once more "
             "(compute g with create_graph=True)", lambda: grad),
            ("this is v itself: H v needs a second differentiation of g . v", lambda: flat_v),
            (f"H v of the summed loss: L_tr is the mean over the K = {len(x)} points",
             lambda: len(x) * want),
            ("all zeros: the second gradient did not see the first; compute g with "
             "create_graph=True", lambda: torch.zeros_like(want)),
        ], lambda a, b: a.shape == b.shape and (a - b).norm() <= 1e-6 * max(b.norm(), 1e-12))
        return report(False, with_hint(f"H v differs from the dense Hessian times v: relative "
                                       f"error {err:.2e}", hint))
    return report(True, f"H v matches the dense {flat.numel()} x {flat.numel()} Hessian times v "
                         f"(relative error {err:.1e}), without ever forming H")


# ---------------------------------------------------------------- exercise: predict the sliders

def slider_lambdas(panel):
    """The two lam of the first prediction question: the explorer's lam / 8 and 2 lam."""
    return {"small": panel.default_lam / 8, "large": 2 * panel.default_lam}


def measured_slider_effects(panel, task=0):
    """What the two prediction questions ask, measured with the explorer `panel`: the residual
    after 10 CG steps at the small and the large lam of slider_lambdas (delta = 1e-3), and the
    meta-gradient error with the most CG steps at delta = 1e-6 and at delta = 1e-2 (the panel's
    default lam)."""
    res = {name: panel.residuals(lam, 10, 1e-3, task)[-1].item()
           for name, lam in slider_lambdas(panel).items()}
    k = panel.max_cg_steps
    err = {d: panel.compute(panel.default_lam, k, d, task)["error"] for d in (1e-6, 1e-2)}
    return res, err


def check_slider_predictions(panel, faster_cg_lambda, delta_effect, task=0):
    """faster_cg_lambda: "small" or "large", the lam of slider_lambdas at which 10 CG steps shrink
    the residual more. delta_effect: "rises", "falls" or "stays", what raising delta from 1e-6 to
    1e-2 does to the meta-gradient error with many CG steps. Both are measured with the explorer."""
    if faster_cg_lambda is None or delta_effect is None:
        return report(False, "set faster_cg_lambda ('small' or 'large') and delta_effect "
                              "('rises', 'falls' or 'stays') before moving the sliders")
    if faster_cg_lambda not in ("small", "large") or delta_effect not in ("rises", "falls", "stays"):
        return report(False, "faster_cg_lambda must be 'small' or 'large' and delta_effect one of "
                              "'rises', 'falls', 'stays'")
    lams = slider_lambdas(panel)
    res, err = measured_slider_effects(panel, task)
    faster = min(res, key=res.get)
    ratio = err[1e-2] / err[1e-6]
    effect = "rises" if ratio > 2 else ("falls" if ratio < 0.5 else "stays")
    lines = [f"residual after 10 CG steps: {res['small']:.1e} at lam = {lams['small']:g}, "
             f"{res['large']:.1e} at lam = {lams['large']:g} (a larger lam brings I + H/lam closer to I: "
             "better conditioned)",
             f"error with {panel.max_cg_steps} CG steps: {err[1e-6]:.1e} at delta = 1e-6, "
             f"{err[1e-2]:.1e} at delta = 1e-2 (CG solves the system at the phi the inner solver "
             "returned: a loose delta leaves phi, hence H and v, off, and no number of CG steps "
             "fixes that)"]
    ok = faster_cg_lambda == faster and delta_effect == effect
    wrong = []
    if faster_cg_lambda != faster:
        wrong.append(f"CG is faster at the {faster} lam ({lams[faster]:g})")
    if delta_effect != effect:
        wrong.append(f"the error {effect}")
    head = "both predictions hold" if ok else "measured: " + "; ".join(wrong)
    return report(ok, head + ".\n  " + "\n  ".join(lines))
