"""The sinusoid task family of the MAML paper (Finn et al. 2017, section 5.1).

Task i is y = A_i sin(x - b_i) with amplitude A_i ~ U[0.1, 5], phase b_i ~ U[0, pi] and inputs
x ~ U[-5, 5]. A batch holds T tasks on the first axis, each with a support set D_i^tr (K points)
and a query set D_i^test.
"""

import math
from dataclasses import dataclass

import torch

from .checks import check_int, check_range


@dataclass(frozen=True)
class TaskBatch:
    """T regression tasks: support (x_tr, y_tr) and query (x_te, y_te), each of shape (T, N, 1)."""

    x_tr: torch.Tensor
    y_tr: torch.Tensor
    x_te: torch.Tensor
    y_te: torch.Tensor
    amplitude: torch.Tensor  # (T,)
    phase: torch.Tensor  # (T,)

    def __post_init__(self):
        for name in ("x_tr", "y_tr", "x_te", "y_te"):
            t = getattr(self, name)
            if t.dim() != 3 or t.shape[-1] != 1:
                raise ValueError(f"{name} must have shape (tasks, points, 1), got {tuple(t.shape)}")
        if self.x_tr.shape != self.y_tr.shape:
            raise ValueError(f"x_tr {tuple(self.x_tr.shape)} and y_tr {tuple(self.y_tr.shape)} differ")
        if self.x_te.shape != self.y_te.shape:
            raise ValueError(f"x_te {tuple(self.x_te.shape)} and y_te {tuple(self.y_te.shape)} differ")
        if self.x_tr.shape[0] != self.x_te.shape[0]:
            raise ValueError(
                f"support has {self.x_tr.shape[0]} tasks but query has {self.x_te.shape[0]}"
            )
        if self.x_tr.shape[1] < 1:
            raise ValueError("the support set needs at least one point per task")

    @property
    def n_tasks(self):
        return self.x_tr.shape[0]

    def __getitem__(self, i):
        """Tasks i (an int, slice or index tensor), keeping the task axis."""
        if isinstance(i, int):
            i = slice(i, i + 1)
        return TaskBatch(
            self.x_tr[i], self.y_tr[i], self.x_te[i], self.y_te[i], self.amplitude[i], self.phase[i]
        )


@dataclass(frozen=True)
class SinusoidTasks:
    """The task distribution p(T): ranges of amplitude, phase and input."""

    amplitude: tuple = (0.1, 5.0)
    phase: tuple = (0.0, math.pi)
    x_range: tuple = (-5.0, 5.0)

    def __post_init__(self):
        check_range("amplitude", self.amplitude)
        check_range("phase", self.phase)
        check_range("x_range", self.x_range)

    @staticmethod
    def function(x, amplitude, phase):
        """y = A sin(x - b), broadcasting (T,) task parameters over x of shape (T, N, 1)."""
        return amplitude.view(-1, 1, 1) * torch.sin(x - phase.view(-1, 1, 1))

    def sample(self, n_tasks, k_support, k_query=None, generator=None, dtype=torch.float32):
        """Draw n_tasks tasks with k_support support and k_query (default: k_support) query points.

        Pass a torch.Generator (or an int seed) for reproducible batches.
        """
        if k_query is None:
            k_query = k_support
        for name, value in (("n_tasks", n_tasks), ("k_support", k_support), ("k_query", k_query)):
            check_int(name, value, 1)
        g = make_generator(generator)
        amp = self._uniform((n_tasks,), self.amplitude, g, dtype)
        phase = self._uniform((n_tasks,), self.phase, g, dtype)
        x_tr = self._uniform((n_tasks, k_support, 1), self.x_range, g, dtype)
        x_te = self._uniform((n_tasks, k_query, 1), self.x_range, g, dtype)
        return TaskBatch(
            x_tr, self.function(x_tr, amp, phase), x_te, self.function(x_te, amp, phase), amp, phase
        )

    def task(self, amplitude, phase, k_support, k_query=100, generator=None, dtype=torch.float32):
        """One task with a chosen amplitude and phase (for widgets), as a batch of one."""
        if not self.amplitude[0] <= amplitude <= self.amplitude[1]:
            raise ValueError(f"amplitude must lie in {self.amplitude}, got {amplitude}")
        if not self.phase[0] <= phase <= self.phase[1]:
            raise ValueError(f"phase must lie in {self.phase}, got {phase}")
        batch = self.sample(1, k_support, k_query, generator, dtype)
        amp = torch.tensor([amplitude], dtype=dtype)
        ph = torch.tensor([phase], dtype=dtype)
        return TaskBatch(
            batch.x_tr,
            self.function(batch.x_tr, amp, ph),
            batch.x_te,
            self.function(batch.x_te, amp, ph),
            amp,
            ph,
        )

    @staticmethod
    def _uniform(shape, low_high, g, dtype):
        low, high = low_high
        return low + (high - low) * torch.rand(shape, generator=g, dtype=dtype)


def make_generator(seed_or_generator=None):
    """A torch.Generator from an int seed, an existing generator, or None (seed 0)."""
    if isinstance(seed_or_generator, torch.Generator):
        return seed_or_generator
    if seed_or_generator is None:
        seed_or_generator = 0
    if not isinstance(seed_or_generator, int):
        raise ValueError(f"generator must be an int seed or a torch.Generator, got {seed_or_generator!r}")
    return torch.Generator().manual_seed(seed_or_generator)
