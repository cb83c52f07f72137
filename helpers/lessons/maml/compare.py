"""Paired comparisons of adapted models on the same held-out tasks (notebooks 03 and 04).

Two models adapted on the same tasks are compared task by task: the per-task difference of their
query MSEs, its mean and 95% interval, and on how many tasks each is lower
(helpers.evaluation.paired). The difference of two means with their separate intervals would
ignore that the tasks are shared, and most of the spread of either model is the tasks' own.
"""

from helpers.evaluation import adaptation_errors, paired, summarize
from helpers.plots import LABELS
from helpers.report import maml_paper_table, to_markdown


def held_out_errors(model, params_by_name, batch, steps, lr=0.01):
    """{name: per-task query MSE after 0..steps gradient steps of size lr, shape (steps + 1, T)},
    every model adapted on the same tasks of `batch`."""
    return {name: adaptation_errors(model, params, batch, steps, lr)
            for name, params in params_by_name.items()}


def curves(errors):
    """{name: [Summary after n steps for n = 0..steps]}: what helpers.evaluate reports, per step."""
    return {name: [summarize(e) for e in errs] for name, errs in errors.items()}


def label(name):
    return LABELS.get(name, name)


def verdict(diff, a, b):
    """One sentence on a paired comparison `diff` = paired(errors of a, errors of b): which model
    is lower on average, whether the 95% interval of the mean difference excludes 0, and on how
    many tasks each one is lower."""
    la, lb = label(a), label(b)
    wins = f"{la} is lower on {diff.wins_a:,} of the {diff.n:,} tasks, {lb} on {diff.wins_b:,}"
    if abs(diff.mean) <= diff.ci:
        return (f"the mean difference {diff.mean:+.3f} ± {diff.ci:.3f} contains 0: no difference is "
                f"resolved on these tasks ({wins})")
    lower, higher = (la, lb) if diff.mean < 0 else (lb, la)
    return (f"{lower} is lower than {higher} by {abs(diff.mean):.3f} ± {diff.ci:.3f} on average, an "
            f"interval that excludes 0 ({wins})")


def paired_table(errors, a, b, steps):
    """A markdown table: a against b after each n in steps, on the same tasks. Columns: the mean of
    the per-task differences a - b with its 95% CI, and on how many tasks each is lower."""
    la, lb = label(a), label(b)
    lines = [f"| steps | {la} minus {lb}: mean ± 95% CI | {la} lower | {lb} lower | tasks |",
             "|---:|---|---:|---:|---:|"]
    for n, d in paired_differences(errors, a, b, steps).items():
        excluded = f" ({d.excluded} diverged, left out)" if d.excluded else ""
        lines.append(f"| {n} | {d.mean:+.3f} ± {d.ci:.3f} | {d.wins_a:,} | {d.wins_b:,} "
                     f"| {d.n:,}{excluded} |")
    return "\n".join(lines)


def paired_differences(errors, a, b, steps):
    """{n: helpers.Paired of a against b after n steps}."""
    return {n: paired(errors[a][n], errors[b][n]) for n in steps}


def paper_table(names=("maml", "transfer"), k_shot=5):
    """helpers.report.maml_paper_table restricted to the models `names` (rows, markdown)."""
    rows, _ = maml_paper_table(k_shot)
    rows = [r for r in rows if r["name"] in names]
    return rows, to_markdown(rows, k_shot)
