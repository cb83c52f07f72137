"""The MAML paper's 5-shot sinusoid table, side by side with this course's recorded figures.

Paper figures: Finn et al. 2017, appendix (sinusoid, 5-shot, MSE after 1 / 5 / 10 gradient steps).
Course figures: the evaluation recorded by `python -m helpers.lessons.pretrain` in helpers/weights/*.json.
"""

from .pretrained import available, pretrained_record

PAPER = {"maml": (0.67, 0.38, 0.35), "transfer": (2.41, 2.23, 2.19)}
STEPS = ("1", "5", "10")
ROWS = (("maml", "MAML"), ("transfer", "pretrained on all tasks"), ("fomaml", "first-order MAML"),
        ("imaml", "iMAML"))


def maml_paper_table(k_shot=5):
    """Rows {method, source, mse: [3 means], ci: [3 half-widths] or None, how} and a markdown table."""
    rows = []
    for name, label in ROWS:
        if name in PAPER:
            rows.append({"name": name, "method": label, "source": "MAML paper", "mse": list(PAPER[name]),
                         "ci": None, "how": "Finn et al. 2017, appendix"})
        if name in available():
            record = pretrained_record(name)
            mse = record["evaluation"]["mse"][f"K={k_shot}"]
            rows.append({"name": name, "method": label, "source": "this course",
                         "mse": [mse[s]["mean"] for s in STEPS], "ci": [mse[s]["ci"] for s in STEPS],
                         "how": record["evaluation"]["adaptation"],
                         "train_seconds": record["train_seconds"]})
    return rows, to_markdown(rows, k_shot)


def to_markdown(rows, k_shot):
    lines = [f"| {k_shot}-shot sinusoid, MSE after | 1 step | 5 steps | 10 steps | source | training |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        cells = [f"{m:.2f}" if r["ci"] is None else f"{m:.2f} ± {c:.2f}"
                 for m, c in zip(r["mse"], r["ci"] or [None] * 3)]
        seconds = f"{r['train_seconds']:.0f} s" if "train_seconds" in r else ""
        lines.append(f"| {r['method']} | " + " | ".join(cells) + f" | {r['source']} | {seconds} |")
    return "\n".join(lines)


def ratio_to_paper(rows, name):
    """This course's MSE divided by the paper's, per step count (below 1 is better)."""
    ours = next(r for r in rows if r["name"] == name and r["source"] == "this course")["mse"]
    return [o / p for o, p in zip(ours, PAPER[name])]


if __name__ == "__main__":
    print(maml_paper_table()[1])
