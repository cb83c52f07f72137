"""Notebook 03, MAML: adapting MAML and the baseline (AdaptationPanel), memory (MemoryPanel)."""

from instructor.answers import Q

TRAINED = "inner_lr=0.01, k_shot=5"

QUESTIONS = [
    Q("With $k = 1$ and $\\alpha = 0.01$",
      "After one step MAML's error falls clearly on each task while the pretrained network's "
      "barely moves (the first three captions). Before adapting ($k = 0$, the last three) neither "
      "is consistently lower: on these tasks each wins somewhere. No contradiction: the pretrained "
      "network minimises the error *before* adapting (it is the average curve, the best single "
      "prediction), MAML's $\\theta$ minimises the error *after* one step, and nothing asks it to "
      "predict well before. Section 7's paired table, at $n = 0$, gives the verdict on 1,000 "
      "tasks.",
      [f"dict(inner_steps=1, {TRAINED}, task={t})" for t in (0, 1, 2)]
      + [f"dict(inner_steps=0, {TRAINED}, task={t})" for t in (0, 1, 2)]),
    Q("Raise $\\alpha$ to $0.1$",
      "With one step of $0.1$ MAML's fit overshoots: its error after the step is far above its "
      "error before. With ten steps the adaptation diverges and the panel says so. MAML's "
      "meta-objective is the error after $k$ steps *of size $\\alpha$*: $\\theta$ is placed so "
      "that that particular step lands on each task's curve, and it is sharp (optional section 9: "
      "the largest curvature at $\\theta$ is above $2/\\alpha$ on most tasks), so a step ten times "
      "longer overshoots along the sharp directions. $\\theta$ and $\\alpha$ are learned as a pair.",
      [f"dict(inner_steps={k}, inner_lr=0.1, k_shot=5, task=0)" for k in (1, 10)]),
    Q("What happens to the baseline when $\\alpha$ grows?",
      "It gets worse, not better: its error after one step rises with $\\alpha$ (the captions), "
      "and no $\\alpha$ brings it near MAML's error at the step MAML was trained with. A "
      "gradient step from the average curve points towards the support points, not towards the "
      "task's curve, and the pretrained network's sharp directions cap the step "
      "(notebook 01, section 4). A larger step cannot buy what MAML's $\\theta$ was trained for: "
      "a starting point from which the step's direction is the right one.",
      [f"dict(inner_steps=1, inner_lr={lr}, k_shot=5, task=0)" for lr in (0.01, 0.03, 0.1)]),
    Q("Set $K = 1$ or $K = 2$.",
      "Yes, roughly: MAML's solid curve is still a wave of the family's shape, if a distorted one, "
      "even from one point, although one point cannot fix both $A$ and $b$ (on this task $K = 1$ does not "
      "lower the error; $K = 2$ does, the captions). The step can only move $\\theta$'s output "
      "along directions its parameters offer, and meta-training has made those directions "
      "sine-shaped: $\\theta$ has learned the task family, in the form \"a sine, to be scaled and "
      "shifted by a step\".",
      [f"dict(inner_steps=1, inner_lr=0.01, k_shot={k}, task=0)" for k in (1, 2)]),
    Q("How many megabytes does each extra inner step add",
      "Read the slope from successive $k$ (the difference of MAML's megabytes between two "
      "captions). It is smaller than section 11's slope because the panel uses a meta-batch of 5 "
      "tasks and section 11 one of 25: every inner step keeps each task's activations, so the "
      "memory per step scales with the number of tasks, about 25/5 = 5 times here.",
      [f"dict(inner_steps={k})" for k in (1, 2, 3)]),
    Q("The shipped MAML uses $k = 1$.",
      "Take MAML's megabytes at $k = 16$ in the caption (5 tasks) and multiply by 25/5 for a "
      "meta-batch of 25; with 100 times the activations per step, multiply again by 100: the "
      "memory scales with tasks times steps times activations. On this toy network that is still "
      "small; on the paper's convolutional networks it is what limits MAML to a few inner steps "
      "(notebook 07, section 3 measures the Omniglot network).",
      ["dict(inner_steps=16)"]),
    Q("Compare iMAML with MAML at $k = 0$ and $k = 1$.",
      "At $k = 0$ iMAML holds more than MAML; at $k = 1$ the two are within a few percent (the "
      "exact bytes in brackets say which is lower); from $k = 2$ on iMAML holds clearly less, and "
      "its memory no longer grows. iMAML never differentiates the inner loop: it keeps one "
      "gradient's graph at the final $\\phi$, for the Hessian-vector products of its "
      "conjugate-gradient solve, a fixed cost about the size of one unrolled step, flat in $k$. "
      "(Counted as double backprop computes those products, notebook 07, section 3 and the deck "
      "find iMAML holding more than MAML at $k = 1$.)",
      [f"dict(inner_steps={k})" for k in (0, 1, 2)], reading="readings.bytes_held(panel)"),
]
PANELS = {
    "Section 7, three new tasks and the held-out curves": [
        "MAML's $\\theta$ before adapting is no good fit of anything; one step moves it most of the "
        "way. Then show the paired table: the claim \"MAML is lower after one step\" rests on its "
        "interval and count, not on the two curves.",
    ],
    "`adaptation` (section 10)": [
        "Step through a few tasks at the training settings first; then change one thing at a time "
        "($\\alpha$, $k$, $K$) and ask for a prediction before each move.",
    ],
    "`memory` (optional section 12)": [
        "Times are measured on the machine in the room and move between runs; the megabytes do not. "
        "Compare the megabytes.",
    ],
}
MISTAKES = [
    "Expecting MAML's $\\theta$ to predict well before adapting: its objective is the error after "
    "the inner steps.",
    "Treating the inner step size as a free knob at test time: $\\theta$ was trained for one "
    "$\\alpha$.",
    "Exercise 1 (`inner_loop`): one step too few or too many (range(k) takes k steps, from "
    "$\\phi = \\theta$), a plus sign, a loss summed over the $K$ points instead of the mean, or "
    "one $\\phi$ adapted on all tasks pooled; the checker names the slip when the answer matches it.",
    "Exercise 2 (optional): walking the Hessian-vector products forwards instead of from the last "
    "step back to the first, or forgetting that each product is taken at $\\phi^{(j)}$, not at "
    "$\\theta$.",
]
