"""The deck's page of the instructor's guide (instructor/deck.md): for each slide with a live panel,
what the panel shows when the deck opens and at the moves worth making during the talk (its
captions, read from the panel built as the deck builds it), the measured limitations, and what to
do when a laptop cannot run the live deck."""

import ast
import os

import nbformat

from helpers.lessons.takeaways.limitations import imaml_costs, limitations_markdown
from helpers.widgets import Panel
from instructor import probe

DECK = probe.ROOT / "notebooks" / "lecture_imaml.ipynb"

# {panel class: (what to do and say on its slide, [probe settings])}
MOVES = {
    "TransferPanel": (
        "Move the fine-tuning steps from 0 to 10 at $K = 5$: the pretrained network creeps from "
        "the average curve. Transfer learns the average task, not how to adapt.",
        ["dict(steps=0)", "dict(steps=10)"]),
    "MemoryPanel": (
        "Move $k$ from 1 to 16: MAML's megabytes grow with every inner step, iMAML's stay flat. At "
        "$k = 1$ the two are about equal here; the measured-limitations slide shows iMAML holding "
        "more at $k = 1$ on a larger batch. The times are this laptop's.",
        ["dict(inner_steps=1)", "dict(inner_steps=16)"]),
    "ProximalAdaptationPanel": (
        "Pick the task the meta-parameters fit worst and move $\\lambda$ to both ends: a small "
        "$\\lambda$ lets the task move further from $\\theta$ and fit its points, a large one holds "
        "it near $\\theta$. Every $\\lambda$ was solved while the deck loaded.",
        [f"dict(task=int(panel.theta_mse.argmax()), lam={lam})"
         for lam in ("panel.lams[0]", "panel.shipped_lam", "panel.lams[-1]")]),
    "ExplorerPanel": (
        "At the defaults the meta-gradient is accurate. On task 1, raise $\\delta$ to $10^{-2}$: "
        "the error rises and no number of CG steps brings it back (notebook 05, question 1). Then "
        "the smallest $\\lambda$ with $\\delta = 1$: the caption warns that $I + H/\\lambda$ is not "
        "positive definite.",
        ["dict(panel.initial)", "dict(task=1, delta=1e-2, cg_steps=panel.max_cg_steps)",
         "dict(task=0, lam=min(panel.lam_values), delta=1.0, cg_steps=10)"]),
    "RacePanel": (
        "Press start and talk over it: against seconds MAML pulls ahead at once, its "
        "meta-iteration being many times cheaper. Then set the mode to *equal steps* and start "
        "again: per meta-iteration iMAML is ahead. The race's numbers are this laptop's wall-clock "
        "readings, so no caption is given here.",
        []),
    "BayesPanel": (
        "The Bayesian reading: at $\\lambda = 0.01$ with one point the band is wide away from it; "
        "at $\\lambda = 100$ the solution stays at the prior mean whatever $K$.",
        ["dict(lam=0.01, k_shot=1)", "dict(lam=100.0, k_shot=10)"]),
}


def live_slides():
    """[(slide title, panel)]: each deck cell whose value is a panel, built in this process as the
    deck builds it (working directory notebooks/)."""
    nb = nbformat.read(DECK, as_version=4)
    found, title, cwd = [], "", os.getcwd()
    os.chdir(DECK.parent)
    try:
        for cell in nb.cells:
            if cell.cell_type == "markdown" and cell.source.startswith("## "):
                title = cell.source.splitlines()[0][3:].strip()
            elif cell.cell_type == "markdown" and cell.source.startswith("# "):
                title = cell.source.splitlines()[0][2:].strip()
            if cell.cell_type != "code":
                continue
            tree = ast.parse(cell.source)
            last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
            scope = {}
            exec(compile(tree, "deck", "exec"), scope)  # noqa: S102 (the deck's own cells)
            value = eval(compile(ast.Expression(last.value), "deck", "eval"), scope) if last else None  # noqa: S307
            if isinstance(value, Panel):
                found.append((title, value))
    finally:
        os.chdir(cwd)
    return found


def deck_page():
    """The deck's page (markdown)."""
    lines = [
        "# Guide: the lecture deck", "",
        "`notebooks/lecture_imaml.ipynb`, one class: the talk's slides and one of the course's own "
        "measurements. Each slide carries speaker notes (the talk's script); this page adds what "
        "each live panel shows and what to do with it. Present with `make present` (Voila, "
        "reveal.js); the deck opens when every cell has run.", "",
        "**If a laptop cannot run the live deck** (no environment, too slow, a projector machine): "
        "present the static copy, `build/slides/lecture_imaml.slides.html` from `make slides`, or "
        "the website's `slides/lecture_imaml.slides.html`; it needs no Python and no internet. Each "
        "panel there is frozen at its opening state (the first caption below), so describe the "
        "moves instead of making them: the captions below are what the audience would have seen. "
        "`make slides` also writes a PDF (with Chromium). Run `make doctor` on the presenting "
        "machine the day before.", "",
        "## Live panels", "",
    ]
    for title, panel in live_slides():
        say, settings = MOVES[type(panel).__name__]
        lines += [f"### {title} (`{type(panel).__name__}`)", ""]
        if probe.is_timed(panel):  # wall-clock readings: what to do, no captions
            lines += [say, ""]
            continue
        lines += [f"When the deck opens: {probe.caption_text(panel)}", "", say, ""]
        lines += [probe.line(row) for row in probe.read(panel, [(0, settings, "")])] + [""]
    costs = imaml_costs()
    lines += ["## Limitations, measured in this course", "",
              "The slide's numbers, read from the records as the deck reads them (the memory "
              "measured now):", "", limitations_markdown(costs), "",
              "Say that the times are the records' wall-clock on one busy core, and that the "
              "memory saving appears only with longer inner loops.", ""]
    return "\n".join(lines).rstrip() + "\n"
