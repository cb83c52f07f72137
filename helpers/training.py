"""The outer loop (iMAML Algorithm 1 / MAML Algorithm 2): Adam on the averaged meta-gradient."""

import time
from dataclasses import dataclass, field

import torch
from tqdm.auto import trange

from .checks import check_positive
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


class InnerSolveMonitor:
    """An on_step callback for meta_train: how iMAML's inner solves ended over the last `tail` of
    `iterations` meta-iterations. summary(): the fraction of solves that met ||grad G_i|| <= delta
    (Algorithm 2's premise), quantiles of ||grad G_i||, gradient evaluations per solve."""

    def __init__(self, delta, iterations, tail=500):
        self.delta, self.first, self.norms, self.evals = delta, iterations - tail, [], []

    def __call__(self, iteration, info):
        if iteration >= self.first and hasattr(info, "inner_grad_norm"):
            self.norms.append(info.inner_grad_norm.double())
            self.evals.append(info.inner_grad_evals.double())

    def summary(self):
        if not self.norms:
            return None
        norms, evals = torch.cat(self.norms), torch.cat(self.evals)
        return {"delta": self.delta, "iterations": len(self.norms), "solves": norms.numel(),
                "met_delta": (norms <= self.delta).double().mean().item(),
                "grad_norm_quantiles": {str(q): norms.quantile(q).item() for q in (0.1, 0.5, 0.9, 0.99)},
                "grad_evals": evals.mean().item()}


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


def meta_train(method, model=None, params=None, *, iterations=1000, meta_batch=25, k_shot=10,
               k_query=10, outer_lr=1e-3, seed=0, tasks=SinusoidTasks(), dtype=torch.float32,
               progress=True, on_step=None, **method_kwargs):
    """Meta-train theta with Adam (Algorithm 1): sample T tasks (step 3), meta-gradient per task
    (steps 4-5, batched), average (step 7), update (step 8). Returns (model, params, History).

    method: one of METHODS, or a meta-gradient function f(model, params, batch, **method_kwargs)
    -> (grad, info) (e.g. iMAML with another inner solver). method_kwargs go to the meta-gradient,
    e.g. inner_steps=1, inner_lr=0.01 for MAML, or lam, inner_lr, inner_steps, delta, cg_steps for
    iMAML. on_step(iteration, info), if given, sees each meta-gradient's diagnostics. The same seed
    gives the same result.
    """
    if not callable(method) and method not in METHODS:
        raise ValueError(f"method must be one of {METHODS} or a function, got {method!r}")
    check_positive(iterations=iterations, meta_batch=meta_batch, outer_lr=outer_lr)
    g = make_generator(seed)
    model = model or MLP()
    if params is None:
        params = model.init(g, dtype=dtype)
    params = {k: v.detach().clone().requires_grad_() for k, v in params.items()}
    opt = torch.optim.Adam(params.values(), lr=outer_lr)
    history = History()
    t0 = time.perf_counter()
    bar = trange(iterations, desc=getattr(method, "__name__", method), disable=not progress, mininterval=0.5)
    for it in bar:
        batch = tasks.sample(meta_batch, k_shot, k_query, g, dtype)
        grad, info = meta_gradient(method, model, params, batch, **method_kwargs)
        if not torch.isfinite(torch.tensor(info.loss)):
            raise FloatingPointError(
                f"meta-training diverged at iteration {it}: lower outer_lr or the inner step size"
            )
        for k, p in params.items():
            p.grad = grad[k]
        opt.step()
        history.loss.append(info.loss)
        if on_step is not None:
            on_step(it, info)
        if it % 100 == 0:
            bar.set_postfix(loss=f"{info.loss:.3f}")
    history.seconds = time.perf_counter() - t0
    return model, {k: v.detach() for k, v in params.items()}, history
