"""What this course measured about iMAML's costs, for the deck's Limitations slide: training time
from the shipped records, the inner solves' accuracy from the tuning study, memory at k = 1 measured
now. Nothing is typed: retrain a model and the slide follows its record."""

import matplotlib.pyplot as plt

from helpers.lessons.imaml.tuning import load_study
from helpers.plots import COLORS, LABELS
from helpers.pretrained import pretrained_record

from .compare import load_shipped, memory_vs_inner_steps


def imaml_costs(memory=True):
    """{train_seconds, iterations, ms_per_iteration: {maml, imaml}; met_delta: best share of
    training solves within delta of any iMAML configuration of the study, per activation;
    shipped_met_delta; memory_k1: bytes held for backprop at k = 1 (if memory)}."""
    records = {m: pretrained_record(m) for m in ("maml", "imaml")}
    out = {"train_seconds": {m: r["train_seconds"] for m, r in records.items()},
           "iterations": {m: r["config"]["iterations"] for m, r in records.items()}}
    out["ms_per_iteration"] = {m: 1e3 * out["train_seconds"][m] / out["iterations"][m] for m in records}
    best = {}
    for r in load_study()["records"]:
        if r["status"] == "ok" and r["family"].startswith("imaml"):
            act = r["config"].get("activation", "relu")
            best[act] = max(best.get(act, 0.0), r["met_delta"])
    out["met_delta"] = best
    out["shipped_met_delta"] = records["imaml"]["training_inner_solves"]["met_delta"]
    if memory:
        held = memory_vs_inner_steps(load_shipped(), steps_list=[1], methods=("maml", "imaml"))
        out["memory_k1"] = {m: b[0] for m, b in held.items()}
    return out


def limitations_markdown(costs):
    """The measured costs as markdown bullets, every number from `costs` (imaml_costs())."""
    ts, ms = costs["train_seconds"], costs["ms_per_iteration"]
    lines = [
        f"- **Time**: {ms['imaml']:.0f} ms per meta-iteration against MAML's {ms['maml']:.0f} ms "
        f"({ms['imaml'] / ms['maml']:.0f}x); training {ts['imaml']:,.0f} s against {ts['maml']:,.0f} s "
        f"({costs['iterations']['imaml']:,} and {costs['iterations']['maml']:,} meta-iterations, one core; "
        "the records' wall-clock, beside other jobs: `make bench` times both in one run)",
        f"- **A smooth network**: on the ReLU network no iMAML configuration of the tuning study met "
        f"δ on more than {costs['met_delta']['relu']:.0%} of its training solves (they stall on the "
        f"kinks); on the softplus network up to {costs['met_delta']['softplus']:.0%}, the shipped "
        f"model {costs['shipped_met_delta']:.0%}",
    ]
    if "memory_k1" in costs:
        mem = costs["memory_k1"]
        more = "more" if mem["imaml"] > mem["maml"] else "less"
        lines.append(f"- **Memory at k = 1**: {mem['imaml'] / 1e6:.2f} MB held for backprop against "
                     f"MAML's {mem['maml'] / 1e6:.2f} MB ({more}); the saving comes with longer inner "
                     "loops")
    return "\n".join(lines)


def plot_imaml_costs(costs):
    """Bars of the measured costs (imaml_costs()): ms per meta-iteration in training, and the memory
    held for backprop at k = 1 (if measured), MAML beside iMAML."""
    panels = [("ms per meta-iteration (training records)", costs["ms_per_iteration"], 1.0)]
    if "memory_k1" in costs:
        panels.append(("MB held for backprop at k = 1", costs["memory_k1"], 1e-6))
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 1.8), squeeze=False)
    for ax, (title, values, scale) in zip(axes[0], panels, strict=True):
        methods = list(values)
        ax.barh(range(len(methods)), [scale * values[m] for m in methods], color=[COLORS[m] for m in methods])
        ax.set_yticks(range(len(methods)), [LABELS[m] for m in methods])
        for i, m in enumerate(methods):
            ax.annotate(f" {scale * values[m]:.2f}" if scale < 1 else f" {values[m]:.0f}",
                        (scale * values[m], i), va="center", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.set_xlim(0, 1.3 * max(scale * v for v in values.values()))
        ax.invert_yaxis()
    fig.tight_layout()
    return fig
