"""Lessons 05 and 06, iMAML (notebooks/05_imaml.ipynb, notebooks/06_imaml_in_depth.ipynb): the
implicit meta-gradient explored and measured, and how the course's iMAML was chosen.

figure2    the iMAML paper's Figure 2 on the sinusoid: exact references, accuracy and cost against k
spectrum   the Hessian's spectrum and the conditioning of I + H/lambda; CG's path
panels     ExplorerPanel: lambda, CG steps and delta on one held-out task
tuning     the tuning study (lambda, inner solver, step size, steps; and MAML's), its figure
plateau    the plateau study: learning curves of controlled experiments (why 5-shot lagged)
race       MAML against iMAML on the same tasks at equal steps, gradient evaluations and time
exercises  the notebooks' checkers

Uses helpers.lessons.maml: cost, the measurement behind Figure 2(b).
"""

from helpers.lessons.maml import cost

from . import figure2, plateau, race, spectrum, tuning
from .exercises import (
    check_conjugate_gradient,
    check_hvp,
    check_quadratic_phi_star,
    check_slider_predictions,
    slider_lambdas,
)
from .panels import ExplorerPanel, explorer_tasks, lam_values

__all__ = ["check_conjugate_gradient", "check_hvp", "check_quadratic_phi_star", "check_slider_predictions",
           "cost", "ExplorerPanel", "explorer_tasks", "figure2", "lam_values", "plateau", "race",
           "slider_lambdas", "spectrum", "tuning"]
