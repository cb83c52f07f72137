"""The Bayesian reading of iMAML (talk slide 7), made exact on Bayesian linear regression.

Prior       w ~ N(theta, lam^-1 I)             theta: the meta-parameters, lam: the prior precision
Likelihood  y_j = Phi(x_j) w + eps_j,  eps_j ~ N(0, sigma^2), on fixed features Phi
Then  -log p(w | D^tr) = (1 / 2 sigma^2) ||Phi w - y||^2 + (lam/2) ||w - theta||^2 + const,
which is iMAML's inner objective G(w) = L_tr(w) + (lam/2) ||w - theta||^2 (eq. 4) with L_tr the
negative log-likelihood: the inner solution phi* is the MAP estimate. For a linear-Gaussian model the
posterior is Gaussian and its mean is the MAP estimate, in closed form:
    A = lam I + Phi^T Phi / sigma^2,    mean = A^-1 (lam theta + Phi^T y / sigma^2),    cov = A^-1.

The course's L_tr is the mean squared error (1/K) ||Phi w - y||^2 = (2 sigma^2 / K) x the negative
log-likelihood, so the same MAP is reached by iMAML's own solver with lam_mse = 2 sigma^2 lam / K
(`mse_lam`, used by `imaml_inner_solution`).
"""

from dataclasses import dataclass

import torch

from helpers.checks import check_positive
from helpers.inner import proximal_solve


def sinusoid_features(x):
    """Phi(x) = [sin x, cos x], shape (..., N, 2): exact for the task family, because
    A sin(x - b) = (A cos b) sin x + (-A sin b) cos x."""
    return torch.cat([torch.sin(x), torch.cos(x)], dim=-1)


def sinusoid_weights(amplitude, phase):
    """The weights w = (A cos b, -A sin b) under which sinusoid_features reproduce A sin(x - b)."""
    amplitude, phase = torch.as_tensor(amplitude), torch.as_tensor(phase)
    return torch.stack([amplitude * torch.cos(phase), -amplitude * torch.sin(phase)], dim=-1)


class TrunkFeatures:
    """Phi(x) = [h(x), 1]: the last hidden layer h of a network with frozen trunk parameters, plus a
    constant for the output bias. With theta = `head`, Phi(x) theta is the network's own output."""

    def __init__(self, model, params):
        self.model = model
        self.params = {k: v.detach() for k, v in params.items()}
        self.last = len(model.sizes) - 2  # index of the output layer

    def __call__(self, x):
        h = self.model._forward(self.params, x)[-2]
        return torch.cat([h, torch.ones_like(h[..., :1])], dim=-1)

    def head(self):
        """theta for these features: the output layer (w_L, b_L) flattened, shape (D,)."""
        w, b = self.params[f"w{self.last}"], self.params[f"b{self.last}"]
        if w.shape[0] != 1:
            raise ValueError(f"TrunkFeatures needs a network with one output, got {w.shape[0]}")
        return torch.cat([w[0], b])


class LinearFeatureModel:
    """The pure model f(params, x) = Phi(x) params["w0"] (task axis first if params has one), so
    that the course's own inner solver (helpers.inner.proximal_solve) can run on it. The weight is
    named like an MLP's first layer because the inner solver lifts parameters to tasks by "w0"."""

    def __init__(self, features):
        self.features = features

    def __call__(self, params, x):
        w = params["w0"]
        return (self.features(x) * w.unsqueeze(-2)).sum(-1, keepdim=True)


@dataclass
class Posterior:
    """N(mean, cov) over the weights w, with cov = precision^-1."""

    mean: torch.Tensor  # (D,)
    cov: torch.Tensor  # (D, D)
    precision: torch.Tensor  # (D, D): A = lam I + Phi^T Phi / sigma^2


def _check(Phi, y, theta, lam, sigma):
    check_positive(lam=lam, sigma=sigma)
    if Phi.dim() != 2:
        raise ValueError(f"Phi must have shape (K, D), got {tuple(Phi.shape)}")
    if y.shape not in ((Phi.shape[0],), (Phi.shape[0], 1)):
        raise ValueError(f"y must have shape (K,) or (K, 1) with K = {Phi.shape[0]}, got {tuple(y.shape)}")
    if theta.shape != (Phi.shape[1],):
        raise ValueError(f"theta must have shape (D,) with D = {Phi.shape[1]}, got {tuple(theta.shape)}")
    return y.reshape(-1)


def posterior(Phi, y, theta, lam, sigma):
    """The closed-form posterior of w given D^tr (module docstring): the MAP estimate is its mean."""
    y = _check(Phi, y, theta, lam, sigma)
    A = lam * torch.eye(Phi.shape[1], dtype=Phi.dtype) + Phi.T @ Phi / sigma**2
    L = torch.linalg.cholesky(A)  # A is symmetric positive definite for lam > 0
    mean = torch.cholesky_solve((lam * theta + Phi.T @ y / sigma**2).unsqueeze(-1), L).squeeze(-1)
    cov = torch.cholesky_inverse(L)
    return Posterior(mean, cov, A)


def predictive(Phi_star, post, sigma=None):
    """Mean and standard deviation of f(x) = Phi(x) w under the posterior, at inputs Phi_star
    (M, D): std_f^2 = Phi A^-1 Phi^T (diagonal). With sigma, the std of a new noisy y instead."""
    mean = Phi_star @ post.mean
    var = ((Phi_star @ post.cov) * Phi_star).sum(-1).clamp_min(0)
    if sigma is not None:
        var = var + sigma**2
    return mean, var.sqrt()


def proximal_objective_grad(Phi, y, w, theta, lam, sigma):
    """grad G(w) = Phi^T (Phi w - y) / sigma^2 + lam (w - theta): the negative log-posterior's gradient."""
    return Phi.T @ (Phi @ w - y) / sigma**2 + lam * (w - theta)


def map_by_gradient_descent(Phi, y, theta, lam, sigma, delta=1e-10, max_steps=100_000):
    """iMAML's inner solve on this model: gradient descent on G from w = theta until ||grad G|| <=
    delta (Algorithm 2, step 3). Returns (w, steps taken, [w_0, w_1, ...] every step if D = 2).

    G is quadratic with Hessian A, so grad G(w) = A w - (lam theta + Phi^T y / sigma^2) equals
    proximal_objective_grad exactly (two small operations a step instead of four), and 2 / (L + mu)
    (L, mu: the extreme eigenvalues of A) is the best constant step: the error contracts by
    (L - mu) / (L + mu) a step, so ill-conditioned A (a weak prior, few points) needs many steps.
    """
    y = _check(Phi, y, theta, lam, sigma)
    A = lam * torch.eye(Phi.shape[1], dtype=Phi.dtype) + Phi.T @ Phi / sigma**2
    b = lam * theta + Phi.T @ y / sigma**2
    eig = torch.linalg.eigvalsh(A)
    lr = 2.0 / (eig[-1] + eig[0]).item()
    w = theta.clone()
    path = [w] if Phi.shape[1] == 2 else None
    for step in range(max_steps + 1):
        g = A @ w - b
        if step == max_steps or g.norm() <= delta:
            return w, step, path
        w = w - lr * g
        if path is not None:
            path.append(w)


def mse_lam(lam, sigma, k_shot):
    """iMAML's lam for the mean-squared-error loss that gives the same MAP as prior precision lam
    with noise sigma on K points: (1/K)||r||^2 = (2 sigma^2 / K) (||r||^2 / 2 sigma^2)."""
    check_positive(lam=lam, sigma=sigma, k_shot=k_shot)
    return 2 * sigma**2 * lam / k_shot


def imaml_inner_solution(features, x, y, theta, lam, sigma, delta=1e-9, max_steps=50_000):
    """phi* by the course's unchanged iMAML inner solver (helpers.inner.proximal_solve: gradient
    descent on MSE + (lam_mse/2)||w - theta||^2) on the linear model, for x, y of shape (K, 1).
    The step is 1 / (Lipschitz constant of the gradient). Returns (w, steps taken)."""
    Phi = features(x)
    y = _check(Phi, y, theta, lam, sigma)
    k = Phi.shape[0]
    lam_mse = mse_lam(lam, sigma, k)
    lipschitz = 2 * torch.linalg.eigvalsh(Phi.T @ Phi)[-1].item() / k + lam_mse
    sol = proximal_solve(LinearFeatureModel(features), {"w0": theta}, x, y.view(-1, 1), lam_mse,
                         1.0 / lipschitz, max_steps, delta)
    return sol.phi["w0"][0], int(sol.steps[0])
