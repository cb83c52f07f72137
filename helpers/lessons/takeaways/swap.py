"""The swap experiment: each meta-learned theta adapted by its own inner rule and by the other
method's, on the same held-out tasks. A theta fits the inner rule it was meta-trained with: MAML's
theta is made for a few plain gradient steps of 0.01, iMAML's for the proximal solve at its lam.
"""

from helpers.evaluation import DIVERGED_MSE, paired, summarize
from helpers.models import mse
from helpers.pretrained import adapter, load_pretrained

from .compare import N_TASKS, STEPS, held_out_tasks

THETAS = ("maml", "imaml")  # whose meta-parameters
RULES = ("maml", "imaml")  # whose adaptation rule


def swap_errors(k_shot=5, n_tasks=N_TASKS, steps=STEPS):
    """{(theta, rule): query MSE per task (n_tasks,)} after `steps` iterations of `rule`'s adaptation
    (helpers.adapter) from `theta`'s shipped meta-parameters, on its own network, on the held-out tasks."""
    batch = held_out_tasks(k_shot, n_tasks)
    out = {}
    for theta in THETAS:
        model, params = load_pretrained(theta)
        for rule in RULES:
            phi = adapter(rule).rule(model, params, batch, steps)
            out[theta, rule] = mse(model, phi, batch.x_te, batch.y_te).detach()
    return out


def swap_markdown(errors, labels):
    """A 2 x 2 table (rows: whose theta; columns: whose rule) of mean ± 95% CI, and for each theta the
    paired difference own rule minus the other's."""
    rules = " | ".join(labels[r] + "'s rule" for r in RULES)
    lines = [f"| theta of \\ adapted by | {rules} | own - other (paired) |", "|---|---|---|---|"]
    for theta in THETAS:
        cells = []
        for rule in RULES:
            s = summarize(errors[theta, rule])
            if s.diverged == s.n_tasks:
                cells.append(f"diverged on all {s.n_tasks} tasks")
            else:
                note = f" ({s.diverged} diverged)" if s.diverged else ""
                cells.append(f"{s.mean:.3f} ± {s.ci:.3f}{note}")
        other = next(r for r in RULES if r != theta)
        both = (errors[theta, theta] <= DIVERGED_MSE) & (errors[theta, other] <= DIVERGED_MSE)  # NaN: False
        cells.append(str(paired(errors[theta, theta], errors[theta, other])) if both.sum() > 1
                     else f"(the other rule diverged on {int((~both).sum())} of {both.numel()} tasks)")
        lines.append(f"| {labels[theta]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
