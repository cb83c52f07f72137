"""helpers: the library behind the course "Meta-learning with implicit gradients".

Task-batched sinusoid regression, a functional MLP, MAML / first-order MAML / iMAML meta-gradients
with their references, conjugate gradient, meta-training, evaluation, plots and widget panels.
"""

import os as _os

import torch as _torch

# The course's networks are tiny (1,761 parameters): intra-op threads only add synchronisation,
# and on a shared 2-core laptop they can make each step 10x slower. OMP_NUM_THREADS overrides.
if "OMP_NUM_THREADS" not in _os.environ:
    _torch.set_num_threads(1)

from .cg import CGResult, conjugate_gradient
from .evaluation import adaptation_errors, evaluate, mean_ci
from .imaml import (
    IMAMLInfo,
    exact_imaml_grad,
    hvp_operator,
    imaml_grad,
    query_grad,
    task_hessians,
)
from .inner import ProximalSolution, adapt, proximal_grad, proximal_solve
from .maml import MetaInfo, fomaml_grad, maml_grad
from .models import MLP, flatten, mse, per_task, task_norm, unflatten
from .plots import COLORS, LABELS, style
from .tasks import SinusoidTasks, TaskBatch, make_generator
from .training import METHODS, History, meta_gradient, meta_train

__all__ = [
    "CGResult", "COLORS", "History", "IMAMLInfo", "LABELS", "METHODS", "MLP", "MetaInfo",
    "ProximalSolution", "SinusoidTasks", "TaskBatch", "adapt", "adaptation_errors",
    "conjugate_gradient", "evaluate", "exact_imaml_grad", "flatten", "fomaml_grad", "hvp_operator",
    "imaml_grad", "make_generator", "maml_grad", "mean_ci", "meta_gradient", "meta_train", "mse",
    "per_task", "proximal_grad", "proximal_solve", "query_grad", "style", "task_hessians",
    "task_norm", "unflatten",
]
