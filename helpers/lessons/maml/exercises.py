"""Checkers for notebooks 03 (MAML) and 04 (first-order MAML).

Each check_* runs the student's function on a small fixed problem in float64 and compares it with
an independent reference written here with plain autograd, one task at a time (no code from
helpers.inner, helpers.maml or lessons.fomaml.bias). It prints "correct: ..." or "not yet right: ..." and
returns True or False; an exception in the student's code is reported, not raised.
"""

import dataclasses
import math

import torch

from helpers.exercises import call, likely_mistake, report, with_hint
from helpers.models import MLP
from helpers.tasks import SinusoidTasks

TOL = 1e-8  # float64 throughout: a right answer agrees to ~1e-12


# ---------------------------------------------------------------- independent references (per task)

def _loss(model, params, x, y):
    return (model(params, x) - y).pow(2).mean()


def _grad(f, params, create_graph=False):
    """grad of the scalar f(params) by autograd (not by the model's own backprop)."""
    with torch.enable_grad():
        leaves = {n: v if v.requires_grad else v.detach().requires_grad_() for n, v in params.items()}
        g = torch.autograd.grad(f(leaves), list(leaves.values()), create_graph=create_graph)
    return dict(zip(params, g, strict=True))


def _ref_adapt(model, theta, x, y, k, alpha, create_graph=False):
    """phi^(k) of one task: phi^(j+1) = phi^(j) - alpha grad L_tr(phi^(j)), by autograd."""
    phi = theta
    for _ in range(k):
        g = _grad(lambda p: _loss(model, p, x, y), phi, create_graph)
        phi = {n: phi[n] - alpha * g[n] for n in phi}
    return phi


def _ref_task_grad(model, theta, x_tr, y_tr, x_te, y_te, k, alpha, first_order):
    """d L_test(phi)/d theta through the k steps (exact) or grad L_test(phi) (first order), one task."""
    def query_loss(p):
        return _loss(model, p, x_te, y_te)

    if first_order:
        return _grad(query_loss, _ref_adapt(model, theta, x_tr, y_tr, k, alpha))
    return _grad(lambda t: query_loss(_ref_adapt(model, t, x_tr, y_tr, k, alpha, create_graph=True)),
                 theta)


def _ref_meta_grad(model, theta, batch, k, alpha, first_order):
    """(1/T) sum_i of the per-task gradients of _ref_task_grad."""
    grads = [_ref_task_grad(model, theta, batch.x_tr[i], batch.y_tr[i], batch.x_te[i], batch.y_te[i],
                            k, alpha, first_order) for i in range(batch.n_tasks)]
    return {n: torch.stack([g[n] for g in grads]).mean(0).detach() for n in theta}


def _problem(n_tasks=3, k_shot=5, seed=0):
    """The fixed check problem: a 1-40-40-1 MLP in float64 and 3 tasks with K = 5, 7 query points."""
    model = MLP((1, 40, 40, 1))
    theta = model.init(seed, dtype=torch.float64)
    batch = SinusoidTasks().sample(n_tasks, k_shot, 7, seed, torch.float64)
    return model, theta, batch


_REFERENCE = {}


def _reference_meta_grad(k, alpha, first_order):
    """_ref_meta_grad on _problem(), computed once per (k, alpha, first_order)."""
    key = (k, alpha, first_order)
    if key not in _REFERENCE:
        model, theta, batch = _problem()
        _REFERENCE[key] = _ref_meta_grad(model, theta, batch, k, alpha, first_order)
    return _REFERENCE[key]


# ---------------------------------------------------------------- reporting

def _compare_dicts(got, want, what, batch_shape=()):
    """None if `got` matches `want` (a dict of tensors), else a message saying how it differs."""
    if not isinstance(got, dict):
        return f"{what} should be a dict of tensors like theta, got {type(got).__name__}"
    if set(got) != set(want):
        return f"{what} should have the keys {sorted(want)}, got {sorted(got)}"
    for n, w in want.items():
        g = got[n]
        if not isinstance(g, torch.Tensor):
            return f"{what}[{n!r}] should be a tensor, got {type(g).__name__}"
        if tuple(g.shape) != tuple(w.shape):
            hint = f" (a leading task axis of {batch_shape[0]})" if batch_shape else ""
            return f"{what}[{n!r}] has shape {tuple(g.shape)}, expected {tuple(w.shape)}{hint}"
    err = max((got[n].detach().double() - want[n]).abs().max().item() for n in want)
    scale = max(want[n].abs().max().item() for n in want)
    if not math.isfinite(err) or err > TOL * max(1.0, scale):
        return f"{what} differs from the reference by up to {err:.3g} (values of size ~{scale:.3g})"
    return None


# ---------------------------------------------------------------- notebook 03

def _matches(got, want):
    """True if `got` (a dict like `want`) equals `want` to the checkers' tolerance."""
    return _compare_dicts(got, want, "", (1,)) is None


def _adapted(model, theta, x, y, k, alpha):
    """phi^(k) of every task (a task axis first), by _ref_adapt one task at a time."""
    phis = [_ref_adapt(model, theta, x[i], y[i], k, alpha) for i in range(x.shape[0])]
    return {n: torch.stack([p[n] for p in phis]).detach() for n in theta}


def _shared_adapted(model, theta, x, y, k, alpha):
    """The slip of adapting one phi for all tasks with the loss pooled over them, repeated per task."""
    phi = _ref_adapt(model, theta, x.reshape(-1, 1), y.reshape(-1, 1), k, alpha)
    return {n: phi[n].detach().expand(x.shape[0], *phi[n].shape) for n in theta}


def _inner_loop_mistakes(model, theta, x, y, k, alpha):
    """(hint, wrong answer) for the usual slips in k inner steps."""
    n_shots = x.shape[1]
    return [
        ("off by one: one step too few (range(k) takes k steps; start from phi = theta)",
         lambda: _adapted(model, theta, x, y, k - 1, alpha) if k >= 1 else None),
        ("off by one: one step too many (phi = theta when k = 0)",
         lambda: _adapted(model, theta, x, y, k + 1, alpha)),
        ("the step goes uphill: phi <- phi - alpha * grad L_tr(phi), with a minus",
         lambda: _adapted(model, theta, x, y, k, -alpha)),
        (f"the loss is summed over the K = {n_shots} points: L_tr is the mean squared error",
         lambda: _adapted(model, theta, x, y, k, alpha * n_shots)),
        ("every task takes the same step: each task adapts with the gradient of its own loss",
         lambda: _shared_adapted(model, theta, x, y, k, alpha)),
    ]


def check_inner_loop(inner_loop):
    """inner_loop(model, theta, x, y, k, alpha) -> phi: k gradient steps on L_tr for each task,
    x, y of shape (T, K, 1), phi with a leading task axis (T, ...)."""
    model, theta, batch = _problem()
    for k in (0, 1, 3):
        phi, failure = call(inner_loop, model, theta, batch.x_tr, batch.y_tr, k, 0.05)
        if failure:
            return report(False, failure)
        want = _adapted(model, theta, batch.x_tr, batch.y_tr, k, 0.05)
        failure = _compare_dicts(phi, want, f"phi after k = {k} steps", (batch.n_tasks,))
        if failure:
            hint = likely_mistake(phi, _inner_loop_mistakes(model, theta, batch.x_tr, batch.y_tr,
                                                            k, 0.05), _matches)
            return report(False, with_hint(failure, hint))
    return report(True, f"phi matches k = 0, 1 and 3 gradient steps on each of {batch.n_tasks} tasks")


def _meta_grad_mistakes(model, theta, batch, k, alpha, first_order):
    """(hint, wrong answer) for the usual slips in a (first-order) meta-gradient."""
    swapped = dataclasses.replace(batch, x_te=batch.x_tr, y_te=batch.y_tr)
    on_query = dataclasses.replace(batch, x_tr=batch.x_te, y_tr=batch.y_te)

    def ref(b=batch, k=k, first=first_order):
        return _ref_meta_grad(model, theta, b, k, alpha, first)

    mistakes = [
        ("wrong set: the outer loss is on the support set; the meta-gradient differentiates the "
         "query loss L_test(phi) (batch.x_te, batch.y_te), after adapting on the support set",
         lambda: ref(swapped)),
        ("wrong set: phi is adapted on the query set; adapt on the support set (batch.x_tr, "
         "batch.y_tr), then differentiate the query loss", lambda: ref(on_query)),
        ("off by one: one inner step too few", lambda: ref(k=k - 1) if k >= 1 else None),
        ("off by one: one inner step too many", lambda: ref(k=k + 1)),
        (f"the tasks' gradients are summed: average them (divide by T = {batch.n_tasks})",
         lambda: {n: batch.n_tasks * g for n, g in ref().items()}),
    ]
    if first_order:
        mistakes.insert(0, ("this is the exact (second-order) MAML gradient: first-order MAML takes "
                            "grad L_test at phi and does not backpropagate through the inner steps",
                            lambda: ref(first=False)))
    else:
        mistakes.insert(0, ("this is the first-order gradient: backpropagate through every inner "
                            "step (apply (I - alpha H) for each, e.g. create_graph=True in the "
                            "inner loop)", lambda: ref(first=True)))
    return mistakes


def check_maml_meta_grad(maml_meta_grad):
    """maml_meta_grad(model, theta, batch, k, alpha) -> the exact meta-gradient (a dict like theta)
    (1/T) sum_i prod_j (I - alpha H_tr_i(phi_i^(j))) grad L_test_i(phi_i^(k))."""
    model, theta, batch = _problem()
    for k in (1, 2, 3):
        got, failure = call(maml_meta_grad, model, theta, batch, k, 0.05)
        if failure:
            return report(False, failure)
        want = _reference_meta_grad(k, 0.05, first_order=False)
        failure = _compare_dicts(got, want, f"the meta-gradient for k = {k}")
        if failure:
            hint = likely_mistake(got, _meta_grad_mistakes(model, theta, batch, k, 0.05, False),
                                  _matches)
            return report(False, with_hint(failure, hint))
    return report(True, "the meta-gradient matches backpropagation through k = 1, 2 and 3 inner steps")


# ---------------------------------------------------------------- notebook 04

def check_first_order_grad(first_order_grad):
    """first_order_grad(model, theta, batch, k, alpha) -> (1/T) sum_i grad L_test_i(phi_i^(k))."""
    model, theta, batch = _problem()
    for k in (0, 1, 3):
        got, failure = call(first_order_grad, model, theta, batch, k, 0.05)
        if failure:
            return report(False, failure)
        want = _reference_meta_grad(k, 0.05, first_order=True)
        failure = _compare_dicts(got, want, f"the first-order gradient for k = {k}")
        if failure:
            hint = likely_mistake(got, _meta_grad_mistakes(model, theta, batch, k, 0.05, True),
                                  _matches)
            return report(False, with_hint(failure, hint))
    return report(True, "the first-order gradient matches grad L_test(phi_k) averaged over tasks")


def check_bias_metrics(bias_metrics):
    """bias_metrics(g_fo, g) -> (cosine similarity, relative error ||g_fo - g|| / ||g||) as floats,
    for two flat vectors."""
    gen = torch.Generator().manual_seed(3)
    g = torch.randn(50, generator=gen, dtype=torch.float64)
    cases = [(g.clone(), g), (2 * g, g), (-g, g), (g + 0.3 * torch.randn(50, generator=gen,
                                                                          dtype=torch.float64), g)]
    for g_fo, g_exact in cases:
        got, failure = call(bias_metrics, g_fo, g_exact)
        if failure:
            return report(False, failure)
        try:
            cos, rel = (float(v) for v in got)
        except (TypeError, ValueError):
            return report(False, f"bias_metrics should return two numbers (cosine, relative error), "
                                  f"got {got!r}")
        want_cos = (g_fo @ g_exact / (g_fo.norm() * g_exact.norm())).item()
        want_rel = ((g_fo - g_exact).norm() / g_exact.norm()).item()
        if abs(cos - want_cos) > 1e-6:
            return report(False, f"cosine {cos:.4g}, expected {want_cos:.4g}")
        if abs(rel - want_rel) > 1e-6:
            return report(False, f"relative error {rel:.4g}, expected {want_rel:.4g} (divide by ||g||, "
                                  "the exact gradient)")
    return report(True, "cosine and relative error match on four pairs of vectors")


def check_reptile_update(reptile_update):
    """reptile_update(theta, phi, eps) -> theta + eps (1/T) sum_i (phi_i - theta), phi with a task axis."""
    model, theta, batch = _problem()
    phi = {n: torch.stack([_ref_adapt(model, theta, batch.x_tr[i], batch.y_tr[i], 3, 0.05)[n]
                           for i in range(batch.n_tasks)]) for n in theta}
    for eps in (1.0, 0.3):
        got, failure = call(reptile_update, theta, phi, eps)
        if failure:
            return report(False, failure)
        want = {n: theta[n] + eps * (phi[n] - theta[n]).mean(0) for n in theta}
        failure = _compare_dicts(got, want, f"the new theta for eps = {eps}")
        if failure:
            return report(False, failure)
    return report(True, "theta moves a fraction eps of the way to the average adapted phi")
