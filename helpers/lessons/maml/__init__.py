"""Lesson 03, MAML (notebooks/03_maml.ipynb): the cost of backpropagating through k inner steps,
measured, with its panels and checkers.

cost       time and memory of one meta-gradient as the inner steps k grow (MAML, FO-MAML, iMAML)
panels     AdaptationPanel and MemoryPanel
exercises  the checkers of notebooks 03 and 04 (they share one reference MAML, written here)
"""

from .cost import COST_METHODS, cost_vs_inner_steps, growth_per_step, plot_cost
from .exercises import check_inner_loop, check_maml_meta_grad
from .panels import AdaptationPanel, MemoryPanel

__all__ = ["AdaptationPanel", "check_inner_loop", "check_maml_meta_grad", "COST_METHODS",
           "cost_vs_inner_steps", "growth_per_step", "MemoryPanel", "plot_cost"]
