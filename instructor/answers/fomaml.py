"""Notebook 04, first-order MAML: the gradient's bias (BiasPanel)."""

from instructor.answers import Q

INIT = "where='random init'"
BELOW_HALF = ("first([dict(inner_steps=k, inner_lr=0.01, k_shot={K}, {where}) for k in range(21)], "
              "lambda p: p.cosine < 0.5)")
THETAS = ("random init", "MAML's theta")

QUESTIONS = [
    Q("Set $k = 0$.",
      "With no inner step $\\phi = \\theta$, and both meta-gradients are $\\nabla\\mathcal{L}_{test}"
      "(\\theta)$: there is no Jacobian for first-order MAML to drop. The caption's cosine of 1 and "
      "relative error of 0 are exact, not rounded.",
      [f"dict(inner_steps=0, inner_lr=0.01, k_shot=10, {INIT})"]),
    Q("At $k = 1$, increase $\\alpha$ from $0.001$ to $0.1$.",
      "The cosine falls and the relative error grows with $\\alpha$: the dropped term is "
      "$-\\alpha H v$, proportional to $\\alpha$, so for small $\\alpha$ the relative error grows "
      "about tenfold when $\\alpha$ does (compare the first two captions). Point out the last "
      "caption's single-task cosine: at $\\alpha = 0.1$ the per-task first-order gradients are "
      "nearly unrelated to the exact ones, while their average over the batch still points the "
      "right way; a meta-batch hides per-task bias.",
      [f"dict(inner_steps=1, inner_lr={lr}, k_shot=10, {INIT})" for lr in (0.001, 0.01, 0.1)]),
    Q("With $\\alpha = 0.01$, how many inner steps",
      "Below: the fewest inner steps at which the batch cosine is under 0.5, for $K = 10$, $5$ and "
      "$20$. Every inner step replaces one more Jacobian $I - \\alpha H$ by $I$, so the cosine "
      "drifts down as $k$ grows, but not monotonically, and $K$ changes the answer: with "
      "$K = 5$ it may not fall below 0.5 within the slider's range at all (then the line says "
      "so). $K$ changes $H$, the curvature of the support loss, and with it the dropped term. The "
      "lesson is the trend, not one threshold.",
      [BELOW_HALF.format(K=K, where=INIT) for K in (10, 5, 20)]),
    Q("Switch to MAML's $\\theta$ with $k = 1$",
      "Further: the cosine is much lower and the relative error much higher at MAML's $\\theta$ "
      "than at $\\theta_0$ (the two captions). At a minimum of $F$ the exact meta-gradient "
      "$g = \\frac{1}{T}\\sum_i (I - \\alpha H_i) v_i$ is near zero, but its two parts are not: "
      "$v_i$, the query gradient after the step, and $\\alpha H_i v_i$ largely cancel, and MAML's "
      "$\\theta$ is sharp (large $H_i$). Dropping one of two nearly cancelling terms leaves an "
      "error as large as the whole gradient. It also means first-order MAML does not stop where "
      "MAML does: its fixed points are where $\\frac{1}{T}\\sum_i v_i = 0$.",
      [f"dict(inner_steps=1, inner_lr=0.01, k_shot=10, where={w!r})" for w in THETAS]),
]
PANELS = {
    "Section 1, the dropped term": [
        "Multiply out the product on the board for $k = 1$ and $k = 2$; the check printed by the "
        "cell is the algebra, to float32 rounding.",
    ],
    "Section 5, adaptation error": [
        "The bias is large by the gradient's measures and small by the error after adapting: a "
        "biased direction that still descends can train a good $\\theta$. Read the paired "
        "differences, not the two curves.",
    ],
    "Section 6, Reptile": [
        "Same data and the same number of inner gradient evaluations for $k = 1$ and $k = 5$: only "
        "how they are spent differs. With $k = 1$ Reptile is pooled training.",
    ],
    "`bias_panel` (optional section 3)": [
        "Each dot is one component of a meta-gradient; on the diagonal, first order gets it right. "
        "Start at $k = 0$ (every dot on the line), then add steps.",
    ],
}
MISTAKES = [
    "Reading a small relative bias of the gradient as \"first-order MAML learns the same thing\": "
    "its fixed points differ from MAML's.",
    "Concluding from the meta-batch cosine that every task's gradient is fine: the single-task "
    "median in the caption can be far lower.",
    "Exercise 1: the first-order meta-gradient taken on the support set, or $\\phi$ adapted on "
    "the query set; the checker names the wrong set. Also one inner step too few or too many.",
    "Exercise 3 (optional, Reptile): $\\theta + \\varepsilon(\\phi_i - \\theta)$ for one task "
    "instead of the mean over tasks, or the sign of the update reversed.",
]
