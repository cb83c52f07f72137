"""Lesson 08, the takeaways (notebooks/08_takeaways.ipynb): every method head to head on the same
held-out tasks, and what each costs.

compare    one function per figure of the notebook, the takeaways' numbers and statements
exercises  the notebook's checkers

Uses helpers.lessons.toy (fit_from_scratch), helpers.lessons.multitask (a new head's gradient
steps) and helpers.lessons.maml (cost: the meta-gradient calls, growth per inner step).
"""

from .compare import (
    K_SHOTS,
    MEMORY_STEPS,
    METHODS,
    N_TASKS,
    STEPS,
    HeadToHeadPanel,
    adaptation_curves,
    adaptation_rule,
    curve_stats,
    format_mean_ci,
    imaml_as_trained,
    iteration_seconds,
    load_shipped,
    memory_vs_inner_steps,
    meta_config,
    plot_costs,
    plot_curves,
    takeaway_numbers,
    takeaway_statements,
    training_seconds,
)
from .exercises import check_bytes_per_inner_step, check_mean_ci95, check_steps_to_match

__all__ = [
    "adaptation_curves", "adaptation_rule", "check_bytes_per_inner_step", "check_mean_ci95",
    "check_steps_to_match", "curve_stats", "format_mean_ci", "HeadToHeadPanel", "imaml_as_trained",
    "iteration_seconds", "K_SHOTS", "load_shipped", "MEMORY_STEPS", "memory_vs_inner_steps",
    "meta_config", "METHODS", "N_TASKS", "plot_costs", "plot_curves", "STEPS", "takeaway_numbers",
    "takeaway_statements", "training_seconds",
]
