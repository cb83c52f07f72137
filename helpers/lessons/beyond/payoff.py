"""Where implicit gradients pay off (notebook 07): unrolled MAML against iMAML as the inner loop grows.

On one fixed meta-batch (25 tasks, K = 10), at the shipped meta-parameters of each method, for k
inner steps of size alpha:

    MAML    g_i = d L_test_i(phi_i) / d theta, backprop through the k steps (as helpers.maml.maml_grad)
    iMAML   g_i = (I + H_i/lam)^-1 grad L_test_i(phi_i), phi_i after k gradient steps of size alpha on
            G_i (Algorithm 2 with delta = 0, helpers.imaml.imaml_grad's steps 4-5), lam and the number
            of CG steps as shipped (plain CG: without the shipped preconditioner and delta' stop)

measured: the norm of every task's meta-gradient (median and max over tasks; tasks whose
meta-gradient is not finite are counted, never averaged) and the bytes autograd saves for backprop
(helpers.lessons.maml.cost.saved_bytes: iMAML's Hessian-vector products counted as double backprop
computes them, helpers.models.AutogradProducts, since the course's hand-written product holds no
graph). Bytes depend on tensor shapes, not values, so the memory curve holds for every alpha.

what_imaml_buys: the section's statement of what iMAML buys here, from these measurements, and what
it does not (accuracy, from the shipped records: helpers.lessons.explanation.accuracy_sentence).

conv_memory: the same memory measurement on the 4-layer convolutional network of the paper's
Omniglot runs, with random data of Omniglot's shape:

    python -m helpers.lessons.beyond.payoff --conv
"""

import argparse
import json
import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from ipywidgets import SelectionSlider

from helpers.cg import conjugate_gradient
from helpers.imaml import query_grad
from helpers.inner import Adaptation, adapt
from helpers.lessons.explanation import accuracy_sentence
from helpers.lessons.maml.cost import growth_per_step, saved_bytes
from helpers.models import flatten, hvp_operator, mse, per_task, task_norm, unflatten
from helpers.plots import COLORS, LABELS, plain_log_axis
from helpers.pretrained import load_pretrained, pretrained_record
from helpers.profiling import saved_tensor_peak
from helpers.tasks import SinusoidTasks
from helpers.widgets import CachedBackgroundFigure, Panel

STEPS = (1, 2, 5, 10, 20, 50, 100, 200)  # the panel's inner-step counts (its x-axis)
STEP_SIZES = (0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05)  # inner step sizes alpha (log-spaced)


@dataclass
class Setup:
    """The fixed meta-batch and the shipped meta-parameters the panel measures at."""

    batch: object
    maml: tuple  # (model, theta)
    imaml: tuple  # (model, theta)
    lam: float
    cg_steps: int


def setup(meta_batch=25, k_shot=10, seed=0):
    """meta_batch tasks with K = k_shot support and query points (seed), the shipped MAML and iMAML
    meta-parameters, and iMAML's shipped lam and number of CG steps."""
    config = pretrained_record("imaml")["config"]
    batch = SinusoidTasks().sample(meta_batch, k_shot, k_shot, seed)
    return Setup(batch, load_pretrained("maml"), load_pretrained("imaml"), config["lam"], config["cg_steps"])


def maml_norms(model, theta, batch, inner_lr, steps=STEPS):
    """(len(steps), T): ||g_i|| of every task's MAML meta-gradient after k steps of size inner_lr, for
    every k in steps (inf or NaN where it is not finite). One unrolled inner loop on per-task copies
    of theta (helpers.inner.adapt), differentiated at each k: helpers.maml.maml_grad per task, with
    the loop shared by all k."""
    steps = sorted(steps)
    leaves = {n: v.detach().requires_grad_() for n, v in per_task(theta, batch.n_tasks).items()}
    rows, phi, done = [], leaves, 0
    with torch.enable_grad():
        for k in steps:
            phi = adapt(model, phi, batch.x_tr, batch.y_tr, k - done, inner_lr, create_graph=True,
                        check=False)
            done = k
            loss = mse(model, phi, batch.x_te, batch.y_te).sum()  # task i's loss depends on theta_i only
            grads = torch.autograd.grad(loss, list(leaves.values()), retain_graph=k < steps[-1])
            rows.append(task_norm(dict(zip(leaves, grads, strict=True))))
    return torch.stack(rows)


def imaml_task_grads(model, theta, batch, lam, inner_lr, steps=STEPS, cg_steps=5):
    """{k: (T, P) per-task implicit meta-gradients g_i} after k gradient steps of size inner_lr on G_i,
    for every k in steps: one inner solve (helpers.inner, delta = 0) gives phi after every step,
    then Algorithm 2's steps 4-5 at each k, as helpers.imaml.imaml_grad."""
    path = Adaptation(lr=inner_lr, lam=lam, solver="gd").path(model, theta, batch, max(steps))
    out = {}
    for k in steps:
        phi = path[k]
        _, v = query_grad(model, phi, batch.x_te, batch.y_te)
        hvp = hvp_operator(model, phi, batch.x_tr, batch.y_tr, theta)
        out[k] = conjugate_gradient(lambda u, hvp=hvp: u + hvp(u) / lam, v, cg_steps).x
    return out


def imaml_norms(model, theta, batch, lam, inner_lr, steps=STEPS, cg_steps=5):
    """(len(steps), T): ||g_i|| of every task's implicit meta-gradient after k inner steps."""
    grads = imaml_task_grads(model, theta, batch, lam, inner_lr, steps, cg_steps)
    return torch.stack([grads[k].norm(dim=-1) for k in steps])


def norm_curves(s, inner_lr, steps=STEPS):
    """{"maml": (S, T), "imaml": (S, T)} per-task meta-gradient norms at step size inner_lr."""
    maml_model, maml_theta = s.maml
    imaml_model, imaml_theta = s.imaml
    return {"maml": maml_norms(maml_model, maml_theta, s.batch, inner_lr, steps),
            "imaml": imaml_norms(imaml_model, imaml_theta, s.batch, s.lam, inner_lr, steps, s.cg_steps)}


def memory_curves(s, steps=STEPS, inner_lr=0.01):
    """{"maml": [bytes], "imaml": [bytes]}: what autograd saves for backprop during one meta-gradient
    of the meta-batch, for each k (helpers.lessons.maml.cost.saved_bytes; iMAML with gradient
    descent, delta = 0, lam and CG steps as shipped, its Hessian-vector products by double backprop)."""
    kw = {"maml": {"check": False}, "imaml": {"lam": s.lam, "cg_steps": s.cg_steps}}
    return {m: [saved_bytes(m, k, *getattr(s, m), s.batch, inner_lr=inner_lr, **kw[m]) for k in steps]
            for m in ("maml", "imaml")}


def summarize(norms):
    """Per row of (S, T) norms: (median, max) over the finite ones (None if none is) and the number
    that are not finite."""
    out = []
    for row in norms:
        finite = row[torch.isfinite(row)]
        stats = (finite.median().item(), finite.max().item()) if len(finite) else (None, None)
        out.append((*stats, int((~torch.isfinite(row)).sum())))
    return out


def _fmt(v):
    return "-" if v is None else f"{v:.3g}"


def table(norms, memory, steps=STEPS):
    """A text table: per k, median / max ||g_i|| and non-finite count per method, and MB for backprop
    (iMAML's Hessian-vector products by double backprop)."""
    T = norms["maml"].shape[1]
    rows = [f"{'k':>4} | MAML ||g_i||: median      max  not finite | iMAML ||g_i||: median      max  "
            f"not finite | MB for backprop: MAML  iMAML (products by double backprop)"]
    stats = {m: summarize(norms[m]) for m in norms}
    for i, k in enumerate(steps):
        (mm, mx, mn), (im, ix, inn) = stats["maml"][i], stats["imaml"][i]
        rows.append(f"{k:>4} | {_fmt(mm):>19} {_fmt(mx):>8} {mn:>4} of {T} | {_fmt(im):>20} {_fmt(ix):>8} "
                    f"{inn:>4} of {T} | {memory['maml'][i] / 1e6:>20.2f} {memory['imaml'][i] / 1e6:>6.2f}")
    return "\n".join(rows)


def memory_growth(memory, steps=STEPS):
    """{method: (MB per inner step, MB at the largest k)} from the measured memory curve."""
    out = {}
    for m, values in memory.items():
        rows = [{"inner_steps": k, "saved_bytes": v} for k, v in zip(steps, values, strict=True)]
        out[m] = (growth_per_step(rows)[0] / 1e6, values[-1] / 1e6)
    return out


class PayoffPanel(Panel):
    """Sliders for the inner step size alpha and the inner steps k. Left: the median and the largest
    ||g_i|| over the tasks, against k (finite values only); middle: how many tasks' meta-gradients are
    not finite; right: the memory autograd holds for backprop (memory_curves: iMAML's products by double
    backprop). MAML at the shipped MAML theta, iMAML (gradient-descent inner solve at the same alpha and
    k, lam as shipped) at the shipped iMAML theta.

    The memory is measured once, at construction (it depends on shapes, not on alpha); the norms of
    every k are measured the first time alpha takes a value, then cached.
    """

    def __init__(self, inner_lr=0.02, inner_steps=20, meta_batch=25, k_shot=10, seed=0):
        self.setup = setup(meta_batch, k_shot, seed)
        self.memory = memory_curves(self.setup)
        self._norms = {}  # alpha -> norm_curves
        T = self.setup.batch.n_tasks
        fig, (ax, axn, axm) = plt.subplots(1, 3, figsize=(11, 3.4), gridspec_kw={"width_ratios": [1.5, 1, 1]},
                                           FigureClass=CachedBackgroundFigure)
        self.lines = {}
        for m in ("maml", "imaml"):
            style = dict(color=COLORS[m], marker="o", ms=3)
            self.lines[m, "median"] = ax.plot([], [], "-", **style)[0]
            self.lines[m, "max"] = ax.plot([], [], "--", **style)[0]
            self.lines[m, "bad"] = axn.plot([], [], "-", **style)[0]
            axm.plot(STEPS, [b / 1e6 for b in self.memory[m]], "-", label=LABELS[m], **style)
        self.cursors = [a.axvline(inner_steps, color="0.3", lw=1, ls=":") for a in (ax, axn, axm)]
        # fixed axes (every finite float32 fits): the same scale for every alpha, and only the lines
        # are redrawn over a cached background
        ax.set(xscale="log", yscale="log", xlabel="inner steps k", ylabel="||g_i||, meta-gradient of task i",
               title="median (solid) and largest (dashed) ||g_i||", xlim=(0.8, 250), ylim=(0.1, 1e40))
        plain_log_axis(ax.xaxis, STEPS)
        plain_log_axis(ax.yaxis, (1, 1e10, 1e20, 1e30, 1e40))
        axn.set(xscale="log", xlabel="inner steps k", ylabel=f"tasks (of {T})", xlim=(0.8, 250),
                ylim=(-0.5, T + 0.5), title="meta-gradient not finite")
        plain_log_axis(axn.xaxis, (1, 10, 100))
        axm.set(xlabel="inner steps k", ylabel="MB held for backprop", ylim=(0, None),
                title="memory (measured; iMAML's\nproducts by double backprop)")
        axm.legend(fontsize=8, loc="upper left")
        fig.tight_layout()
        fig.set_layout_engine(None)
        fig.dynamic = (*self.lines.values(), *self.cursors)
        self.ax = ax
        controls = {
            "inner_lr": SelectionSlider(options=STEP_SIZES, value=inner_lr, description="inner step size α",
                                        continuous_update=False, style={"description_width": "initial"}),
            "inner_steps": SelectionSlider(options=STEPS, value=inner_steps, description="inner steps k",
                                           continuous_update=False, style={"description_width": "initial"}),
        }
        super().__init__(controls, fig)

    def norms(self, inner_lr):
        """norm_curves at inner_lr (cached)."""
        if inner_lr not in self._norms:
            self._norms[inner_lr] = norm_curves(self.setup, inner_lr)
        return self._norms[inner_lr]

    def draw(self, inner_lr, inner_steps):
        if inner_lr not in STEP_SIZES or inner_steps not in STEPS:
            raise ValueError(f"inner_lr must be one of {STEP_SIZES} and inner_steps one of {STEPS}, "
                             f"got {inner_lr!r} and {inner_steps!r}")
        stats = {m: summarize(n) for m, n in self.norms(inner_lr).items()}
        for m, rows in stats.items():
            for i, what in enumerate(("median", "max")):
                shown = [(k, r[i]) for k, r in zip(STEPS, rows, strict=True) if r[i] is not None]
                self.lines[m, what].set_data(*zip(*shown) if shown else ([], []))
            self.lines[m, "bad"].set_data(STEPS, [r[2] for r in rows])
        for c in self.cursors:
            c.set_xdata([inner_steps, inner_steps])
        i, T = STEPS.index(inner_steps), self.setup.batch.n_tasks
        self.stats = {m: rows[i] for m, rows in stats.items()}
        parts = []
        for m, (median, largest, bad) in self.stats.items():
            sizes = ("none finite" if median is None
                     else f"median ||g_i|| {median:.3g}, largest {largest:.3g}")
            parts.append(f"{LABELS[m]} {sizes}; " + (f"{bad} of {T} tasks' meta-gradients are not finite"
                                                    if bad else f"all {T} finite"))
        mem = {m: self.memory[m][i] / 1e6 for m in self.memory}
        self.summary = (f"α = {inner_lr:g}, k = {inner_steps}: " + ". ".join(parts)
                        + f". Memory: MAML {mem['maml']:.2f} MB, iMAML {mem['imaml']:.2f} MB "
                        "(its Hessian-vector products by double backprop).")
        return self.summary


# ------------------------------------------------------------------ the paper's Omniglot network

def conv_init(n_way=5, filters=64, channels=1, seed=0):
    """Parameters of the paper's Omniglot network: 4 x [conv3x3 `filters`, batch norm, ReLU, 2x2
    max-pool], then a linear head to n_way classes."""
    g = torch.Generator().manual_seed(seed)
    params, c_in = {}, channels
    for i in range(4):
        params[f"conv{i}"] = torch.randn(filters, c_in, 3, 3, generator=g) * math.sqrt(2 / (9 * c_in))
        params[f"bias{i}"] = torch.zeros(filters)
        params[f"gamma{i}"] = torch.ones(filters)
        params[f"beta{i}"] = torch.zeros(filters)
        c_in = filters
    params["head"] = torch.randn(n_way, filters, generator=g) * math.sqrt(1 / filters)
    params["head_bias"] = torch.zeros(n_way)
    return params


def conv_net(params, x):
    """Logits of the network for images x (N, C, 28, 28): 28 -> 14 -> 7 -> 3 -> 1 pixels."""
    h = x
    for i in range(4):
        h = F.conv2d(h, params[f"conv{i}"], params[f"bias{i}"], padding=1)
        h = F.batch_norm(h, None, None, params[f"gamma{i}"], params[f"beta{i}"], training=True)
        h = F.max_pool2d(F.relu(h), 2)
    return h.flatten(1) @ params["head"].T + params["head_bias"]


def conv_loss(params, x, y):
    return F.cross_entropy(conv_net(params, x), y)


def conv_task(n_way=5, k_shot=1, k_query=1, seed=0):
    """Random images of Omniglot's shape (1 x 28 x 28): (x_tr, y_tr, x_te, y_te) of one n_way task."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n_way)
    return (torch.rand(n_way * k_shot, 1, 28, 28, generator=g), labels.repeat(k_shot),
            torch.rand(n_way * k_query, 1, 28, 28, generator=g), labels.repeat(k_query))


def conv_maml_grad(params, task, inner_steps, inner_lr):
    """MAML's meta-gradient of one task on the conv net: backprop through the k unrolled steps."""
    x_tr, y_tr, x_te, y_te = task
    theta = {k: v.detach().requires_grad_() for k, v in params.items()}
    with torch.enable_grad():
        phi = theta
        for _ in range(inner_steps):
            grads = torch.autograd.grad(conv_loss(phi, x_tr, y_tr), list(phi.values()), create_graph=True)
            phi = {k: p - inner_lr * g for (k, p), g in zip(phi.items(), grads, strict=True)}
        return torch.autograd.grad(conv_loss(phi, x_te, y_te), list(theta.values()))


def conv_imaml_grad(params, task, inner_steps, inner_lr, lam, cg_steps):
    """iMAML's meta-gradient of one task on the conv net (Algorithm 2): k gradient steps on
    G(phi) = L_tr(phi) + lam/2 ||phi - theta||^2 without a graph, then (I + H/lam) g = grad L_test(phi)
    by CG with Hessian-vector products at phi by double backprop (as the paper computes them)."""
    x_tr, y_tr, x_te, y_te = task
    theta = {k: v.detach() for k, v in params.items()}
    phi = dict(theta)
    for _ in range(inner_steps):  # step 3
        with torch.enable_grad():
            leaves = {k: v.detach().requires_grad_() for k, v in phi.items()}
            grads = torch.autograd.grad(conv_loss(leaves, x_tr, y_tr), list(leaves.values()))
        phi = {k: (p - inner_lr * (g + lam * (p - theta[k]))).detach()
               for (k, p), g in zip(phi.items(), grads, strict=True)}
    leaves = {k: v.detach().requires_grad_() for k, v in phi.items()}
    with torch.enable_grad():
        v = flatten(dict(zip(phi, torch.autograd.grad(conv_loss(leaves, x_te, y_te), list(leaves.values())),
                             strict=True)))  # step 4
        g_tr = torch.autograd.grad(conv_loss(leaves, x_tr, y_tr), list(leaves.values()), create_graph=True)

    def hvp(u):
        with torch.enable_grad():
            gu = sum((gi * ui).sum() for gi, ui in zip(g_tr, unflatten(u, theta).values(), strict=True))
            return flatten(dict(zip(phi, torch.autograd.grad(gu, list(leaves.values()), retain_graph=True),
                                    strict=True)))

    return conjugate_gradient(lambda u: u + hvp(u) / lam, v, cg_steps).x  # step 5


def conv_memory(steps=(1, 2, 5, 10, 20), n_way=5, k_shot=1, k_query=1, inner_lr=0.4, lam=2.0, cg_steps=5,
                seed=0):
    """{"maml": [bytes], "imaml": [bytes], ...}: bytes autograd saves for backprop during one task's
    meta-gradient on the paper's Omniglot network, for each number of inner steps k (measured with
    helpers.profiling.saved_tensor_peak). Defaults: 5-way 1-shot, the paper's lam = 2 and 5 CG
    steps; the inner step size of the MAML paper's Omniglot runs (0.4). The data are random: memory
    depends on shapes only."""
    params, task = conv_init(n_way, seed=seed), conv_task(n_way, k_shot, k_query, seed)
    maml = [saved_tensor_peak(conv_maml_grad, params, task, k, inner_lr)[1] for k in steps]
    imaml = [saved_tensor_peak(conv_imaml_grad, params, task, k, inner_lr, lam, cg_steps)[1] for k in steps]
    return {"steps": list(steps), "maml": maml, "imaml": imaml,
            "parameters": sum(p.numel() for p in params.values()),
            "setting": {"n_way": n_way, "k_shot": k_shot, "k_query": k_query, "inner_lr": inner_lr,
                        "lam": lam, "cg_steps": cg_steps, "image": [1, 28, 28], "filters": 64}}


def conv_table(result):
    """The conv measurement as a text table (MB per task's meta-gradient)."""
    lines = [f"{result['parameters']:,}-parameter conv net, {result['setting']['n_way']}-way "
             f"{result['setting']['k_shot']}-shot, one task",
             f"{'k':>4} | MAML MB | iMAML MB"]
    lines += [f"{k:>4} | {m / 1e6:7.2f} | {i / 1e6:8.2f}"
              for k, m, i in zip(result["steps"], result["maml"], result["imaml"], strict=True)]
    return "\n".join(lines)


def plot_conv_memory(result, ax=None):
    """MB held for backprop by one task's meta-gradient on the conv net, against k, per method."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    for m in ("maml", "imaml"):
        ax.plot(result["steps"], [b / 1e6 for b in result[m]], "-o", ms=4, color=COLORS[m], label=LABELS[m])
    st = result["setting"]
    ax.set(xlabel="inner steps k", ylabel="MB held for backprop", ylim=(0, None),
           title=f"Omniglot conv net ({result['parameters']:,} parameters), "
                 f"{st['n_way']}-way {st['k_shot']}-shot, one task")
    ax.legend(fontsize=8)
    return ax


# ------------------------------------------------------------------ what iMAML buys here

def _stability(stats, T, steps=STEPS):
    """One clause from summarize() rows: how many tasks' meta-gradients are not finite, and the largest
    finite norm."""
    bad = [(k, n) for k, (_, _, n) in zip(steps, stats, strict=True) if n]
    largest = max((r[1] for r in stats if r[1] is not None), default=None)
    size = "" if largest is None else f", its largest {'finite ' if bad else ''}norm {largest:.3g}"
    if not bad:
        return f"finite on all {T} tasks at every k{size}"
    return f"not finite on up to {max(n for _, n in bad)} of {T} tasks (from k = {bad[0][0]}){size}"


def what_imaml_buys(norms, memory, conv, inner_lr, steps=STEPS, pairs=None):
    """Markdown: what iMAML buys on this problem (memory, stability, freedom of inner solver) from the
    measurements (norm_curves at inner_lr, memory_curves, conv_memory), and what it does not
    (accuracy, from the shipped records: helpers.lessons.explanation.accuracy_sentence)."""
    T = norms["maml"].shape[1]
    growth = memory_growth(memory, steps)
    conv_growth = memory_growth({m: conv[m] for m in ("maml", "imaml")}, conv["steps"])
    stable = {m: _stability(summarize(n), T, steps) for m, n in norms.items()}
    low, high = (f"{f(memory['imaml']) / 1e6:.2f}" for f in (min, max))
    return (
        f"**Memory.** iMAML's meta-gradient holds {low if low == high else f'{low} to {high}'} MB for "
        "backprop whatever k (its Hessian-vector products counted as double backprop computes them); "
        f"MAML's grows by {growth['maml'][0]:.2f} MB per inner step, to {growth['maml'][1]:.0f} MB at "
        f"k = {steps[-1]}. On the Omniglot conv net, one task's MAML meta-gradient grows by "
        f"{conv_growth['maml'][0]:.1f} MB per step ({conv_growth['maml'][1]:.0f} MB at "
        f"k = {conv['steps'][-1]}) against iMAML's {max(conv['imaml']) / 1e6:.1f} MB, and a meta-batch "
        f"multiplies both. **Stability.** At α = {inner_lr:g}, MAML's meta-gradient is {stable['maml']}; "
        f"iMAML's is {stable['imaml']}: it depends on where the inner solve ended, not on its path. "
        "**Freedom of inner solver.** Nothing is differentiated through the solve, so it may reject steps "
        "that raise G_i (the panel's gradient descent does) or take Newton-CG steps with a line search "
        "(the shipped iMAML does; section 4 swaps in others). " + accuracy_sentence(pairs)
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--conv", action="store_true",
                        help="the conv net's memory (default: the panel's table)")
    parser.add_argument("--inner-lr", type=float, default=0.02, help="the panel's table: inner step size")
    parser.add_argument("--out", help="also write the result as JSON to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.conv:
        result = conv_memory()
        print(conv_table(result))
    else:
        s = setup()
        norms, memory = norm_curves(s, args.inner_lr), memory_curves(s)
        print(f"inner step size {args.inner_lr:g}, {s.batch.n_tasks} tasks, K = {s.batch.x_tr.shape[1]}")
        print(table(norms, memory))
        result = {"inner_lr": args.inner_lr, "steps": list(STEPS), "memory": memory,
                  "norms": {m: n.tolist() for m, n in norms.items()}}
    if args.out:
        with open(args.out, "w") as f:
            f.write(json.dumps(result, indent=1, default=str) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
