"""Lesson 07, beyond iMAML (notebooks/07_beyond_imaml.ipynb): the talk's open questions, by
experiment.

stochastic  an SGD inner loop, and the study of it (`python -m helpers.lessons.beyond.sgd_study`)
bayes       the Bayesian (MAP) reading, exact on Bayesian linear regression
solvers     other inner solvers reach the same phi, and iMAML's meta-gradient with it
payoff      where implicit gradients pay off: MAML's and iMAML's meta-gradient norm and memory against
            the inner steps (PayoffPanel), and the memory on the paper's Omniglot conv net; imported
            on its own (`from helpers.lessons.beyond import payoff`), as it also runs as a command
panels      BayesPanel
exercises   the notebook's checkers

payoff uses helpers.lessons.maml (cost: the memory measurement) and helpers.lessons.explanation (the
accuracy, in the course's one explanation's words).
"""

from . import bayes, solvers, stochastic
from .exercises import check_implicit_jacobian, check_posterior_mean
from .panels import BayesPanel, family_mean_weights

__all__ = ["bayes", "BayesPanel", "check_implicit_jacobian", "check_posterior_mean",
           "family_mean_weights", "solvers", "stochastic"]
