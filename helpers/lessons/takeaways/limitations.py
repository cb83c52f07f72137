"""What this course measured about iMAML's costs, for the deck's Limitations slide: training time
from the shipped records, the inner solves' accuracy from the tuning study, memory at k = 1 measured
now. Nothing is typed: retrain a model and the slide follows its record."""

from helpers.lessons.imaml.tuning import load_study
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
        f"({costs['iterations']['imaml']:,} and {costs['iterations']['maml']:,} meta-iterations, one core)",
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
