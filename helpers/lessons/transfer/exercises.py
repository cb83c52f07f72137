"""Checkers for notebook 01 (transfer learning).

Each check_* calls the student's function on fixed cases, compares it with an independent
computation written here (numerical averages, an explicit gradient-descent run), prints
"correct: ..." or "not yet right: ..." and returns True / False. A stub returning None, or code
that raises, is reported and never raises here, so the notebook always runs to the end.
"""

import math

import torch

from helpers.exercises import call, report


def as_tensor(value, what, shape=None):
    """The student's value as a float64 tensor (of `shape` if given), or (None, message)."""
    try:
        t = torch.as_tensor(value, dtype=torch.float64)
    except Exception:
        return None, f"{what} returned {type(value).__name__}, not a number or a tensor"
    if shape is not None and tuple(t.shape) != tuple(shape):
        return None, f"{what} returned shape {tuple(t.shape)}, expected {tuple(shape)}"
    return t, None


# ---------------------------------------------------------------- exercise 1: the pooled optimum

def pooled_optimum_reference(x, a_low, a_high, b_low, b_high, n=(64, 512)):
    """E_{A,b}[A sin(x - b)] by a midpoint rule over a grid of (A, b), no closed form used."""
    def midpoints(low, high, m):
        return low + (high - low) * (torch.arange(m, dtype=torch.float64) + 0.5) / m

    amp, phase = midpoints(a_low, a_high, n[0]), midpoints(b_low, b_high, n[1])
    y = amp[:, None, None] * torch.sin(x.double()[None, None, :] - phase[None, :, None])
    return y.mean(dim=(0, 1))


def check_pooled_optimum(pooled_optimum, atol=1e-3):
    """Exercise 1: pooled_optimum(x, a_low, a_high, b_low, b_high) = E[A sin(x - b)] for
    A ~ U[a_low, a_high], b ~ U[b_low, b_high], at each point of the tensor x; compared with a
    midpoint-rule average over (A, b) (accurate to ~1e-5: atol = 1e-3 accepts the exact formula
    and rejects the slips E[A] sin(x - E[b]) and a missing 1/(b_high - b_low))."""
    x = torch.linspace(-5, 5, 41, dtype=torch.float64)
    cases = [(0.1, 5.0, 0.0, math.pi), (1.0, 2.0, 0.0, math.pi / 2), (0.1, 5.0, 0.0, 2 * math.pi),
             (2.0, 3.0, 1.0, 2.5)]
    for a_low, a_high, b_low, b_high in cases:
        name = getattr(pooled_optimum, "__name__", "your function")
        text = f"{name}(x, {a_low}, {a_high}, {b_low:.4g}, {b_high:.4g})"
        got, problem = call(pooled_optimum, x.clone(), a_low, a_high, b_low, b_high, name=text)
        if problem:
            return report(False, problem)
        got, problem = as_tensor(got, text, x.shape)
        if problem:
            return report(False, problem)
        reference = pooled_optimum_reference(x, a_low, a_high, b_low, b_high)
        err = (got - reference).abs().max().item()
        if not err <= atol:
            worst = int((got - reference).abs().argmax())
            return report(False, f"{text} at x = {x[worst]:.2f} gives {got[worst]:.4f}, but the average of "
                                 f"A sin(x - b) over the tasks is {reference[worst]:.4f}. Hint: A and b are "
                                 "independent, so E[A sin(x - b)] = E[A] E_b[sin(x - b)]; integrate "
                                 "sin(x - b) over b and divide by the length of the phase range.")
    return report(True, "the pooled optimum is the average curve. With phases over a whole period "
                        "(b ~ U[0, 2 pi]) it is exactly 0; with the course's b ~ U[0, pi] it is "
                        "-(2 E[A] / pi) cos x, the curve the pretrained network learned.")


# ------------------------------------------------- exercise 2: fine-tuning, linearised

def linearised_reference(jac, residual, lr, steps):
    """L_tr = (1/K)||r_t||^2 after `steps` explicit GD steps on the linear model r(d) = r_0 + J d."""
    k = jac.shape[0]
    d = torch.zeros(jac.shape[1], dtype=torch.float64)
    for _ in range(steps):
        d = d - lr * (2 / k) * jac.T @ (residual + jac @ d)
    return ((residual + jac @ d).pow(2).sum() / k).item()


def check_linearised_loss(linearised_loss, rtol=1e-6):
    """Exercise 2: linearised_loss(mu, c, lr, k_shot, t) = L_tr after t GD steps of size lr,
    predicted from the kernel eigenvalues mu (K,) and the initial residual's coordinates c (K,) in
    the kernel's eigenbasis; compared with t explicit GD steps on a random linear model."""
    g = torch.Generator().manual_seed(11)
    for k, p, lr, t in [(5, 30, 0.01, 10), (8, 50, 0.002, 100), (3, 12, 0.05, 1), (6, 40, 0.01, 0)]:
        # rows of decreasing scale: kernel eigenvalues spread over orders of magnitude, as in the notebook
        scale = torch.logspace(0, -1.5, k, dtype=torch.float64)[:, None]
        jac = torch.randn(k, p, generator=g, dtype=torch.float64) * scale
        r0 = torch.randn(k, generator=g, dtype=torch.float64)
        mu, u = torch.linalg.eigh(jac @ jac.T)
        c = u.T @ r0
        name = getattr(linearised_loss, "__name__", "your function")
        text = f"{name}(mu, c, lr={lr}, k_shot={k}, t={t})"
        got, problem = call(linearised_loss, mu.clone(), c.clone(), lr, k, t, name=text)
        if problem:
            return report(False, problem)
        got, problem = as_tensor(got, text, ())
        if problem:
            return report(False, problem)
        reference = linearised_reference(jac, r0, lr, t)
        if not math.isclose(got.item(), reference, rel_tol=rtol):
            return report(False, f"{text} gave {got.item():.6g}, but {t} gradient steps on the linearised "
                                 f"model give L_tr = {reference:.6g}. Hint: the residual's mode j is "
                                 "multiplied by (1 - 2 lr mu_j / K) at every step; L_tr = ||r||^2 / K.")
    return report(True, "each mode shrinks by its own factor (1 - 2 lr mu_j / K) per step: the largest "
                        "mu_j caps lr at K / mu_max, and the smallest then need thousands of steps.")
