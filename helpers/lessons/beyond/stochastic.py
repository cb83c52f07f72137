"""iMAML with a stochastic inner loop, and the study that answers the talk's conjecture (slide 7).

Algorithm 2 with step 3 done by SGD: each inner step draws, per task, a mini-batch B of b of the K
support points and steps on an unbiased estimate of grad G_i (eq. 4):
    phi <- phi - alpha [ grad L_B(phi) + lam (phi - theta) ],      E_B[grad L_B] = grad L_tr.
b = K (batch_size=None) is gradient descent, the course's "gd" inner solver proximal_solve (with its
safeguard: a step that raises the objective it was computed on is rejected and halved); steps 4-5
(query gradient, CG on I + H/lam with the full support set) are unchanged. The shipped iMAML solves
step 3 with Newton-CG ("hessian_free") instead, which has no step size: the study compares the two
first-order solvers at the shipped theta and lambda, with a step alpha chosen from the curvature.

The study (several minutes on one core; the notebook only loads its result):

    python -m helpers.lessons.beyond.sgd_study          # writes helpers/weights/sgd_study.json
    python -m helpers.lessons.beyond.sgd_study --quick  # a short smoke run, written to /tmp

measures, over several seeds, (1) how fast each inner solver approaches phi* (steps and wall time),
(2) how accurate the resulting meta-gradient is against the dense reference exact_imaml_grad at
phi*, and (3) the query error after meta-training with each inner solver.
"""

import argparse
import json
import math
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from helpers.cg import conjugate_gradient
from helpers.checks import check_non_negative, check_positive
from helpers.evaluation import adaptation_errors, paired, summarize
from helpers.imaml import exact_imaml_grad, query_grad, task_hessians
from helpers.inner import (
    _as_batched,
    _check_finite,
    _lift,
    _where,
    hessian_free_solve,
    proximal_grad,
    proximal_objective,
    proximal_solve,
)
from helpers.models import flatten, hvp_operator, mse, task_norm, unflatten
from helpers.pretrained import WEIGHTS
from helpers.tasks import SinusoidTasks, make_generator
from helpers.training import meta_train

STUDY_PATH = WEIGHTS / "sgd_study.json"


# ---------------------------------------------------------------------------------------------
# The stochastic inner solver and the meta-gradient built on it
# ---------------------------------------------------------------------------------------------


def minibatch(x, y, batch_size, generator):
    """Per task, b of the K support points drawn without replacement: shapes (T, b, 1)."""
    idx = torch.rand(x.shape[:2], generator=generator).argsort(dim=1)[:, :batch_size]
    idx = idx.unsqueeze(-1)
    return x.gather(1, idx), y.gather(1, idx)


def _check_batch_size(batch_size, k):
    if batch_size is None:
        return None
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or not 1 <= batch_size <= k:
        raise ValueError(f"batch_size must be an integer in [1, K = {k}] or None (all K), got {batch_size!r}")
    return None if batch_size == k else batch_size


def inner_solve(model, params, x, y, lam, lr, steps, batch_size=None, generator=None, callback=None):
    """phi after `steps` iterations on G_i(phi) = L_tr(phi) + (lam/2)||phi - theta||^2 from theta.

    batch_size=None (or K): gradient descent. batch_size=b < K: SGD, each iteration on a fresh
    mini-batch of b support points per task (`generator` seeds the draws). As in the course's
    proximal_solve, an iteration whose step would increase the objective it was computed on (G_i
    on all points for GD, on the mini-batch for SGD) is rejected and that task's step size halved,
    so neither diverges; with b = K this is exactly proximal_solve(max_steps=steps, delta=0).
    callback(it, phi) is called for it = 0 .. steps (e.g. to record the distance to phi*); it is
    not part of the solver.
    """
    check_positive(lam=lam, lr=lr)
    check_non_negative(steps=steps)
    x, y, _ = _as_batched(params, x, y)
    b = _check_batch_size(batch_size, x.shape[1])
    gen = make_generator(generator)
    theta = {k: v.detach() for k, v in _lift(params, x.shape[0]).items()}
    phi = dict(theta)
    step_size = torch.full((x.shape[0],), float(lr), dtype=x.dtype)
    G = g = None
    for it in range(steps + 1):
        if callback is not None:
            callback(it, phi)
        if it == steps:
            break
        if b is None:  # GD: the gradient at phi is known from the previous iteration
            xb, yb = x, y
            if g is None:
                G, g = proximal_objective(model, phi, theta, x, y, lam)
        else:
            xb, yb = minibatch(x, y, b, gen)
            G, g = proximal_objective(model, phi, theta, xb, yb, lam)
        trial = {k: p - step_size.view(-1, *[1] * (p.dim() - 1)) * g[k] for k, p in phi.items()}
        if b is None:
            G_trial, g_trial = proximal_objective(model, trial, theta, x, y, lam)
        else:  # the value on the same mini-batch is enough: its gradient is not reused
            diff = {k: trial[k] - theta[k] for k in trial}
            G_trial = mse(model, trial, xb, yb) + 0.5 * lam * task_norm(diff).pow(2)
        accept = G_trial <= G + 16 * torch.finfo(G.dtype).eps * G.abs()
        step_size = torch.where(accept, step_size, step_size / 2)
        phi = _where(accept, trial, phi)
        if b is None:
            g, G = _where(accept, g_trial, g), torch.where(accept, G_trial, G)
    _check_finite(mse(model, phi, x, y), "the inner solve", f"lower the inner learning rate (lr={lr})")
    return phi


def implicit_grad_at(model, params, batch, phi, lam, cg_steps, cg_tol=0.0):
    """Algorithm 2, steps 4-5 at given task parameters phi: g_i = (I + H_i/lam)^-1 grad L_test_i(phi_i)
    by CG (H_i at phi_i on the full support set). Returns (meta-gradient dict, per-task g (T, P))."""
    _, v = query_grad(model, phi, batch.x_te, batch.y_te)
    hvp = hvp_operator(model, phi, batch.x_tr, batch.y_tr, params)
    cg = conjugate_gradient(lambda u: u + hvp(u) / lam, v, cg_steps, cg_tol)
    return unflatten(cg.x.mean(0), params), cg.x


@dataclass
class SGDInfo:
    """Diagnostics of one stochastic-inner-loop meta-gradient: mean query loss, phi."""

    loss: float
    phi: dict


def sgd_imaml_grad(model, params, batch, lam, inner_lr, inner_steps, cg_steps, batch_size=None,
                   generator=None):
    """The iMAML meta-gradient (Algorithm 2) with step 3 done by `inner_solve` (SGD if batch_size
    < K). With batch_size=None it equals imaml_grad(..., delta=0) (the same inner_steps GD steps)."""
    check_non_negative(cg_steps=cg_steps)
    phi = inner_solve(model, params, batch.x_tr, batch.y_tr, lam, inner_lr, inner_steps, batch_size,
                      generator)
    grad, _ = implicit_grad_at(model, params, batch, phi, lam, cg_steps)
    return grad, SGDInfo(mse(model, phi, batch.x_te, batch.y_te).mean().item(), phi)


def meta_train_stochastic(batch_size=None, *, iterations, seed, model=None, meta_batch=25, k_shot=10,
                          k_query=10, outer_lr=1e-3, lam=20.0, inner_lr=0.008, inner_steps=16, cg_steps=5,
                          tasks=SinusoidTasks(), progress=True):
    """helpers.training.meta_train with sgd_imaml_grad as the meta-gradient: the same
    initialisation and task stream for a given seed (so arms differ only in the inner solver),
    the mini-batches drawn from a second generator seeded by `seed`. model: the network (default
    meta_train's, the ReLU MLP; the study passes the shipped iMAML's SoftplusMLP). Returns
    (model, params, History).
    """
    g_batches = make_generator(seed + 1_000_003)

    def sgd_inner(model, params, batch):
        return sgd_imaml_grad(model, params, batch, lam, inner_lr, inner_steps, cg_steps, batch_size,
                              g_batches)

    sgd_inner.__name__ = f"iMAML, inner b={batch_size or k_shot}"
    return meta_train(sgd_inner, model, iterations=iterations, meta_batch=meta_batch, k_shot=k_shot,
                      k_query=k_query, outer_lr=outer_lr, seed=seed, tasks=tasks, progress=progress)


# ---------------------------------------------------------------------------------------------
# The study: python -m helpers.lessons.beyond.sgd_study
# ---------------------------------------------------------------------------------------------

EVAL_SEED = 20_191_208  # the held-out tasks of helpers.pretrain: no training seed draws them

CONFIG = {
    "seeds": [0, 1, 2, 3, 4],
    # lam, the network and the meta-training recipe are those of the shipped iMAML
    # (helpers/weights/imaml.json: a SoftplusMLP, beta 5, lam = 20; a test checks them).
    "lam": 20.0, "k_shot": 10, "k_query": 10,
    # (1)-(2) inner solvers at the shipped iMAML meta-parameters theta, in float64 so that the
    # reference phi* and the dense meta-gradient are not limited by rounding.
    # lr (alpha): the shipped iMAML solves with Newton-CG and has no step size. GD on G_i is stable
    # while alpha < 2 / (lam + lambda_max(H_i)). The shipped theta is sharp: lambda_max of H at theta
    # ranged over 3,070-5,790 on 40 tasks (median 4,230), so 2 / (lam + lambda_max) >= 3.4e-4 on all
    # of them: alpha = 3e-4, the largest round step stable for nearly every task (the safeguard
    # halves it on the others). Along directions of small curvature GD then contracts by only about
    # 1 - alpha * lam = 0.994 per step: hence 3,000 steps.
    # deltas: delta must lie well below the starting distance ||theta - phi*|| (median 0.07, from
    # 0.02 to 0.13 over 40 tasks) and well above the reference's own accuracy: 0.03, 0.01 and the
    # headline 0.003 (a test checks both bounds on the shipped study).
    # checkpoints: 16 steps, the meta-training budget below, then the end of the run.
    # model: imaml_cg5, the iMAML of the tuning study's configuration (the one shipped before the
    # plateau study: same network, lam and inner solver as the shipped iMAML, whose theta is sharper
    # still, lambda_max ~7,400, too sharp for any useful fixed step; helpers.lessons.explanation)
    "inner": {"model": "imaml_cg5", "n_tasks": 5, "lr": 3e-4, "steps": 3000, "batch_sizes": [10, 5, 2, 1],
              "checkpoints": [16, 3000], "deltas": [0.03, 0.01, 0.003], "delta": 0.003,
              "timing_tasks": 25, "timing_steps": 50, "timing_rounds": 7},
    # phi* twice: Newton-CG (hessian_free_solve, to ||grad G_i|| <= tol) and the course's
    # proximal_solve (GD, step lr halved on an increase) run for gd_steps; their disagreement is the
    # reference's accuracy.
    "reference": {"newton_steps": 50, "cg_steps": 50, "tol": 1e-12, "gd_steps": 20000},
    # (3) meta-training from scratch with the shipped iMAML recipe (outer_lr, meta_batch, lam, the
    # network), only the inner solver changed: inner_steps steps of size inner_lr. A fresh
    # initialisation is far flatter than the shipped theta, so its step is the one stable there,
    # 0.008 (2 / (lam + lambda_max) above it at initialisation; the safeguard halves it later).
    "meta": {"iterations": 400, "batch_sizes": [10, 5, 2], "meta_batch": 25, "outer_lr": 1e-3,
             "inner_lr": 0.008, "inner_steps": 16, "cg_steps": 5},
    # adaptation at test time with that iMAML's own rule (helpers.pretrained.adapter("imaml_cg5"):
    # Newton-CG on the proximal objective), the same for every arm
    "eval": {"n_tasks": 500, "k_shot": 10, "k_query": 100, "steps": 10, "rule": "imaml_cg5",
             "seed": EVAL_SEED},
}

QUICK = {"seeds": [0, 1], "inner": {"n_tasks": 2, "steps": 30, "checkpoints": [16, 30], "timing_tasks": 5,
                                    "timing_steps": 5, "timing_rounds": 2},
         "reference": {"gd_steps": 200}, "meta": {"iterations": 4}, "eval": {"n_tasks": 20}}


def _merge(base, extra):
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(base[k], v) if isinstance(v, dict) else v
    return out


def reference_solutions(model, theta, x, y, lam, lr, newton_steps, cg_steps, tol, gd_steps):
    """phi* two ways, flattened (T, P): Newton-CG (hessian_free_solve, run until ||grad G_i|| <= tol)
    and the course's proximal_solve (gradient descent of step lr, halved whenever G_i would rise)
    run for gd_steps. The softplus network's G_i is smooth and, at the shipped theta, strongly convex
    near phi*: both converge, and their gap measures how well phi* is pinned down."""
    first = hessian_free_solve(model, theta, x, y, lam, newton_steps, tol, cg_steps).phi
    second = proximal_solve(model, theta, x, y, lam, lr, gd_steps, 0.0).phi
    return flatten(first, 1), flatten(second, 1)


def _round(t, digits=4):
    return [float(f"{v:.{digits}g}") for v in torch.as_tensor(t).tolist()]


def _settled(dist, delta):
    """First step from which dist stays <= delta to the end (None if it never settles)."""
    above = (dist > delta).nonzero()
    step = 0 if above.numel() == 0 else above[-1].item() + 1
    return None if step >= dist.numel() else step


def _per_task_error(g, g_ref):
    return (g - g_ref).norm(dim=1) / g_ref.norm(dim=1)


def _time_solvers(c, model, theta32, lam, batch):
    """Seconds per inner step of each solver, float32 on a meta-batch of tasks. The solvers are
    timed in interleaved rounds so that a busy machine slows them alike; median over rounds."""
    times = {b: [] for b in c["batch_sizes"]}
    for r in range(c["timing_rounds"] + 1):
        for b in c["batch_sizes"]:
            t0 = time.perf_counter()
            inner_solve(model, theta32, batch.x_tr, batch.y_tr, lam, c["lr"], c["timing_steps"], b,
                        make_generator(r))
            if r:  # round 0 warms up
                times[b].append((time.perf_counter() - t0) / c["timing_steps"])
    full = []
    th = _lift(theta32, batch.n_tasks)
    for _ in range(c["timing_rounds"]):
        t0 = time.perf_counter()
        proximal_grad(model, th, th, batch.x_tr, batch.y_tr, lam)
        full.append(time.perf_counter() - t0)
    return {b: statistics.median(t) for b, t in times.items()}, statistics.median(full)


def _inner_study(cfg, theta64, theta32, model, seeds, bar):
    c, lam, r = cfg["inner"], cfg["lam"], cfg["reference"]
    tasks = SinusoidTasks()
    batches = [tasks.sample(c["n_tasks"], cfg["k_shot"], cfg["k_query"], s, torch.float64) for s in seeds]
    x = torch.cat([b.x_tr for b in batches])
    y = torch.cat([b.y_tr for b in batches])
    refs = reference_solutions(model, theta64, x, y, lam, c["lr"], r["newton_steps"], r["cg_steps"], r["tol"],
                               r["gd_steps"])
    bar.update(1)
    ref_gap = (refs[0] - refs[1]).norm(dim=1)
    out = {"reference_gap": {"median": ref_gap.median().item(), "max": ref_gap.max().item()},
           "well_posed": [], "reference_meta_grad_gap": [],
           "arms": {str(b): {"dist": [], "grad_norm": [], "settled": [], "meta_grad_error": []}
                    for b in c["batch_sizes"]}}
    for i, (seed, batch) in enumerate(zip(seeds, batches, strict=True)):
        sl = slice(i * c["n_tasks"], (i + 1) * c["n_tasks"])
        phi_star = unflatten(refs[0][sl], theta64)
        _, g_ref = exact_imaml_grad(model, theta64, batch, lam, 1.0, 0, 0.0, phi=phi_star)
        # how much the meta-gradient moves between the two reference solutions: the error floor
        phi_alt = unflatten(refs[1][sl], theta64)
        _, g_alt = exact_imaml_grad(model, theta64, batch, lam, 1.0, 0, 0.0, phi=phi_alt)
        out["reference_meta_grad_gap"].append(_round(_per_task_error(g_alt, g_ref)))
        # iMAML's meta-gradient assumes I + H_i/lam is positive definite at phi* (G_i strongly convex
        # there); H_i can have negative eigenvalues, so count where it holds.
        H = task_hessians(model, phi_star, batch.x_tr, batch.y_tr)
        out["well_posed"].append(((1 + torch.linalg.eigvalsh(H)[:, 0] / lam) > 0).tolist())
        th = _lift(theta64, c["n_tasks"])
        for b in c["batch_sizes"]:
            dist, gn, err = [], [], []

            def record(step, phi, batch=batch, th=th, dist=dist, gn=gn, err=err, sl=sl, g_ref=g_ref):
                dist.append((flatten(phi, 1) - refs[0][sl]).norm(dim=1))
                gn.append(task_norm(proximal_grad(model, phi, th, batch.x_tr, batch.y_tr, lam)))
                if step in c["checkpoints"]:
                    _, g = exact_imaml_grad(model, theta64, batch, lam, 1.0, 0, 0.0, phi=phi)
                    err.append(_round(_per_task_error(g, g_ref)))

            inner_solve(model, theta64, batch.x_tr, batch.y_tr, lam, c["lr"], c["steps"], b,
                        make_generator(10_000 * seed + b), record)
            dist, gn = torch.stack(dist).T, torch.stack(gn).T  # (T, S + 1)
            arm = out["arms"][str(b)]
            arm["dist"].append(_round(dist.median(0).values))  # median over the tasks, per step
            arm["grad_norm"].append(_round(gn.median(0).values))
            arm["settled"].append({str(d): [_settled(row, d) for row in dist] for d in c["deltas"]})
            arm["meta_grad_error"].append(err)  # [checkpoint][task]
        bar.update(1)
    tb = tasks.sample(c["timing_tasks"], cfg["k_shot"], cfg["k_query"], seeds[0])
    per_step, full = _time_solvers(c, model, theta32, lam, tb)
    for b, sec in per_step.items():
        out["arms"][str(b)]["seconds_per_step"] = sec
    out["seconds_per_full_gradient"] = full
    bar.update(1)
    return out


def eval_rule(cfg):
    """The test-time adaptation rule of the study's evaluation: the named shipped model's own
    (helpers.pretrained.adapter(name).rule), the same for every arm."""
    from helpers.pretrained import adapter

    return adapter(cfg["eval"]["rule"]).rule


def _meta_study(cfg, seeds, model, bar):
    """Meta-train `model` (its architecture: fresh parameters per seed) with each inner solver; the
    query MSE after adaptation on held-out tasks, and per seed a paired comparison with GD's on the
    same tasks (helpers.evaluation.paired: the mean difference and its 95% CI)."""
    m, e = cfg["meta"], cfg["eval"]
    rule = eval_rule(cfg)
    gd = str(cfg["k_shot"])
    out = {str(b): {"final_mse": [], "final_ci": [], "seconds": [], "curve": [], "paired_vs_gd": []}
           for b in m["batch_sizes"]}
    held_out = SinusoidTasks().sample(e["n_tasks"], e["k_shot"], e["k_query"], e["seed"])
    order = sorted(m["batch_sizes"], key=lambda b: str(b) != gd)  # GD first: the others pair with it
    for seed in seeds:
        errors = {}
        for b in order:
            net, params, hist = meta_train_stochastic(
                b, iterations=m["iterations"], seed=seed, model=model, meta_batch=m["meta_batch"],
                k_shot=cfg["k_shot"], k_query=cfg["k_query"], outer_lr=m["outer_lr"], lam=cfg["lam"],
                inner_lr=m["inner_lr"], inner_steps=m["inner_steps"], cg_steps=m["cg_steps"], progress=False)
            errors[str(b)] = adaptation_errors(net, params, held_out, e["steps"], rule=rule)[e["steps"]]
            res = summarize(errors[str(b)])
            arm = out[str(b)]
            arm["final_mse"].append(res.mean)
            arm["final_ci"].append(res.ci)
            pair = None
            if str(b) != gd and gd in errors:
                d = paired(errors[str(b)], errors[gd])
                pair = {"mean": d.mean, "ci": d.ci, "lower": d.wins_a, "higher": d.wins_b, "n": d.n}
            arm["paired_vs_gd"].append(pair)
            arm["seconds"].append(hist.seconds)
            block = max(1, len(hist.loss) // 20)
            arm["curve"].append([statistics.fmean(hist.loss[i:i + block])
                                 for i in range(0, len(hist.loss) - block + 1, block)])
            bar.update(1)
    return out


def run_study(config=CONFIG, theta=None, model=None, progress=True):
    """Run the whole study (module docstring); returns a JSON-ready dict. theta/model default to the
    shipped iMAML meta-parameters and network; meta-training from scratch uses the same network."""
    shipped = model is None
    if shipped:
        from helpers.pretrained import load_pretrained, pretrained_record
        model, theta = load_pretrained(config["inner"]["model"])
    seeds = list(config["seeds"])
    if len(seeds) < 1:
        raise ValueError("config['seeds'] must list at least one seed")
    total = 2 + len(seeds) + len(seeds) * len(config["meta"]["batch_sizes"])
    t0, cpu0 = time.perf_counter(), time.process_time()
    with tqdm(total=total, desc="SGD study", disable=not progress) as bar:
        inner = _inner_study(config, {k: v.double() for k, v in theta.items()},
                             {k: v.float() for k, v in theta.items()}, model, seeds, bar)
        meta = _meta_study(config, seeds, model, bar)
    return {
        "config": config, "inner": inner, "meta": meta, "eval_rule": eval_rule(config).as_dict(),
        "seconds": round(time.perf_counter() - t0, 1),
        "cpu_seconds": round(time.process_time() - cpu0, 1),  # on one core: torch uses 1 thread
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch thread(s), "
                   f"torch {torch.__version__}",
        "command": "python -m helpers.lessons.beyond.sgd_study",
        # which shipped weights theta came from: a retrained model needs a new study
        "theta_sha256": pretrained_record(config["inner"]["model"])["sha256"] if shipped else None,
    }


def load_study(path=None):
    """The study's JSON (written by `python -m helpers.lessons.beyond.sgd_study`; default STUDY_PATH)."""
    path = Path(path or STUDY_PATH)
    if not path.exists():
        raise ValueError(f"no study at {path}: run `python -m helpers.lessons.beyond.sgd_study` "
                         "to produce it")
    return json.loads(path.read_text())


def arm_label(batch_size, k_shot):
    """'GD (all 10 points)' or 'SGD, mini-batches of b'."""
    b = int(batch_size)
    return f"GD (all {k_shot} points)" if b == k_shot else f"SGD, mini-batches of {b}"


def _short(batch_size, k_shot):
    return "GD" if int(batch_size) == k_shot else f"b = {batch_size}"


def _median(values):
    """Median of numbers where None means 'never' (+inf)."""
    return statistics.median([math.inf if v is None else v for v in values])


def summarise(study, delta=None):
    """The study's numbers per inner solver b (median over seeds unless a list per seed):
    steps / seconds to settle within delta of phi* (per seed the median over tasks; inf when most
    tasks never settle), the fraction of tasks that settle, seconds per step, the distance to phi*
    and ||grad G|| left over the last 20% of the steps (the floor), the per-task meta-gradient
    error at each checkpoint (all tasks, and the well-posed ones); per meta-training arm: the final
    query MSE per seed and the seconds per meta-iteration."""
    cfg = study["config"]
    c = cfg["inner"]
    delta = c["delta"] if delta is None else delta
    if delta not in c["deltas"]:
        raise ValueError(f"delta must be one of the study's deltas {c['deltas']}, got {delta}")
    tail = max(1, c["steps"] // 5)
    well = [w for seed in study["inner"]["well_posed"] for w in seed]
    inner = {}
    for b, arm in study["inner"]["arms"].items():
        steps = [_median(st[str(delta)]) for st in arm["settled"]]
        errors = [[e for seed in arm["meta_grad_error"] for e in seed[j]]
                  for j in range(len(c["checkpoints"]))]
        inner[b] = {
            "label": arm_label(b, cfg["k_shot"]),
            "steps": steps,
            "seconds": [st * arm["seconds_per_step"] for st in steps],
            "reached": [sum(v is not None for v in st[str(delta)]) / len(st[str(delta)])
                        for st in arm["settled"]],
            "seconds_per_step": arm["seconds_per_step"],
            "dist_floor": statistics.median(statistics.fmean(d[-tail:]) for d in arm["dist"]),
            "grad_floor": statistics.median(statistics.fmean(g[-tail:]) for g in arm["grad_norm"]),
            "meta_grad_error": [statistics.median(e) for e in errors],
            "meta_grad_error_well_posed": [statistics.median([v for v, w in zip(e, well, strict=True) if w] or
                                                             [math.nan]) for e in errors],
        }
    meta = {b: {"label": arm_label(b, cfg["k_shot"]), "final_mse": arm["final_mse"],
                "seconds": arm["seconds"],
                "seconds_per_iteration": statistics.median(arm["seconds"]) / cfg["meta"]["iterations"]}
            for b, arm in study["meta"].items()}
    gd_dist = study["inner"]["arms"][str(cfg["k_shot"])]["dist"]
    return {"delta": delta, "gd": str(cfg["k_shot"]), "inner": inner, "meta": meta,
            "well_posed_fraction": sum(well) / len(well),
            "start_dist": statistics.median(d[0] for d in gd_dist),
            "reference_gap": study["inner"]["reference_gap"]["median"],
            "reference_meta_grad_gap": statistics.median(
                e for seed in study["inner"]["reference_meta_grad_gap"] for e in seed)}


def verdict(study, delta=None):
    """The data's answer to "an SGD inner loop speeds convergence", by this rule (paired by seed,
    which fixes the tasks): 'supported' if some mini-batch size settles within delta of phi* in less
    wall time than GD in every seed and does not end meta-training with a higher query MSE than GD
    in every seed; 'not supported' if every mini-batch size is faster than GD in no seed, or ends
    with a higher MSE in every seed; 'mixed' otherwise.
    Returns (word, {b: (seeds where faster, seeds where the MSE is higher, seeds)})."""
    s = summarise(study, delta)
    gd_in, gd_meta = s["inner"][s["gd"]], s["meta"].get(s["gd"])
    counts = {}
    for b, arm in s["inner"].items():
        if b == s["gd"]:
            continue
        faster = sum(t < g for t, g in zip(arm["seconds"], gd_in["seconds"], strict=True))
        worse = 0
        if b in s["meta"] and gd_meta is not None:
            worse = sum(m > g for m, g in zip(s["meta"][b]["final_mse"], gd_meta["final_mse"], strict=True))
        counts[b] = (faster, worse, len(arm["seconds"]))
    if any(f == n and (b not in s["meta"] or w < n) for b, (f, w, n) in counts.items()):
        return "supported", counts
    if all(f == 0 or (b in s["meta"] and w == n) for b, (f, w, n) in counts.items()):
        return "not supported", counts
    return "mixed", counts


def _fmt_steps(v):
    return "never (within the run)" if math.isinf(v) else f"{v:.0f}"


def delta_table(study):
    """One line per delta of the study: the median steps for each solver to settle within it."""
    k = study["config"]["k_shot"]
    lines = []
    for delta in study["config"]["inner"]["deltas"]:
        s = summarise(study, delta)
        lines.append(f"delta = {delta}: " + ", ".join(
            f"{_short(b, k)} {_fmt_steps(_median(arm['steps']))}" for b, arm in s["inner"].items()))
    return "\n".join(lines)


def conclusion(study, delta=None):
    """The notebook's stated answer to the talk's conjecture; every number comes from the study."""
    s = summarise(study, delta)
    word, counts = verdict(study, delta)
    cfg = study["config"]
    k, gd, n = cfg["k_shot"], s["gd"], len(cfg["seeds"])
    sgd = [b for b in s["inner"] if b != gd]
    gi = s["inner"][gd]
    cheapest = min(sgd, key=lambda b: s["inner"][b]["seconds_per_step"])
    saving = 1 - s["inner"][cheapest]["seconds_per_step"] / gi["seconds_per_step"]
    sentence = {"supported": "SUPPORTED: an SGD inner loop was faster here",
                "not supported": "NOT SUPPORTED: an SGD inner loop did not speed convergence here",
                "mixed": "MIXED: an SGD inner loop was faster in some seeds only"}[word]
    cps = " / ".join(str(c) for c in cfg["inner"]["checkpoints"])
    lines = [
        f"Over {n} seeds the conjecture is {sentence}.",
        f"(1) Steps to settle within delta = {s['delta']} of phi* (theta starts {s['start_dist']:.2f} away; "
        f"the reference is good to {s['reference_gap']:.0e}; median over tasks and seeds): GD "
        f"{_fmt_steps(_median(gi['steps']))}; " + "; ".join(
            f"b = {b}: {_fmt_steps(_median(s['inner'][b]['steps']))}, faster than GD in "
            f"{counts[b][0]} of {n} seeds" for b in sgd) + ".",
        "A step costs " + ", ".join(
            f"{1e3 * s['inner'][b]['seconds_per_step']:.2f} ms ({_short(b, k)})" for b in s["inner"])
        + (f": the cheapest mini-batch step saves {100 * saving:.0f}% of a GD step" if saving > 0 else
           ": no mini-batch step is cheaper than a GD step")
        + "; the distance left to phi* over the last fifth of the run: " + ", ".join(
            f"{s['inner'][b]['dist_floor']:.2g} ({_short(b, k)})" for b in s["inner"])
        + " (the reference phi* is Newton-CG's).",
        f"(2) Meta-gradient error vs the dense reference at phi* after {cps} inner steps (median over "
        "tasks): " + ", ".join(
            " / ".join(f"{e:.2g}" for e in s["inner"][b]["meta_grad_error"]) + f" ({_short(b, k)})"
            for b in s["inner"]) + f"; the two reference solutions themselves give meta-gradients "
        f"{s['reference_meta_grad_gap']:.1g} apart.",
    ]
    if s["meta"]:
        lines.append(
            f"(3) After {cfg['meta']['iterations']} meta-iterations, query MSE (median over seeds): "
            + ", ".join(f"{statistics.median(m['final_mse']):.2f} ({_short(b, k)})"
                        for b, m in s["meta"].items())
            + "; higher than GD's in " + ", ".join(
                f"{counts[b][1]} of {n} seeds (b = {b})" for b in sgd if b in s["meta"]) + ".")
        pairs = paired_table(study)
        if pairs:
            lines.append(
                "Paired on the same held-out tasks (query MSE minus GD's, mean ± 95% CI, per seed): "
                + "; ".join(
                    f"b = {b}: " + ", ".join(f"{m:+.3f} ± {ci:.3f}" for m, ci, _ in rows)
                    + f" (beyond the CI in {sum(sig for *_, sig in rows)} of {len(rows)})"
                    for b, rows in pairs.items()) + ".")
    return "\n".join(lines)


def paired_table(study):
    """{b: [(mean difference to GD, CI half-width, whether |mean| > CI), per seed]} for each
    mini-batch arm of the meta-training study that carries paired comparisons (helpers.paired)."""
    gd = str(study["config"]["k_shot"])
    out = {}
    for b, arm in study["meta"].items():
        rows = [p for p in arm.get("paired_vs_gd", []) if p is not None]
        if b != gd and rows:
            out[b] = [(p["mean"], p["ci"], abs(p["mean"]) > p["ci"]) for p in rows]
    return out


def _arm_style(b, k_shot):
    """GD in the iMAML colour, solid; mini-batches in lighter shades of it, dashed to dotted."""
    from matplotlib.colors import to_rgb

    from helpers.plots import COLORS

    order = {k_shot: 0, 5: 1, 2: 2, 1: 3}.get(int(b), 3)
    base = to_rgb(COLORS["imaml"])
    shade = tuple(c + (1 - c) * 0.22 * order for c in base)
    return {"color": shade, "ls": ["-", "--", "-.", ":"][order], "lw": 2.2 - 0.3 * order}


def plot_study(study, delta=None):
    """The study's figure: top, the inner solve over steps and wall time (median over tasks; line:
    median over seeds, band: min to max over seeds) and ||grad G|| over steps; bottom, the
    meta-gradient error per task, the meta-training curves and the final query MSE per seed."""
    import matplotlib.pyplot as plt

    s = summarise(study, delta)
    cfg = study["config"]
    c, k = cfg["inner"], cfg["k_shot"]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.2))
    steps = torch.arange(c["steps"] + 1)
    for b, arm in study["inner"]["arms"].items():
        style = _arm_style(b, k)
        ms = steps * 1e3 * arm["seconds_per_step"]
        panels = ((axes[0, 0], "dist", steps), (axes[0, 1], "dist", ms), (axes[0, 2], "grad_norm", steps))
        for ax, key, x in panels:
            runs = torch.tensor(arm[key])
            ax.plot(x, runs.median(0).values, label=arm_label(b, k), **style)
            ax.fill_between(x, runs.min(0).values, runs.max(0).values, color=style["color"], alpha=0.1, lw=0)
    for ax in axes[0, :2]:
        # Below the reference's own accuracy distances mean nothing: grey that region out. Far below
        # the smallest delta they do not matter either: cut the axis at the higher of the two.
        low = max(s["reference_gap"] / 3, min(c["deltas"]) / 1000)
        ax.set_ylim(low, None)
        if s["reference_gap"] > low:
            ax.axhspan(low, s["reference_gap"], color="0.85", lw=0, zorder=0)
            ax.text(ax.get_xlim()[0], s["reference_gap"], "  not resolved: the reference's accuracy",
                    va="top",
                    fontsize=7, color="0.35")
        ax.axhline(s["delta"], color="k", lw=0.8, ls=(0, (4, 4)))
        ax.text(ax.get_xlim()[1], s["delta"], f"  delta = {s['delta']}", va="bottom", ha="right", fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel(r"$\|\phi - \phi^*\|$ (median over tasks)")
    axes[0, 0].set_xlabel("inner step")
    axes[0, 1].set_xlabel("wall time of the inner solve (ms, 25 tasks, float32)")
    axes[0, 2].set_yscale("log")
    axes[0, 2].set_xlabel("inner step")
    axes[0, 2].set_ylabel(r"$\|\nabla G_i(\phi)\|$ (median over tasks)")
    axes[0, 0].legend(fontsize=8)
    titles = ["(a) distance to $\\phi^*$ per step", "(b) ... per wall time", "(c) the stopping proxy",
              "(d) meta-gradient accuracy", "(e) meta-training", "(f) after meta-training"]
    for ax, title in zip(axes.flat, titles, strict=True):
        ax.set_title(title, fontsize=10, loc="left")

    ax = axes[1, 0]
    arms = list(study["inner"]["arms"])
    for j in range(len(c["checkpoints"])):
        for i, b in enumerate(arms):
            errs = [e for seed in study["inner"]["arms"][b]["meta_grad_error"] for e in seed[j]]
            xpos = j * (len(arms) + 1) + i
            ax.plot([xpos] * len(errs), errs, "o", ms=3, alpha=0.5, color=_arm_style(b, k)["color"])
            ax.plot([xpos - 0.35, xpos + 0.35], [statistics.median(errs)] * 2, color="k", lw=1.5)
    ax.set_xticks([j * (len(arms) + 1) + (len(arms) - 1) / 2 for j in range(len(c["checkpoints"]))],
                  [f"after {cp} steps" for cp in c["checkpoints"]])
    ax.set_yscale("log")
    floor = s["reference_meta_grad_gap"]
    ax.set_ylim(floor / 10, None)
    ax.axhspan(floor / 10, floor, color="0.85", lw=0, zorder=0)
    ax.text(ax.get_xlim()[0], floor, "  the two references differ by this", va="top", fontsize=7,
            color="0.35")
    ax.set_ylabel("meta-gradient error per task\n(vs exact_imaml_grad at $\\phi^*$)")
    for b, arm in study["meta"].items():
        style = _arm_style(b, k)
        curves = torch.tensor(arm["curve"])
        it = torch.linspace(0, cfg["meta"]["iterations"], curves.shape[1] + 1)[1:]
        axes[1, 1].plot(it, curves.median(0).values, label=arm_label(b, k), **style)
        axes[1, 1].fill_between(it, curves.min(0).values, curves.max(0).values, color=style["color"],
                                alpha=0.15, lw=0)
    axes[1, 1].set_xlabel("meta-iteration")
    axes[1, 1].set_ylabel("training query loss (block mean)")
    axes[1, 1].legend(fontsize=8)
    ax = axes[1, 2]
    meta_arms = list(study["meta"])
    finals = torch.tensor([study["meta"][b]["final_mse"] for b in meta_arms])  # (arms, seeds)
    for seed in range(finals.shape[1]):
        ax.plot(range(len(meta_arms)), finals[:, seed], color="0.6", lw=0.8, zorder=1)
    for i, b in enumerate(meta_arms):
        ax.plot([i] * finals.shape[1], finals[i], "o", color=_arm_style(b, k)["color"], zorder=2)
    ax.set_xticks(range(len(meta_arms)), [_short(b, k) for b in meta_arms])
    ax.set_xlim(-0.5, len(meta_arms) - 0.5)
    ax.set_ylabel(f"query MSE after meta-training\n({cfg['eval']['steps']} adaptation steps), per seed")
    fig.tight_layout()
    return fig


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--out", default=None, help=f"output JSON (default {STUDY_PATH}; --quick: /tmp)")
    parser.add_argument("--quick", action="store_true", help="a tiny configuration (smoke test)")
    args = parser.parse_args(argv)
    config = _merge(CONFIG, QUICK) if args.quick else CONFIG
    out = Path(args.out or ("/tmp/sgd_study_quick.json" if args.quick else STUDY_PATH))
    study = run_study(config)
    if args.quick:
        study["command"] += " --quick"
    out.write_text(json.dumps(study) + "\n")
    print(f"wrote {out} in {study['seconds']:.0f} s ({study['cpu_seconds']:.0f} s of CPU)")
    print(conclusion(study))
