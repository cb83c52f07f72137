"""Notebook 00, the toy problem: a network fitted from scratch (ScratchFitPanel)."""

from instructor.answers import Q

AT = "amplitude=3.0, phase=1.0"
BELOW_1 = ("from_on([dict(k_shot=k, amplitude={a}, phase=1.0) for k in range(1, 41)], "
           "lambda p: p.query_mse < 1)")

QUESTIONS = [
    Q("With $K = 5$, how close is the fit",
      "Between two support points that are close together the fit follows the curve; where "
      "neighbours are far apart it cuts straight across the bump between them. Left of the leftmost "
      "and right of the rightmost point it runs on in a straight line, away from the curve: a ReLU "
      "network is piecewise linear, and beyond its last kink nothing in $\\mathcal{L}_{tr}$ bends it "
      "back, because no point is there. Look at the caption: a support error near zero and a query "
      "error far above that of predicting $y = 0$. The fit is perfect where it is scored in training "
      "and wrong where it is not, and the straight runs beyond the outer points cost the most.",
      [f"dict(k_shot=5, {AT})"]),
    Q("Set $K = 1$.",
      "It passes through the one point and elsewhere draws a gentle line whose shape comes from the "
      "random initialisation, not from the task: one equation cannot say anything about the rest of "
      "the curve. Whether that beats $y = 0$ is luck. On this task the two query errors in the "
      "caption are close; section 6 measured, on 100 tasks, that with $K = 1$ the fit is worse than "
      "$y = 0$ on average.",
      [f"dict(k_shot=1, {AT})"]),
    Q("From how many shots on is the query error below 1?",
      "Below: the fewest shots from which every larger $K$ (up to the slider's end) keeps the query "
      "error below 1, for $A = 3$, $0.5$ and $5$. The answer moves with the amplitude, and it should: "
      "the squared error scales with $A^2$, so the same shape of mistake on a curve twice as tall "
      "costs four times as much. A threshold of 1 is lenient for $A = 0.5$ (even $y = 0$, in the "
      "caption, is below it) and strict for $A = 5$. To compare tasks of different amplitudes, "
      "compare each error with that task's $y = 0$ error, as the caption does.",
      [BELOW_1.format(a=a) for a in (3.0, 0.5, 5.0)]),
    Q("Two numbers, $A$ and $b$, identify a task.",
      "Two points, in general: two equations $y_j = A\\sin(x_j - b)$ for two unknowns (unless the "
      "two $x_j$ differ by a multiple of $\\pi$, where they give the same information). The network "
      "fitted from scratch does not know that the curve is a sine, nor its period, nor the range of "
      "$A$ and $b$: it has far more parameters than $K$ equations (Exercise 1 counts them), and "
      "between and beyond the points it does whatever its initialisation and Adam's path make it "
      "do. That missing knowledge of the task family is what the rest of the course learns from "
      "other tasks."),
]
PANELS = {
    "Section 5, the three fits (K = 1, 5, 20)": [
        "Read the titles: $\\mathcal{L}_{tr}$ is near zero in all three; only $\\mathcal{L}_{test}$ "
        "tells them apart. Fitting the support set is easy; predicting the curve is the problem.",
    ],
    "Section 6, error against K on 100 tasks": [
        "The paired comparison with $y = 0$ is the course's way of calling two methods different: "
        "the same tasks, the same query points, the mean of the per-task differences with its "
        "interval, and a count of tasks. Point out that with $K = 5$ the count is about half while "
        "the mean is clearly worse: a few tasks with wild fits decide the mean.",
    ],
    "`panel` (section 7)": [
        "Start at $K = 5$ and let the class predict the curve beyond the outer points before "
        "showing it; then drag $K$ up slowly and watch the straight runs shrink as points reach "
        "the edges of $[-5, 5]$.",
        "The figure clips at its axes; the caption's query error still counts what is off the plot.",
    ],
}
MISTAKES = [
    "Judging a fit by its support error: it is near zero for every $K$; only the query error "
    "measures the task.",
    "Reading the two means of section 6 with overlapping intervals as \"no difference\": the "
    "comparison is paired, task by task.",
    "Exercise 1: counting only the weights (forgetting one bias per unit), or counting the input "
    "as a layer with parameters.",
    "Exercise 2 (optional): averaging $\\sin^2(x - b)$ over $x$ only, or writing "
    "$\\mathbb{E}[A]^2$ where $\\mathbb{E}[A^2]$ is needed.",
]
