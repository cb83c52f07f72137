"""The outer loop (iMAML Algorithm 1 / MAML Algorithm 2): Adam on the averaged meta-gradient."""

import math
import time
from dataclasses import dataclass, field

import torch
from tqdm.auto import trange

from .checks import check_positive
from .evaluation import VAL_SEED, adaptation_errors, summarize
from .imaml import imaml_grad
from .maml import maml_grad
from .models import MLP
from .tasks import SinusoidTasks, make_generator

METHODS = ("maml", "fomaml", "imaml")


@dataclass
class History:
    """Per-iteration mean query loss after adaptation, and the wall time of the run."""

    loss: list = field(default_factory=list)
    seconds: float = 0.0


QUANTILES = (0.1, 0.5, 0.9, 0.99)


class InnerSolveMonitor:
    """An on_step callback for meta_train: how iMAML's two solves ended over the last `tail` of
    `iterations` meta-iterations (Algorithm 2's premises). summary(): the fraction of inner solves
    that met ||grad G_i|| <= delta and quantiles of ||grad G_i||, gradient evaluations per solve; the
    fraction of meta-gradient CG solves that met delta' (relative residual ||A g_i - v_i|| / ||v_i||)
    and its quantiles."""

    def __init__(self, delta, iterations, tail=500, delta_prime=None):
        self.delta, self.delta_prime, self.first = delta, delta_prime, iterations - tail
        self.norms, self.evals, self.residuals = [], [], []

    def __call__(self, iteration, info):
        if iteration >= self.first and hasattr(info, "inner_grad_norm"):
            self.norms.append(info.inner_grad_norm.double())
            self.evals.append(info.inner_grad_evals.double())
            self.residuals.append(info.cg_relative_residual.double())

    def summary(self):
        if not self.norms:
            return None
        norms, evals, residuals = torch.cat(self.norms), torch.cat(self.evals), torch.cat(self.residuals)
        out = {"delta": self.delta, "iterations": len(self.norms), "solves": norms.numel(),
               "met_delta": (norms <= self.delta).double().mean().item(),
               "grad_norm_quantiles": {str(q): norms.quantile(q).item() for q in QUANTILES},
               "grad_evals": evals.mean().item(),
               "cg_relative_residual_quantiles": {str(q): residuals.quantile(q).item() for q in QUANTILES}}
        if self.delta_prime:
            out.update(delta_prime=self.delta_prime,
                       met_delta_prime=(residuals <= self.delta_prime).double().mean().item())
        return out


class LearningCurve:
    """A checkpoint callback for meta_train: every `every` meta-iterations (and at the start), the
    validation query MSE of theta after `steps` iterations of `rule` (the model's own adaptation,
    a helpers.inner.Adaptation) on fixed validation tasks (VAL_SEED: neither a training seed nor the
    test tasks) at each shot count, with the training seconds so far (evaluation time left out).

    points: [{"iteration", "seconds", "K=5": Summary dict, ...}]. It keeps the parameters of the
    checkpoint with the lowest mean validation MSE over the shot counts (best_params, best_iteration):
    one selection rule for every method."""

    def __init__(self, rule, every=1000, n_tasks=500, k_shots=(5, 10, 20), steps=10, k_query=100,
                 seed=VAL_SEED):
        check_positive(every=every, n_tasks=n_tasks)
        self.rule, self.every, self.steps = rule, every, steps
        self.spec = (n_tasks, k_shots, k_query, seed)
        self.points, self.best_params, self.best_iteration, self._best = [], None, None, math.inf

    def __call__(self, model, params, iteration, seconds):
        n_tasks, k_shots, k_query, seed = self.spec
        dtype = next(iter(params.values())).dtype
        point = {"iteration": iteration, "seconds": round(seconds, 2)}
        for k in k_shots:
            batch = SinusoidTasks().sample(n_tasks, k, k_query, seed, dtype)
            errors = adaptation_errors(model, params, batch, self.steps, rule=self.rule)
            point[f"K={k}"] = summarize(errors[-1]).as_dict()
        self.points.append(point)
        score = sum(point[f"K={k}"]["mean"] for k in k_shots) / len(k_shots)
        if score < self._best:  # NaN (every task diverged) never wins
            self._best, self.best_iteration = score, iteration
            self.best_params = {k: v.detach().clone() for k, v in params.items()}

    def as_dict(self):
        n_tasks, k_shots, k_query, seed = self.spec
        return {"every": self.every, "n_tasks": n_tasks, "k_query": k_query, "seed": seed,
                "steps": self.steps, "adaptation": self.rule.describe(),
                "best_iteration": self.best_iteration, "points": self.points}


def meta_gradient(method, model, params, batch, **kwargs):
    """Dispatch to maml_grad / maml_grad(first_order=True) / imaml_grad, or call `method` itself
    when it is a function f(model, params, batch, **kwargs); returns (grad, info)."""
    if callable(method):
        return method(model, params, batch, **kwargs)
    if method == "maml":
        return maml_grad(model, params, batch, **kwargs)
    if method == "fomaml":
        return maml_grad(model, params, batch, first_order=True, **kwargs)
    if method == "imaml":
        return imaml_grad(model, params, batch, **kwargs)
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


class MetaLearner:
    """One meta-learner's training state, advanced one meta-iteration at a time by step() (Algorithm
    1, steps 3-8): sample T tasks from its own generator, meta-gradient, Adam. meta_train runs it;
    the race panel (helpers.lessons.takeaways.training_race) steps several in turn."""

    def __init__(self, method, model, params, generator, *, meta_batch=25, k_shot=10, k_query=10,
                 outer_lr=1e-3, schedule_iterations=None, tasks=SinusoidTasks(), dtype=torch.float32,
                 **method_kwargs):
        if not callable(method) and method not in METHODS:
            raise ValueError(f"method must be one of {METHODS} or a function, got {method!r}")
        check_positive(meta_batch=meta_batch, outer_lr=outer_lr)
        self.method, self.model, self.generator, self.method_kwargs = method, model, generator, method_kwargs
        self.sample = (meta_batch, k_shot, k_query)
        self.tasks, self.dtype = tasks, dtype
        self.params = {k: v.detach().clone().requires_grad_() for k, v in params.items()}
        self.opt = torch.optim.Adam(self.params.values(), lr=outer_lr)
        self.schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, schedule_iterations)
                         if schedule_iterations else None)
        self.iteration = 0

    def step(self):
        """One meta-iteration; returns the meta-gradient's info. FloatingPointError if the
        meta-loss is not finite (theta is then left as it was)."""
        batch = self.tasks.sample(*self.sample, self.generator, self.dtype)
        grad, info = meta_gradient(self.method, self.model, self.params, batch, **self.method_kwargs)
        if not math.isfinite(info.loss):
            raise FloatingPointError(f"meta-training diverged at iteration {self.iteration}: lower "
                                     "outer_lr or the inner step size")
        for k, p in self.params.items():
            p.grad = grad[k]
        self.opt.step()
        if self.schedule is not None:
            self.schedule.step()
        self.iteration += 1
        return info

    def theta(self):
        return {k: v.detach() for k, v in self.params.items()}


def meta_train(method, model=None, params=None, *, iterations=1000, meta_batch=25, k_shot=10,
               k_query=10, outer_lr=1e-3, lr_decay=None, seed=0, tasks=SinusoidTasks(), dtype=torch.float32,
               progress=True, on_step=None, curve=None, **method_kwargs):
    """Meta-train theta with Adam (Algorithm 1): sample T tasks (step 3), meta-gradient per task
    (steps 4-5, batched), average (step 7), update (step 8). Returns (model, params, History).

    method: one of METHODS, or a meta-gradient function f(model, params, batch, **method_kwargs)
    -> (grad, info) (e.g. iMAML with another inner solver). method_kwargs go to the meta-gradient,
    e.g. inner_steps=1, inner_lr=0.01 for MAML, or lam, inner_lr, inner_steps, delta, cg_steps for
    iMAML. lr_decay="cosine" anneals Adam's step from outer_lr to 0 over the run. on_step(iteration,
    info), if given, sees each meta-gradient's diagnostics; curve(model, params, iteration, seconds)
    (a LearningCurve) is called at the start and every curve.every iterations, its time not counted
    in History.seconds. The same seed gives the same result.
    """
    if lr_decay not in (None, "cosine"):
        raise ValueError(f"lr_decay must be None or 'cosine', got {lr_decay!r}")
    check_positive(iterations=iterations)
    g = make_generator(seed)
    model = model or MLP()
    if params is None:
        params = model.init(g, dtype=dtype)
    learner = MetaLearner(method, model, params, g, meta_batch=meta_batch, k_shot=k_shot, k_query=k_query,
                          outer_lr=outer_lr, schedule_iterations=iterations if lr_decay else None,
                          tasks=tasks, dtype=dtype, **method_kwargs)
    history = History()
    paused = 0.0  # seconds spent in the learning curve's evaluations

    def checkpoint(done):
        nonlocal paused
        start = time.perf_counter()
        curve(model, learner.theta(), done, start - t0 - paused)
        paused += time.perf_counter() - start

    t0 = time.perf_counter()
    if curve is not None:
        checkpoint(0)
    bar = trange(iterations, desc=getattr(method, "__name__", method), disable=not progress, mininterval=0.5)
    for it in bar:
        info = learner.step()
        history.loss.append(info.loss)
        if on_step is not None:
            on_step(it, info)
        if curve is not None and (it + 1) % curve.every == 0:
            checkpoint(it + 1)
        if it % 100 == 0:
            bar.set_postfix(loss=f"{info.loss:.3f}")
    history.seconds = time.perf_counter() - t0 - paused
    return model, learner.theta(), history
