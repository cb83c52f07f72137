"""Notebook 08, takeaways: the head-to-head panel (HeadToHeadPanel) and the race (RacePanel)."""

from instructor.answers import Q

ALL = "scratch=True, transfer=True, multitask=True, maml=True, fomaml=True, imaml=True"
TWO = "scratch=False, transfer=False, multitask=False, maml=True, fomaml=True, imaml=False"
WIDEST = "readings.widest_gap(panel, 'maml', 'fomaml', {k}, {start})"
RACE = "maml=True, fomaml=False, imaml=True, budget=60"

QUESTIONS = [
    Q("Set $n = 0$.",
      "The multi-task head, the pretrained network and MAML have about the same error before any "
      "step: each predicts close to the average curve, the best single prediction without data "
      "(notebook 01). iMAML, the network fitted from scratch (a random network: nothing has been "
      "fitted yet) and first-order MAML are worse. A meta-learner's $\\theta$ is trained for its "
      "error *after* adapting: its prediction at $n = 0$ is a starting point chosen for where the "
      "steps take it, and nothing rewards it for being a good fit itself.",
      [f"dict(k_shot=5, steps=0, {ALL})"]),
    Q("With $K = 5$, move $n$ from 0 to 1.",
      "The three meta-learners drop by a large factor in one step (divide each method's number at "
      "$n = 0$ by its number at $n = 1$): MAML ends lowest, and first-order MAML, from its worse "
      "start, drops by the largest factor. The pretrained network and the multi-task head barely "
      "move: a small step from the average curve, or from the mean head, changes little. The fit "
      "from scratch gets worse at first: its first Adam steps chase five points from a random "
      "network.",
      [f"dict(k_shot=5, steps={n}, {ALL})" for n in (0, 1)]),
    Q("Switch to $K = 10$.",
      "After 10 steps the meta-learners' errors fall by a large factor from $K = 5$ to $K = 10$, while "
      "the pretrained network and the multi-task head fall much less (the two captions). The "
      "meta-learners have the right prior, a sine to place: their 5-shot error is mostly too few "
      "points, and five more points fix much of it. The baselines' errors come mostly from the "
      "wrong prior and slow adaptation: more points do not help ten small steps from the average "
      "curve. (From scratch halves too, from far higher: it has no prior at all.)",
      [f"dict(k_shot={k}, steps=10, {ALL})" for k in (5, 10)]),
    Q("Keep only MAML and first-order MAML.",
      "Below, for $K = 5$ and $10$: the step $n$ at which the gap is largest against the sum of "
      "the two 95% intervals, over all $n$ and over $n \\ge 1$ (the reading in brackets). The "
      "largest is at $n = 0$, before adapting, where the two $\\theta$ predict different curves; "
      "after adapting it is largest after the first step, and only a little above the intervals' "
      "sum. Say that intervals are the "
      "wrong yardstick for two methods on the same tasks: the paired differences of Figure 1's "
      "cell and the takeaways decide, and they resolve differences these bands hide.",
      [f"dict(k_shot={k}, steps={WIDEST.format(k=k, start=start)}, {TWO})"
       for k in (5, 10) for start in (0, 1)],
      reading="readings.gap(panel, 'maml', 'fomaml')"),
    Q("Start the default race",
      "At equal time MAML is ahead: its meta-iteration is many times cheaper, so it takes many "
      "times more of them in the same seconds. At equal steps iMAML is ahead at the same number of "
      "meta-iterations: each of its meta-gradients is worth more (an exact implicit gradient at a "
      "solved inner problem), but costs many Hessian-vector products. Which \"wins\" depends on "
      "the axis, the point of the race; the shipped records (section \"Learning curves\") are the "
      "long version.",
      [f"dict({RACE}, mode='time')", f"dict({RACE}, mode='iterations')"]),
    Q("Raise the inner step $\\alpha$ to 0.1",
      "MAML stops with a message, early in the race: ten steps of 0.1 diverge on some "
      "task (the step against the curvature, notebook 07, section 3). iMAML races on: its "
      "Hessian-free solver does not use $\\alpha$ (only the gradient-descent solver does), and "
      "its line search halves a step that would raise $G$, so its inner solve cannot diverge.",
      [f"dict({RACE}, mode='time', inner_lr=0.1, inner_steps=10)"]),
    Q("Set iMAML's CG steps to 1",
      "Each meta-iteration is only a little cheaper (compare iMAML's meta-iterations in the same "
      "seconds with question 1's race): the inner Newton solve, not the meta-gradient's CG, is "
      "most of the cost. And the curve against seconds is no better: one CG step returns a "
      "multiple of $v$, close to the first-order gradient, so the saving buys a worse direction. "
      "Tuning CG steps is not where iMAML's time goes.",
      [f"dict({RACE}, mode='time', inner_lr=0.01, inner_steps=1, cg_steps=1)"]),
    Q("Set the meta step size to 0.001",
      "iMAML loses far more ground. In equal time it takes many times fewer meta-iterations than "
      "MAML, so the size of each Adam step decides how far it gets in a minute: with the offline "
      "training's small step it is still far from trained when the minute ends, while MAML's many "
      "cheap steps still bring it most of the way. The offline training can afford the small step "
      "over 30,000 meta-iterations; a one-minute race cannot, which is why the race takes a larger "
      "one, chosen on other held-out tasks (`python -m benchmarks.bench_race --sweep`).",
      [f"dict({RACE}, mode='time', inner_lr=0.01, inner_steps=1, cg_steps=10, outer_lr=0.001)"]),
]
PANELS = {
    "Figure 1, error against steps": [
        "Read left to right: at $n = 0$ nobody has used the support set; what matters is how far "
        "one or a few steps take each method. Then read the printed paired line, the comparison "
        "the takeaways use.",
    ],
    "Figure 2, costs": [
        "Three costs, three sources: training time from the records, time per meta-iteration and "
        "memory measured now. Compare bars with each other, not with another machine's.",
    ],
    "Learning curves and the swap": [
        "A $\\theta$ adapts best with the rule it was trained for. The course's one explanation of "
        "iMAML's 5-shot result is printed below the swap: read it out, its numbers come from the "
        "records.",
    ],
    "`race` (optional section)": [
        "Press start and let it run; switch the mode and start again. It runs in the background, "
        "so you can talk over it. On a busy laptop equal-time results shift: say that the "
        "iteration axis is the stable one.",
    ],
}
MISTAKES = [
    "Ranking methods at $n = 0$: a meta-learner's $\\theta$ is judged after adapting.",
    "Reading overlapping 95% bands as \"no difference\" for methods run on the same tasks: the "
    "paired comparison decides.",
    "Comparing iMAML and MAML on one axis only: per meta-iteration and per second give different "
    "answers, and the race shows both.",
    "Exercise 1: dividing by $T$ instead of $T - 1$ in the standard deviation, or forgetting the "
    "$\\sqrt{T}$. Exercise 2: returning the value of the curve instead of the step, or the first "
    "step at which it is below the target without checking that it is ever reached (return "
    "`None`). Exercise 3 (optional): the slope of bytes against $k$, not the bytes at the largest "
    "$k$ divided by $k$.",
]
