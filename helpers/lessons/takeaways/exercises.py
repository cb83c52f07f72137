"""Checkers for notebook 08 (the takeaways).

Each check_* calls the student's function on fixed cases, compares it with an independent
computation written here in plain Python (no numpy, no helpers.evaluation / lessons.maml.cost /
lessons.takeaways.compare), prints "correct: ..." or "not yet right: ..." and returns True / False.
An unfinished answer (a stub returning None, or raising) never raises here.
"""

import math
import random

import torch

from helpers.exercises import call, report, with_hint


def _as_float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------- independent references

def mean_ci95_reference(values):
    """Mean and 1.96 s / sqrt(n), s the sample standard deviation (n - 1 in the denominator)."""
    values = [float(v) for v in values]
    n = len(values)
    mean = sum(values) / n
    s = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, 1.96 * s / math.sqrt(n)


def slope_reference(ks, ys):
    """Least-squares slope b of y ~ a + b k: sum (k - k_bar)(y - y_bar) / sum (k - k_bar)^2."""
    k_bar, y_bar = sum(ks) / len(ks), sum(ys) / len(ys)
    return (sum((k - k_bar) * (y - y_bar) for k, y in zip(ks, ys))
            / sum((k - k_bar) ** 2 for k in ks))


def steps_to_match_reference(curve, target):
    for n, value in enumerate(curve):
        if value <= target:
            return n
    return None


# ---------------------------------------------------------------- the checks

def check_mean_ci95(mean_ci95):
    """Exercise 1: mean_ci95(errors) = (mean, half-width of the 95% normal CI) of a 1-D tensor of
    per-task errors. rtol 1e-6 accepts float32 rounding and rejects the population standard
    deviation (n instead of n - 1: 5% off with 10 values)."""
    rng = random.Random(7)
    cases = [torch.tensor([0.5, 1.5, 1.0, 3.0]),
             torch.tensor([rng.expovariate(1.0) for _ in range(10)]),
             torch.tensor([rng.gauss(2.0, 0.5) for _ in range(300)], dtype=torch.float64)]
    for errors in cases:
        want = mean_ci95_reference(errors.tolist())
        got, problem = call(mean_ci95, errors)
        if problem:
            return report(False, problem)
        try:
            mean, ci = (_as_float(v) for v in got)
        except (TypeError, ValueError):
            return report(False, f"mean_ci95 should return two numbers (mean, ci), got {got!r}")
        if mean is None or ci is None:
            return report(False, f"mean_ci95 should return two numbers (mean, ci), got {got!r}")
        if not math.isclose(mean, want[0], rel_tol=1e-6):
            return report(False, f"for {len(errors)} errors the mean is {want[0]:.6g}, "
                                  f"you returned {mean:.6g}")
        if not math.isclose(ci, want[1], rel_tol=1e-6):
            hint = (" Hint: use the sample standard deviation (divide by n - 1), and divide by sqrt(n), "
                    "not n.")
            return report(False, f"for {len(errors)} errors the 95% half-width is {want[1]:.6g}, "
                                  f"you returned {ci:.6g}.{hint}")
    return report(True, "mean +- 1.96 s/sqrt(n): with 1,000 tasks the interval is ~3x narrower than "
                         "with 100 (sqrt(10)).")


def check_bytes_per_inner_step(bytes_per_inner_step):
    """Exercise 2: bytes_per_inner_step(ks, saved_bytes) = the least-squares slope of saved bytes
    against the number of inner steps k (bytes each extra inner step adds). rtol 1e-6."""
    rng = random.Random(3)
    ks = [1, 2, 4, 8, 16]
    cases = [(ks, [474_560 + 305_000 * (k - 1) for k in ks]),  # a straight line, like MAML
             (ks, [307_000] * len(ks)),  # flat, like iMAML
             ([0, 1, 3, 6], [rng.uniform(0, 1e6) for _ in range(4)])]  # not a line: a real fit
    for k_list, ys in cases:
        want = slope_reference(k_list, ys)
        got, problem = call(bytes_per_inner_step, list(k_list), list(ys))
        if problem:
            return report(False, problem)
        got = _as_float(got)
        if got is None or not math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-6):
            hint = (" Hint: the slope of the least-squares line uses every point, not only the first "
                    "and the last." if len(set(ys)) > 1 else "")
            return report(False, f"for k = {k_list} and bytes {[round(y) for y in ys]} the slope is "
                                  f"{want:.6g} bytes per step, you returned {got!r}.{hint}")
    return report(True, "a slope near zero means memory flat in k (iMAML, first-order MAML); MAML's "
                         "is the size of one step's graph.")


def _steps_to_match_hint(steps_to_match, got, want):
    """The likely slip behind a wrong answer `got` (want expected), probed on a curve without ties."""
    if isinstance(got, bool) or not isinstance(got, int):
        return None
    if want is None:
        return "return None when no step reaches the target"
    try:
        probe = steps_to_match([4.0, 3.0, 2.0, 1.0, 0.5], 0.9)  # 4 steps, no tie with the target
    except Exception:  # the student's code; the checker's message already says what failed
        return None
    if probe in (3, 5):
        return ("off by one: curve[n] is the error after n steps (curve[0] before any step), so "
                "the answer is the index n itself")
    return "a step that equals the target matches it (<=, not <)" if got > want else None


def check_steps_to_match(steps_to_match):
    """Exercise 3: steps_to_match(curve, target) = the fewest adaptation steps n with
    curve[n] <= target, or None if no step of the curve reaches it."""
    cases = [([3.0, 0.6, 0.4, 0.35], 0.6),  # equality counts
             ([3.0, 2.7, 2.6, 2.6], 0.6),  # never
             ([1.0, 2.0, 0.5], 1.5),  # already at n = 0
             ([4.0, 3.0, 2.0, 1.0, 0.5], 0.9)]
    for curve, target in cases:
        want = steps_to_match_reference(curve, target)
        try:
            got = steps_to_match(list(curve), target)
        except NotImplementedError:
            return report(False, "steps_to_match is not implemented yet (it raised NotImplementedError)")
        except Exception as err:
            return report(False, f"steps_to_match raised {type(err).__name__}: {err}")
        if got != want or (want is not None and isinstance(got, bool)):
            hint = _steps_to_match_hint(steps_to_match, got, want)
            return report(False, with_hint(f"steps_to_match({curve}, {target}) should be {want!r}, "
                                           f"got {got!r}", hint))
    return report(True, "the baselines' curves can be read the same way: how many steps they need to "
                         "catch MAML's first step, if they ever do.")
