"""Lesson 00, the toy problem (notebooks/00_toy_problem.ipynb): few-shot sinusoid regression from
scratch.

panels     fit_from_scratch, the no-meta-learning baseline later lessons compare with; plot_tasks;
           ScratchFitPanel
exercises  the notebook's checkers
"""

from .exercises import check_count_params, check_zero_prediction_mse
from .panels import SCRATCH_LR, SCRATCH_STEPS, ScratchFitPanel, fit_from_scratch, plot_tasks

__all__ = ["check_count_params", "check_zero_prediction_mse", "fit_from_scratch", "plot_tasks",
           "SCRATCH_LR", "SCRATCH_STEPS", "ScratchFitPanel"]
