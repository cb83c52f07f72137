"""Lesson 05, iMAML (notebooks/05_imaml.ipynb): the implicit meta-gradient explored and measured.

figure2    the iMAML paper's Figure 2 on the sinusoid: exact references, accuracy and cost against k
spectrum   the Hessian's spectrum and the conditioning of I + H/lambda; CG's path
panels     ExplorerPanel: lambda, CG steps and delta on one held-out task
exercises  the notebook's checkers

Uses helpers.lessons.maml: cost, the measurement behind Figure 2(b).
"""

from helpers.lessons.maml import cost

from . import figure2, spectrum
from .exercises import check_conjugate_gradient, check_hvp, check_quadratic_phi_star, check_slider_predictions
from .panels import ExplorerPanel, explorer_tasks, lam_values

__all__ = ["check_conjugate_gradient", "check_hvp", "check_quadratic_phi_star", "check_slider_predictions",
           "cost", "ExplorerPanel", "explorer_tasks", "figure2", "lam_values", "spectrum"]
