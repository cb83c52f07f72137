"""MAML against iMAML on the same held-out tasks, at equal adaptation steps and at equal cost.

Each shipped model adapts with its own rule (helpers.pretrained.adapter): MAML with plain gradient
steps, iMAML with the inner solver it was meta-trained with. "Cost" is counted two ways, per task:
gradient evaluations of L_tr (a Hessian-vector product counts as two) and wall-clock seconds.
"""

import torch

from helpers.evaluation import summarize
from helpers.inner import inner_solve
from helpers.models import mse
from helpers.pretrained import adapter, load_pretrained
from helpers.profiling import median_seconds


def gradient_evaluations(rule, model, params, batch, steps):
    """Mean gradient evaluations per task of `steps` iterations of an adaptation rule."""
    if not rule.lam:
        return float(steps)  # one gradient per plain step
    sol = inner_solve(model, params, batch.x_tr, batch.y_tr, rule.lam, 0.0, rule.solver, rule.lr, steps,
                      rule.cg_steps)
    return sol.grad_evals.double().mean().item() if steps else 0.0


def cost_curves(names, batch, steps, repeats=3):
    """{name: {"steps", "evals", "seconds", "mse": [Summary]}} for n = 0..steps adaptation iterations of
    each shipped model on `batch`; seconds per task (the batch adapted at once, median of repeats)."""
    out = {}
    for name in names:
        _, params = load_pretrained(name)
        adapt = adapter(name)
        curve = {"steps": list(range(steps + 1)), "evals": [], "seconds": [], "mse": []}
        for n in curve["steps"]:
            phi = adapt(params, batch, n)
            curve["mse"].append(summarize(mse(adapt.model, phi, batch.x_te, batch.y_te).detach()))
            curve["evals"].append(gradient_evaluations(adapt.rule, adapt.model, params, batch, n))
            seconds = median_seconds(adapt, params, batch, n, repeats=repeats) if n else 0.0
            curve["seconds"].append(seconds / batch.n_tasks)
        out[name] = curve
    return out


def plot_cost_curves(curves, axes=None):
    """Query MSE (mean and 95% CI over the tasks) against (a) adaptation iterations, (b) gradient
    evaluations and (c) seconds per task."""
    import matplotlib.pyplot as plt

    from helpers.plots import COLORS, LABELS

    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(13, 3.6), sharey=True)
    for name, c in curves.items():
        method = name.split("_")[0]
        mean = torch.tensor([s.mean for s in c["mse"]])
        ci = torch.tensor([s.ci for s in c["mse"]])
        for ax, x in zip(axes, (c["steps"], c["evals"], [1e3 * s for s in c["seconds"]])):
            ax.plot(x, mean, "o-", ms=3, color=COLORS.get(method, "0.4"), label=LABELS.get(name, name))
            ax.fill_between(x, mean - ci, mean + ci, color=COLORS.get(method, "0.4"), alpha=0.15, lw=0)
    axes[0].set(xlabel="adaptation iterations", ylabel="query MSE", yscale="log", title="(a) equal steps")
    axes[1].set(xlabel="gradient evaluations per task", title="(b) equal gradient evaluations")
    axes[2].set(xlabel="milliseconds per task (batched)", title="(c) equal time")
    axes[0].legend(fontsize=8)
    return axes
