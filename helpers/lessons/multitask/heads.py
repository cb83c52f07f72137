"""Multi-task learning: one shared trunk, one linear head per training task ("one network, many heads").

    f(x; theta, w_i) = w_i^T h_theta(x) + c_i,    h_theta = the ReLU trunk (all layers but the last)

Training minimises (1/M) sum_i L_i(theta, w_i) over the trunk theta and the M heads jointly. A new
task gets a new head on the frozen trunk. The head is linear in its parameters, so fitting it on K
points is ridge regression with a closed form: iMAML's proximal objective on the last layer only,
    w* = argmin_w ||Phi w - y||^2 / K + (lam/2) ||w - w_bar||^2,    Phi = [h_theta(x), 1].
The baseline "one network per task" is MultiHeadMLP(M, shared_trunk=False): M trunks, M heads.
"""

import math
import time

import torch
from tqdm.auto import trange

from helpers.checks import check_int, check_positive
from helpers.evaluation import adaptation_errors, summarize
from helpers.models import MLP
from helpers.tasks import SinusoidTasks, make_generator


class MultiHeadMLP:
    """A ReLU trunk with layer sizes sizes[:-1] and n_heads linear heads sizes[-2] -> sizes[-1].

    Parameters: the trunk's {w0, b0, ..., w_{L-2}, b_{L-2}} as in MLP, plus head_w (n_heads, out,
    hidden) and head_b (n_heads, out). With sizes=(1, 40, 40, 1) the trunk has 1,720 parameters and
    each head 41. shared_trunk=False gives every head its own trunk (trunk tensors get a leading
    n_heads axis): M separate networks, the baseline multi-task learning is compared with.
    """

    def __init__(self, n_heads, sizes=(1, 40, 40, 1), shared_trunk=True):
        check_int("n_heads", n_heads, 1)
        sizes = tuple(sizes)
        if len(sizes) < 3 or any(not isinstance(s, int) or s < 1 for s in sizes):
            raise ValueError(f"sizes must be at least three positive integers (trunk and head), got {sizes}")
        self.n_heads, self.sizes, self.shared_trunk = n_heads, sizes, bool(shared_trunk)
        self.trunk = MLP(sizes[:-1])

    def init(self, generator=None, dtype=torch.float32):
        """Trunk(s) as MLP.init, heads like torch.nn.Linear layers: U(-1/sqrt(hidden), 1/sqrt(hidden))."""
        g = make_generator(generator)
        if self.shared_trunk:
            params = self.trunk.init(g, dtype)
        else:
            trunks = [self.trunk.init(g, dtype) for _ in range(self.n_heads)]
            params = {k: torch.stack([t[k] for t in trunks]) for k in trunks[0]}
        hidden, out = self.sizes[-2:]
        bound = 1.0 / math.sqrt(hidden)
        params["head_w"] = (2 * torch.rand(self.n_heads, out, hidden, generator=g, dtype=dtype) - 1) * bound
        params["head_b"] = (2 * torch.rand(self.n_heads, out, generator=g, dtype=dtype) - 1) * bound
        return params

    def _check_heads(self, heads):
        if heads.numel() and (heads.min() < 0 or heads.max() >= self.n_heads):
            raise ValueError(f"heads must lie in [0, {self.n_heads - 1}], got {heads.tolist()}")

    def features(self, params, x, heads=None):
        """h_theta(x), the trunk's last hidden layer after ReLU: (T, N, hidden) for x (T, N, in).

        Separate trunks (shared_trunk=False) need `heads`, the trunk to use for each task.
        """
        trunk = {k: v for k, v in params.items() if not k.startswith("head_")}
        if not self.shared_trunk:
            if heads is None:
                raise ValueError("a model with separate trunks needs `heads` to pick each task's trunk")
            trunk = {k: v[heads] for k, v in trunk.items()}
        return torch.relu(self.trunk(trunk, x))

    def __call__(self, params, x, heads):
        """Output of head heads[i] (on its trunk) for task i: x (T, N, in), heads (T,) indices.

        An int head with x of shape (N, in) gives one task's output, shape (N, out).
        """
        if isinstance(heads, int):
            return self(params, x.unsqueeze(0), torch.tensor([heads]))[0]
        heads = torch.as_tensor(heads, dtype=torch.long)
        if x.dim() != 3 or heads.shape != (x.shape[0],):
            raise ValueError(f"heads must hold one index per task of x {tuple(x.shape)}, got shape "
                             f"{tuple(heads.shape)}")
        self._check_heads(heads)
        head = {"w": params["head_w"][heads], "b": params["head_b"][heads]}
        return self.apply_head(params, x, head, heads)

    def apply_head(self, params, x, head, heads=None):
        """w^T h_theta(x) + c with one head per task: head {w: (T, out, hidden), b: (T, out)}."""
        return self.features(params, x, heads) @ head["w"].transpose(-1, -2) + head["b"].unsqueeze(-2)

    def head_matrix(self, params):
        """The trained heads as rows [w_i, c_i]: (n_heads, hidden + 1) for a single output."""
        return torch.cat([params["head_w"][:, 0], params["head_b"]], dim=-1)

    def config(self):
        """Constructor arguments (saved with shipped weights)."""
        return {"n_heads": self.n_heads, "sizes": list(self.sizes), "shared_trunk": self.shared_trunk}

    def n_params(self):
        hidden, out = self.sizes[-2:]
        trunks = 1 if self.shared_trunk else self.n_heads
        return trunks * self.trunk.n_params() + self.n_heads * (hidden + 1) * out

    def __repr__(self):
        return f"MultiHeadMLP(n_heads={self.n_heads}, sizes={self.sizes}, shared_trunk={self.shared_trunk})"


# ---------------------------------------------------------------------------------------------- #
# Training: the shared model, and one separate network per task with the same budget

TRAIN = {"iterations": 3000, "points_per_task": 20, "lr": 3e-3}
POOL = 50  # training tasks are the first M of a fixed pool, so task i is the same task for every M
TASK_SEED = 5  # the pool and the data streams; held-out evaluations use other seeds


def training_tasks(n_tasks, seed=TASK_SEED, pool=POOL, tasks=SinusoidTasks()):
    """The first n_tasks tasks of a fixed pool drawn from p(T): (amplitude, phase), each (M,)."""
    check_int("n_tasks", n_tasks, 1)
    if n_tasks > pool:
        raise ValueError(f"n_tasks must be at most the pool size {pool}, got {n_tasks}")
    batch = tasks.sample(pool, 1, 1, seed)
    return batch.amplitude[:n_tasks], batch.phase[:n_tasks]


def train_multitask(amplitude, phase, iterations=TRAIN["iterations"],
                    points_per_task=TRAIN["points_per_task"], lr=TRAIN["lr"], seed=TASK_SEED,
                    sizes=(1, 40, 40, 1), shared_trunk=True, tasks=SinusoidTasks(), progress=True):
    """Adam on (1/M) sum_i L_i(theta, w_i), with fresh points for every task at every iteration.

    Every task has as much data as it wants, so the comparison shared vs separate is about the
    architecture, not about data. Same seed, same data stream for both.
    Returns (model, params, losses, seconds).
    """
    check_positive(iterations=iterations, points_per_task=points_per_task, lr=lr)
    model = MultiHeadMLP(amplitude.shape[0], sizes, shared_trunk)
    heads = torch.arange(model.n_heads)
    g = make_generator(seed + 1)  # the data stream, independent of the initialisation
    params = {k: v.requires_grad_() for k, v in model.init(seed).items()}
    opt = torch.optim.Adam(params.values(), lr=lr)
    losses = []
    t0 = time.perf_counter()
    desc = f"{'multi-task' if shared_trunk else 'separate networks'}, M={model.n_heads}"
    for _ in trange(iterations, desc=desc, disable=not progress, mininterval=0.5):
        u = torch.rand(model.n_heads, points_per_task, 1, generator=g, dtype=amplitude.dtype)
        x = tasks.x_range[0] + (tasks.x_range[1] - tasks.x_range[0]) * u
        # mean over tasks: separate networks then get each their own gradient (Adam is elementwise)
        loss = (model(params, x, heads) - tasks.function(x, amplitude, phase)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    if not math.isfinite(losses[-1]):
        raise FloatingPointError(f"multi-task training diverged: lower the learning rate (lr={lr})")
    return model, {k: v.detach() for k, v in params.items()}, losses, time.perf_counter() - t0


def per_task_mse(model, params, amplitude, phase, n_points=200, tasks=SinusoidTasks()):
    """MSE of head i against training task i's true curve on an even grid of n_points: (M,)."""
    n = amplitude.shape[0]
    if n > model.n_heads:
        raise ValueError(f"the model has {model.n_heads} heads, not enough for {n} tasks")
    x = torch.linspace(*tasks.x_range, n_points).expand(n, n_points).unsqueeze(-1)
    with torch.no_grad():
        y_hat = model(params, x, torch.arange(n))
    return (y_hat - tasks.function(x, amplitude, phase)).pow(2).mean(dim=(-2, -1))


# ---------------------------------------------------------------------------------------------- #
# A new task: a new head on the frozen (shared) trunk

def design_matrix(model, params, x):
    """Phi = [h_theta(x), 1] of shape (T, N, hidden + 1): the inputs of a linear head."""
    if not model.shared_trunk:
        raise ValueError("a new head needs a shared trunk (this model has one trunk per task)")
    with torch.no_grad():
        h = model.features(params, x)
    return torch.cat([h, torch.ones_like(h[..., :1])], dim=-1)


def mean_head(model, params):
    """w_bar: the average trained head [w, c], shape (hidden + 1,), where new heads start."""
    return model.head_matrix(params).mean(0)


def as_head(w):
    """Split rows [w, c] of shape (T, hidden + 1) into a head {w: (T, 1, hidden), b: (T, 1)}."""
    return {"w": w[:, None, :-1], "b": w[:, -1:]}


def fit_head(model, params, x, y, lam=1e-3):
    """The new heads in closed form, one per task: argmin_w ||Phi w - y||^2 / K + (lam/2)||w - w_bar||^2.

    The gradient vanishes where (Phi^T Phi / K + (lam/2) I)(w - w_bar) = Phi^T (y - Phi w_bar) / K:
    one (hidden+1) x (hidden+1) linear solve per task (float64). lam > 0 is needed: with K < 41
    points the least-squares problem alone has infinitely many solutions. x, y: (T, K, 1).
    Returns the rows w of shape (T, hidden + 1); as_head(w) gives the head.
    """
    if not (isinstance(lam, int | float) and math.isfinite(lam) and lam > 0):
        raise ValueError(f"lam must be a finite number > 0, got {lam!r}")
    if x.dim() != 3 or x.shape != y.shape or x.shape[-1] != 1:
        raise ValueError(f"x and y must both have shape (tasks, K, 1), got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    phi = design_matrix(model, params, x).double()
    k = x.shape[1]
    w_bar = mean_head(model, params).double()
    r = y.double() - phi @ w_bar.unsqueeze(-1)  # what the mean head leaves unexplained
    gram = phi.transpose(-1, -2) @ phi / k
    eye = torch.eye(gram.shape[-1], dtype=gram.dtype)
    step = torch.linalg.solve(gram + 0.5 * lam * eye, phi.transpose(-1, -2) @ r / k)
    return (w_bar + step[..., 0]).to(x.dtype)


def head_mse(model, params, w, x, y):
    """Query MSE per task (T,) of heads w (T, hidden + 1) on the frozen trunk."""
    return (design_matrix(model, params, x) @ w.unsqueeze(-1) - y).pow(2).mean(dim=(-2, -1))


RIDGE_LAM = 1e-3  # notebook 02's ridge strength for a new head


def ridge_head_errors(model, params, batch, lam=RIDGE_LAM):
    """Query MSE per task (T,) of the closed-form new head (fit_head) on each task of `batch`,
    fitted on its support set, trunk frozen: notebook 02's "new head, closed form" (with the shipped
    "multitask" model, 0.09 at K = 10 on notebook 02's held-out tasks)."""
    w = fit_head(model, params, batch.x_tr, batch.y_tr, lam)
    return head_mse(model, params, w, batch.x_te, batch.y_te)


def head_lr(model, params, tasks=SinusoidTasks(), n_grid=1001):
    """0.9 / max_x ||Phi(x)||^2 over the input range: gradient descent on a head's L_tr cannot
    diverge with it, since the Hessian (2/K) Phi^T Phi has eigenvalues <= 2 max_x ||Phi(x)||^2."""
    x = torch.linspace(*tasks.x_range, n_grid).view(1, -1, 1)
    return 0.9 / design_matrix(model, params, x).pow(2).sum(-1).max().item()


def head_gradient_steps(model, params, batch, steps, lr):
    """Query MSE (steps + 1, T) while a new head is fitted by gradient descent on the K support
    points, from w_bar, with the trunk frozen: w <- w - lr (2/K) Phi^T (Phi w - y)."""
    check_int("steps", steps, 0)
    check_positive(lr=lr)
    phi_tr = design_matrix(model, params, batch.x_tr)
    phi_te = design_matrix(model, params, batch.x_te)
    w = mean_head(model, params).expand(batch.n_tasks, -1).unsqueeze(-1)
    k = batch.x_tr.shape[1]
    errors = [(phi_te @ w - batch.y_te).pow(2).mean(dim=(-2, -1))]
    for _ in range(steps):
        w = w - lr * (2 / k) * phi_tr.transpose(-1, -2) @ (phi_tr @ w - batch.y_tr)
        errors.append((phi_te @ w - batch.y_te).pow(2).mean(dim=(-2, -1)))
    errors = torch.stack(errors)
    if not torch.isfinite(errors[-1]).all():
        raise FloatingPointError(f"fitting the head diverged: lower the learning rate (lr={lr})")
    return errors


# ---------------------------------------------------------------------------------------------- #
# Shipped models (helpers.lessons.pretrain merges PRETRAIN_SPECS into its SPECS)

N_TASKS = (1, 2, 5, 10, 20, 50)  # the notebook's "number of training tasks" slider
DEFAULT_TASKS = 20  # the model shipped as "multitask"
EVAL_STEPS = (0, 1, 5, 10)
SCRATCH_LR = 0.01


def model_name(n_tasks):
    """Shipped name of the multi-task model on n_tasks tasks ("multitask" for the default M = 20)."""
    if n_tasks not in N_TASKS:
        raise ValueError(f"n_tasks must be one of the shipped {N_TASKS}, got {n_tasks!r}")
    return "multitask" if n_tasks == DEFAULT_TASKS else f"multitask_{n_tasks}"


SEPARATE = "multitask_separate"  # one network per task for the POOL tasks (the first M serve any M)


def _train_spec(n_tasks, shared_trunk):
    def train(progress, scale):
        amplitude, phase = training_tasks(n_tasks)
        config = {"n_tasks": n_tasks, "shared_trunk": shared_trunk,
                  "iterations": max(1, int(TRAIN["iterations"] * scale)),
                  "points_per_task": TRAIN["points_per_task"], "lr": TRAIN["lr"], "seed": TASK_SEED,
                  "task_amplitude": [round(a, 6) for a in amplitude.tolist()],
                  "task_phase": [round(b, 6) for b in phase.tolist()]}
        model, params, _, seconds = train_multitask(
            amplitude, phase, config["iterations"], config["points_per_task"], config["lr"], TASK_SEED,
            shared_trunk=shared_trunk, progress=progress)
        return model, params, seconds, config
    return train


def evaluate(model, params, k_shot, seed, n_tasks=1000, k_query=100, steps=EVAL_STEPS):
    """{n: Summary}: query MSE on n_tasks new tasks after n gradient steps fitting a new head
    on k_shot points (from w_bar, trunk frozen, lr = head_lr(model, params))."""
    batch = SinusoidTasks().sample(n_tasks, k_shot, k_query, seed)
    errors = head_gradient_steps(model, params, batch, max(steps), head_lr(model, params))
    return {n: summarize(errors[n]) for n in steps}


evaluate.how = ("gradient steps on a new head from the mean trained head, trunk frozen, "
                "lr = 0.9 / max_x ||[h(x), 1]||^2")


def evaluate_separate(model, params, k_shot, seed, n_tasks=1000, k_query=100, steps=EVAL_STEPS):
    """One network per task shares nothing: a new task starts from a new random network
    (MLP(sizes).init(seed)) and takes n gradient steps of size SCRATCH_LR on its k_shot points."""
    mlp = MLP(model.sizes)
    batch = SinusoidTasks().sample(n_tasks, k_shot, k_query, seed)
    errors = adaptation_errors(mlp, mlp.init(seed), batch, max(steps), SCRATCH_LR)
    return {n: summarize(errors[n]) for n in steps}


evaluate_separate.how = (f"a new task gets a new network (nothing is shared): lr={SCRATCH_LR} "
                         "gradient steps from a random initialisation")

# name -> (train(progress, scale) -> (model, params, seconds, config), evaluate(model, params, K, seed))
PRETRAIN_SPECS = {model_name(m): (_train_spec(m, True), evaluate) for m in N_TASKS}
PRETRAIN_SPECS[SEPARATE] = (_train_spec(POOL, False), evaluate_separate)


def shipped_tasks(record):
    """(amplitude, phase) of a shipped multi-task model's training tasks, from its JSON record."""
    config = record["config"]
    return torch.tensor(config["task_amplitude"]), torch.tensor(config["task_phase"])
