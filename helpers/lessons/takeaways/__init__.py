"""Lesson 08, the takeaways (notebooks/08_takeaways.ipynb): every method head to head on the same
held-out tasks, and what each costs.

compare    one function per figure of the notebook, the takeaways' numbers and statements
paper      the iMAML paper's Omniglot and Mini-ImageNet tables (PAPER_RESULTS), for notebook and deck
limitations  iMAML's measured costs (records, tuning study, memory at k = 1), for the deck
panels     ProximalAdaptationPanel: the shipped iMAML adapted to one task at a chosen lambda (the deck)
race       the meta-training race: contestants meta-trained live from one initialisation (Race)
race_panel RacePanel: the race with its controls, run in a background thread
exercises  the notebook's checkers

Uses helpers.lessons.toy (fit_from_scratch), helpers.lessons.multitask (a new head's gradient
steps), helpers.lessons.maml (cost: the meta-gradient calls, growth per inner step) and
helpers.lessons.imaml (lam_values: the explorer's lambda positions, for the deck's panel;
load_study: the tuning study's record, for the deck's Limitations slide).
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
    imaml_trained_errors,
    iteration_seconds,
    load_shipped,
    memory_vs_inner_steps,
    meta_config,
    paired_words,
    plot_costs,
    plot_curves,
    ridge_head,
    takeaway_numbers,
    takeaway_statements,
    training_seconds,
)
from .exercises import check_bytes_per_inner_step, check_mean_ci95, check_steps_to_match
from .panels import ProximalAdaptationPanel
from .paper import PAPER_RESULTS, paper_table_markdown, plot_paper_results
from .race_panel import RacePanel

__all__ = [
    "adaptation_curves", "adaptation_rule", "check_bytes_per_inner_step", "check_mean_ci95",
    "check_steps_to_match", "curve_stats", "format_mean_ci", "HeadToHeadPanel", "imaml_as_trained",
    "imaml_trained_errors", "iteration_seconds", "K_SHOTS", "load_shipped", "MEMORY_STEPS",
    "memory_vs_inner_steps",
    "meta_config", "METHODS", "N_TASKS", "paired_words", "PAPER_RESULTS", "paper_table_markdown",
    "plot_costs", "plot_curves", "plot_paper_results", "ProximalAdaptationPanel", "RacePanel", "ridge_head",
    "STEPS",
    "takeaway_numbers", "takeaway_statements", "training_seconds",
]
