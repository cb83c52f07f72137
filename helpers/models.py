"""A functional MLP: parameters are a dict of tensors, the model is a pure function f(params, x).

The forward pass broadcasts a leading task axis: params of shape (T, ...) with x of shape (T, N, 1)
run T task-specific networks in one batched matrix product. It also works under torch.func.vmap.
"""

import math

import torch

from .tasks import make_generator


class MLP:
    """ReLU network with layer sizes `sizes`, e.g. 1-40-40-1 (1,761 parameters) as in the MAML paper."""

    def __init__(self, sizes=(1, 40, 40, 1)):
        sizes = tuple(sizes)
        if len(sizes) < 2 or any(not isinstance(s, int) or s < 1 for s in sizes):
            raise ValueError(f"sizes must be at least two positive integers, got {sizes}")
        self.sizes = sizes

    def init(self, generator=None, dtype=torch.float32):
        """Parameters {w0, b0, w1, ...} drawn as torch.nn.Linear does: U(-1/sqrt(fan_in), +)."""
        g = make_generator(generator)
        params = {}
        for layer, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:], strict=True)):
            bound = 1.0 / math.sqrt(n_in)
            params[f"w{layer}"] = (2 * torch.rand(n_out, n_in, generator=g, dtype=dtype) - 1) * bound
            params[f"b{layer}"] = (2 * torch.rand(n_out, generator=g, dtype=dtype) - 1) * bound
        return params

    def __call__(self, params, x):
        return self._forward(params, x)[-1]

    def _forward(self, params, x):
        """Activations [x, h_1, ..., h_L] (h_L the output), with ReLU between layers."""
        n_layers = len(self.sizes) - 1
        hs = [x]
        for layer in range(n_layers):
            w, b = params[f"w{layer}"], params[f"b{layer}"]
            z = hs[-1] @ w.transpose(-1, -2) + b.unsqueeze(-2)
            hs.append(self.activation(z) if layer < n_layers - 1 else z)
        return hs

    @staticmethod
    def activation(z):
        return torch.relu(z)

    @staticmethod
    def activation_slope(h):
        """sigma'(z) written in terms of h = sigma(z): 1 where the ReLU is on, else 0."""
        return (h > 0).to(h.dtype)

    def loss_grad(self, params, x, y):
        """Per-task MSE (T,) and its gradient w.r.t. per-task params (leading task axis).

        Backpropagation written out as batched matrix products, so the gradient is itself a
        differentiable expression: MAML differentiates through it with one ordinary backward
        pass, and iMAML's Hessian-vector products are forward-mode derivatives of it.
        """
        hs = self._forward(params, x)
        r = hs[-1] - y
        loss = r.pow(2).mean(dim=(-2, -1))
        d = 2 * r / r.shape[-2]  # d loss_i / d output
        grads = {}
        for layer in reversed(range(len(self.sizes) - 1)):
            h_in = hs[layer]
            grads[f"w{layer}"] = d.transpose(-1, -2) @ h_in
            grads[f"b{layer}"] = d.sum(-2)
            if layer:
                d = (d @ params[f"w{layer}"]) * self.activation_slope(h_in)
        return loss, {k: grads[k] for k in params}

    def config(self):
        """Constructor arguments (saved with shipped weights)."""
        return {"sizes": list(self.sizes)}

    def n_params(self):
        return sum((i + 1) * o for i, o in zip(self.sizes[:-1], self.sizes[1:], strict=True))

    def __repr__(self):
        return f"MLP(sizes={self.sizes})"


class SoftplusMLP(MLP):
    """MLP with softplus_beta(z) = log(1 + exp(beta z)) / beta in place of ReLU: smooth, and within
    log(2)/beta of ReLU everywhere, so it takes the same parameters (e.g. the shipped ones)."""

    def __init__(self, sizes=(1, 40, 40, 1), beta=20.0):
        super().__init__(sizes)
        if not beta > 0:
            raise ValueError(f"beta must be > 0, got {beta}")
        self.beta = float(beta)

    def activation(self, z):
        # threshold 40: torch switches to z above beta z = 40, where exp(-40) is below float64's
        # resolution, so the switch leaves no kink even in the gradient
        return torch.nn.functional.softplus(z, self.beta, 40.0)

    def activation_slope(self, h):
        """softplus'(z) = sigmoid(beta z) = 1 - exp(-beta h), with h = softplus(z)."""
        return -torch.expm1(-self.beta * h)

    def config(self):
        return {"sizes": list(self.sizes), "beta": self.beta}

    def __repr__(self):
        return f"SoftplusMLP(sizes={self.sizes}, beta={self.beta})"


def loss_grad(model, params, x, y, create_graph=False):
    """Per-task training loss (T,) and its gradient w.r.t. per-task params (task axis first).

    Uses the model's own batched backprop when it has one (MLP.loss_grad), autograd otherwise.
    create_graph=True keeps the gradient differentiable w.r.t. params (needed by MAML).
    """
    if hasattr(model, "loss_grad"):
        if create_graph:
            return model.loss_grad(params, x, y)
        with torch.no_grad():
            return model.loss_grad({k: v.detach() for k, v in params.items()}, x, y)
    with torch.enable_grad():
        leaves = params if create_graph else {k: v.detach().requires_grad_() for k, v in params.items()}
        loss = mse(model, leaves, x, y)
        grads = torch.autograd.grad(loss.sum(), list(leaves.values()), create_graph=create_graph)
    if not create_graph:
        loss, grads = loss.detach(), [g.detach() for g in grads]
    return loss, dict(zip(params, grads, strict=True))


def hvp_operator(model, phi, x, y, like):
    """v -> H_i v for every task at once, H_i the Hessian of L_tr_i at phi_i.

    Differentiates the gradient grad L_tr_i(phi_i) once more (double backprop), so one
    Hessian-vector product costs about two gradient evaluations; H is never formed.
    """
    phi = {k: v.detach().requires_grad_() for k, v in phi.items()}
    with torch.enable_grad():
        g = list(loss_grad(model, phi, x, y, create_graph=True)[1].values())

    def hvp(v):
        with torch.enable_grad():
            gv = sum((gi * vi).sum() for gi, vi in zip(g, unflatten(v, like).values(), strict=True))
            hv = torch.autograd.grad(gv, list(phi.values()), retain_graph=True)
        return flatten(dict(zip(like, hv, strict=True)), batch_dims=1)

    return hvp


def mse(model, params, x, y):
    """Mean squared error per task: shape (T,) for x of shape (T, N, 1), a scalar for (N, 1)."""
    return (model(params, x) - y).pow(2).mean(dim=(-2, -1))


def flatten(params, batch_dims=0):
    """Concatenate a parameter dict into one vector per task: shape (*batch, P)."""
    return torch.cat([p.reshape(*p.shape[:batch_dims], -1) for p in params.values()], dim=-1)


def unflatten(flat, like):
    """Inverse of flatten: split (*batch, P) into tensors shaped like `like` (a dict of unbatched shapes)."""
    batch = flat.shape[:-1]
    sizes = [p.numel() for p in like.values()]
    parts = torch.split(flat, sizes, dim=-1)
    return {k: part.reshape(*batch, *p.shape) for (k, p), part in zip(like.items(), parts, strict=True)}


def per_task(params, n_tasks):
    """Copy shared parameters theta into one slice per task: phi_i = theta for i = 1..T."""
    return {k: v.expand(n_tasks, *v.shape) for k, v in params.items()}


def task_norm(tensors):
    """Euclidean norm of a per-task dict of tensors (leading task axis), shape (T,)."""
    return sum(t.pow(2).flatten(1).sum(1) for t in tensors.values()).sqrt()


def relative_error(approx, exact):
    """||approx - exact|| / ||exact|| along the last axis."""
    return (approx - exact).norm(dim=-1) / exact.norm(dim=-1)
