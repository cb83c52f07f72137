"""Notebook 02, multi-task learning: the trade-off (TradeOffPanel) and a new head (NewHeadPanel)."""

from instructor.answers import Q

# the task whose own network is furthest off, relative to the shared model's fit of it (M = 20)
WORST_OWN = ("dict(n_tasks=20, task=1 + int((panel.table[20]['separate'] / panel.table[20]['shared'])"
             ".argmax()))")
BELOW_01 = ("from_on([dict(n_tasks=20, k_shot=k, lam=1e-3) for k in range(1, 21)], "
            "lambda p: p.held_out_mse[0] < 0.1)")
LAM_ENDS = ("10 ** panel.controls['lam'].min", "10 ** panel.controls['lam'].max")

QUESTIONS = [
    Q("With $M = 2$, how many tasks does sharing hurt?",
      "The count is in each caption, and the amplitudes of the tasks that lose are in brackets: "
      "they are mostly the small ones, well below the median amplitude. The shared objective "
      "averages squared errors, which scale with $A^2$, so the tall tasks dominate the trunk's "
      "gradient and its features are fitted mostly for them; a small task's error, tiny in "
      "absolute terms, is what gives way. The mean per-task error is still lower with the shared "
      "trunk for every $M \\ge 2$: sharing helps on average and costs some tasks, the talk's "
      "\"trade-off with the class-wise accuracies\".",
      [f"dict(n_tasks={m}, task=1)" for m in (2, 20, 50)], reading="readings.hurt_amplitudes(panel)"),
    Q("Find a task whose own network is visibly wrong",
      "Below: with $M = 20$, the task whose own network is furthest off relative to the shared "
      "model; the grey curve misses the truth near an edge of $[-5, 5]$, where the dashed shared "
      "head does not. Both models took the same steps with the same fresh points per task, but "
      "the shared trunk learns from all $M$ tasks' points at every step: its features (the "
      "combinations of $\\sin x$ and $\\cos x$ every task is made of) are fitted on $M$ times the "
      "data, and each head only picks two coefficients. The separate network must learn its "
      "features from its own task alone.",
      [WORST_OWN]),
    Q("With $M = 1$ the two models have the same architecture.",
      "They are two training runs, not one model twice: a different random initialisation and "
      "different draws of training points. Their small difference in the caption is run-to-run "
      "noise, the yardstick for reading the differences at larger $M$ (a difference of that size "
      "means nothing).",
      ["dict(n_tasks=1, task=1)"]),
    Q("With $M = 20$ and $\\lambda = 10^{-3}$, from how many shots",
      "Below: the fewest shots from which every larger $K$ keeps the held-out error below 0.1. "
      "The pretrained network of notebook 01 is far from that at any $K$ of the section 6 table "
      "(its row, and the orange curve in the right plot): after 10 fine-tuning steps it is still "
      "near the average curve's error. With fewer shots the head's 41 coefficients are too many "
      "for the points, and the ridge pull towards $\\bar w$ decides much of the answer (the "
      "notebook's section 7).",
      [BELOW_01]),
    Q("Set $\\lambda$ to its smallest value with $K = 5$",
      "Smallest $\\lambda$: the head passes through the five points (41 unknowns, 5 equations, "
      "almost no pull), so it bends to fit them and can swing between and beyond them. Largest "
      "$\\lambda$: the head stays at the mean head $\\bar w$, whatever the points say; the "
      "caption's query error is then close to the mean head's. As $\\lambda \\to \\infty$ the "
      "solution is $\\bar w$ exactly: the formula of section 5 gives "
      "$w^* = \\bar w + O(1/\\lambda)$. The held-out errors in the captions say which end is "
      "better with five points here.",
      [f"dict(n_tasks=20, k_shot=5, lam={lam})" for lam in LAM_ENDS]),
    Q("Switch to $M = 1$.",
      "A trunk trained on one task needs only features that make that one curve: one direction "
      "of its 40 features is used, and nothing forces the others to span $\\sin x$ and $\\cos x$. "
      "A new task is another combination, which a head on those features cannot express: the "
      "held-out error is many times that of the trunk of $M = 20$ (the two captions). Fitting "
      "its own task well says nothing about serving new ones; section 7 (optional) measures it "
      "for every $M$.",
      [f"dict(n_tasks={m}, k_shot=10, lam=1e-3)" for m in (1, 20)]),
]
PANELS = {
    "Section 2, the trade-off": [
        "Two findings, both measured: sharing helps on average (the paired interval below 0 with "
        "$M = 20$ and $50$), and per task it is a trade-off (points above the diagonal, mostly "
        "small amplitudes).",
    ],
    "Section 5, the new head": [
        "Write the ridge solution on the board and name it: iMAML's proximal problem on the last "
        "layer, solved exactly because it is a quadratic. Notebook 05 comes back to it.",
    ],
    "`heads_panel` (section 8)": [
        "Move $K$ from 1 up at $\\lambda = 10^{-3}$: the held-out curve on the right drops below the "
        "two baselines after a few shots. Then move $\\lambda$ at $K = 5$.",
    ],
}
MISTAKES = [
    "Calling the models equal at $M = 2, 5, 10$ because there are too few tasks for an interval: "
    "count the tasks instead, as the notebook does.",
    "Thinking the separate networks got less training: same steps, same fresh points per task; "
    "what differs is that the trunk is shared.",
    "Exercise 1: $\\lambda$ instead of $\\lambda/2$ on the identity (the objective has "
    "$\\frac{\\lambda}{2}\\|w - \\bar w\\|^2$ and the loss is a mean, $\\frac{1}{K}$), or pulling "
    "towards 0 instead of $\\bar w$.",
    "Exercise 2 (optional): taking principal directions of the heads without centring them on "
    "their mean.",
]
