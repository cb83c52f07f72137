"""Why iMAML's 5-shot error stops falling: controlled experiments, each changing one thing.

    python -m helpers.lessons.imaml.plateau_study              # writes helpers/weights/plateau_study.json
    python -m helpers.lessons.imaml.plateau_study --quick --out /tmp/plateau.json   # a smoke run

Every experiment trains from the same initialisation on the same task stream (seed SEED), with the
same meta-batch and the same number of meta-iterations (ITERATIONS), and records its learning curve
(helpers.training.LearningCurve): validation MSE after 10 iterations of its own adaptation rule at
K = 5, 10 and 20 every EVERY iterations, on validation tasks (VAL_SEED), never the test tasks. Each
curve point also holds the sharpness of theta: the median over SHARPNESS_TASKS training-like tasks
of the largest eigenvalue of the support-loss Hessian at theta. The records hold how the training
solves ended: delta (inner solve) and delta' (the meta-gradient's CG, relative residual).

The baseline is the configuration the tuning study chose and the course shipped before this study
(BASELINE, softplus network: 5 plain CG steps for the meta-gradient); each iMAML experiment changes
one setting of it (EXPERIMENTS). MAML (the paper's and the tuned one) and first-order MAML train
alongside for reference.
"""

import argparse
import json
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from helpers.inner import Adaptation
from helpers.models import MLP, SoftplusMLP, hvp_operator, per_task
from helpers.pretrain import IMAML_BETA, IMAML_CG5, MAML, MAML_TUNED, META
from helpers.pretrained import WEIGHTS
from helpers.tasks import SinusoidTasks
from helpers.training import InnerSolveMonitor, LearningCurve, meta_train

from .tuning import STUDY_SEED

STUDY_PATH = WEIGHTS / "plateau_study.json"
SEED = STUDY_SEED  # the tuning study's initialisation and task stream (not a shipped model's)
ITERATIONS = 10_000
EVERY = 1000
VAL_TASKS = 500
SHARPNESS_TASKS, SHARPNESS_SEED, POWER_STEPS = 25, 31_415, 30
DELTA_PRIME = 1e-3  # the meta-gradient CG's relative residual that the accurate runs ask for
BASELINE = IMAML_CG5
TAIL = 500

# name -> (method, changes to the baseline). iMAML's baseline is BASELINE, MAML's the paper's settings.
EXPERIMENTS = {
    "imaml": ("imaml", {}),
    "imaml CG to delta'": ("imaml", {"precondition": True, "delta_prime": DELTA_PRIME, "cg_steps": 10}),
    "imaml K=5 in training": ("imaml", {"k_shot": 5}),
    "imaml cosine decay": ("imaml", {"lr_decay": "cosine"}),
    "imaml lam 5": ("imaml", {"lam": 5.0}),
    "imaml lam 50": ("imaml", {"lam": 50.0}),
    "imaml skip unsolved": ("imaml", {"skip_unsolved": True}),
    "imaml outer lr 3e-4": ("imaml", {"outer_lr": 3e-4}),
    "maml": ("maml", {}),
    "maml tuned": ("maml", MAML_TUNED),
    "fomaml": ("fomaml", {}),
}


def config(name, quick=False):
    """The full configuration of an experiment: method, network, meta_train and meta-gradient settings."""
    method, changes = EXPERIMENTS[name]
    base = dict(BASELINE) if method == "imaml" else dict(MAML)
    out = {"name": name, "method": method, "iterations": 20 if quick else ITERATIONS, "seed": SEED,
           "outer_lr": 1e-3, "lr_decay": None, **META, **base, **changes,
           "network": "softplus" if method == "imaml" else "relu"}
    return out


def adaptation(cfg):
    """The test-time rule the configuration was meta-trained with."""
    if cfg["method"] != "imaml":
        return Adaptation(cfg["inner_lr"])
    return Adaptation(lam=cfg["lam"], solver=cfg["solver"], cg_steps=cfg["solver_cg_steps"],
                      delta=cfg["delta"])


def sharpness(model, params, n_tasks=SHARPNESS_TASKS, seed=SHARPNESS_SEED, steps=POWER_STEPS):
    """Median over training-like tasks (K = 10) of the largest eigenvalue of the support-loss Hessian at
    theta, by power iteration with Hessian-vector products."""
    batch = SinusoidTasks().sample(n_tasks, 10, 10, seed, next(iter(params.values())).dtype)
    hvp = hvp_operator(model, per_task(params, n_tasks), batch.x_tr, batch.y_tr, params)
    v = torch.randn(n_tasks, model.n_params(), generator=torch.Generator().manual_seed(seed),
                    dtype=batch.x_tr.dtype)
    for _ in range(steps):
        v = hvp(v / v.norm(dim=-1, keepdim=True))
    return v.norm(dim=-1).median().item()


class StudyCurve(LearningCurve):
    """The learning curve with theta's sharpness at every point."""

    def __call__(self, model, params, iteration, seconds):
        super().__call__(model, params, iteration, seconds)
        self.points[-1]["sharpness"] = sharpness(model, params)


def run(name, quick=False):
    """Train one experiment with its learning curve: a JSON-ready record."""
    torch.set_num_threads(1)
    cfg = config(name, quick)
    model = SoftplusMLP(beta=IMAML_BETA) if cfg["network"] == "softplus" else MLP()
    curve = StudyCurve(adaptation(cfg), every=5 if quick else EVERY, n_tasks=50 if quick else VAL_TASKS)
    monitor = InnerSolveMonitor(cfg.get("delta", 0.0), cfg["iterations"], min(TAIL, cfg["iterations"]),
                                cfg.get("delta_prime") or DELTA_PRIME)
    kwargs = {k: v for k, v in cfg.items() if k not in ("name", "method", "network")}
    record = {"config": cfg, "load_before": os.getloadavg()[0]}
    try:
        _, _, hist = meta_train(cfg["method"], model, progress=False, on_step=monitor, curve=curve, **kwargs)
    except FloatingPointError as err:
        return {**record, "status": f"diverged: {err}", "curve": curve.as_dict()}
    return {**record, "status": "ok", "seconds": round(hist.seconds, 1),
            "ms_per_iteration": round(1e3 * hist.seconds / cfg["iterations"], 2),
            "load_after": os.getloadavg()[0],
            "training_solves": monitor.summary(), "curve": curve.as_dict()}


def load_study(path=STUDY_PATH):
    """The study's record (written by `python -m helpers.lessons.imaml.plateau_study`)."""
    return json.loads(Path(path).read_text())


def records(study):
    """{name: record} in EXPERIMENTS order."""
    by_name = {r["config"]["name"]: r for r in study["records"]}
    return {name: by_name[name] for name in EXPERIMENTS if name in by_name}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--out", default=str(STUDY_PATH))
    parser.add_argument("--only", default=",".join(EXPERIMENTS), help="comma-separated experiment names")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="20 meta-iterations each (a smoke run)")
    args = parser.parse_args(argv)
    names = args.only.split(",")
    unknown = set(names) - set(EXPERIMENTS)
    if unknown:
        parser.error(f"unknown experiment(s) {sorted(unknown)}; available: {', '.join(EXPERIMENTS)}")
    out = Path(args.out)
    study = json.loads(out.read_text()) if out.exists() else {"records": []}
    done = {r["config"]["name"] for r in study["records"]}
    todo = [n for n in names if n not in done]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        for record in pool.map(run, todo, [args.quick] * len(todo)):
            study["records"].append(record)
            out.write_text(json.dumps(study, indent=1) + "\n")
            last = record["curve"]["points"][-1]
            print(f"{record['config']['name']}: {record['status']}, 5-shot {last['K=5']['mean']:.3f}, "
                  f"{record.get('ms_per_iteration', math.nan):.1f} ms/it ({time.perf_counter() - t0:.0f} s)",
                  flush=True)


if __name__ == "__main__":
    main()


# --- reading the records ---------------------------------------------------------------------

SHIPPED_CURVES = ("maml", "maml_tuned", "fomaml", "imaml")


def shipped_curves(names=SHIPPED_CURVES):
    """{name: learning curve} of shipped models, from their records (helpers.training.LearningCurve)."""
    from helpers.pretrained import pretrained_record

    return {name: pretrained_record(name)["learning_curve"] for name in names}


def curve_arrays(curve, k_shot=5):
    """(iterations, training seconds, mean validation MSE, 95% CI) of one learning curve at K."""
    points = curve["points"]
    return ([p["iteration"] for p in points], [p["seconds"] for p in points],
            [p[f"K={k_shot}"]["mean"] for p in points], [p[f"K={k_shot}"]["ci"] for p in points])


def plot_learning_curves(curves, k_shots=(5, 10), axes=None, labels=None, colors=None):
    """Validation MSE after 10 adaptation iterations against meta-iterations (one panel per K) and
    against training seconds (last panel, the first K), log scales; a marker at each curve's chosen
    checkpoint. curves: {name: learning curve dict}."""
    import matplotlib.pyplot as plt

    from helpers.plots import COLORS, LABELS, plain_log_axis

    labels, colors = {**LABELS, **(labels or {})}, {**COLORS, **(colors or {})}
    if axes is None:
        _, axes = plt.subplots(1, len(k_shots) + 1, figsize=(4.3 * (len(k_shots) + 1), 3.6))
    for name, curve in curves.items():
        color = colors.get(name)
        for ax, k in zip(axes, k_shots):
            it, _, mean, ci = curve_arrays(curve, k)
            ax.plot(it[1:], mean[1:], "o-", ms=2.5, color=color, label=labels.get(name, name))
            ax.fill_between(it[1:], [m - c for m, c in zip(mean[1:], ci[1:])],
                            [m + c for m, c in zip(mean[1:], ci[1:])], color=color, alpha=0.15, lw=0)
            if curve.get("best_iteration") in it:
                j = it.index(curve["best_iteration"])
                ax.plot(it[j], mean[j], "*", ms=10, color=color)
        it, sec, mean, _ = curve_arrays(curve, k_shots[0])
        axes[-1].plot(sec[1:], mean[1:], "o-", ms=2.5, color=color, label=labels.get(name, name))
    for ax, k in zip(axes, k_shots):
        ax.set(xscale="log", yscale="log", xlabel="meta-iterations", title=f"{k}-shot validation MSE")
    axes[-1].set(xscale="log", yscale="log", xlabel="training seconds (1 torch thread)",
                 title=f"{k_shots[0]}-shot, against time")
    for ax in axes:
        plain_log_axis(ax.yaxis, (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5))
    axes[0].set_ylabel("query MSE after 10 iterations")
    axes[0].legend(fontsize=8)
    return axes


def final_point(record):
    """The last learning-curve point of a study record."""
    return record["curve"]["points"][-1]


def experiment_table(study, k_shots=(5, 10, 20)):
    """Markdown: each experiment's validation MSE at the end of training (mean ± 95% CI, per K), the
    best 5-shot point on its curve, how its training solves ended (delta, delta' met), theta's
    sharpness at the end, and ms per meta-iteration (wall clock on a shared machine)."""
    head = ("| experiment | iterations | " + " | ".join(f"{k}-shot" for k in k_shots)
            + " | best 5-shot (at) | delta met | delta' met | sharpness | ms/it |")
    lines = [head, "|---" * (len(k_shots) + 8) + "|"]
    for name, r in records(study).items():
        if r["status"] != "ok":
            lines.append(f"| {name} | {r['status']} |" + " |" * (len(k_shots) + 6))
            continue
        last = final_point(r)
        cells = [f"{last[f'K={k}']['mean']:.3f} ± {last[f'K={k}']['ci']:.3f}" for k in k_shots]
        best = min(r["curve"]["points"][1:], key=lambda p: p["K=5"]["mean"])
        s = r.get("training_solves") or {}
        met = f"{s['met_delta']:.1%}" if "met_delta" in s else "-"
        met_prime = f"{s['met_delta_prime']:.1%}" if "met_delta_prime" in s else "-"
        lines.append(f"| {name} | {last['iteration']:,} | " + " | ".join(cells)
                     + f" | {best['K=5']['mean']:.3f} ({best['iteration']:,}) | {met} | {met_prime} "
                     f"| {last['sharpness']:,.0f} | {r['ms_per_iteration']:.0f} |")
    return "\n".join(lines)


STUDY_COLORS = {"imaml": "#D55E00", "imaml CG to delta'": "#E69F00", "imaml K=5 in training": "#CC79A7",
                "imaml cosine decay": "#8B4513", "imaml lam 5": "#F0B27A", "imaml lam 50": "#7F3C00",
                "imaml skip unsolved": "#B03A2E", "imaml outer lr 3e-4": "#DC7633", "maml": "#0072B2",
                "maml tuned": "#6FA8DC", "fomaml": "#009E73"}


def plot_experiments(study, names=None, axes=None):
    """The experiments' 5-shot validation curves (left), 10-shot (middle) and theta's sharpness
    (right), against meta-iterations."""
    import matplotlib.pyplot as plt

    from helpers.plots import plain_log_axis

    recs = records(study)
    names = [n for n in (names or recs) if n in recs and recs[n]["status"] == "ok"]
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for name in names:
        points = recs[name]["curve"]["points"][1:]
        it = [p["iteration"] for p in points]
        style = "--" if not name.startswith("imaml") else "-"
        for ax, key in zip(axes[:2], ("K=5", "K=10")):
            ax.plot(it, [p[key]["mean"] for p in points], style, marker="o", ms=2.5,
                    color=STUDY_COLORS.get(name), label=name)
        axes[2].plot(it, [p["sharpness"] for p in points], style, marker="o", ms=2.5,
                     color=STUDY_COLORS.get(name))
    for ax, title in zip(axes, ("5-shot validation MSE", "10-shot validation MSE",
                                "sharpness: largest eigenvalue of H at theta")):
        ax.set(xlabel="meta-iterations", title=title, yscale="log")
    for ax in axes[:2]:
        plain_log_axis(ax.yaxis, (0.05, 0.1, 0.2, 0.5, 1, 2))
    axes[0].set_ylabel("query MSE after 10 iterations")
    axes[0].legend(fontsize=7, ncol=2)
    return axes
