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

    @staticmethod
    def activation_curvature(h, slope):
        """sigma''(z) in terms of h = sigma(z) and slope = sigma'(z); None: zero (the ReLU is
        piecewise linear; its kinks have no second derivative)."""
        return None

    def loss_grad(self, params, x, y):
        """Per-task MSE (T,) and its gradient w.r.t. per-task params (leading task axis).

        Backpropagation written out as batched matrix products, so the gradient is itself a
        differentiable expression: MAML differentiates through it with one ordinary backward
        pass, and iMAML's Hessian-vector products are forward-mode derivatives of it.
        """
        loss, grads, _ = self._backprop(params, x, y)
        return loss, grads

    def _backprop(self, params, x, y, hs=None):
        """(loss, grads, passes): loss_grad, and the passes it ran, passes = (hs, slopes, backs, ds):
        activations h_l, sigma'(z_l), d loss / d h_l and d loss / d z_l (index l = layer). hs: the
        forward pass at params, if already at hand (MLP.forward_loss)."""
        n_layers = len(self.sizes) - 1
        hs = self._forward(params, x) if hs is None else hs
        r = hs[-1] - y
        loss = r.pow(2).mean(dim=(-2, -1))
        slopes, backs, ds = [None] * n_layers, [None] * n_layers, [None] * (n_layers + 1)
        ds[n_layers] = 2 * r / r.shape[-2]  # d loss_i / d output
        grads = {}
        for layer in reversed(range(n_layers)):
            grads[f"w{layer}"] = ds[layer + 1].transpose(-1, -2) @ hs[layer]
            grads[f"b{layer}"] = ds[layer + 1].sum(-2)
            if layer:
                slopes[layer] = self.activation_slope(hs[layer])
                backs[layer] = ds[layer + 1] @ params[f"w{layer}"]
                ds[layer] = backs[layer] * slopes[layer]
        return loss, {k: grads[k] for k in params}, (hs, slopes, backs, ds)

    def forward_loss(self, params, x, y):
        """Per-task MSE (T,) at per-task params (no graph) and the forward pass it ran, from which
        linearize(params, x, y, hs) finishes the gradient: a line search's rejected trials need
        only the loss."""
        with torch.no_grad():
            hs = self._forward({k: v.detach() for k, v in params.items()}, x)
        return (hs[-1] - y).pow(2).mean(dim=(-2, -1)), hs

    def linearize(self, params, x, y, hs=None):
        """loss_grad at per-task params (no graph) with its passes kept: a Linearization, from
        which Hessian-vector products and the output Jacobian come without another pass. hs: the
        forward pass at params (forward_loss), if already at hand."""
        params = {k: v.detach() for k, v in params.items()}
        with torch.no_grad():
            loss, grads, passes = self._backprop(params, x, y, hs)
        return Linearization(self, params, loss, grads, *passes)

    def hvp_operator(self, params, x, y, like):
        """v -> H_i v for every task at once (flat (T, P) -> (T, P)), H_i the Hessian of the MSE at
        per-task params (task axis first): Linearization.hvp_operator."""
        return self.linearize(params, x, y).hvp_operator(like)

    def jacobian_factors(self, params, x):
        """The output Jacobian d f(params_i, x_n) / d params_i in factored form (a scalar output per
        point): [(delta_l, h_l) for each layer l], delta_l = d f_n / d z_{l+1} (T, N, out) and h_l the
        layer's input (T, N, in); the rows of layer l are vec(delta_n h_n^T) (weights) and delta_n
        (bias). By the batched backprop of loss_grad with one backward row per point."""
        params = {k: v.detach() for k, v in params.items()}
        hs = self._forward(params, x)
        slopes = [None] + [self.activation_slope(h) for h in hs[1:-1]]
        return _jacobian_factors(self, params, hs, slopes)

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

    def activation_curvature(self, h, slope):
        """softplus''(z) = beta sigmoid(beta z) (1 - sigmoid(beta z))."""
        return self.beta * slope * (1 - slope)

    def config(self):
        return {"sizes": list(self.sizes), "beta": self.beta}

    def __repr__(self):
        return f"SoftplusMLP(sizes={self.sizes}, beta={self.beta})"


class Linearization:
    """MLP.loss_grad at per-task params with its forward and backward passes kept (MLP.linearize):
    loss (T,) and grads, then Hessian-vector products and the output Jacobian's factors at the
    same point without another pass. index(i) keeps the tasks i (a solver's tasks still running)."""

    def __init__(self, model, params, loss, grads, hs, slopes, backs, ds):
        self.model, self.params, self.loss, self.grads = model, params, loss, grads
        self.hs, self.slopes, self.backs, self.ds = hs, slopes, backs, ds

    def index(self, i):
        """The products of tasks i only (loss and grads are not kept)."""
        def pick(ts):
            return [None if t is None else t[i] for t in ts]
        return Linearization(self.model, {k: v[i] for k, v in self.params.items()}, None, None,
                             pick(self.hs), pick(self.slopes), pick(self.backs), pick(self.ds))

    def jacobian_factors(self):
        """As MLP.jacobian_factors at these params and inputs."""
        return _jacobian_factors(self.model, self.params, self.hs, self.slopes)

    def hvp_operator(self, like):
        """v -> H_i v for every task at once (flat (T, P) -> (T, P)): Pearlmutter's R-operator
        applied to loss_grad's batched backprop, written out as batched matrix products (no autograd
        graph); each product costs about one gradient evaluation."""
        hs, slopes, ds = self.hs, self.slopes, self.ds
        n_layers = len(hs) - 1
        ws = [self.params[f"w{layer}"] for layer in range(n_layers)]
        wts = [w.mT for w in ws]
        second = [None] * n_layers  # (d loss / d h_l) sigma''(z_l): the activation's own curvature
        for layer in range(1, n_layers):
            curvature = self.model.activation_curvature(hs[layer], slopes[layer])
            second[layer] = None if curvature is None else self.backs[layer] * curvature
        dts = [None] + [d.mT for d in ds[1:]]
        scale = 2 / hs[0].shape[-2]

        def hvp(v):
            V = unflatten(v, like)
            rz, rh = [None], [None]  # directional derivatives R(z_l), R(h_l) along v
            for layer in range(n_layers):
                r = torch.baddbmm(V[f"b{layer}"].unsqueeze(-2), hs[layer], V[f"w{layer}"].mT)
                if layer:
                    r = torch.baddbmm(r, rh[layer], wts[layer])
                rz.append(r)
                rh.append(slopes[layer + 1] * r if layer < n_layers - 1 else None)
            rd = scale * rz[-1]  # R(ds[L])
            out = []
            for layer in reversed(range(n_layers)):
                rw = torch.bmm(rd.mT, hs[layer])
                out += [rd.sum(-2), rw]
                if layer:
                    rw.baddbmm_(dts[layer + 1], rh[layer])
                    rd = torch.baddbmm(torch.bmm(rd, ws[layer]), ds[layer + 1], V[f"w{layer}"])
                    rd.mul_(slopes[layer])
                    if second[layer] is not None:
                        rd.addcmul_(second[layer], rz[layer])
            return torch.cat([t.flatten(1) for t in reversed(out)], -1)  # w0, b0, w1, ... as flatten

        return hvp


def _jacobian_factors(model, params, hs, slopes):
    """MLP.jacobian_factors from a forward pass: activations hs and slopes sigma'(z_l)."""
    if model.sizes[-1] != 1:
        raise ValueError(f"the output Jacobian needs one output per point, got sizes {model.sizes}")
    delta = torch.ones_like(hs[-1])  # d f_n / d z_L
    factors = []
    for layer in reversed(range(len(hs) - 1)):
        factors.append((delta, hs[layer]))
        if layer:
            delta = (delta @ params[f"w{layer}"]) * slopes[layer]
    return factors[::-1]


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
    """v -> H_i v for every task at once (flat (T, P) -> (T, P)), H_i the Hessian of L_tr_i at phi_i;
    H is never formed. The model's own hand-written product when it has one (MLP.hvp_operator),
    double backprop (autograd_hvp_operator) otherwise."""
    if hasattr(model, "hvp_operator"):
        return model.hvp_operator(phi, x, y, like)
    return autograd_hvp_operator(model, phi, x, y, like)


def autograd_hvp_operator(model, phi, x, y, like):
    """hvp_operator by double backprop: differentiates the gradient grad L_tr_i(phi_i) once more,
    so one Hessian-vector product costs about two gradient evaluations (the independent reference
    for MLP.hvp_operator, and the route for any other model)."""
    phi = {k: v.detach().requires_grad_() for k, v in phi.items()}
    with torch.enable_grad():
        g = list(loss_grad(model, phi, x, y, create_graph=True)[1].values())

    def hvp(v):
        with torch.enable_grad():
            gv = sum((gi * vi).sum() for gi, vi in zip(g, unflatten(v, like).values(), strict=True))
            hv = torch.autograd.grad(gv, list(phi.values()), retain_graph=True)
        return flatten(dict(zip(like, hv, strict=True)), batch_dims=1)

    return hvp


class AutogradProducts:
    """`model` without its hand-written products (hvp_operator, jacobian_factors): helpers falls back
    to double backprop, the route of any other model. An independent reference for tests and
    benchmarks."""

    def __init__(self, model):
        self.model = model

    def __call__(self, params, x):
        return self.model(params, x)

    def loss_grad(self, params, x, y):
        return self.model.loss_grad(params, x, y)


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
