"""Held-out evaluation: query MSE after n adaptation steps, with divergent tasks counted, not averaged.

A fixed gradient step diverges on a rare task whose curvature exceeds 2 / step (notebook 03 shows
one). Such a task would dominate a mean, so `summarize` leaves it out and counts it: a task has
diverged when its query MSE is not finite or above DIVERGED_MSE.
"""

import math
from dataclasses import asdict, dataclass

import torch

from .inner import Adaptation
from .models import mse
from .tasks import SinusoidTasks

# 8x the largest mean square of a task's targets (A^2 / 2 <= 12.5): no adapted fit is that bad
DIVERGED_MSE = 100.0
VAL_SEED = 2_718_281  # validation tasks: neither a training seed nor the test tasks (pretrain.EVAL_SEED)


def adaptation_errors(model, params, batch, steps, lr=0.01, lam=0.0, rule=None):
    """Query MSE per task after 0, 1, ..., steps adaptation iterations: shape (steps + 1, T).

    rule: a helpers.inner.Adaptation (default: Adaptation(lr, lam): gradient steps of size lr, or
    iMAML's gradient-descent solver when lam > 0). A diverged task's entries are inf or NaN.
    """
    phis = (rule or Adaptation(lr, lam)).path(model, params, batch, steps)
    return torch.stack([mse(model, phi, batch.x_te, batch.y_te) for phi in phis]).detach()


def mean_ci(values):
    """Mean and half-width of the 95% normal confidence interval."""
    values = values.double()
    return values.mean().item(), 1.96 * values.std().item() / math.sqrt(values.numel())


@dataclass(frozen=True)
class Summary:
    """Query MSE over n_tasks tasks: mean and 95% CI half-width over the tasks that did not diverge,
    the median over all of them, and how many diverged (non-finite or above DIVERGED_MSE)."""

    mean: float
    ci: float
    median: float
    diverged: int
    n_tasks: int

    def as_dict(self):
        return asdict(self)


def summarize(errors):
    """Summary of per-task query MSEs (T,)."""
    errors = errors.double().nan_to_num(nan=math.inf)
    diverged = errors > DIVERGED_MSE
    mean, ci = mean_ci(errors[~diverged]) if (~diverged).sum() > 1 else (math.nan, math.nan)
    return Summary(mean, ci, errors.median().item(), int(diverged.sum()), errors.numel())


@dataclass(frozen=True)
class Paired:
    """A paired comparison of two methods' query MSEs a and b on the same tasks: the mean of a - b
    and its 95% CI half-width, and on how many tasks a is lower (wins_a) or higher (wins_b), over
    the n tasks where neither diverged (`excluded` others)."""

    mean: float
    ci: float
    wins_a: int
    wins_b: int
    n: int
    excluded: int

    def __str__(self):
        return (f"{self.mean:+.3f} ± {self.ci:.3f} (lower on {self.wins_a} of {self.n} tasks, higher on "
                f"{self.wins_b}" + (f"; {self.excluded} diverged tasks left out)" if self.excluded else ")"))


def paired(a, b):
    """Paired comparison of per-task query MSEs a and b (T,) measured on the same tasks."""
    a, b = a.double(), b.double()
    kept = torch.isfinite(a) & torch.isfinite(b) & (a <= DIVERGED_MSE) & (b <= DIVERGED_MSE)
    mean, ci = mean_ci(a[kept] - b[kept])
    return Paired(mean, ci, int((a[kept] < b[kept]).sum()), int((a[kept] > b[kept]).sum()),
                  int(kept.sum()), int((~kept).sum()))


def evaluate(model, params, n_tasks=1000, k_shot=5, steps=(0, 1, 5, 10), lr=0.01, lam=0.0,
             k_query=100, seed=12345, tasks=SinusoidTasks(), rule=None):
    """{n: Summary} over n_tasks held-out tasks after n adaptation steps (rule as in adaptation_errors)."""
    dtype = next(iter(params.values())).dtype
    batch = tasks.sample(n_tasks, k_shot, k_query, seed, dtype)
    errors = adaptation_errors(model, params, batch, max(steps), lr, lam, rule)
    return {n: summarize(errors[n]) for n in steps}
