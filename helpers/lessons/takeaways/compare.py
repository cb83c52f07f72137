"""Notebook 08, the takeaways: every method of the course head to head, and what each costs.

One function per figure of the notebook; the takeaways quote only numbers computed here.

    adaptation_curves       query MSE after 0..10 adaptation steps, every method, the SAME tasks
    curve_stats             mean and 95% CI per step of those errors
    training_seconds        meta-training (or pretraining) wall time, from the shipped records
    iteration_seconds       one meta-gradient at each method's shipped configuration (measured live)
    memory_vs_inner_steps   bytes autograd holds for backprop against the inner steps k (measured live)
    takeaway_numbers        the quantities the takeaways state
    takeaway_statements     the takeaways themselves, formatted from those quantities

Each method adapts to a new task by its own rule (as in its notebook and in its record):
    scratch     Adam steps from a random initialisation, nothing learned from other tasks
    transfer    gradient steps of size 0.01 from the parameters pretrained on pooled tasks
    multitask   gradient steps on a new linear head from the mean trained head, trunk frozen; and
                notebook 02's closed-form (ridge) head, one solve, beside the curves
    maml/fomaml gradient steps of the size alpha they were meta-trained with
    imaml       iterations of its proximal solver on L_tr + (lam/2)||phi - theta||^2, lam as trained
                (its shipped rule: helpers.pretrained.adapter("imaml").rule)

Two methods are called equal or different by a paired comparison (helpers.evaluation.paired): all
methods run on the same tasks, so the per-task differences carry the comparison.
"""

from collections import namedtuple

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch

from helpers.cg import conjugate_gradient
from helpers.checks import check_int
from helpers.evaluation import adaptation_errors, mean_ci, paired
from helpers.imaml import query_grad
from helpers.inner import inner_solve
from helpers.lessons.maml.cost import growth_per_step, meta_grad_call
from helpers.lessons.multitask import heads as multitask
from helpers.lessons.toy.panels import SCRATCH_LR, fit_from_scratch
from helpers.models import MLP, AutogradProducts, hvp_operator, mse, unflatten
from helpers.plots import COLORS, LABELS, plain_log_axis
from helpers.pretrain import EVAL_SEED, MAML
from helpers.pretrained import WEIGHTS, adapter, load_pretrained, pretrained_record
from helpers.profiling import median_seconds, saved_tensor_peak
from helpers.tasks import SinusoidTasks
from helpers.training import meta_gradient
from helpers.widgets import CachedBackgroundFigure, Panel, slider

METHODS = ("scratch", "transfer", "multitask", "maml", "fomaml", "imaml")
SHIPPED = METHODS[1:]  # everything but scratch has shipped parameters
META_METHODS = ("maml", "fomaml", "imaml")
K_SHOTS = (5, 10)
STEPS = 10  # adaptation steps 0..10, as in the MAML paper's figure
RECORD_TASKS = 1000  # the held-out tasks of the shipped records (helpers.pretrain.EVAL)
# The live run uses the first N_TASKS of those same tasks: half the cost of all 1,000 (the notebook's
# budget), and a sample of the records' evaluation set rather than a new draw. A new draw can hold a
# task on which a fixed step size diverges and swamps the mean: SinusoidTasks().sample(300, 5, 100,
# EVAL_SEED) has one (4 of its 5 support points in [-5, -3.5], amplitude 4.9) where MAML's error
# after 10 steps of alpha = 0.01 is ~1e20.
N_TASKS = 500
K_QUERY = 100
MEMORY_STEPS = (1, 2, 4, 8, 16)
FINE_TUNE_LR = MAML["inner_lr"]  # the MAML paper fine-tunes its pretrained baseline with alpha too
SCRATCH_SEED = 0  # the random initialisation every scratch fit starts from
# the configuration keys of a record that are the meta-gradient's keyword arguments
_OUTER_KEYS = {"method", "iterations", "outer_lr", "seed", "meta_batch", "k_shot", "k_query"}

RIDGE_LABEL = "multi-task head, closed form"
Shipped = namedtuple("Shipped", "model params record")


# ---------------------------------------------------------------------------------------------- #
# Checks

def _check_methods(methods, allowed=METHODS):
    methods = tuple(methods)
    unknown = [m for m in methods if m not in allowed]
    if unknown or not methods:
        raise ValueError(f"methods must be a non-empty selection of {allowed}, got {methods}")
    return methods


# ---------------------------------------------------------------------------------------------- #
# The shipped models and how each adapts

def load_shipped(names=SHIPPED, folder=WEIGHTS):
    """{name: Shipped(model, params, record)} for the shipped models `names`."""
    names = _check_methods(names, SHIPPED)
    return {name: Shipped(*load_pretrained(name, folder), pretrained_record(name, folder)) for name in names}


def meta_config(record):
    """The meta-gradient's keyword arguments a model was trained with (inner_steps, inner_lr, ...)."""
    return {k: v for k, v in record["config"].items() if k not in _OUTER_KEYS}


def adaptation_rule(name, shipped=None):
    """One line: how method `name` adapts to a new task (for tables and captions)."""
    _check_methods([name])
    if name == "scratch":
        return f"Adam, lr={SCRATCH_LR}, from a random initialisation"
    if name == "multitask":
        model, params, _ = shipped[name]
        return (f"gradient descent on a new head, trunk frozen, "
                f"lr=0.9/max||[h(x),1]||^2={multitask.head_lr(model, params):.3g}")
    if name == "transfer":
        return f"gradient descent, lr={FINE_TUNE_LR}"
    return adapter(name).rule.describe()


def adapt_errors(name, shipped, batch, steps=STEPS):
    """Query MSE of method `name` on every task of `batch` after 0..steps adaptation steps:
    a tensor of shape (steps + 1, T). `shipped` is the method's Shipped (None for scratch)."""
    _check_methods([name])
    check_int("steps", steps, 0)
    if name == "scratch":
        # fit_from_scratch restarts from the same initialisation for every n: n Adam steps each
        errors = [mse(MLP(), fit_from_scratch(batch.x_tr, batch.y_tr, n, SCRATCH_LR, SCRATCH_SEED),
                      batch.x_te, batch.y_te) for n in range(steps + 1)]
        return torch.stack(errors).detach()
    if shipped is None:
        raise ValueError(f"method {name!r} needs its shipped parameters (load_shipped)")
    model, params, record = shipped
    if name == "multitask":
        return multitask.head_gradient_steps(model, params, batch, steps, multitask.head_lr(model, params))
    if name == "transfer":
        return adaptation_errors(model, params, batch, steps, FINE_TUNE_LR)
    return adaptation_errors(model, params, batch, steps, rule=adapter(name).rule)  # its shipped rule


# ---------------------------------------------------------------------------------------------- #
# Figure 1: query error against adaptation steps, on the same held-out tasks

def held_out_tasks(k_shot, n_tasks=N_TASKS, k_query=K_QUERY, seed=EVAL_SEED):
    """The first n_tasks of the records' held-out tasks (EVAL_SEED, which no training run uses):
    the same tasks for every method, and exactly the records' tasks when n_tasks = RECORD_TASKS."""
    check_int("k_shot", k_shot, 1)
    check_int("n_tasks", n_tasks, 2)
    return SinusoidTasks().sample(max(n_tasks, RECORD_TASKS), k_shot, k_query, seed)[:n_tasks]


def adaptation_curves(shipped, k_shot, methods=METHODS, n_tasks=N_TASKS, steps=STEPS, k_query=K_QUERY,
                      seed=EVAL_SEED):
    """{method: query MSE (steps + 1, n_tasks)}: every method adapted on the same held-out tasks."""
    methods = _check_methods(methods)
    batch = held_out_tasks(k_shot, n_tasks, k_query, seed)
    return {m: adapt_errors(m, shipped.get(m), batch, steps) for m in methods}


def imaml_trained_errors(shipped, k_shot, n_tasks=N_TASKS, k_query=K_QUERY, seed=EVAL_SEED):
    """Query MSE per task (n_tasks,) of iMAML adapted as in meta-training: its shipped rule (solver,
    lam) for the shipped inner_steps, on the held-out tasks."""
    model, params, record = shipped["imaml"]
    batch = held_out_tasks(k_shot, n_tasks, k_query, seed)
    phi = adapter("imaml")(params, batch, record["config"]["inner_steps"])
    return mse(model, phi, batch.x_te, batch.y_te).detach()


def imaml_as_trained(shipped, k_shot, n_tasks=N_TASKS, k_query=K_QUERY, seed=EVAL_SEED):
    """(mean, ci) of imaml_trained_errors."""
    return mean_ci(imaml_trained_errors(shipped, k_shot, n_tasks, k_query, seed))


def ridge_head(shipped, k_shot, n_tasks=N_TASKS, k_query=K_QUERY, seed=EVAL_SEED):
    """Query MSE per task (n_tasks,) of notebook 02's closed-form new head (ridge regression on the
    frozen trunk's features, helpers.lessons.multitask.ridge_head_errors), on the held-out tasks."""
    model, params, _ = shipped["multitask"]
    batch = held_out_tasks(k_shot, n_tasks, k_query, seed)
    return multitask.ridge_head_errors(model, params, batch).detach()


def record_gap(curves, shipped, k_shot):
    """max |live mean - recorded mean| / recorded mean over the shipped methods in curves and the
    recorded steps (0, 1, 5, 10), for curves computed on all RECORD_TASKS tasks (same tasks, same
    adaptation as the records): zero on the machine that made the records, float32 rounding on
    another CPU."""
    gaps = [abs(curves[m][int(n)].double().mean().item() - v["mean"]) / v["mean"]
            for m in curves if m in shipped
            for n, v in shipped[m].record["evaluation"]["mse"][f"K={k_shot}"].items()]
    return max(gaps)


def curve_stats(errors):
    """(mean, 95% CI half-width) per adaptation step of errors (steps + 1, T): two arrays."""
    mean, ci = zip(*(mean_ci(row) for row in errors))
    return np.array(mean), np.array(ci)


LOG_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)


def _log_axis(axis, low, high):
    """Plain tick labels on a log axis, the ticks of LOG_TICKS within [low, high]."""
    plain_log_axis(axis, [t for t in LOG_TICKS if low <= t <= high])


def _log_limits(stats, methods):
    """Limits of a log axis that holds every curve and CI band of stats {K: {method: (mean, ci)}}
    (a band reaching below zero is cut at half its curve's minimum)."""
    pairs = [stats[k][m] for k in stats for m in methods]
    low = min(max(float((mean - ci).min()), 0.5 * float(mean.min())) for mean, ci in pairs)
    high = max(float((mean + ci).max()) for mean, ci in pairs)
    return 0.8 * low, 1.25 * high


def plot_curves(stats, methods=METHODS, axes=None, ridge=None):
    """One axes per K: mean query MSE (log scale) against adaptation steps with 95% CI bands.
    stats: {K: {method: (mean, ci)}}; ridge {K: (mean, ci)} of the closed-form multi-task head
    (ridge_head), drawn dashed across the steps (one solve, no steps). Returns (fig, axes)."""
    ks = sorted(stats)
    if axes is None:
        fig, axes = plt.subplots(1, len(ks), figsize=(4.8 * len(ks), 3.6), sharey=True)
    axes = np.atleast_1d(axes)
    fig = axes[0].figure
    low, high = _log_limits(stats, methods)
    for ax, k in zip(axes, ks):
        for m in methods:
            mean, ci = stats[k][m]
            n = np.arange(len(mean))
            ax.plot(n, mean, color=COLORS[m], marker="o", ms=3, label=LABELS[m])
            ax.fill_between(n, np.maximum(mean - ci, low), mean + ci, color=COLORS[m], alpha=0.2, lw=0)
        if ridge is not None:
            mean, ci = ridge[k]
            ax.axhline(mean, color=COLORS["multitask"], ls="--", lw=1.2, label=RIDGE_LABEL)
            ax.axhspan(max(mean - ci, low), mean + ci, color=COLORS["multitask"], alpha=0.12, lw=0)
        ax.set(title=f"K = {k} shots", xlabel="adaptation steps n", yscale="log", ylim=(low, high))
        _log_axis(ax.yaxis, low, high)
    axes[0].set_ylabel("query MSE (mean, 95% CI)")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8)
    return fig, axes


# ---------------------------------------------------------------------------------------------- #
# Figure 2: what each method costs

def training_seconds(shipped):
    """{name: (seconds, iterations)} of the meta-training / pretraining runs, from the records."""
    return {name: (s.record["train_seconds"], s.record["config"]["iterations"])
            for name, s in shipped.items()}


def _meta_batch(record, seed):
    config = record["config"]
    return SinusoidTasks().sample(config["meta_batch"], config["k_shot"], config["k_query"], seed)


def iteration_seconds(shipped, methods=META_METHODS, repeats=5, seed=0, inner_steps=None):
    """{method: median seconds of one meta-gradient} at its shipped configuration (inner steps, lr,
    lam, delta, CG steps), on a meta-batch of the shipped size, at the shipped theta (the cost of a
    meta-iteration at the end of training; Adam's update adds ~0.1 ms). inner_steps replaces the
    shipped number of inner steps k, for a comparison at equal k (iMAML then runs exactly k: delta = 0)."""
    methods = _check_methods(methods, META_METHODS)
    check_int("repeats", repeats, 1)
    if inner_steps is not None:
        check_int("inner_steps", inner_steps, 0)
    out = {}
    for m in methods:
        model, params, record = shipped[m]
        kwargs = meta_config(record)
        if inner_steps is not None:
            kwargs["inner_steps"] = inner_steps
            if m == "imaml":
                kwargs["delta"] = 0.0
        out[m] = median_seconds(meta_gradient, m, model, params, _meta_batch(record, seed), repeats=repeats,
                                warmup=1, **kwargs)
    return out


def _imaml_solve(model, params, batch, k, lam, delta=0.0, solver="gd", inner_lr=0.01, solver_cg_steps=10,
                 **_):
    """Algorithm 2, step 3: phi* of every task (k solver iterations at most)."""
    return inner_solve(model, params, batch.x_tr, batch.y_tr, lam, delta, solver, inner_lr, k,
                       solver_cg_steps).phi


def _imaml_implicit_step(model, params, batch, phi, lam, cg_steps=5, **_):
    """Algorithm 2, steps 4-5 at phi: v_i, then CG on (I + H_i / lam) g_i = v_i; the mean g."""
    _, v = query_grad(model, phi, batch.x_te, batch.y_te)
    hvp = hvp_operator(model, phi, batch.x_tr, batch.y_tr, params)
    return unflatten(conjugate_gradient(lambda u: u + hvp(u) / lam, v, cg_steps).x.mean(0), params)


def memory_vs_inner_steps(shipped, steps_list=MEMORY_STEPS, methods=META_METHODS, seed=0):
    """{method: [peak bytes autograd saves for backprop, for k in steps_list]}: the shipped
    configuration with the number of inner steps k replaced (iMAML with delta = 0, so that it runs
    exactly k steps), on one meta-batch of the shipped size. For iMAML, what its meta-gradient
    backpropagates (Algorithm 2, steps 4-5 at phi*): its inner solve is not differentiated, and
    the tracker would count the Hessian-vector-product graphs of the Hessian-free solver's Newton
    steps, which no backward pass uses, as held. Its products are counted as double backprop computes
    them (helpers.models.AutogradProducts): the course's hand-written product holds no graph."""
    methods = _check_methods(methods, META_METHODS)
    steps_list = list(steps_list)
    if not steps_list:
        raise ValueError("steps_list must contain at least one number of inner steps")
    out = {}
    for m in methods:
        model, params, record = shipped[m]
        kwargs = {k: v for k, v in meta_config(record).items() if k != "inner_steps"}
        if m == "imaml":
            kwargs["delta"] = 0.0
        batch = _meta_batch(record, seed)
        if m == "imaml":  # the solve outside the measurement, then what backpropagates
            out[m] = [saved_tensor_peak(_imaml_implicit_step, AutogradProducts(model), params, batch,
                                        _imaml_solve(model, params, batch, k, **kwargs), **kwargs)[1]
                      for k in steps_list]
        else:
            out[m] = [saved_tensor_peak(meta_grad_call(m, k, **kwargs), model, params, batch)[1]
                      for k in steps_list]
    return out


def memory_growth(memory, steps_list=MEMORY_STEPS):
    """{method: bytes added per inner step}, a least-squares line through memory_vs_inner_steps."""
    return {m: growth_per_step([{"inner_steps": k, "saved_bytes": b} for k, b in zip(steps_list, mem)])[0]
            for m, mem in memory.items()}


def plot_costs(train, iteration, memory, steps_list=MEMORY_STEPS, iteration_at_k=None, k=None):
    """Three panels: meta-training time (records); time per meta-iteration at the shipped
    configuration and, if given, at k inner steps for every method; memory held for backprop
    against k (both measured live). Returns (fig, axes)."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), gridspec_kw={"width_ratios": [1.25, 1, 1.1]})
    ax_train, ax_iter, ax_mem = axes
    names = list(train)
    y = np.arange(len(names))
    ax_train.barh(y, [train[n][0] for n in names], color=[COLORS[n] for n in names])
    for i, n in enumerate(names):
        ax_train.annotate(f" {train[n][1]:,} it.", (train[n][0], i), va="center", fontsize=8)
    ax_train.set_yticks(y, [LABELS[n] for n in names])
    ax_train.invert_yaxis()
    ax_train.set(xlabel="seconds", title="(a) meta-training time (records)")
    ax_train.set_xlim(right=1.3 * max(v[0] for v in train.values()))
    meta = list(iteration)
    y = np.arange(len(meta))
    height = 0.4 if iteration_at_k else 0.8
    ax_iter.barh(y - height / 2 * bool(iteration_at_k), [1e3 * iteration[m] for m in meta], height,
                 color=[COLORS[m] for m in meta], label="shipped configuration")
    if iteration_at_k:
        ax_iter.barh(y + height / 2, [1e3 * iteration_at_k[m] for m in meta], height, color="none",
                     edgecolor=[COLORS[m] for m in meta], hatch="///", label=f"k = {k} inner steps")
        ax_iter.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    bars = [(y - height / 2 * bool(iteration_at_k), iteration)]
    if iteration_at_k:
        bars.append((y + height / 2, iteration_at_k))
    for offsets, times in bars:  # each bar's value: the bars span orders of magnitude
        for i, m in zip(offsets, meta, strict=True):
            ax_iter.annotate(f" {1e3 * times[m]:.1f}", (1e3 * times[m], i), va="center", fontsize=7)
    values = [1e3 * t[m] for _, t in bars for m in meta]
    ax_iter.set_xscale("log")
    ax_iter.set_xlim(min(values) / 3, max(values) * 6)
    ax_iter.set_yticks(y, [LABELS[m] for m in meta])
    ax_iter.invert_yaxis()
    ax_iter.set(xlabel="ms per meta-gradient (log scale)", title="(b) time per meta-iteration (measured)")
    for m, mem in memory.items():
        ax_mem.plot(steps_list, [b / 1e6 for b in mem], color=COLORS[m], marker="o", ms=4, label=LABELS[m])
    top = max(max(mem) for mem in memory.values()) / 1e6
    ax_mem.set(xlabel="inner steps k", ylabel="MB held for backprop", ylim=(-0.03 * top, 1.1 * top),
               title="(c) memory for backprop (measured)")
    ax_mem.legend(fontsize=8)
    fig.tight_layout()
    return fig, axes


# ---------------------------------------------------------------------------------------------- #
# The numbers the takeaways state

def format_mean_ci(mean_ci_pair, digits=2):
    """'0.63 ± 0.04'."""
    mean, ci = mean_ci_pair
    return f"{mean:.{digits}f} ± {ci:.{digits}f}"


def compare(a, b, ci_a=0.0, ci_b=0.0):
    """Words for a against b from two separate intervals: 'r x lower than' / 'r x higher than', or
    'within the 95% CIs of' when they overlap. Methods measured on the same tasks are compared with
    paired_words instead (a paired difference is the sharper test)."""
    if abs(a - b) <= ci_a + ci_b:
        return "within the 95% CIs of"
    return f"{b / a:.1f}x lower than" if a < b else f"{a / b:.1f}x higher than"


def paired_words(p, a, b):
    """Words for method A against method B from their paired comparison p = paired(errors_a,
    errors_b) on the same tasks and their mean errors a and b: 'r x lower than' / 'r x higher than'
    when the 95% interval of the mean difference excludes 0, else 'indistinguishable (paired) from'."""
    if abs(p.mean) <= p.ci:
        return "indistinguishable (paired) from"
    if p.mean < 0:
        return f"{b / a:.1f}x lower than" if b / a >= 1.05 else "slightly lower than"
    return f"{a / b:.1f}x higher than" if a / b >= 1.05 else "slightly higher than"


def format_paired(p):
    """'paired difference +0.01 ± 0.02 over 500 tasks'."""
    left = f", {p.excluded} diverged left out" if p.excluded else ""
    return f"paired difference {p.mean:+.3f} ± {p.ci:.3f} over {p.n} tasks{left}"


def steps_to_reach(mean, target):
    """The fewest adaptation steps n with mean[n] <= target, or None if no n in the curve does."""
    hits = np.flatnonzero(np.asarray(mean) <= target)
    return int(hits[0]) if hits.size else None


def takeaway_numbers(errors, imaml_trained, ridge, train, iteration, iteration_at_k, memory,
                     steps_list=MEMORY_STEPS):
    """The quantities the takeaways quote, in a flat dict.

    errors {K: {method: per-task query MSE (STEPS + 1, T)}} for K = 5 and 10 (adaptation_curves, the
    same tasks for every method); imaml_trained {K: (T,)} from imaml_trained_errors and ridge {K: (T,)}
    from ridge_head, on those tasks; train, iteration, iteration_at_k and memory as returned by
    training_seconds, iteration_seconds (shipped and at steps_list[-1] inner steps) and
    memory_vs_inner_steps(steps_list). "paired" holds the paired comparisons (helpers.evaluation.paired)
    the statements call equal or different.
    """
    stats = {k: {m: curve_stats(e) for m, e in errors[k].items()} for k in errors}

    def at(k, n):
        return {m: (float(mean[n]), float(ci[n])) for m, (mean, ci) in stats[k].items()}

    k5_1 = at(5, 1)
    growth = memory_growth(memory, steps_list)
    e5, e10 = errors[5], errors[10]
    return {
        # accuracy: figure 1
        "k5_step0": at(5, 0), "k5_step1": k5_1, "k5_step10": at(5, STEPS), "k10_step10": at(10, STEPS),
        "k10_step1_maml": at(10, 1)["maml"],
        "transfer_over_maml_k5_1": k5_1["transfer"][0] / k5_1["maml"][0],
        "transfer_steps_to_maml_1": steps_to_reach(stats[5]["transfer"][0], k5_1["maml"][0]),
        "multitask_steps_to_maml_1": steps_to_reach(stats[5]["multitask"][0], k5_1["maml"][0]),
        "imaml_as_trained": {k: mean_ci(v) for k, v in imaml_trained.items()},
        "ridge_head": {k: mean_ci(v) for k, v in ridge.items()},
        "scratch_over_maml_k5_10": at(5, STEPS)["scratch"][0] / at(5, STEPS)["maml"][0],
        "paired": {
            "maml_1_vs_transfer_1_k5": paired(e5["maml"][1], e5["transfer"][1]),
            "ridge_vs_maml_1_k5": paired(ridge[5], e5["maml"][1]),
            "ridge_vs_maml_1_k10": paired(ridge[10], e10["maml"][1]),
            "scratch_10_vs_scratch_0_k5": paired(e5["scratch"][STEPS], e5["scratch"][0]),
            "fomaml_vs_maml_k5": paired(e5["fomaml"][STEPS], e5["maml"][STEPS]),
            "fomaml_vs_maml_k10": paired(e10["fomaml"][STEPS], e10["maml"][STEPS]),
            "imaml_trained_vs_maml_k5": paired(imaml_trained[5], e5["maml"][STEPS]),
            "imaml_trained_vs_maml_k10": paired(imaml_trained[10], e10["maml"][STEPS]),
        },
        # cost: figure 2
        "train_seconds": {m: v[0] for m, v in train.items()},
        "train_iterations": {m: v[1] for m, v in train.items()},
        "iteration_ms": {m: 1e3 * v for m, v in iteration.items()},
        "iteration_ms_at_k": {m: 1e3 * v for m, v in iteration_at_k.items()},
        "k_equal": steps_list[-1],
        "maml_over_fomaml_time": iteration["maml"] / iteration["fomaml"],
        "imaml_over_maml_time": iteration["imaml"] / iteration["maml"],
        "imaml_over_maml_time_at_k": iteration_at_k["imaml"] / iteration_at_k["maml"],
        "memory_mb": {m: [b / 1e6 for b in mem] for m, mem in memory.items()},
        "memory_growth_mb_per_step": {m: g / 1e6 for m, g in growth.items()},
        "maml_memory_ratio": memory["maml"][-1] / memory["maml"][0],
        "imaml_memory_spread_mb": (max(memory["imaml"]) - min(memory["imaml"])) / 1e6,
        "maml_over_imaml_memory_at_max_k": memory["maml"][-1] / memory["imaml"][-1],
    }


def _times(ratio):
    """'3.2x as long as' / 'a third (0.31x) of' style words for a time ratio a / b."""
    if ratio >= 1.05:
        return f"{ratio:.1f}x"
    if ratio <= 1 / 1.05:
        return f"{ratio:.2f}x"
    return "about the same as"


def takeaway_statements(N, configs, paper_rows):
    """The takeaways of the talk (slide 9) as markdown, one per item: a claim in bold, the figure
    that supports it, the evidence. Every number and comparison word is formatted from
    N = takeaway_numbers(...); configs {method: meta_config(record)} for maml, fomaml and imaml (an
    iMAML meta_config alone is taken as {"imaml": it}); paper_rows the rows of
    helpers.report.maml_paper_table()."""
    if "inner_steps" in configs:
        configs = {"imaml": configs}
    s0, s1, s10, t10 = N["k5_step0"], N["k5_step1"], N["k5_step10"], N["k10_step10"]
    mem, ms, ms_k, P = N["memory_mb"], N["iteration_ms"], N["iteration_ms_at_k"], N["paired"]
    k_min, k_max, k_eq = MEMORY_STEPS[0], MEMORY_STEPS[-1], N["k_equal"]
    imaml = configs["imaml"]
    inner, cg = imaml["inner_steps"], imaml["cg_steps"]
    newton = imaml.get("solver", "gd") == "hessian_free"
    step_word = "Newton steps" if newton else "gradient steps"
    solve = (f"{inner} {step_word}" + (f" of at most {imaml['solver_cg_steps']} CG steps" if newton else "")
             + f", λ = {imaml['lam']:g}, δ = {imaml['delta']:g}")
    maml_k = configs.get("maml", {}).get("inner_steps", 1)
    trained, ridge = N["imaml_as_trained"], N["ridge_head"]
    f = format_mean_ci

    def vs(key, a, b):
        return f"{paired_words(P[key], a[0], b[0])}"

    def reach(n):
        return "never gets there" if n is None else f"gets there after {n} steps"

    def row(source):
        mse = next(r for r in paper_rows if r["name"] == "maml" and r["source"] == source)["mse"]
        return ", ".join(f"{m:.2f}" for m in mse)

    slower_at_k = ms_k["imaml"] > ms_k["maml"]
    imaml_vs_maml = paired_words(P["imaml_trained_vs_maml_k5"], trained[5][0], s10["maml"][0])
    imaml_gain = ("and accuracy too" if imaml_vs_maml.endswith("lower than") else
                  "not accuracy")
    items = [
        ("Meta-learning learns an initialisation that adapts from K examples in a few steps", "Figure 1",
         f"with K = 5, one gradient step takes MAML to {f(s1['maml'])}, "
         f"{vs('maml_1_vs_transfer_1_k5', s1['maml'], s1['transfer'])} the pretrained baseline's "
         f"{f(s1['transfer'])} ({format_paired(P['maml_1_vs_transfer_1_k5'])}). Within {STEPS} steps the "
         f"baseline {reach(N['transfer_steps_to_maml_1'])}; the multi-task head, by gradient steps, "
         f"{reach(N['multitask_steps_to_maml_1'])}"),
        ("A shared trunk with a new head fitted in closed form, against MAML's first step",
         "Figure 1, dashed",
         f"notebook 02's ridge head, one linear solve on the K support points, reaches {f(ridge[5])} with "
         f"K = 5, {vs('ridge_vs_maml_1_k5', ridge[5], s1['maml'])} MAML's one step "
         f"({format_paired(P['ridge_vs_maml_1_k5'])}); with K = 10, {f(ridge[10])}, "
         f"{paired_words(P['ridge_vs_maml_1_k10'], ridge[10][0], N['k10_step1_maml'][0])} MAML's "
         f"{f(N['k10_step1_maml'])} ({format_paired(P['ridge_vs_maml_1_k10'])})"),
        ("Without other tasks, K points are not enough", "Figure 1",
         f"fitted from scratch to 5 points, a network's query error after {STEPS} Adam steps is "
         f"{f(s10['scratch'])}, {vs('scratch_10_vs_scratch_0_k5', s10['scratch'], s0['scratch'])} before "
         f"fitting, and {N['scratch_over_maml_k5_10']:.0f}x MAML's"),
        ("MAML differentiates the inner path: its memory grows with the inner steps k", "Figure 2c",
         f"{mem['maml'][0]:.2f} MB held for backprop at k = {k_min}, {mem['maml'][-1]:.2f} MB at "
         f"k = {k_max}: "
         f"{N['memory_growth_mb_per_step']['maml']:.3f} MB more per step"),
        ("iMAML differentiates the inner solution: its memory is flat in k", "Figure 2c",
         f"{mem['imaml'][0]:.2f} MB at k = {k_min}, {mem['imaml'][-1]:.2f} MB at k = {k_max} (spread "
         f"{N['imaml_memory_spread_mb']:.3f} MB), {N['maml_over_imaml_memory_at_max_k']:.0f}x less than MAML "
         f"at k = {k_max}"),
        ("First-order MAML is the cheapest, at the price of a biased meta-gradient", "Figures 2b, 2c, 1",
         f"{ms['fomaml']:.1f} ms per meta-iteration against MAML's {ms['maml']:.1f} ms, and "
         f"{mem['fomaml'][0]:.2f} MB held for backprop. Its 5-shot error after {STEPS} steps, "
         f"{f(s10['fomaml'])}, is {vs('fomaml_vs_maml_k5', s10['fomaml'], s10['maml'])} MAML's "
         f"{f(s10['maml'])} ({format_paired(P['fomaml_vs_maml_k5'])}); with K = 10, {f(t10['fomaml'])} is "
         f"{vs('fomaml_vs_maml_k10', t10['fomaml'], t10['maml'])} {f(t10['maml'])} "
         f"({format_paired(P['fomaml_vs_maml_k10'])})"),
        (f"At equal inner steps, an iMAML meta-iteration is {'slower' if slower_at_k else 'faster'} than "
         f"MAML's", "Figure 2b",
         f"with k = {k_eq} inner steps for both (iMAML's {step_word}"
         + (" of at most 10 CG steps each" if newton else "") +
         f", then {cg} CG steps), one meta-iteration takes {ms_k['imaml']:.0f} ms for iMAML and "
         f"{ms_k['maml']:.0f} ms for MAML ({_times(N['imaml_over_maml_time_at_k'])} MAML's), for "
         f"{N['maml_over_imaml_memory_at_max_k']:.0f}x less memory. As shipped, each configuration costs: "
         f"MAML ({maml_k} inner step{'s' * (maml_k != 1)}) {ms['maml']:.1f} ms per meta-iteration and "
         f"{N['train_seconds']['maml']:.0f} s for {N['train_iterations']['maml']:,} iterations; first-order "
         f"MAML {ms['fomaml']:.1f} ms and {N['train_seconds']['fomaml']:.0f} s for "
         f"{N['train_iterations']['fomaml']:,}; iMAML ({solve}, {cg} CG steps) {ms['imaml']:.1f} ms and "
         f"{N['train_seconds']['imaml']:.0f} s for {N['train_iterations']['imaml']:,}"),
        ("A meta-learned θ is tuned to the inner loop it was trained with", "Figure 1, K = 5",
         f"MAML's, trained for {maml_k} gradient step{'s' * (maml_k != 1)}, goes from {f(s0['maml'])} to "
         f"{f(s1['maml'])} in one step. iMAML's, trained for a proximal solve of {solve}, is at "
         f"{f(s1['imaml'])} after one iteration of that solver; the full solve reaches {f(trained[5])}, "
         f"{imaml_vs_maml} MAML's after {STEPS} steps ({format_paired(P['imaml_trained_vs_maml_k5'])}); with "
         f"K = 10, {f(trained[10])}, "
         f"{paired_words(P['imaml_trained_vs_maml_k10'], trained[10][0], t10['maml'][0])} {f(t10['maml'])}. "
         f"Here iMAML's gains are memory and a meta-gradient independent of the inner path (notebook 07), "
         f"{imaml_gain}"),
        ("The MAML paper's sinusoid result is reproduced", "Table",
         f"MAML's 5-shot error after 1, 5, 10 steps is {row('this course')} here, {row('MAML paper')} in "
         f"the paper"),
        ("Our reading, not a measurement: λ is a prior strength, how far a task may move from θ",
         "notebooks 05 to 07; an interpretation, no number of this notebook",
         "the λ slider of notebook 05; notebook 06 (section 4) measures that a weaker pull adapts the "
         "shipped θ further with K = 5, while the tuning study found the training solve missing δ more "
         "often below the shipped λ; notebook 07 reads the inner solve as a MAP estimate under a "
         "Gaussian prior with mean θ and precision λ"),
    ]
    return [f"**{claim}** ({figure}): {evidence}." for claim, figure, evidence in items]


# ---------------------------------------------------------------------------------------------- #
# The widget: choose K, the methods and the step

class HeadToHeadPanel(Panel):
    """Left: query MSE against adaptation steps for the chosen K and methods (Figure 1, one K);
    right: the same errors after n steps, one row per method, on the same log scale. Everything
    comes from precomputed stats {K: {method: (mean, ci)}}: a callback only selects and redraws."""

    def __init__(self, stats, n_tasks, k_shot=5, steps=1):
        self.stats, self.n_tasks = stats, n_tasks
        ks = sorted(stats)
        self.methods = [m for m in METHODS if m in stats[ks[0]]]
        controls = {"k_shot": widgets.ToggleButtons(options=[(f"K = {k}", k) for k in ks], value=k_shot,
                                                    description="shots", style={"button_width": "60px"}),
                    "steps": slider("steps n", steps, 0, STEPS, 1, integer=True)}
        for m in self.methods:
            controls[m] = widgets.Checkbox(value=True, description=LABELS[m], indent=False,
                                           layout={"width": "auto"})
        # One scale for every K, method and step: the axes never move, so only the data are redrawn.
        self.ylim = _log_limits(stats, self.methods)
        fig = CachedBackgroundFigure(figsize=(10, 3.6))
        self.ax, self.ax_dot = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.5, 1]})
        n = np.arange(STEPS + 1)
        self.lines = {m: self.ax.plot(n, np.ones(len(n)), color=COLORS[m], marker="o", ms=3,
                                      label=LABELS[m])[0] for m in self.methods}
        self.bands = {}
        self.marker = self.ax.axvline(steps, color="k", lw=0.8, ls="--")
        self.ax.set(xlabel="adaptation steps n", ylabel="query MSE (mean, 95% CI)", yscale="log",
                    ylim=self.ylim, xlim=(-0.3, STEPS + 0.3), xticks=range(0, STEPS + 1, 2))
        _log_axis(self.ax.yaxis, *self.ylim)
        y = np.arange(len(self.methods))
        self.whiskers = [self.ax_dot.plot([1, 1], [i, i], color=COLORS[m], lw=2)[0]
                         for i, m in enumerate(self.methods)]
        self.dots = [self.ax_dot.plot([1], [i], "o", color=COLORS[m], ms=8)[0]
                     for i, m in enumerate(self.methods)]
        self.ax_dot.set(xscale="log", xlim=self.ylim, ylim=(len(y) - 0.5, -0.5),
                        xlabel="query MSE (mean, 95% CI)")
        _log_axis(self.ax_dot.xaxis, *self.ylim)
        self.ax_dot.set_yticks(y, [LABELS[m] for m in self.methods])
        for label, m in zip(self.ax_dot.get_yticklabels(), self.methods):
            label.set_color(COLORS[m])  # the legend of both axes
        self.ax_dot.grid(axis="y", visible=False)
        self.ax.set_title("K", fontsize=10)  # placeholders, so that the layout leaves room for them
        self.ax_dot.set_title("n", fontsize=10)
        fig.tight_layout()
        fig.set_layout_engine(None)  # keep the positions; no hidden layout pass on every render
        self.titles = (self.ax.title, self.ax_dot.title)
        super().__init__(controls, fig)

    def draw(self, k_shot, steps, **show):
        if k_shot not in self.stats:
            raise ValueError(f"k_shot must be one of {sorted(self.stats)}, got {k_shot}")
        if not 0 <= steps <= STEPS:
            raise ValueError(f"steps must lie in [0, {STEPS}], got {steps}")
        chosen = [m for m in self.methods if show[m]]
        if not chosen:
            raise ValueError("choose at least one method to show")
        stats = self.stats[k_shot]
        for band in self.bands.values():
            band.remove()
        n = np.arange(STEPS + 1)
        self.bands = {m: self.ax.fill_between(n, np.maximum(stats[m][0] - stats[m][1], self.ylim[0]),
                                              stats[m][0] + stats[m][1], color=COLORS[m], alpha=0.2, lw=0)
                      for m in chosen}
        for i, m in enumerate(self.methods):
            mean, ci = stats[m]
            self.lines[m].set_ydata(mean)
            self.dots[i].set_xdata([mean[steps]])
            self.whiskers[i].set_xdata([max(mean[steps] - ci[steps], self.ylim[0]), mean[steps] + ci[steps]])
            for artist in (self.lines[m], self.dots[i], self.whiskers[i]):
                artist.set_visible(m in chosen)
        self.marker.set_xdata([steps, steps])
        self.ax.set_title(f"K = {k_shot}, {self.n_tasks} held-out tasks", fontsize=10)
        self.ax_dot.set_title(f"after n = {steps} step{'s' * (steps != 1)}", fontsize=10)
        self.fig.dynamic = (*self.lines.values(), *self.bands.values(), self.marker, *self.whiskers,
                            *self.dots, *self.titles)
        ranked = sorted(chosen, key=lambda m: stats[m][0][steps])
        self.summary = f"K = {k_shot}, after {steps} step{'s' * (steps != 1)}: " + " < ".join(
            f"{LABELS[m]} {stats[m][0][steps]:.2f}" for m in ranked)
        return self.summary
