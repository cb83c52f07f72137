"""Notebook 07, beyond iMAML: the Bayesian reading (BayesPanel), where implicit gradients pay off
(PayoffPanel)."""

from instructor.answers import Q

OVERFLOW = ("from_on([dict(inner_lr=0.02, inner_steps=k) for k in panel.controls['inner_steps'].options], "
            "lambda p: p.stats['maml'][2] > 0)")

QUESTIONS = [
    Q("What happens to the posterior mean and to the band",
      "The band becomes very wide away from the point (compare its average width at "
      "$\\lambda = 0.01$ and $\\lambda = 1$, both with $K = 1$), and the mean passes through the "
      "point but is otherwise barely informed. One point gives one equation "
      "$y_1 = \\Phi(x_1)^\\top w$: it constrains the one direction $\\Phi(x_1)$ of the weights and "
      "nothing across it. The posterior ellipse is thin along that direction and, across it, as "
      "wide as the prior, which at $\\lambda = 0.01$ is almost flat. The mean moves from "
      "$\\theta$ only along $\\Phi(x_1)$.",
      ["dict(lam=0.01, k_shot=1)", "dict(lam=1.0, k_shot=1)"]),
    Q("With $\\lambda = 100$, where does the iMAML solution end up",
      "Near $\\theta$, the prior mean, for $K = 1$ and $K = 10$ alike: the band is narrow and the "
      "error to the true curve stays high (compare $\\lambda = 0.01$ with $K = 10$ under question "
      "3). The proximal "
      "term $\\frac{\\lambda}{2}\\|\\phi - \\theta\\|^2$ outweighs the data term, so the data "
      "barely move the solution. Choosing $\\lambda$ in iMAML is choosing how much a task may "
      "move from $\\theta$ given $K$ points: too large and it does not adapt; too small and the "
      "inner problem is ill-conditioned (question 3) and fits noise. The tuning study of "
      "notebook 05 chose it on validation tasks.",
      [f"dict(lam=100.0, k_shot={k})" for k in (1, 10)]),
    Q("Why does gradient descent need thousands of steps",
      "The inner objective is a quadratic with matrix $A = \\lambda I + \\Phi^\\top\\Phi/\\sigma^2$. "
      "With $K = 1$, $\\Phi^\\top\\Phi$ has rank one: $A$'s eigenvalues are $\\lambda$ (across the "
      "point's direction) and $\\lambda + \\|\\Phi(x_1)\\|^2/\\sigma^2$, so its condition number is "
      "huge when $\\lambda$ is small, and gradient descent needs a number of steps proportional to "
      "it. With $K = 10$ points in different places every direction of $w$ is constrained by "
      "the data and the condition number is modest (the two step counts in the captions).",
      [f"dict(lam=0.01, k_shot={k})" for k in (1, 10)]),
    Q("At $\\alpha = 0.02$, from how many inner steps on",
      "Below: the fewest inner steps from which some task's MAML meta-gradient is not finite at "
      "every larger $k$ of the slider. At the same $\\alpha$ and $k$ every iMAML meta-gradient is "
      "finite, its largest orders of magnitude below MAML's. MAML's meta-gradient multiplies $k$ Jacobians "
      "$I - \\alpha H$ along the path; on a task where some direction has curvature above "
      "$2/\\alpha$, $|1 - \\alpha h| > 1$ there and the product grows geometrically in $k$. "
      "iMAML's $(I + H/\\lambda)^{-1}$ at the end point has no product to grow (its inner solve, "
      "here plain gradient descent, may wander, but only its end point enters).",
      [OVERFLOW]),
    Q("Move $\\alpha$ down to 0.001.",
      "No: at $\\alpha = 0.001$ every task's MAML meta-gradient stays finite even at the "
      "slider's largest $k$ (the caption). The explosion is not caused by the number of steps but "
      "by the step size against the curvature: with $\\alpha h_{max} < 2$ on every task each "
      "Jacobian $I - \\alpha H$ has no eigenvalue beyond $-1$, and the product cannot blow up. "
      "The memory in the same caption still grows with $k$.",
      ["dict(inner_lr=0.001, inner_steps=max(panel.controls['inner_steps'].options))"]),
    Q("Why is MAML's memory a straight line in $k$",
      "Backprop through $k$ inner steps keeps each step's graph (every task's activations of a "
      "forward and a backward pass) until the backward pass: the same amount per step, so a "
      "straight line (the captions at three $k$). iMAML never differentiates the path: it keeps "
      "one gradient's graph at the final $\\phi$ for its Hessian-vector products, whatever $k$. "
      "At $k = 1$ that fixed cost is more than MAML's one step (the first caption): flat memory "
      "pays off only for longer inner loops.",
      [f"dict(inner_lr=0.02, inner_steps={k})" for k in (1, 10, 100)]),
]
PANELS = {
    "Section 1, the SGD inner loop": [
        "The verdict is printed from the study's data (5 seeds); the mechanism is the point: SGD "
        "cannot approach $\\phi^*$ faster per step than GD, and with a constant step its noise "
        "leaves a floor, so $\\|\\nabla G\\|$ stalls as a stopping test.",
    ],
    "`bayes_panel` (section 2)": [
        "Left, function space; right, weight space. Move $\\lambda$ at a fixed $K$, then $K$ at a "
        "fixed $\\lambda$: the ellipse is the picture to remember.",
    ],
    "`payoff_panel` (section 3)": [
        "Three plots: meta-gradient norms, how many tasks' meta-gradients overflow, memory. The "
        "first visit of a step size measures every $k$ (under a second); later visits are cached.",
        "The Omniglot table under it puts the memory at the paper's scale; the paragraph after it "
        "states what iMAML buys here and what it does not, from the measurements beside it.",
    ],
}
MISTAKES = [
    "Reading iMAML's $\\lambda$ as a learning rate: it is a prior precision, how strongly the "
    "solution is held at $\\theta$.",
    "Blaming MAML's overflow on long inner loops: it is the step size against the curvature; "
    "small steps survive any $k$.",
    "Taking flat memory as less memory at every $k$: at $k = 1$ iMAML holds more.",
    "Exercise 1 (posterior mean): dropping $\\sigma^2$ from $\\Phi^\\top\\Phi/\\sigma^2$ or from "
    "$\\Phi^\\top y/\\sigma^2$, or the prior term $\\lambda\\theta$. Exercise 2 (optional): the "
    "Jacobian is $\\lambda A^{-1}$; the factor $\\lambda$ is the one forgotten.",
]
