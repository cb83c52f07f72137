"""Lesson 02, multi-task learning (notebooks/02_multi_task_learning.ipynb): one shared trunk with a
head per task, the per-task trade-off, and a new head for a new task.

heads      MultiHeadMLP, its training, new heads in closed form or by gradient steps, shipped specs
panels     the notebook's figures, TradeOffPanel and NewHeadPanel
exercises  the notebook's checkers

Uses helpers.lessons.transfer: the held-out tasks of notebooks 01-02, the transfer and
from-scratch baselines and the tables (finetune), and its checkers' as_tensor.
ridge_head_errors gives the closed-form new head's per-task errors on any tasks (notebook 08 can
set them beside the other methods on its own held-out tasks).
"""

from helpers.lessons.transfer.finetune import (
    held_out_batch,
    mse_table,
    paired_table,
    scratch_errors,
    transfer_errors,
)

from .exercises import check_ridge_head, check_subspace_head
from .heads import (
    RIDGE_LAM,
    MultiHeadMLP,
    design_matrix,
    fit_head,
    head_gradient_steps,
    head_lr,
    head_mse,
    mean_head,
    per_task_mse,
    ridge_head_errors,
    train_multitask,
    training_tasks,
)
from .panels import (
    NewHeadPanel,
    TradeOffPanel,
    load_models,
    new_head_errors,
    plot_head_spectrum,
    plot_new_head_errors,
    plot_tradeoff,
    tradeoff_table,
)

__all__ = [
    "check_ridge_head", "check_subspace_head", "design_matrix", "fit_head", "head_gradient_steps",
    "head_lr", "head_mse", "held_out_batch", "load_models", "mean_head", "mse_table", "MultiHeadMLP",
    "new_head_errors", "NewHeadPanel", "paired_table", "per_task_mse", "plot_head_spectrum",
    "plot_new_head_errors", "plot_tradeoff", "RIDGE_LAM", "ridge_head_errors", "scratch_errors",
    "TradeOffPanel", "tradeoff_table", "train_multitask", "training_tasks", "transfer_errors",
]
