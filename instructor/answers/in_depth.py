"""Notebook 06, iMAML in depth: no panel; what to say at its figures."""

QUESTIONS = []
PANELS = {
    "Section 1, the dense Hessian and its spectrum": [
        "Two lessons: forming $H$ is cubic in the parameters (the printed times), CG needs one "
        "Hessian-vector product per step; and $\\lambda$ maps each eigenvalue $e$ to "
        "$1 + e/\\lambda$, so any $e < -\\lambda$ makes the system indefinite.",
        "At the exact minimiser $H + \\lambda I \\succeq 0$ always; the table counts how often "
        "it fails at $\\theta$ and at the solver's $\\phi$: that is why $\\delta$ matters.",
    ],
    "Section 2, the paper's Figure 2": [
        "iMAML's error falls geometrically in CG steps; MAML's only as fast as its inner gradient "
        "descent converges; first-order MAML stays biased. Memory: a line for MAML, flat for iMAML.",
    ],
    "Section 3, ReLU kinks": [
        "On the stalled tasks a pre-activation sits at zero: $\\|\\nabla G\\|$ cannot fall and "
        "Lemma 1 does not apply. This is why the course's iMAML is a softplus network.",
    ],
    "Section 4, the plateau study": [
        "Read the paragraph under the table aloud: it is the course's one explanation of iMAML's "
        "5-shot result, computed from the records, and the same text appears in notebooks 05 and "
        "08, the deck and the README. Then the last cell: the proximal pull is not what held "
        "iMAML back.",
    ],
}
MISTAKES = [
    "Believing iMAML's Jacobian is always well defined: only at a minimiser of a smooth $G$, "
    "with $I + H/\\lambda$ positive definite.",
    "Taking the plateau study's seconds as speeds: they ran on a shared machine; compare ratios.",
]
