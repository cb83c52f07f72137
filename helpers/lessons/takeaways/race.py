"""The meta-training race: MAML, first-order MAML and iMAML meta-trained live from the same
initialisation on the same task stream, each scored on fixed held-out tasks as it goes.

    python -m helpers.lessons.takeaways.race [--seconds 60] [--mode time|iterations] [--outer-lr 0.01]

runs the panel's default race headless and prints each contestant's validation MSE at the end.

The race runs in one thread: the contestant that is behind takes the next meta-iteration, "behind"
counted in meta-iterations (mode "iterations": equal steps) or in training seconds (mode "time":
every contestant gets the same wall-clock budget). A contestant is scored every `eval_every`
seconds of wall-clock time: validation MSE over N_VAL held-out 5-shot tasks after STEPS iterations
of its own adaptation rule, the time of the scoring left out of its training seconds. A contestant
whose meta-training diverges stops with a message; the others race on.
"""

import argparse
import dataclasses
import math
import time
from dataclasses import dataclass, field

import torch

from helpers.evaluation import summarize
from helpers.inner import Adaptation
from helpers.models import MLP, SoftplusMLP, mse
from helpers.pretrain import IMAML, IMAML_BETA, IMAML_RULE, META
from helpers.tasks import SinusoidTasks, make_generator
from helpers.training import MetaLearner

SEED = 0  # the initialisation and the task stream, the same for every contestant
VAL_SEED = 5_000_005  # the race's held-out tasks: no training or study seed
SELECT_SEED = 6_000_006  # the tasks OUTER_LR was chosen on (benchmarks.bench_race --sweep)
# Adam's meta step size, the same for every contestant: larger than the 30,000-iteration training's
# 1e-3, as a race lasts a minute (benchmarks.bench_race --sweep chose it on SELECT_SEED's tasks)
OUTER_LR = 1e-2
N_VAL, K_VAL, STEPS = 100, 5, 10
METHODS = {"maml": "MAML", "fomaml": "first-order MAML", "imaml": "iMAML"}
MODES = ("time", "iterations")


@dataclass(frozen=True)
class Contestant:
    """A meta-learner and its settings: MAML / first-order MAML take inner_steps gradient steps of
    inner_lr; iMAML is the shipped configuration (helpers.pretrain.IMAML) with lam, the inner solver
    ("hessian_free", or "gd": 16 gradient steps of inner_lr) and cg_steps for the meta-gradient."""

    method: str
    inner_lr: float = 0.01
    inner_steps: int = 1
    lam: float = IMAML["lam"]
    solver: str = IMAML["solver"]
    cg_steps: int = IMAML["cg_steps"]

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {list(METHODS)}, got {self.method!r}")

    @property
    def label(self):
        return METHODS[self.method]

    def learner(self, k_shot, outer_lr=OUTER_LR, seed=SEED):
        """A MetaLearner at the race's initialisation (the same for all: the networks share sizes),
        Adam's meta step size outer_lr."""
        g = make_generator(seed)
        model = SoftplusMLP(beta=IMAML_BETA) if self.method == "imaml" else MLP()
        params = model.init(g)
        if self.method == "imaml":
            kwargs = {**IMAML, "lam": self.lam, "solver": self.solver, "cg_steps": self.cg_steps}
            if self.solver == "gd":
                kwargs.update(inner_steps=16, inner_lr=self.inner_lr)
        else:
            kwargs = {"inner_steps": self.inner_steps, "inner_lr": self.inner_lr}
        return MetaLearner(self.method, model, params, g, **{**META, "k_shot": k_shot}, outer_lr=outer_lr,
                           **kwargs)

    def rule(self):
        """Its own adaptation rule at test time (as helpers.pretrain gives each method)."""
        if self.method == "imaml":
            return dataclasses.replace(IMAML_RULE, lr=self.inner_lr, lam=self.lam, solver=self.solver)
        return Adaptation(lr=self.inner_lr)


@dataclass
class Lane:
    """One contestant's progress: points [(meta-iterations, training seconds, validation MSE,
    wall-clock seconds since the race started)], the adapted fit on validation task 0 at the last
    scoring, and why it stopped (None: running)."""

    contestant: Contestant
    learner: MetaLearner
    seconds: float = 0.0
    points: list = field(default_factory=list)
    fit: torch.Tensor = None
    stopped: str = None

    def key(self, mode):
        return self.seconds if mode == "time" else self.learner.iteration


class Race:
    """Contestants meta-trained in turn (see the module docstring), each with Adam's meta step size
    outer_lr. run() races until `budget` seconds of wall-clock time have passed or stop() returns
    True. val_seed: the held-out tasks it scores on."""

    def __init__(self, contestants, k_shot=META["k_shot"], mode="time", eval_every=1.0, outer_lr=OUTER_LR,
                 tasks=SinusoidTasks(), val_seed=VAL_SEED):
        if not contestants:
            raise ValueError("pick at least one contestant")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode, self.eval_every = mode, eval_every
        self.val = tasks.sample(N_VAL, K_VAL, 100, val_seed)
        self.grid = torch.linspace(*tasks.x_range, 200).view(1, -1, 1)
        self.truth = tasks.function(self.grid, self.val.amplitude[:1], self.val.phase[:1]).flatten()
        self.lanes = [Lane(c, c.learner(k_shot, outer_lr)) for c in contestants]
        self.elapsed, self.racing = 0.0, False  # wall-clock seconds raced; inside run()
        for lane in self.lanes:
            self.score(lane)

    def score(self, lane):
        """Validation MSE of the lane's theta after STEPS iterations of its own rule; its fit on
        validation task 0."""
        c, model = lane.contestant, lane.learner.model
        phi = c.rule()(model, lane.learner.theta(), self.val, STEPS)
        with torch.no_grad():
            summary = summarize(mse(model, phi, self.val.x_te, self.val.y_te))
            fit = model({k: v[:1] for k, v in phi.items()}, self.grid).flatten()
        lane.points.append((lane.learner.iteration, lane.seconds, summary.mean, self.elapsed))
        lane.fit = fit if torch.isfinite(fit).all() else None

    def running(self):
        return [lane for lane in self.lanes if lane.stopped is None]

    def run(self, budget, stop=lambda: False, on_update=None, update_every=0.5):
        """Race for `budget` more seconds of wall-clock time; on_update(race) at least every
        update_every seconds while it runs, and once at the end."""
        self.racing = True
        start = time.perf_counter() - self.elapsed  # a second run() carries on the clock
        end = time.perf_counter() + budget
        last_score = dict.fromkeys(map(id, self.lanes), time.perf_counter())
        last_update = time.perf_counter()
        while self.running() and not stop() and (now := time.perf_counter()) < end:
            lane = min(self.running(), key=lambda lane: lane.key(self.mode))
            t0 = time.perf_counter()
            try:
                lane.learner.step()
            except (FloatingPointError, ValueError) as err:
                lane.stopped = (f"{lane.contestant.label} stopped at meta-iteration "
                                f"{lane.learner.iteration}: {err}")
            lane.seconds += time.perf_counter() - t0
            self.elapsed = time.perf_counter() - start
            for other in self.lanes:
                due = now - last_score[id(other)] >= self.eval_every
                if due and other.points[-1][0] < other.learner.iteration:
                    self.score(other)
                    last_score[id(other)] = time.perf_counter()
            if on_update is not None and time.perf_counter() - last_update >= update_every:
                on_update(self)
                last_update = time.perf_counter()
        self.elapsed, self.racing = time.perf_counter() - start, False
        for lane in self.lanes:
            if lane.points[-1][0] < lane.learner.iteration:
                self.score(lane)
        if on_update is not None:
            on_update(self)
        return self

    def reached(self, lane, target):
        """Wall-clock seconds into the race at which the lane's validation MSE was first <= target
        (None: not yet)."""
        return next((wall for _, _, value, wall in lane.points if value <= target), None)

    def summary(self):
        """One line per contestant: iterations, training seconds, validation MSE, or why it stopped."""
        lines = []
        for lane in self.lanes:
            it, seconds, value, _ = lane.points[-1]
            mse_text = f"{value:.3f}" if math.isfinite(value) else "every task diverged"
            lines.append(lane.stopped or f"{lane.contestant.label}: {it} meta-iterations in {seconds:.1f} s, "
                                         f"validation MSE {mse_text}")
        return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--mode", choices=MODES, default="time")
    parser.add_argument("--contestants", default="maml,imaml", help="comma-separated, of maml,fomaml,imaml")
    parser.add_argument("--outer-lr", type=float, default=OUTER_LR, help="Adam's meta step size, for all")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    race = Race([Contestant(m) for m in args.contestants.split(",")], mode=args.mode, outer_lr=args.outer_lr)
    race.run(args.seconds)
    print(f"the race after {race.elapsed:.1f} s of wall-clock time (mode {args.mode!r}, 1 torch thread):")
    for lane, line in zip(race.lanes, race.summary(), strict=True):
        print(f"  {line}")
        every = max(1, len(lane.points) // 8)
        print("    " + ", ".join(f"{wall:.0f} s: {v:.3f}" for _, _, v, wall in lane.points[::every]))
    return race


if __name__ == "__main__":
    main()
