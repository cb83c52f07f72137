"""MAML against iMAML on the same held-out tasks, at equal adaptation steps and at equal cost.

Each shipped model adapts with its own rule (helpers.pretrained.adapter): MAML with plain gradient
steps, iMAML with the inner solver it was meta-trained with. "Cost" is counted two ways, per task:
gradient evaluations of L_tr (a Hessian-vector product counts as two) and wall-clock seconds.
"""

import statistics
import time

import torch

from helpers.evaluation import paired, summarize
from helpers.inner import adapt, inner_solve
from helpers.models import mse, per_task, unflatten
from helpers.pretrained import adapter, load_pretrained


def _timed_path(rule, model, params, batch, steps):
    """(phis after 0..steps iterations, gradient evaluations per task, seconds since the start) of
    one run of an adaptation rule."""
    t0 = time.perf_counter()
    theta = per_task(params, batch.n_tasks)
    phis, evals, seconds = [theta], [0.0], [0.0]
    if not rule.lam:  # plain gradient steps: one gradient each
        for n in range(1, steps + 1):
            phis.append(adapt(model, phis[-1], batch.x_tr, batch.y_tr, 1, rule.lr, check=False))
            evals.append(float(n))
            seconds.append(time.perf_counter() - t0)
        return phis, evals, seconds

    class Clock(list):  # the solver's trace, stamped with the time of each iteration
        def append(self, item):
            super().append((*item, time.perf_counter() - t0))

    trace = Clock()
    inner_solve(model, params, batch.x_tr, batch.y_tr, rule.lam, rule.delta, rule.solver, rule.lr, steps,
                rule.cg_steps, trace)
    for flat, _, n_evals, at in trace:
        phis.append(unflatten(flat, params))
        evals.append(n_evals.double().mean().item())
        seconds.append(at)
    while len(phis) < steps + 1:  # every task stopped at delta early: nothing more is spent
        phis.append(phis[-1]), evals.append(evals[-1]), seconds.append(seconds[-1])
    return phis, evals, seconds


def cost_curves(names, batch, steps, repeats=3):
    """{name: {"steps", "evals", "seconds", "errors", "mse"}} for n = 0..steps adaptation iterations of
    each shipped model on `batch`: per-task query MSEs (steps + 1, T), their Summary per n, gradient
    evaluations per task, and seconds per task (the batch adapted at once; median of `repeats` runs)."""
    out = {}
    for name in names:
        _, params = load_pretrained(name)
        rule = adapter(name)
        runs = [_timed_path(rule.rule, rule.model, params, batch, steps) for _ in range(repeats)]
        phis, evals, _ = runs[0]
        errors = torch.stack([mse(rule.model, phi, batch.x_te, batch.y_te) for phi in phis]).detach()
        seconds = [statistics.median(run[2][n] for run in runs) / batch.n_tasks for n in range(steps + 1)]
        out[name] = {"steps": list(range(steps + 1)), "evals": evals, "seconds": seconds, "errors": errors,
                     "mse": [summarize(e) for e in errors]}
    return out


def plot_cost_curves(curves, axes=None):
    """Query MSE (mean and 95% CI over the tasks) against (a) adaptation iterations, (b) gradient
    evaluations and (c) milliseconds per task."""
    import matplotlib.pyplot as plt

    from helpers.plots import COLORS, LABELS, plain_log_axis

    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(13, 3.6), sharey=True)
    for name, c in curves.items():
        color = COLORS.get(name, "0.4")
        mean = torch.tensor([s.mean for s in c["mse"]])
        ci = torch.tensor([s.ci for s in c["mse"]])
        for ax, x in zip(axes, (c["steps"], c["evals"], [1e3 * s for s in c["seconds"]])):
            ax.plot(x, mean, "o-", ms=3, color=color, label=LABELS.get(name, name))
            ax.fill_between(x, mean - ci, mean + ci, color=color, alpha=0.15, lw=0)
    axes[0].set(xlabel="adaptation iterations", ylabel="query MSE (mean, 95% CI)", yscale="log",
                title="(a) equal steps")
    plain_log_axis(axes[0].yaxis, (0.1, 0.2, 0.3, 0.5, 1, 2, 3, 5))
    axes[1].set(xlabel="gradient evaluations per task", title="(b) equal gradient evaluations")
    axes[2].set(xlabel="milliseconds per task (tasks adapted as one batch)", title="(c) equal time")
    axes[0].legend(fontsize=8)
    return axes


def paired_summary(curves, a, b, steps):
    """One line: a against b after `steps` adaptation iterations, task by task (helpers.evaluation.paired)."""
    diff = paired(curves[a]["errors"][steps], curves[b]["errors"][steps])
    return (f"{a} minus {b}, query MSE after {steps} adaptation iterations on the same "
            f"{curves[a]['errors'].shape[1]} tasks: {diff}")
