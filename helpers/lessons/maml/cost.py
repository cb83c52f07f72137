"""Measured cost of one meta-iteration as the number of inner steps k grows (notebooks 03-05, 07).

For a method and each k, on one fixed meta-batch: the wall time of the meta-gradient (a
meta-iteration minus the Adam step, which is ~0.1 ms on 1,761 parameters), the fastest of a few
runs since other load on the machine only ever adds time, and the peak bytes that autograd holds
for backprop while computing it (helpers.profiling.saved_tensor_peak). Everything here is measured
on the machine it runs on; nothing is derived from a formula.

    MAML      backprop through the k unrolled steps: the graph of every step is held (grows with k)
    FO-MAML   no backprop through the inner loop: grad L_test(phi_k) only
    iMAML     k proximal inner steps without a graph, then CG with Hessian-vector products at phi
              (one gradient's graph, whatever k is)
"""

import time

import matplotlib.pyplot as plt
import numpy as np

from helpers.checks import check_int
from helpers.imaml import imaml_grad
from helpers.maml import maml_grad
from helpers.models import MLP, AutogradProducts
from helpers.plots import COLORS, LABELS
from helpers.pretrain import IMAML
from helpers.profiling import saved_tensor_peak
from helpers.tasks import SinusoidTasks

COST_METHODS = ("maml", "fomaml", "imaml")

# Shipped settings (helpers.pretrain); iMAML with delta = 0 so that it runs exactly k inner steps,
# which makes "inner steps" mean the same amount of inner work for all three methods.
DEFAULTS = {
    "maml": {"inner_lr": 0.01},
    "fomaml": {"inner_lr": 0.01},
    # the shipped iMAML's lam and CG steps, with k gradient steps of 0.01 as its inner solve (one
    # gradient each, like MAML's steps); delta = 0 so every run takes all k steps
    "imaml": {"lam": IMAML["lam"], "inner_lr": 0.01, "delta": 0.0, "cg_steps": IMAML["cg_steps"]},
}


def meta_grad_call(method, inner_steps, **kwargs):
    """fn(model, params, batch) -> (grad, info): the meta-gradient of `method` with k inner steps.

    kwargs override DEFAULTS[method] (e.g. inner_lr, or lam / cg_steps for iMAML).
    """
    if method not in COST_METHODS:
        raise ValueError(f"method must be one of {COST_METHODS}, got {method!r}")
    check_int("inner_steps", inner_steps, 0)
    kw = {**DEFAULTS[method], **kwargs}
    if method == "imaml":
        return lambda model, params, batch: imaml_grad(model, params, batch, inner_steps=inner_steps, **kw)
    first_order = method == "fomaml"
    return lambda model, params, batch: maml_grad(
        model, params, batch, inner_steps, first_order=first_order, **kw
    )


def saved_bytes(method, inner_steps, model, params, batch, **kwargs):
    """Peak bytes autograd holds for backprop during one meta-gradient (one run). iMAML's
    Hessian-vector products are counted as double backprop computes them (AutogradProducts: one
    gradient's graph, the paper's implementation); the course's hand-written product holds no graph
    at all, only the activations of one forward pass."""
    if method == "imaml":
        model = AutogradProducts(model)
    _, peak = saved_tensor_peak(meta_grad_call(method, inner_steps, **kwargs), model, params, batch)
    return peak


def fastest_seconds(method, inner_steps, model, params, batch, repeats=3, **kwargs):
    """Wall time of one meta-gradient: the fastest of `repeats` runs (other load only adds time)."""
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    fn = meta_grad_call(method, inner_steps, **kwargs)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(model, params, batch)
        times.append(time.perf_counter() - t0)
    return min(times)


def measure(method, inner_steps, model, params, batch, repeats=3, **kwargs):
    """One row {method, inner_steps, tasks, seconds, saved_bytes} for this meta-batch.

    The memory run comes first and doubles as the warm-up of the timed runs.
    """
    memory = saved_bytes(method, inner_steps, model, params, batch, **kwargs)
    seconds = fastest_seconds(method, inner_steps, model, params, batch, repeats, **kwargs)
    return {"method": method, "inner_steps": inner_steps, "tasks": batch.n_tasks,
            "seconds": seconds, "saved_bytes": memory}


def cost_vs_inner_steps(method, steps_list, model=None, params=None, batch=None, *, meta_batch=25,
                        k_shot=10, k_query=10, seed=0, repeats=3, **kwargs):
    """Rows of `measure` for every k in steps_list, all on the same meta-batch and parameters.

    Defaults: a fresh 1-40-40-1 MLP (memory and time do not depend on the parameter values) and
    a batch of 25 tasks with K = 10 support and 10 query points, as in meta-training.
    """
    steps_list = list(steps_list)
    if not steps_list:
        raise ValueError("steps_list must contain at least one number of inner steps")
    model = model or MLP()
    if params is None:
        params = model.init(seed)
    if batch is None:
        batch = SinusoidTasks().sample(meta_batch, k_shot, k_query, seed)
    return [measure(method, k, model, params, batch, repeats, **kwargs) for k in steps_list]


def growth_per_step(rows, key="saved_bytes"):
    """Least-squares line key ~ a + b k over the rows: returns (b per inner step, a, R^2).

    R^2 is 1 for an exact line; it is reported as 1.0 when the values do not vary at all.
    """
    k = np.array([r["inner_steps"] for r in rows], dtype=float)
    y = np.array([r[key] for r in rows], dtype=float)
    if len(rows) < 2 or np.ptp(k) == 0:
        raise ValueError("growth_per_step needs rows at two or more different inner_steps")
    b, a = np.polyfit(k, y, 1)
    total = ((y - y.mean()) ** 2).sum()
    r2 = 1.0 if total == 0 else 1.0 - ((y - (a + b * k)) ** 2).sum() / total
    return float(b), float(a), float(r2)


def plot_cost(rows, axes=None):
    """Memory held for backprop (MB) and time per meta-iteration (ms) against k, one line per
    method (course colours). Returns (fig, (ax_memory, ax_time))."""
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.4))
    else:
        fig = axes[0].figure
    ax_mem, ax_time = axes
    for method in COST_METHODS:
        mine = sorted((r for r in rows if r["method"] == method), key=lambda r: r["inner_steps"])
        if not mine:
            continue
        k = [r["inner_steps"] for r in mine]
        style = dict(color=COLORS[method], label=LABELS[method], marker="o", ms=4)
        ax_mem.plot(k, [r["saved_bytes"] / 1e6 for r in mine], **style)
        ax_time.plot(k, [1e3 * r["seconds"] for r in mine], **style)
    tasks = sorted({r["tasks"] for r in rows})
    ax_mem.set(xlabel="inner steps k", ylabel="MB held for backprop",
               title="memory autograd saves (measured)")
    ax_time.set(xlabel="inner steps k", ylabel="ms per meta-gradient",
                title=f"time per meta-iteration, {'/'.join(map(str, tasks))} tasks (measured)")
    ax_mem.set_ylim(bottom=0)
    ax_time.set_ylim(bottom=0)
    ax_mem.legend(fontsize=8)
    fig.tight_layout()
    return fig, axes


def rows_table(rows):
    """The rows as a small markdown table (method, k, ms, MB)."""
    lines = ["| method | inner steps k | ms per meta-gradient | MB held for backprop |",
             "|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {LABELS[r['method']]} | {r['inner_steps']} | {1e3 * r['seconds']:.1f} | "
                     f"{r['saved_bytes'] / 1e6:.2f} |")
    return "\n".join(lines)

