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
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), gridspec_kw={"width_ratios": [2, 1]})
    ax_o, ax_m = axes
    width = 0.8 / len(METHODS)
    x = np.arange(len(OMNIGLOT_SETTINGS))
    for j, m in enumerate(METHODS):
        ax_o.bar(x + (j - 2) * width, OMNIGLOT[m], width, color=_COLOR[m], label=NAMES[m],
                 hatch="///" if m == "imaml_gd" else None, edgecolor="white" if m == "imaml_gd" else None)
    ax_o.set_xticks(x, OMNIGLOT_SETTINGS, fontsize=8)
    ax_o.set(ylim=(85, 100.5), ylabel="accuracy %")
    ax_o.set_title("Omniglot (paper, Table 2)", fontsize=10)
    ax_o.legend(fontsize=7, ncol=len(METHODS), loc="upper center", bbox_to_anchor=(0.5, -0.12),
                columnspacing=0.8, handlelength=1.5)
    y = np.arange(len(METHODS))
    for j, m in enumerate(METHODS):
        mean, ci = MINI_IMAGENET[m]
        ax_m.errorbar(mean, j, xerr=ci, fmt="o", color=_COLOR[m], capsize=3)
    ax_m.set_yticks(y, [NAMES[m] for m in METHODS], fontsize=8)
    ax_m.invert_yaxis()
    ax_m.set(xlabel="accuracy % (95% CI)")
    ax_m.set_title("Mini-ImageNet 5-way 1-shot (Table 3)", fontsize=10)
    fig = ax_o.figure
    fig.tight_layout()
    return fig, axes


def paper_vs_toy(N):
    """A paragraph: what the paper reports (Tables 2 and 3) beside what this course measures on the
    toy problem, every comparison word computed (the paper's from its tables, the toy's from the
    paired comparisons of N = compare.takeaway_numbers(...))."""
    from .compare import format_mean_ci, format_paired, paired_words

    wins = [best(i) for i in range(len(OMNIGLOT_SETTINGS))]
    hf_best = [s for s, w in zip(OMNIGLOT_SETTINGS, wins) if w == "imaml_hf"]
    others = [f"{NAMES[w]} in {s}" for s, w in zip(OMNIGLOT_SETTINGS, wins) if w != "imaml_hf"]
    diff = [h - m for h, m in zip(OMNIGLOT["imaml_hf"], OMNIGLOT["maml"])]
    fo_gaps = [m - f for m, f in zip(OMNIGLOT["maml"], OMNIGLOT["fomaml"])]
    fo_gap, fo_where = max(zip(fo_gaps, OMNIGLOT_SETTINGS))
    mini = ("every pair of methods is within the reported 95% intervals" if mini_imagenet_overlap()
            else "some pairs of methods are separated by more than the reported 95% intervals")
    P, trained, s10, t10 = N["paired"], N["imaml_as_trained"], N["k5_step10"], N["k10_step10"]
    paper = (f"**In the paper** ({CITATION}): on Omniglot, iMAML with the Hessian-free inner solver has the "
             f"highest reported accuracy in {len(hf_best)} of {len(OMNIGLOT_SETTINGS)} settings"
             + (f" ({', '.join(hf_best)})" if hf_best else "")
             + (f"; {'; '.join(others)}" if others else "")
             + f". Its difference from MAML ranges from {min(diff):+.2f} to {max(diff):+.2f} points, and "
             f"first-order MAML trails MAML by up to {fo_gap:.1f} points ({fo_where}). On "
             f"Mini-ImageNet 5-way 1-shot, the best reported mean is {NAMES[best()]}'s "
             f"{MINI_IMAGENET[best()][0]:.2f}%, and {mini}.")
    toy = (f"**On the toy problem** (sinusoid regression, 5 and 10 shots, the same held-out tasks for every "
           f"method): iMAML adapted as trained reaches {format_mean_ci(trained[5])} with K = 5, "
           f"{paired_words(P['imaml_trained_vs_maml_k5'], trained[5][0], s10['maml'][0])} MAML's "
           f"{format_mean_ci(s10['maml'])} after 10 steps ({format_paired(P['imaml_trained_vs_maml_k5'])}), "
           f"and {format_mean_ci(trained[10])} with K = 10, "
           f"{paired_words(P['imaml_trained_vs_maml_k10'], trained[10][0], t10['maml'][0])} "
           f"{format_mean_ci(t10['maml'])}; first-order MAML's 5-shot error is "
           f"{paired_words(P['fomaml_vs_maml_k5'], s10['fomaml'][0], s10['maml'][0])} MAML's "
           f"({format_paired(P['fomaml_vs_maml_k5'])}). The two settings differ in data, network, "
           f"metric and training budget: the toy problem checks the mechanics (the meta-gradients, "
           f"memory, time), not the paper's accuracy ranking.")
    return paper + "\n\n" + toy
