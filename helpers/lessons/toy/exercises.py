"""Checkers for notebook 00 (the toy problem).

Each check_* calls the student's function, compares it with an independent computation, prints
"correct: ..." or "not yet right: ..." and returns True / False. A wrong or unfinished answer
(a stub returning None, or raising) never raises here, so the notebook always runs to the end.
"""

import math

import torch

from helpers.exercises import call, report
from helpers.models import MLP
from helpers.tasks import SinusoidTasks


def check_count_params(count_params):
    """Exercise 1: count_params(sizes) = number of weights and biases of an MLP with layer sizes
    `sizes`; compared with the tensors MLP(sizes).init() actually allocates."""
    cases = [(1, 40, 40, 1), (1, 1), (3, 5, 2), (2, 7, 7, 7, 3), (1, 100, 1)]
    for sizes in cases:
        expected = sum(p.numel() for p in MLP(sizes).init().values())
        got, problem = call(count_params, sizes, name=f"count_params({sizes})")
        if problem:
            return report(False, problem)
        if isinstance(got, bool) or got != expected:
            return report(
                False,
                f"count_params({sizes}) returned {got!r}, not the number of weights and biases. "
                "Hint: a layer from n_in to n_out units has an n_out x n_in weight matrix and "
                "n_out biases.",
            )
    n = sum(p.numel() for p in MLP().init().values())
    return report(
        True,
        f"a 1-40-40-1 network has {n} parameters: {n} unknowns, and K support points give only "
        "K equations.",
    )


def zero_prediction_mse_reference(a_low, a_high, n_grid=(60, 60, 400)):
    """E[L_test] of the constant prediction y_hat = 0 over tasks with A ~ U[a_low, a_high],
    b ~ U[0, pi], x ~ U[-5, 5]: the mean of y^2 = (A sin(x - b))^2 over a midpoint grid of
    (A, b, x) (a midpoint-rule integral over the task distribution, no closed form used)."""
    tasks = SinusoidTasks(amplitude=(a_low, a_high))
    n_a, n_b, n_x = n_grid

    def midpoints(low_high, n):
        low, high = low_high
        return low + (high - low) * (torch.arange(n, dtype=torch.float64) + 0.5) / n

    amp, phase = torch.meshgrid(midpoints(tasks.amplitude, n_a), midpoints(tasks.phase, n_b),
                                indexing="ij")
    x = midpoints(tasks.x_range, n_x).view(1, -1, 1).expand(n_a * n_b, -1, -1)
    return tasks.function(x, amp.flatten(), phase.flatten()).pow(2).mean().item()


def check_zero_prediction_mse(zero_prediction_mse, rtol=0.01):
    """Exercise 2: zero_prediction_mse(a_low, a_high) = expected query MSE of predicting y = 0,
    averaged over the task distribution; compared with a midpoint-rule integral (accurate to
    ~1e-4 relative: rtol = 1% accepts the exact answer and rejects the slip E[A]^2 / 2, which is
    3.6% off for A ~ U[1, 2] and 23% off for the course's A ~ U[0.1, 5]).

    Every case has a_low < a_high, as the exercise states: the textbook form of E[A^2],
    (a_high^3 - a_low^3) / (3 (a_high - a_low)), is then as right as any other."""
    cases = [(0.1, 5.0), (1.0, 2.0), (3.0, 3.5), (0.0, 3.0)]
    for a_low, a_high in cases:
        reference = zero_prediction_mse_reference(a_low, a_high)
        got, problem = call(zero_prediction_mse, a_low, a_high,
                            name=f"zero_prediction_mse({a_low}, {a_high})")
        if problem:
            return report(False, problem)
        try:
            got = float(got)
        except (TypeError, ValueError):
            return report(False, f"zero_prediction_mse({a_low}, {a_high}) returned {got!r}, "
                                  "not a number")
        if not math.isclose(got, reference, rel_tol=rtol):
            return report(
                False,
                f"zero_prediction_mse({a_low}, {a_high}) returned {got:.4g}, but the average of "
                f"y^2 over the tasks is {reference:.4g}. Hint: for a fixed x, the "
                "phase b ~ U[0, pi] sweeps a whole period of sin^2(x - b); and E[A^2] is not "
                "E[A]^2.",
            )
    reference = zero_prediction_mse_reference(0.1, 5.0)
    return report(
        True,
        f"predicting y = 0 scores a query MSE of {reference:.2f} on average over the course's "
        "tasks: a few-shot learner with a larger error does worse than knowing nothing.",
    )
