"""Lesson 03, MAML (notebooks/03_maml.ipynb): the cost of backpropagating through k inner steps,
measured, with its panels and checkers.

cost       time and memory of one meta-gradient as the inner steps k grow (MAML, FO-MAML, iMAML)
compare    paired comparisons of adapted models on the same held-out tasks (notebooks 03 and 04)
panels     AdaptationPanel and MemoryPanel
exercises  the checkers of notebooks 03 and 04 (they share one reference MAML, written here)
"""

from .compare import curves, held_out_errors, paired_differences, paired_table, paper_table, verdict
from .cost import COST_METHODS, cost_vs_inner_steps, growth_per_step, plot_cost
from .exercises import check_inner_loop, check_maml_meta_grad
from .panels import AdaptationPanel, MemoryPanel

__all__ = ["AdaptationPanel", "check_inner_loop", "check_maml_meta_grad", "COST_METHODS",
           "cost_vs_inner_steps", "curves", "growth_per_step", "held_out_errors", "MemoryPanel",
           "paired_differences", "paired_table", "paper_table", "plot_cost", "verdict"]
