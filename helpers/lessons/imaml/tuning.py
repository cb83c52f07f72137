"""The tuning study: iMAML's lam, inner solver, step size and steps, and MAML's, chosen fairly.

    python -m helpers.lessons.imaml.tuning_study              # both stages, resumable
    python -m helpers.lessons.imaml.tuning_study --stages 1   # stage 1 only: what the course ran
    python -m helpers.lessons.imaml.tuning_study --workers 1  # one process
    python -m helpers.lessons.imaml.tuning_study --quick --out /tmp/study.json   # a smoke run
    python -m helpers.lessons.imaml.tuning_study --pair 10 20   # two lams again, compared task by task

Fair by construction. Every configuration trains from the same initialisation on the same task stream
(seed STUDY_SEED) with the same meta-batch (25 tasks, K = 10), Adam 1e-3 and the same number of
meta-iterations, and is scored on VALIDATION tasks (1,000 5-shot tasks from VAL_SEED), never on the
table's test tasks (helpers.pretrain.EVAL_SEED). The score is the query MSE after 10 adaptation
iterations of the configuration's own rule (helpers.inner.Adaptation: gradient steps of its inner_lr
for MAML, iterations of its inner solver for iMAML).

Stage 1 runs every configuration of GRIDS for STAGE1_ITERATIONS meta-iterations: MAML's inner step
size and steps; iMAML's lam, with gradient descent (step size, steps) on the ReLU network and
Hessian-free Newton steps on the ReLU network and on its smooth (softplus) copy. Then iMAML with
gradient descent on the softplus network, at every lam, with the step size and steps that were best
for that lam on the ReLU network. Stage 2 trains the best PROMOTED of each method (MAML, iMAML with
gradient descent, iMAML Hessian-free; either network) for STAGE2_ITERATIONS, each best iMAML
configuration also with the other network, so that the activation's effect is measured in pairs.
An iMAML configuration qualifies only if its training inner solves met delta on at least
MIN_MET_DELTA of the tasks (Algorithm 2's premise); `select` applies this rule.

For each configuration the record holds the validation MSE (0..10 iterations), the fraction of
training inner solves that met delta and the quantiles of ||grad G|| they ended at (last
TAIL iterations), the inner gradient evaluations per task, and the seconds per meta-iteration (wall
clock, with the load average of the machine at the time: other processes slow it down).
"""

import argparse
import json
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from helpers.evaluation import VAL_SEED, adaptation_errors, summarize
from helpers.inner import Adaptation
from helpers.models import MLP, SoftplusMLP
from helpers.pretrained import WEIGHTS
from helpers.tasks import SinusoidTasks
from helpers.training import InnerSolveMonitor, meta_train

STUDY_PATH = WEIGHTS / "tuning_study.json"
STUDY_SEED = 11  # initialisation and task stream of every configuration (not a shipped model's seed)
VALIDATION = {"n_tasks": 1000, "k_shot": 5, "k_query": 100, "steps": 10}
META = {"meta_batch": 25, "k_shot": 10, "k_query": 10, "outer_lr": 1e-3}
STAGE1_ITERATIONS = 3000
STAGE2_ITERATIONS = 10_000
PROMOTED = 3
MIN_MET_DELTA = 0.9
TAIL = 500  # met-delta and ||grad G|| are measured over the last TAIL meta-iterations
DELTA = 1e-3  # the inner solve's tolerance on ||grad G_i||
CG_STEPS = 5  # Algorithm 2, step 5 (the paper's Omniglot setting)
SOFTPLUS_BETA = 5.0
LAMS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)


def _grid():
    maml = [{"method": "maml", "inner_lr": lr, "inner_steps": k}
            for lr in (0.003, 0.01, 0.03, 0.1) for k in (1, 5)]
    gd = [{"method": "imaml", "solver": "gd", "lam": lam, "inner_lr": lr, "inner_steps": k}
          for lam in LAMS for lr in (0.003, 0.01, 0.03) for k in (16, 32)]
    hf = [{"method": "imaml", "solver": "hessian_free", "lam": lam, "inner_steps": k, "solver_cg_steps": 10}
          for lam in LAMS for k in (2, 4)]
    hf += [{**c, "activation": "softplus", "inner_steps": k}
           for c in hf if c["inner_steps"] == 2 for k in (4, 8)]
    return {"maml": maml, "imaml-gd": gd, "imaml-hf": hf}


GRIDS = _grid()


def family(config):
    """'maml', 'imaml-gd' or 'imaml-hf'."""
    return "maml" if config["method"] == "maml" else f"imaml-{'gd' if config['solver'] == 'gd' else 'hf'}"


def label(config):
    """A short readable name, e.g. 'iMAML-GD lam=20 lr=0.01 k=16 (relu)'."""
    parts = {"maml": "MAML", "imaml-gd": "iMAML-GD", "imaml-hf": "iMAML-HF"}[family(config)]
    for key, short in (("lam", "lam"), ("inner_lr", "lr"), ("inner_steps", "k"), ("solver_cg_steps", "cg")):
        if key in config:
            parts += f" {short}={config[key]:g}"
    return parts + f" ({config.get('activation', 'relu')}, {config['iterations']} its)"


def network(config):
    """The network of a configuration: the ReLU MLP, or its softplus copy."""
    return SoftplusMLP(beta=SOFTPLUS_BETA) if config.get("activation") == "softplus" else MLP()


def method_kwargs(config):
    """Arguments of meta_train for the configuration (delta and CG steps fixed for iMAML)."""
    kwargs = {k: config[k] for k in ("lam", "inner_lr", "inner_steps", "solver", "solver_cg_steps")
              if k in config}
    if config["method"] == "imaml":
        kwargs.update(delta=DELTA, cg_steps=CG_STEPS)
    return kwargs


def adaptation(config):
    """The configuration's test-time rule: what it was meta-trained to adapt with."""
    if config["method"] == "maml":
        return Adaptation(lr=config["inner_lr"])
    return Adaptation(lr=config.get("inner_lr", 0.01), lam=config["lam"], solver=config["solver"],
                      cg_steps=config.get("solver_cg_steps", 10))


def validation_tasks(dtype=torch.float32):
    v = VALIDATION
    return SinusoidTasks().sample(v["n_tasks"], v["k_shot"], v["k_query"], VAL_SEED, dtype)


def run_config(config):
    """Train one configuration and score it on the validation tasks: a JSON-ready record."""
    torch.set_num_threads(1)
    model = network(config)
    monitor = InnerSolveMonitor(DELTA, config["iterations"], TAIL)

    # the CPU kernels it ran on: float32 rounding differs between kernels, and 3,000 meta-iterations
    # amplify it (the same configuration lands a few hundredths apart in validation MSE)
    record = {"config": config, "family": family(config), "label": label(config),
              "kernels": f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}",
              "load_before": os.getloadavg()[0]}
    t0 = time.perf_counter()
    try:
        _, params, hist = meta_train(config["method"], model, iterations=config["iterations"],
                                     seed=STUDY_SEED, progress=False, on_step=monitor, **META,
                                     **method_kwargs(config))
    except FloatingPointError as err:
        return {**record, "status": f"diverged: {err}", "val": None}
    seconds = time.perf_counter() - t0
    errors = adaptation_errors(model, params, validation_tasks(), VALIDATION["steps"],
                               rule=adaptation(config))
    curve = [summarize(row) for row in errors]
    record.update(status="ok", seconds=round(seconds, 1),
                  seconds_per_iteration=round(seconds / config["iterations"], 5),
                  load_after=os.getloadavg()[0], train_loss_tail=sum(hist.loss[-TAIL:]) / TAIL,
                  val={"curve": [s.mean for s in curve], **curve[-1].as_dict()})
    solves = monitor.summary()
    if solves:
        record.update(met_delta=solves["met_delta"], grad_norm_quantiles=solves["grad_norm_quantiles"],
                      inner_grad_evals=solves["grad_evals"])
    return record


def qualifies(record):
    """Trained without diverging, and (iMAML) its inner solves met delta on >= MIN_MET_DELTA."""
    return (record["status"] == "ok" and math.isfinite(record["val"]["mean"])
            and record.get("met_delta", 1.0) >= MIN_MET_DELTA)


def select(records, fam, n=1, activation=None, iterations=None, qualified=True):
    """The n best records of a family by validation MSE (stage: `iterations`; network: `activation`, or
    either): qualifying ones only, or (qualified=False) qualifying ones first, then the rest that
    trained."""
    pool = [r for r in records if r["family"] == fam and r["status"] == "ok"
            and math.isfinite(r["val"]["mean"])
            and activation in (None, r["config"].get("activation", "relu"))
            and (iterations is None or r["config"]["iterations"] == iterations)
            and (qualifies(r) or not qualified)]
    return sorted(pool, key=lambda r: (not qualifies(r), r["val"]["mean"]))[:n]


def _run_all(configs, out, workers):
    """Run the configurations not yet in `out` (resumable), saving after each."""
    study = json.loads(out.read_text()) if out.exists() else {"records": []}
    done = {json.dumps(r["config"], sort_keys=True) for r in study["records"]}
    todo = [c for c in configs if json.dumps(c, sort_keys=True) not in done]
    with ProcessPoolExecutor(workers) as pool:
        for record in pool.map(run_config, todo):
            study["records"].append(record)
            out.write_text(json.dumps(study, indent=1) + "\n")
            val = record["val"]["mean"] if record["val"] else math.nan
            print(f"{record['label']}: val MSE {val:.3f}, met delta {record.get('met_delta', math.nan):.2f}, "
                  f"{record.get('seconds_per_iteration', math.nan) * 1e3:.1f} ms/it", flush=True)
    return study


def softplus_gd_configs(records, stage1):
    """iMAML with gradient descent on the softplus network: at each lam, the (step size, steps) that
    were best on the ReLU network."""
    configs = []
    for lam in LAMS:
        pool = [r for r in records if r["family"] == "imaml-gd" and r["config"]["lam"] == lam]
        best = select(pool, "imaml-gd", 1, "relu", stage1, qualified=False)
        if best:
            configs.append({**best[0]["config"], "activation": "softplus"})
    return configs


def stage2_configs(records, stage1, stage2):
    """The promoted configurations retrained for stage2 iterations, and each family's best iMAML
    configuration with the other network. Qualifying configurations are promoted first; if fewer than
    PROMOTED qualify, the best of the others fill the places (and stay marked as not qualifying)."""
    configs = []
    for fam in GRIDS:
        for r in select(records, fam, PROMOTED, iterations=stage1, qualified=False):
            configs.append({**r["config"], "iterations": stage2})
    for fam in ("imaml-gd", "imaml-hf"):
        for r in select(records, fam, 1, iterations=stage1, qualified=False):
            other = "relu" if r["config"].get("activation") == "softplus" else "softplus"
            configs.append({**r["config"], "iterations": stage2, "activation": other})
    return configs


def load_study(path=STUDY_PATH):
    """The study's JSON record (written by `python -m helpers.lessons.imaml.tuning_study`)."""
    return json.loads(Path(path).read_text())


def study_table(study, iterations=None, per_family=3):
    """The best `per_family` configurations of each family trained for `iterations` meta-iterations
    (default: the study's last stage), as a text table: seconds per meta-iteration, validation MSE
    (mean, 95% CI, median) after 10 iterations and the fraction of training inner solves that met
    delta; '*' marks the configurations that qualify (qualifying ones are listed first)."""
    settings = study.get("settings", {})
    iterations = iterations or settings.get("stage2") or settings.get("stage1", STAGE1_ITERATIONS)
    lines = [f"{iterations:,} meta-iterations each" + " " * 29
             + "ms/it   val MSE (95% CI)   median   met delta"]
    for fam in GRIDS:
        for r in select(study["records"], fam, per_family, iterations=iterations, qualified=False):
            v, met = r["val"], r.get("met_delta")
            lines.append(f"{'*' if qualifies(r) else ' '} {r['label']:<58} "
                         f"{1e3 * r['seconds_per_iteration']:6.1f}   {v['mean']:.3f} ± {v['ci']:.3f}    "
                         f"{v['median']:.3f}    " + ("   -" if met is None else f"{met:.2f}"))
    return "\n".join(lines)


ARMS = {  # (family, network): the curves of the study's figure
    ("imaml-gd", "relu"): ("iMAML, gradient descent, ReLU", "o", "-"),
    ("imaml-gd", "softplus"): ("iMAML, gradient descent, softplus", "o", ":"),
    ("imaml-hf", "relu"): ("iMAML, Hessian-free, ReLU", "s", "-"),
    ("imaml-hf", "softplus"): ("iMAML, Hessian-free, softplus", "s", ":"),
}


def best_per_lam(records, fam, activation, iterations):
    """{lam: the best record of (family, network) at that lam}, by validation MSE (qualifying first)."""
    lams = sorted({r["config"]["lam"] for r in records if r["family"] == fam})
    best = {lam: select([r for r in records if r["config"].get("lam") == lam], fam, 1, activation, iterations,
                        qualified=False) for lam in lams}
    return {lam: b[0] for lam, b in best.items() if b}


def paired_rerun(study, lams, fam="imaml-hf", activation="softplus"):
    """Train again the arm's best configuration at each of two lams (stage 1, the study's seed) and
    compare their validation errors task by task: {"labels", "mean" (first minus second), "ci",
    "wins_a", "wins_b", "n", "excluded", "reproduced": each rerun's mean against its record's}."""
    from helpers.evaluation import paired

    stage1 = study["settings"]["stage1"] if "settings" in study else STAGE1_ITERATIONS
    best = best_per_lam(study["records"], fam, activation, stage1)
    errors, labels, reproduced = [], [], []
    for lam in lams:
        record = best[lam]
        config = record["config"]
        model = network(config)
        _, params, _ = meta_train(config["method"], model, iterations=config["iterations"], seed=STUDY_SEED,
                                  progress=False, **META, **method_kwargs(config))
        errors.append(adaptation_errors(model, params, validation_tasks(), VALIDATION["steps"],
                                        rule=adaptation(config))[-1])
        labels.append(record["label"])
        reproduced.append([summarize(errors[-1]).mean, record["val"]["mean"]])
    return {"labels": labels, **paired(*errors).__dict__, "reproduced": reproduced}


def pairs_text(study):
    """One line per paired rerun of the record (`--pair`): the difference of validation MSE task by
    task, and the verdict its 95% interval allows (a tie when it contains 0)."""
    lines = []
    for p in study.get("pairs", []):
        a, b = (label.split(" k=")[0] for label in p["labels"])
        verdict = ("a tie" if abs(p["mean"]) <= p["ci"] else
                   f"{a if p['mean'] < 0 else b} is lower")
        again = ", ".join(f"{mean:.3f} against {recorded:.3f}" for mean, recorded in p["reproduced"])
        lines.append(f"{a} minus {b}, trained again and compared task by task on the same {p['n']:,} "
                     f"validation tasks: {p['mean']:+.4f} ± {p['ci']:.4f} (lower on {p['wins_a']:,}, higher "
                     f"on {p['wins_b']:,}): {verdict}. The reruns reproduce the record's means: {again}")
    return "\n".join(lines)


def lam_table(study, fam="imaml-hf", activation="softplus"):
    """Markdown: the lam curve of one iMAML arm (default: the shipped one, Hessian-free on the softplus
    network), the best setting at each lam: validation MSE after 10 iterations (mean ± 95% CI, on the
    same 1,000 validation tasks), median, and the fraction of training solves that met delta."""
    stage1 = study["settings"]["stage1"] if "settings" in study else STAGE1_ITERATIONS
    lines = ["| lam | configuration | val MSE (95% CI) | median | met delta |", "|---|---|---|---|---|"]
    for lam, r in sorted(best_per_lam(study["records"], fam, activation, stage1).items()):
        v = r["val"]
        lines.append(f"| {lam:g} | {r['label']} | {v['mean']:.3f} ± {v['ci']:.3f} | {v['median']:.3f} "
                     f"| {r['met_delta']:.0%} |")
    return "\n".join(lines)


def plot_study(study, axes=None):
    """(a) validation MSE after 10 adaptation iterations (95% CIs) against lam, the best setting of each
    iMAML arm at each lam (filled: its inner solves met delta on >= MIN_MET_DELTA of the tasks), and MAML's
    best configuration; (b) the fraction of training inner solves that met delta. Stage 1."""
    import matplotlib.pyplot as plt

    from helpers.plots import COLORS

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    stage1 = study["settings"]["stage1"] if "settings" in study else STAGE1_ITERATIONS
    records = study["records"]
    for (fam, act), (name, marker, ls) in ARMS.items():
        best = best_per_lam(records, fam, act, stage1)
        if not best:
            continue
        lams = sorted(best)
        val = [best[lam]["val"]["mean"] for lam in lams]
        met = [best[lam]["met_delta"] for lam in lams]
        color = COLORS["imaml"] if act == "softplus" else "#8c3a00"
        axes[0].plot(lams, val, ls, color=color, lw=1)
        axes[1].plot(lams, met, ls, color=color, lw=1)
        ci = [best[lam]["val"]["ci"] for lam in lams]
        axes[0].errorbar(lams, val, yerr=ci, fmt="none", ecolor=color, elinewidth=0.8, capsize=2)
        for lam, v, m in zip(lams, val, met):
            face = color if m >= MIN_MET_DELTA else "white"
            axes[0].plot(lam, v, marker, color=color, mfc=face, ms=6)
            axes[1].plot(lam, m, marker, color=color, mfc=face, ms=6)
        axes[0].plot([], [], ls + marker, color=color, label=name)
    maml = select(records, "maml", 1, iterations=stage1)
    if maml:
        v = maml[0]["val"]
        axes[0].axhspan(v["mean"] - v["ci"], v["mean"] + v["ci"], color=COLORS["maml"], alpha=0.15, lw=0)
        axes[0].axhline(v["mean"], color=COLORS["maml"], lw=1.5,
                        label=f"best MAML ({label(maml[0]['config'])})")
    axes[0].set(xscale="log", yscale="log", xlabel=r"$\lambda$",
                ylabel="validation MSE after 10 iterations", title=f"(a) {stage1:,} meta-iterations each")
    axes[1].axhline(MIN_MET_DELTA, color="0.5", lw=1, ls="--")
    axes[1].set(xscale="log", xlabel=r"$\lambda$", ylim=(-0.03, 1.03),
                ylabel=rf"training solves with $\|\nabla G\| \leq {DELTA:g}$",
                title=r"(b) the inner solve meets $\delta$ (filled: $\geq$ " + f"{MIN_MET_DELTA:.0%})")
    axes[0].legend(fontsize=7)
    return axes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--out", default=str(STUDY_PATH), help="the JSON record (resumed if it exists)")
    parser.add_argument("--workers", type=int, default=2, help="processes, one torch thread each")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 configurations per family, 20 its")
    parser.add_argument("--stages", type=int, choices=(1, 2), default=2, help="1: stage 1 only")
    parser.add_argument("--pair", type=float, nargs=2, metavar="LAM",
                        help="only retrain the shipped arm's best configurations at two lams and compare "
                             "them task by task (kept in the record's 'pairs')")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.pair:
        torch.set_num_threads(1)
        study = load_study(out)
        result = paired_rerun(study, args.pair)
        study["pairs"] = [p for p in study.get("pairs", []) if p["labels"] != result["labels"]] + [result]
        out.write_text(json.dumps(study, indent=1) + "\n")
        print(result)
        return
    stage1, stage2 = (20, 40) if args.quick else (STAGE1_ITERATIONS, STAGE2_ITERATIONS)
    grids = {fam: grid[:2] for fam, grid in GRIDS.items()} if args.quick else GRIDS
    # the slowest family first, so that the two workers finish together
    configs = [{**c, "iterations": stage1} for fam in ("imaml-hf", "imaml-gd", "maml") for c in grids[fam]]
    study = _run_all(configs, out, args.workers)
    study = _run_all(softplus_gd_configs(study["records"], stage1), out, args.workers)
    if args.stages == 2:
        study = _run_all(stage2_configs(study["records"], stage1, stage2), out, args.workers)
    study["settings"] = {"seed": STUDY_SEED, "val_seed": VAL_SEED, "validation": VALIDATION, "meta": META,
                         "delta": DELTA, "cg_steps": CG_STEPS, "softplus_beta": SOFTPLUS_BETA,
                         "min_met_delta": MIN_MET_DELTA, "tail": TAIL, "stage1": stage1,
                         "stage2": stage2 if args.stages == 2 else None,
                         "torch": torch.__version__}
    out.write_text(json.dumps(study, indent=1) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    plot_study(study)[0].figure.savefig(out.with_suffix(".png"), dpi=110, bbox_inches="tight")
    for fam in GRIDS:
        best = select(study["records"], fam, 1, iterations=stage2 if args.stages == 2 else stage1)
        print(f"best {fam}: "
              + (f"{best[0]['label']}, val MSE {best[0]['val']['mean']:.3f}" if best else "none qualifies"))


if __name__ == "__main__":
    main()
