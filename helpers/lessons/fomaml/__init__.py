"""Lesson 04, first-order MAML (notebooks/04_first_order_maml.ipynb): the gradient bias of dropping
the second-order term, and Reptile.

bias       first-order against exact meta-gradients, per task and per meta-batch, as k grows
reptile    Reptile, the other first-order meta-learner
panels     BiasPanel

Uses helpers.lessons.maml: the cost measurement, the paired comparisons on held-out tasks, the
notebook's checkers (written beside notebook 03's, whose reference MAML they share), and the panels'
held-out seed and learning-rate check.
"""

from helpers.lessons.maml.compare import curves, held_out_errors, paired_differences, paired_table, verdict
from helpers.lessons.maml.cost import cost_vs_inner_steps, plot_cost
from helpers.lessons.maml.exercises import check_bias_metrics, check_first_order_grad, check_reptile_update

from .bias import first_order_bias, plot_bias
from .panels import BiasPanel
from .reptile import reptile_direction, reptile_train, task_data

__all__ = ["BiasPanel", "check_bias_metrics", "check_first_order_grad", "check_reptile_update",
           "cost_vs_inner_steps", "curves", "first_order_bias", "held_out_errors", "paired_differences",
           "paired_table", "plot_bias", "plot_cost", "reptile_direction", "reptile_train", "task_data",
           "verdict"]
