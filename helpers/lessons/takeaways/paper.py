"""The iMAML paper's own few-shot classification results, in one place for notebook 08 and the deck.

Rajeswaran, Finn, Kakade & Levine, "Meta-Learning with Implicit Gradients", NeurIPS 2019:
Table 2 (Omniglot) and Table 3 (Mini-ImageNet), test accuracy in %. In the paper, MAML's Omniglot
numbers are quoted from Finn et al. (2017), first-order MAML's and Reptile's from Nichol et al.
(2018). The Omniglot rows were checked against the paper's Table 2; the Mini-ImageNet rows are as
reported in the paper's Table 3 (the ± are its 95% intervals).

These are image classification benchmarks with a convolutional network: nothing in them is
measured by this course. The toy problem (sinusoid regression with a 1-40-40-1 network) answers
another question, what each method costs and how each adapts, and its numbers sit beside these,
not in their place.
"""

import matplotlib.pyplot as plt
import numpy as np

from helpers.plots import COLORS

CITATION = ("Rajeswaran, Finn, Kakade & Levine, Meta-Learning with Implicit Gradients, NeurIPS 2019, "
            "Table 2 (Omniglot) and Table 3 (Mini-ImageNet)")
METHODS = ("maml", "fomaml", "reptile", "imaml_gd", "imaml_hf")
NAMES = {"maml": "MAML", "fomaml": "first-order MAML", "reptile": "Reptile", "imaml_gd": "iMAML, GD",
         "imaml_hf": "iMAML, Hessian-free"}
OMNIGLOT_SETTINGS = ("5-way 1-shot", "5-way 5-shot", "20-way 1-shot", "20-way 5-shot")
# accuracy in %, in the order of OMNIGLOT_SETTINGS
OMNIGLOT = {
    "maml": (98.7, 99.9, 95.8, 98.9),
    "fomaml": (98.3, 99.2, 89.4, 97.9),
    "reptile": (97.68, 99.48, 89.43, 97.12),
    "imaml_gd": (99.16, 99.67, 94.46, 98.69),
    "imaml_hf": (99.50, 99.74, 96.18, 99.14),
}
# 5-way 1-shot accuracy in %: (mean, 95% interval half-width)
MINI_IMAGENET = {
    "maml": (48.70, 1.84),
    "fomaml": (48.07, 1.75),
    "reptile": (49.97, 0.32),
    "imaml_gd": (48.96, 1.84),
    "imaml_hf": (49.30, 1.88),
}
PAPER_RESULTS = {"citation": CITATION, "omniglot": OMNIGLOT, "omniglot_settings": OMNIGLOT_SETTINGS,
                 "mini_imagenet_5way_1shot": MINI_IMAGENET}
_COLOR = {"maml": COLORS["maml"], "fomaml": COLORS["fomaml"], "reptile": "0.55", "imaml_gd": COLORS["imaml"],
          "imaml_hf": COLORS["imaml"]}


def best(setting_index=None):
    """The method with the highest reported accuracy: on Omniglot setting `setting_index`, or on
    Mini-ImageNet when None."""
    if setting_index is None:
        return max(MINI_IMAGENET, key=lambda m: MINI_IMAGENET[m][0])
    return max(OMNIGLOT, key=lambda m: OMNIGLOT[m][setting_index])


def paper_table_markdown():
    """Tables 2 and 3 of the paper as one markdown table (the best of each column in bold)."""
    header = "| method (paper) | " + " | ".join(f"Omniglot {s}" for s in OMNIGLOT_SETTINGS) + \
             " | Mini-ImageNet 5-way 1-shot |"
    rows = [header, "|---" * (len(OMNIGLOT_SETTINGS) + 2) + "|"]
    winners = [best(i) for i in range(len(OMNIGLOT_SETTINGS))]
    for m in METHODS:
        cells = [f"**{a:g}**" if winners[i] == m else f"{a:g}" for i, a in enumerate(OMNIGLOT[m])]
        mean, ci = MINI_IMAGENET[m]
        mini = f"{mean:.2f} ± {ci:.2f}"
        cells.append(f"**{mini}**" if best() == m else mini)
        rows.append(f"| {NAMES[m]} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + f"\n\nAccuracy in %, as reported in {CITATION}."


def mini_imagenet_overlap():
    """True when every Mini-ImageNet interval overlaps every other: the paper's 1-shot differences
    there are within its reported 95% intervals."""
    return all(abs(MINI_IMAGENET[a][0] - MINI_IMAGENET[b][0]) <= MINI_IMAGENET[a][1] + MINI_IMAGENET[b][1]
               for a in METHODS for b in METHODS)


def plot_paper_results(axes=None):
    """Two panels: Omniglot accuracy per setting (grouped bars), Mini-ImageNet 5-way 1-shot with
    its intervals. Returns (fig, axes)."""
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), gridspec_kw={"width_ratios": [2, 1]})
    ax_o, ax_m = axes
    width = 0.8 / len(METHODS)
    x = np.arange(len(OMNIGLOT_SETTINGS))
    for j, m in enumerate(METHODS):
        ax_o.bar(x + (j - 2) * width, OMNIGLOT[m], width, color=_COLOR[m], label=NAMES[m],
                 hatch="///" if m == "imaml_gd" else None, edgecolor="white" if m == "imaml_gd" else None)
    ax_o.set_xticks(x, OMNIGLOT_SETTINGS, fontsize=8)
    ax_o.set(ylim=(85, 100.5), ylabel="accuracy %", title="Omniglot (paper, Table 2)")
    ax_o.legend(fontsize=7, ncol=3, loc="lower left")
    y = np.arange(len(METHODS))
    for j, m in enumerate(METHODS):
        mean, ci = MINI_IMAGENET[m]
        ax_m.errorbar(mean, j, xerr=ci, fmt="o", color=_COLOR[m], capsize=3)
    ax_m.set_yticks(y, [NAMES[m] for m in METHODS], fontsize=8)
    ax_m.invert_yaxis()
    ax_m.set(xlabel="accuracy % (95% CI)", title="Mini-ImageNet 5-way 1-shot (Table 3)")
    fig = ax_o.figure
    fig.tight_layout()
    return fig, axes
