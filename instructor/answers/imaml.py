"""Notebook 05, iMAML: the explorer (ExplorerPanel: lam, CG steps k, delta, task)."""

from instructor.answers import Q

START = "lam=panel.initial['lam'], task=0"
# the smallest lam of the slider at which CG meets no non-positive curvature in its steps
SMALLEST_PD = ("first([dict(lam=lam, delta=1e-6, cg_steps=panel.max_cg_steps, task=0) "
               "for lam in panel.lam_values], lambda p: p.last['breakdown'] < 0)['lam']")
BELOW = ("first([dict(lam={lam}, delta=1e-6, cg_steps=k, task=0) for k in range(panel.max_cg_steps + 1)], "
         "lambda p: p.last['error'] < 1e-3)")
TASK_1 = "lam=panel.initial['lam'], task=1"

QUESTIONS = [
    Q("At the default settings, is the meta-gradient accurate?",
      "Yes: at the defaults the relative error against the exact implicit gradient is tiny, far "
      "below the first-order approximation's (both in the first caption). On task 0, raising "
      "$\\delta$ to $10^{-2}$ changes nothing: the middle plot shows the Newton solve jumping from "
      "above $10^{-2}$ to far below it in one step (near the minimiser each step roughly squares "
      "$\\|\\nabla G\\|$), so it stops at the same $\\phi$. On task 1 the solve stops earlier, at a "
      "$\\phi$ within $10^{-2}$ of stationarity, and the error rises; 40 CG steps leave it where 10 "
      "did (the last two captions). CG solves $(I + H/\\lambda)g = v$ exactly for the $\\phi$ it is "
      "given, but $H$ and $v$ are evaluated at that $\\phi$, not at $\\phi^*$: the error of order "
      "$\\delta$ is in the system itself, and CG only removes its own error $\\delta'$ "
      "(Theorem 1: $\\delta + \\delta'$).",
      ["dict(panel.initial)", f"dict({START}, delta=1e-2, cg_steps=panel.initial['cg_steps'])"]
      + [f"dict({TASK_1}, delta={d}, cg_steps={k})"
         for d, k in (("panel.initial['delta']", 10), ("1e-2", 10), ("1e-2", "panel.max_cg_steps"))]),
    Q("At $\\delta = 10^{-6}$, how many CG steps",
      "Below: the fewest CG steps that bring the error under $10^{-3}$ at the largest $\\lambda$, "
      "and at the smallest $\\lambda$ of the slider at which CG meets no direction of non-positive "
      "curvature. Far fewer steps at the largest $\\lambda$: CG's rate is set by the condition "
      "number of $I + H/\\lambda$, whose eigenvalues are $1 + e/\\lambda$; a large $\\lambda$ "
      "squeezes them towards 1, a small one spreads them. At $\\delta = 10^{-6}$ even the "
      "smallest $\\lambda$ is positive definite: at a minimiser of $G$, $H + \\lambda I$ is "
      "positive semidefinite by the second-order condition, so $I + H/\\lambda$ can only fail far "
      "from $\\phi^*$ (question 3).",
      [BELOW.format(lam="max(panel.lam_values)"), BELOW.format(lam=SMALLEST_PD)]),
    Q("What happens at the smallest $\\lambda$ with $\\delta = 1$",
      "The solve stops after a step or two, still near $\\theta$, and the caption warns that "
      "$I + H/\\lambda$ is not positive definite there: CG met a direction with "
      "$p^\\top(I + H/\\lambda)p \\le 0$ and stopped. Near $\\theta$ the Hessian has large "
      "negative eigenvalues (notebook 06, section 1), and with a small $\\lambda$ one of them "
      "exceeds $\\lambda$ in size. The implicit gradient is then meaningless (the formula assumes "
      "a minimiser), and its error against $g^*$ is large. The remedy is a larger $\\lambda$ or "
      "a tighter $\\delta$, which is why training checks both.",
      ["dict(lam=min(panel.lam_values), delta=1.0, cg_steps=10, task=0)"]),
    Q("How many Newton steps does the solve need",
      "A handful for training's $\\delta$, and only one more for $10^{-8}$ (the two captions): "
      "Newton's method converges quadratically near the minimiser, so each extra step adds digits. "
      "Gradient descent in section 1 did not reach training's $\\delta$ within its 60 steps (the "
      "line the cell printed): its rate is linear, set by the conditioning of $H + \\lambda I$. "
      "A Newton step costs several Hessian-vector products, so compare in gradient evaluations, "
      "as section 1's last line does.",
      [f"dict({START}, delta=panel.initial['delta'], cg_steps=10)",
       f"dict({START}, delta=1e-8, cg_steps=10)"]),
]
PANELS = {
    "Section 1, the minimiser for three values of lambda": [
        "A large $\\lambda$ keeps $\\phi^*$ at $\\theta$, a small one lets the data win; the printed "
        "lines give both errors. This task was chosen with a large amplitude so that $\\lambda$ "
        "visibly matters.",
    ],
    "Section 2, the implicit gradient against a finite difference": [
        "The agreement is the lemma, checked numerically; the first-order number beside it is "
        "what first-order MAML would use. Stress the condition: exact at $\\phi^*$, for $G$.",
    ],
    "`panel`, the explorer (section 5)": [
        "Three plots, one story: where the inner solve stopped (middle), what CG did with it "
        "(right), and how far the adapted curve moved (left). Move one slider at a time.",
        "A $\\lambda$ not visited before costs a second or two (an inner solve and a dense "
        "Hessian); moving $k$ only redraws.",
    ],
    "Section 7, the learning curves": [
        "Read the stars (each model's checkpoint) and the explanation under the figure: it is the "
        "course's one explanation of iMAML's 5-shot result, its numbers read from the records.",
    ],
}
MISTAKES = [
    "Expecting more CG steps to fix an inaccurate inner solve: CG's accuracy and the solve's are "
    "separate ($\\delta'$ and $\\delta$).",
    "Believing a smaller $\\lambda$ is always better because it adapts more: it conditions the "
    "system worse and, far from $\\phi^*$, can make it indefinite.",
    "Exercise 1 (batched CG): one scalar $\\alpha$ and $\\beta$ for all $T$ systems instead of one "
    "per row, or stopping every system when one meets $p^\\top A p \\le 0$.",
    "Exercise 2 (optional, $\\phi^*$ of a quadratic): dropping the $\\lambda\\theta$ term or the "
    "$\\lambda I$ in $(A + \\lambda I)^{-1}$; Exercise 3 (optional, Hessian-vector product): "
    "forgetting `create_graph=True` in the first `autograd.grad`, which the checker names.",
]
