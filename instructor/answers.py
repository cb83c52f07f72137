"""The typed part of the instructor's guide. Every number comes from the panels at run time
(instructor/build_guide.py): an answer here says what to look for and why, never a value.

QUESTIONS[notebook]: one Q per question beside a panel, in the notebook's order (numbered 1, 2, ...
across the notebook's question lists). `asks` is how the question starts (a test checks that it
still does); `settings` are Python expressions evaluated in the notebook's kernel, each a dict of
the panel's controls: the guide prints the panel's caption at each.
PANELS[notebook]: what to say at each panel (its variable name in the notebook), one or two points.
MISTAKES[notebook]: what students are likely to get wrong in that notebook.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Q:
    asks: str
    answer: str
    settings: list = field(default_factory=list)
    mistake: str = ""


QUESTIONS = {}
PANELS = {}
MISTAKES = {}


QUESTIONS["00_toy_problem"] = [
    Q("With $K = 5$, how close is the fit", "", ["dict(k_shot=5, amplitude=3.0, phase=1.0)"]),
    Q("Set $K = 1$.", "", ["dict(k_shot=1, amplitude=3.0, phase=1.0)"]),
    Q("From how many shots on is the query error below 1?", "",
      [f"dict(k_shot={k}, amplitude=3.0, phase=1.0)" for k in (5, 10, 20)]
      + [f"dict(k_shot=10, amplitude={a}, phase=1.0)" for a in (0.5, 5.0)]),
    Q("Two numbers, $A$ and $b$, identify a task.", ""),
]
QUESTIONS["01_transfer_learning"] = [
    Q("With $K = 5$ and $\\alpha = 0.01$, move the steps", "",
      [f"dict(k_shot=5, lr=0.01, steps={n}, amplitude=3.0, phase=1.0)" for n in (0, 10, 200)]),
    Q("Raise $\\alpha$ past the stability limit", "",
      [f"dict(k_shot=5, lr=0.05, steps={n}, amplitude=3.0, phase=1.0)" for n in (10, 200)]
      + ["dict(k_shot=20, lr=0.05, steps=200, amplitude=3.0, phase=1.0)"]),
    Q("Set $A = 0.5$.", "",
      [f"dict(k_shot=5, lr=0.01, steps=0, amplitude={a}, phase={b})"
       for a, b in ((0.5, 1.0), (3.0, 1.0), (3.0, 0.0), (3.0, "math.pi"))]),
    Q("With $K = 20$, which is better after 10 steps", "",
      [f"dict(k_shot=20, lr=0.01, steps={n}, amplitude=3.0, phase=1.0)" for n in (10, 200)]),
]
QUESTIONS["02_multi_task_learning"] = [
    Q("With $M = 2$, how many tasks does sharing hurt?", "",
      [f"dict(n_tasks={m}, task=1)" for m in (2, 20, 50)]),
    Q("Find a task whose own network is visibly wrong", "", ["dict(n_tasks=20, task=4)"]),
    Q("With $M = 1$ the two models have the same architecture.", "", ["dict(n_tasks=1, task=1)"]),
    Q("With $M = 20$ and $\\lambda = 10^{-3}$, from how many shots", "",
      [f"dict(n_tasks=20, k_shot={k}, lam=1e-3)" for k in (2, 3, 5, 10)]),
    Q("Set $\\lambda$ to its smallest value with $K = 5$", "",
      ["dict(n_tasks=20, k_shot=5, lam=1e-5)", "dict(n_tasks=20, k_shot=5, lam=10.0)"]),
    Q("Switch to $M = 1$.", "",
      ["dict(n_tasks=1, k_shot=10, lam=1e-3)", "dict(n_tasks=20, k_shot=10, lam=1e-3)"]),
]
QUESTIONS["03_maml"] = [
    Q("With $k = 1$ and $\\alpha = 0.01$", "",
      ["dict(inner_steps=1, inner_lr=0.01, k_shot=5, task=0)",
       "dict(inner_steps=0, inner_lr=0.01, k_shot=5, task=0)"]),
    Q("Raise $\\alpha$ to $0.1$", "",
      [f"dict(inner_steps={k}, inner_lr=0.1, k_shot=5, task=0)" for k in (1, 10)]),
    Q("What happens to the baseline when $\\alpha$ grows?", "",
      [f"dict(inner_steps=1, inner_lr={lr}, k_shot=5, task=0)" for lr in (0.01, 0.1, 0.3)]),
    Q("Set $K = 1$ or $K = 2$.", "",
      [f"dict(inner_steps=1, inner_lr=0.01, k_shot={k}, task=0)" for k in (1, 2)]),
    Q("How many megabytes does each extra inner step add", "",
      ["dict(inner_steps=1)", "dict(inner_steps=2)"]),
    Q("The shipped MAML uses $k = 1$.", "", ["dict(inner_steps=16)"]),
    Q("Compare iMAML with MAML at $k = 0$ and $k = 1$.", "", ["dict(inner_steps=0)", "dict(inner_steps=1)"]),
]
QUESTIONS["04_first_order_maml"] = [
    Q("Set $k = 0$.", "", ["dict(inner_steps=0, inner_lr=0.01, k_shot=10, where='random init')"]),
    Q("At $k = 1$, increase $\\alpha$ from $0.001$ to $0.1$.", "",
      [f"dict(inner_steps=1, inner_lr={lr}, k_shot=10, where='random init')" for lr in (0.001, 0.01, 0.1)]),
    Q("With $\\alpha = 0.01$, how many inner steps", "",
      [f"dict(inner_steps={k}, inner_lr=0.01, k_shot=10, where='random init')" for k in (1, 5, 10, 20)]
      + ["dict(inner_steps=10, inner_lr=0.01, k_shot=5, where='random init')"]),
    Q("Switch to MAML's $\\theta$ with $k = 1$", "",
      [f"dict(inner_steps=1, inner_lr=0.01, k_shot=10, where={w!r})"
       for w in ("random init", "MAML's theta")]),
]
QUESTIONS["05_imaml"] = [
    Q("At the default settings, is the meta-gradient accurate?", "",
      ["dict(lam=lam, delta=1e-6, cg_steps=10, task=0)",
       "dict(lam=lam, delta=1e-2, cg_steps=panel.max_cg_steps, task=0)"]),
    Q("At $\\delta = 10^{-6}$, how many CG steps", "",
      [f"dict(lam=max(panel.lam_values), delta=1e-6, cg_steps={k}, task=0)" for k in (2, 4)]
      + [f"dict(lam=min(l for l in panel.lam_values if l > 0), delta=1e-6, cg_steps={k}, task=0)"
         for k in (4, 10)]),
    Q("What happens at the smallest $\\lambda$ with $\\delta = 1$", "",
      ["dict(lam=min(panel.lam_values), delta=1.0, cg_steps=10, task=0)"]),
    Q("How many Newton steps does the solve need", "",
      ["dict(lam=lam, delta=delta, cg_steps=10, task=0)", "dict(lam=lam, delta=1e-8, cg_steps=10, task=0)"]),
]
QUESTIONS["07_beyond_imaml"] = [
    Q("What happens to the posterior mean and to the band", "", ["dict(lam=0.01, k_shot=1)"]),
    Q("With $\\lambda = 100$, where does the iMAML solution end up", "",
      [f"dict(lam=100.0, k_shot={k})" for k in (1, 10)]),
    Q("Why does gradient descent need thousands of steps", "",
      [f"dict(lam=0.01, k_shot={k})" for k in (1, 10)]),
]
_ALL = "scratch=True, transfer=True, multitask=True, maml=True, fomaml=True, imaml=True"
_TWO = "scratch=False, transfer=False, multitask=False, maml=True, fomaml=True, imaml=False"
QUESTIONS["08_takeaways"] = [
    Q("Set $n = 0$.", "", [f"dict(k_shot=5, steps=0, {_ALL})"]),
    Q("With $K = 5$, move $n$ from 0 to 1.", "", [f"dict(k_shot=5, steps=1, {_ALL})"]),
    Q("Switch to $K = 10$.", "", [f"dict(k_shot={k}, steps=10, {_ALL})" for k in (5, 10)]),
    Q("Keep only MAML and first-order MAML.", "", [f"dict(k_shot=5, steps={n}, {_TWO})" for n in (1, 3, 10)]),
]
