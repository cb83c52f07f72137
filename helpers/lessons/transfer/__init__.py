"""Lesson 01, transfer learning (notebooks/01_transfer_learning.ipynb): pretraining on pooled tasks,
and fine-tuning from there, measured.

pooled     pretrain_pooled: the network "pretrained on all tasks" (MAML paper, section 5.1)
finetune   the pooled optimum, fine-tuning's linearised dynamics, held-out tasks and errors
panels     the notebook's figures and TransferPanel
exercises  the notebook's checkers

Uses helpers.lessons.toy: fit_from_scratch, the baseline trained from scratch.
"""

from .exercises import check_linearised_loss, check_pooled_optimum
from .finetune import (
    held_out_batch,
    kernel_spectrum,
    linearisation_errors,
    max_stable_lr,
    mse_table,
    paired_table,
    pooled_optimum,
    pooled_optimum_mse,
    scratch_errors,
    step_size_probe,
    transfer_errors,
)
from .panels import TransferPanel, plot_fine_tuning, plot_held_out, plot_kernel_modes, plot_pooled_fit
from .pooled import pretrain_pooled

__all__ = [
    "check_linearised_loss", "check_pooled_optimum", "held_out_batch", "kernel_spectrum",
    "linearisation_errors", "max_stable_lr", "mse_table", "paired_table", "plot_fine_tuning", "plot_held_out",
    "plot_kernel_modes", "plot_pooled_fit", "pooled_optimum", "pooled_optimum_mse", "pretrain_pooled",
    "scratch_errors", "step_size_probe", "transfer_errors", "TransferPanel",
]
