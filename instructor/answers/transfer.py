"""Notebook 01, transfer learning: fine-tuning the pretrained network (TransferPanel)."""

from instructor.answers import Q

AT = "amplitude=3.0, phase=1.0"

QUESTIONS = [
    Q("With $K = 5$ and $\\alpha = 0.01$, move the steps",
      "The query error falls over the first steps and then climbs back as the steps go on. At "
      "first the orange curve keeps the average curve's shape and only leans towards the points; "
      "later it bends to pass through all five, and between and beyond them it is no longer the "
      "average curve but not yet the task's curve either: five points do not pin it down, so "
      "fitting them harder stops helping the query error. Ask the class where the best number of "
      "steps is, and how they would choose it on a new task without its query set.",
      [f"dict(k_shot=5, lr=0.01, steps={n}, {AT})" for n in (0, 10, 200)]),
    Q("Raise $\\alpha$ past the stability limit",
      "The support error (in brackets) first rises: along the kernel's sharpest direction each "
      "step overshoots, as the linearised model predicts above $K/\\mu_{max}$. Later it falls "
      "again: the network is not linear, and the large steps change its features until the "
      "sharpest direction is flat enough for the step. It does not diverge here, but it ends far "
      "from where small steps end, and its query error is worse. A larger $K$ raises the limit "
      "(compare the two limits in the captions): the loss is a mean over $K$ points, so each "
      "point's pull is divided by $K$, while the largest eigenvalue of the $K \\times K$ kernel "
      "$JJ^\\top$ grows more slowly than $K$, because points in different places pull the "
      "parameters in different directions.",
      [f"dict(k_shot=5, lr=0.05, steps={n}, {AT})" for n in (0, 1, 10, 200)]
      + [f"dict(k_shot=20, lr=0.05, steps=200, {AT})"],
      reading="f'support error L_tr {panel.support_mse:.3g} after the steps'"),
    Q("Set $A = 0.5$.",
      "Read \"before\" in each caption: the pretrained network's error on the task. With "
      "$A = 0.5$ the absolute error is small, but it is a bad start: the average curve is taller "
      "than the task, and predicting $y = 0$ (error $A^2/2$ on average) would be closer; the fit "
      "from scratch beats fine-tuning here. The average curve is "
      "$-\\frac{2\\mathbb{E}[A]}{\\pi}\\cos x = \\frac{2\\mathbb{E}[A]}{\\pi}\\sin(x - \\pi/2)$, "
      "a sine of phase $\\pi/2$, the middle of the phase range: a task with $b$ near $\\pi/2$ "
      "starts close to it, and $b = 0$ and $b = \\pi$, a quarter period away on either side, start "
      "far from it (the last three captions).",
      [f"dict(k_shot=5, lr=0.01, steps=10, amplitude={a}, phase={b})"
       for a, b in ((0.5, 1.0), (3.0, 1.0), (3.0, 0.0), (3.0, "math.pi"), (3.0, "math.pi / 2"))]),
    Q("With $K = 20$, which is better after 10 steps",
      "On this task, fine-tuning: already after 10 steps, and by far after 200. Then send the class "
      "back to section 5's paired table: with $K = 20$ and 10 steps, training from scratch has the "
      "lower error on most held-out tasks. One task is one draw; the verdict comes from the paired "
      "comparison on many. With 200 steps fine-tuning can fit twenty points closely from a start "
      "that is already a smooth curve, while the fit from scratch (100 Adam steps) is what it is.",
      [f"dict(k_shot=20, lr=0.01, steps={n}, {AT})" for n in (10, 200)]),
]
PANELS = {
    "Section 2, the pooled fit": [
        "Derive $f^*$ on the board before running the cell: the mean of $A\\sin(x - b)$ over "
        "$b \\in [0, \\pi]$ is not zero because the phases cover half a period. The shipped network "
        "lies on the dashed curve: pooled training learns the average task.",
    ],
    "Section 5, the tables": [
        "Read a column, then the paired table: a mean and a count can disagree (with $K = 20$ and "
        "100 steps the mean difference is within noise while the fit from scratch wins on most "
        "tasks). Report both.",
    ],
    "`panel` (section 6)": [
        "Start at the defaults, then move the steps: the right plot shows the support error falling "
        "steadily while the query error turns back up.",
        "The caption's $K/\\mu_{max}$ is the optional section 4's ceiling; if you skipped that "
        "section, say only that a larger step is not always faster.",
    ],
}
MISTAKES = [
    "Reading the pretrained network's small error on a low-amplitude task as a good start: compare "
    "with predicting $y = 0$ on the same task.",
    "Generalising from the panel's one task to the population: section 5's paired table is the "
    "verdict.",
    "Exercise 1: dividing by $\\pi$ instead of the width $b_{high} - b_{low}$ of the phase range, "
    "or a sign slip in $\\int \\sin(x - b)\\,db = \\cos(x - b)$; for $b \\sim U[0, 2\\pi]$ the "
    "answer is zero.",
    "Exercise 2 (optional): the factor per step is $(1 - 2\\alpha\\mu_j/K)$ on the residual, "
    "squared in the loss; forgetting the $1/K$ of the mean.",
]
