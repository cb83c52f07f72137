"""helpers: the library behind the course "Meta-learning with implicit gradients".

Task-batched sinusoid regression, a functional MLP, MAML / first-order MAML / iMAML meta-gradients
with their references, conjugate gradient, meta-training, evaluation, shipped weights, plots and the
widget machinery. Each notebook's own experiments, panels and checkers are in helpers.lessons.
"""

import os as _os

import torch as _torch

# The course's networks are tiny (1,761 parameters): intra-op threads only add synchronisation,
# and on a shared 2-core laptop they can make each step 10x slower. OMP_NUM_THREADS overrides.
if "OMP_NUM_THREADS" not in _os.environ:
    _torch.set_num_threads(1)

from .cg import CGResult, conjugate_gradient
from .evaluation import Paired, Summary, adaptation_errors, evaluate, mean_ci, paired, summarize
from .imaml import IMAMLInfo, exact_imaml_grad, imaml_grad, query_grad, task_hessians
from .inner import (
    Adaptation,
    ProximalSolution,
    adapt,
    hessian_free_solve,
    inner_solve,
    proximal_grad,
    proximal_objective,
    proximal_solve,
)
from .maml import MetaInfo, fomaml_grad, maml_grad
from .models import (
    MLP,
    SoftplusMLP,
    flatten,
    hvp_operator,
    mse,
    per_task,
    relative_error,
    task_norm,
    unflatten,
)
from .plots import COLORS, LABELS, style
from .pretrained import adapter, load_pretrained, pretrained_record
from .tasks import SinusoidTasks, TaskBatch, make_generator
from .training import METHODS, History, InnerSolveMonitor, meta_gradient, meta_train

__all__ = [
    "adapt", "Adaptation", "adaptation_errors", "adapter", "CGResult", "COLORS", "conjugate_gradient",
    "evaluate", "exact_imaml_grad", "flatten", "fomaml_grad", "hessian_free_solve", "History",
    "hvp_operator", "imaml_grad", "IMAMLInfo", "inner_solve", "InnerSolveMonitor", "LABELS",
    "load_pretrained", "make_generator", "maml_grad", "mean_ci", "meta_gradient", "meta_train",
    "MetaInfo", "METHODS", "MLP", "mse", "Paired", "paired", "per_task", "pretrained_record", "proximal_grad",
    "proximal_objective", "proximal_solve", "ProximalSolution", "query_grad", "relative_error",
    "SinusoidTasks", "SoftplusMLP", "style", "Summary", "summarize", "task_hessians", "task_norm",
    "TaskBatch", "unflatten",
]
