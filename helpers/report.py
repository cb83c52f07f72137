"""The MAML paper's 5-shot sinusoid table, side by side with this course's recorded figures, and the
same figures measured again on fresh tasks drawn from other seeds.

Paper figures: Finn et al. 2017, appendix (sinusoid, 5-shot, MSE after 1 / 5 / 10 gradient steps).
Course figures: the evaluation recorded by `python -m helpers.lessons.pretrain` in helpers/weights/*.json.

    python -m helpers.report                    # the table (as in the README)
    python -m helpers.report --seeds 1 2 3 4 5  # each shipped model on 2,000 fresh tasks per seed
    python -m helpers.report --pairs            # paired comparisons (PAIRS) into shipped_pairs.json
"""

import argparse

from .evaluation import evaluate
from .pretrained import WEIGHTS, adapter, available, load_pretrained, pretrained_record

PAPER = {"maml": (0.67, 0.38, 0.35), "transfer": (2.41, 2.23, 2.19)}
STEPS = ("1", "5", "10")
ROWS = (("maml", "MAML"), ("transfer", "pretrained on all tasks"), ("fomaml", "first-order MAML"),
        ("maml_tuned", "MAML, 5 inner steps (tuned)"), ("maml_softplus", "MAML, softplus network"),
        ("imaml", "iMAML (softplus network)"))


def maml_paper_table(k_shot=5):
    """Rows {method, source, mse: [3 means], ci: [3 half-widths] or None, diverged: [3 counts] or
    None, n_tasks, how} and a markdown table."""
    rows = []
    for name, label in ROWS:
        if name in PAPER:
            rows.append({"name": name, "method": label, "source": "MAML paper", "mse": list(PAPER[name]),
                         "ci": None, "diverged": None, "how": "Finn et al. 2017, appendix"})
        if name in available():
            record = pretrained_record(name)
            mse = record["evaluation"]["mse"][f"K={k_shot}"]
            rows.append({"name": name, "method": label, "source": "this course",
                         "mse": [mse[s]["mean"] for s in STEPS], "ci": [mse[s]["ci"] for s in STEPS],
                         "diverged": [mse[s]["diverged"] for s in STEPS],
                         "n_tasks": mse[STEPS[0]]["n_tasks"], "how": record["evaluation"]["adaptation"],
                         "train_seconds": record["train_seconds"]})
    return rows, to_markdown(rows, k_shot)


def to_markdown(rows, k_shot):
    lines = [f"| {k_shot}-shot sinusoid, MSE after | 1 step | 5 steps | 10 steps | diverged | source "
             "| training |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = [f"{m:.2f}" if r["ci"] is None else f"{m:.2f} ± {c:.2f}"
                 for m, c in zip(r["mse"], r["ci"] or [None] * 3)]
        cells.append("" if r["diverged"] is None else _diverged(r["diverged"], r["n_tasks"]))
        seconds = f"{r['train_seconds']:.0f} s" if "train_seconds" in r else ""
        lines.append(f"| {r['method']} | " + " | ".join(cells) + f" | {r['source']} | {seconds} |")
    return "\n".join(lines)


def shots_table(steps="10"):
    """Markdown: every course model's query MSE (mean ± 95% CI) after `steps` adaptation steps, with
    K = 5, 10 (as in meta-training) and 20 support points, from the records."""
    ks = list(pretrained_record("maml")["evaluation"]["mse"])
    lines = [f"| MSE after {steps} steps | " + " | ".join(k.replace("=", " = ") for k in ks) + " |",
             "|---|" + "---|" * len(ks)]
    for name, label in ROWS:
        if name in available():
            mse = {k: v[steps] for k, v in pretrained_record(name)["evaluation"]["mse"].items()}
            cells = [f"{mse[k]['mean']:.3f} ± {mse[k]['ci']:.3f}" for k in ks]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# The two protocols: (label, model trained at K = 10, model trained at K = 5)
PROTOCOL_ROWS = (("MAML (the paper's settings: 1 inner step)", "maml", "maml_k5"),
                 ("MAML, 5 inner steps (tuned)", "maml_tuned", "maml_tuned_k5"),
                 ("iMAML (softplus network)", "imaml", "imaml_k5"))


def protocols_table(steps="10"):
    """Markdown: query MSE after `steps` adaptation steps under the MAML paper's protocol (one model
    trained at K = 10, tested at K = 5, 10, 20) and the iMAML paper's (one model per shot count,
    trained at the K it is tested at: the *_k5 models at K = 5; at K = 10 the same models as the
    first protocol), from the records."""
    lines = [f"| MSE after {steps} steps | 5-shot, trained at K = 10 | 5-shot, trained at K = 5 "
             "| 10-shot, trained at K = 10 | 20-shot, trained at K = 10 |", "|---|---|---|---|---|"]
    for label, k10, k5 in PROTOCOL_ROWS:
        if k10 not in available() or k5 not in available():
            continue
        at10, at5 = (pretrained_record(n)["evaluation"]["mse"] for n in (k10, k5))
        cells = [at10["K=5"][steps], at5["K=5"][steps], at10["K=10"][steps], at10["K=20"][steps]]
        lines.append(f"| {label} | " + " | ".join(f"{c['mean']:.3f} ± {c['ci']:.3f}" for c in cells) + " |")
    return "\n".join(lines)


PAIRS_PATH = WEIGHTS / "shipped_pairs.json"
# (a, b, K): paired comparisons of shipped models on the same held-out tasks, a - b (below 0: a is lower)
PAIRS = (("imaml", "imaml_cg5", 5), ("imaml", "maml", 5), ("imaml", "maml_tuned", 5),
         ("imaml_k5", "maml_k5", 5), ("imaml_k5", "maml_tuned_k5", 5), ("imaml_k5", "imaml", 5),
         ("maml_k5", "maml", 5), ("imaml", "maml", 10), ("imaml", "maml_tuned", 10), ("imaml", "maml", 20),
         ("imaml", "maml_tuned", 20))


def shipped_pairs(pairs=PAIRS, n_tasks=1000, steps=10):
    """[{a, b, k_shot, mean, ci, wins_a, wins_b, n, excluded}]: query MSE after `steps` iterations of each
    model's own rule (helpers.adapter) on the records' held-out tasks (EVAL_SEED), paired per task."""
    from .evaluation import adaptation_errors, paired
    from .pretrain import EVAL_SEED
    from .tasks import SinusoidTasks

    errors, out = {}, []
    for a, b, k in pairs:
        batch = SinusoidTasks().sample(n_tasks, k, 100, EVAL_SEED)
        for name in (a, b):
            if (name, k) not in errors:
                model, params = load_pretrained(name)
                errors[name, k] = adaptation_errors(model, params, batch, steps, rule=adapter(name).rule)[-1]
        out.append({"a": a, "b": b, "k_shot": k, **paired(errors[a, k], errors[b, k]).__dict__})
    return out


def load_pairs(path=PAIRS_PATH):
    """The paired comparisons written by `python -m helpers.report --pairs`: {(a, b, K): Paired}."""
    import json

    from .evaluation import Paired

    rows = json.loads(path.read_text())["pairs"]
    keys = ("a", "b", "k_shot")
    return {tuple(r[k] for k in keys): Paired(**{k: v for k, v in r.items() if k not in keys}) for r in rows}


def inner_solves_note(name="imaml"):
    """One sentence for the README: how the model's training solves ended (delta and delta'; its record)."""
    s = pretrained_record(name)["training_inner_solves"]
    q, r = s["grad_norm_quantiles"], s["cg_relative_residual_quantiles"]
    return (f"In its last {s['iterations']:,} meta-iterations ({s['solves']:,} inner solves) the training "
            f"inner solve met ||grad G|| <= {s['delta']:g} on {s['met_delta']:.1%} of tasks (||grad G|| "
            f"quantiles 10% {q['0.1']:.0e}, 50% {q['0.5']:.0e}, 90% {q['0.9']:.0e}, 99% {q['0.99']:.0e}), "
            f"spending {s['grad_evals']:.0f} gradient evaluations per task on average; the meta-gradient's "
            f"CG met delta' = {s['delta_prime']:g} (relative residual) on {s['met_delta_prime']:.1%} of "
            f"tasks (quantiles 50% {r['0.5']:.0e}, 90% {r['0.9']:.0e}, 99% {r['0.99']:.0e}).")


def _diverged(counts, n_tasks):
    return f"{' / '.join(map(str, counts))} of {n_tasks:,}"


def ratio_to_paper(rows, name):
    """This course's MSE divided by the paper's, per step count (below 1 is better)."""
    ours = next(r for r in rows if r["name"] == name and r["source"] == "this course")["mse"]
    return [o / p for o, p in zip(ours, PAPER[name])]


def other_seeds(seeds, n_tasks=2000, k_shot=5):
    """{name: {seed: {n: Summary}}}: every shipped model of the table, adapted with its own rule
    (helpers.pretrained.adapter), on n_tasks fresh tasks per seed, after 1, 5 and 10 steps."""
    out, steps = {}, tuple(map(int, STEPS))
    for name, _ in ROWS:
        if name in available():
            model, params = load_pretrained(name)
            rule = adapter(name).rule
            out[name] = {seed: evaluate(model, params, n_tasks=n_tasks, k_shot=k_shot, steps=steps,
                                        k_query=100, seed=seed, rule=rule) for seed in seeds}
    return out


def seeds_markdown(results, k_shot=5):
    """A markdown table of other_seeds(): mean ± 95% CI, median and diverged tasks per model and seed."""
    lines = [f"| {k_shot}-shot, MSE after | seed | 1 step | 5 steps | 10 steps | diverged |",
             "|---|---|---|---|---|---|"]
    labels = dict(ROWS)
    for name, by_seed in results.items():
        for seed, summaries in by_seed.items():
            s = [summaries[int(n)] for n in STEPS]
            cells = [f"{x.mean:.2f} ± {x.ci:.2f} (median {x.median:.2f})" for x in s]
            cells.append(_diverged([x.diverged for x in s], s[0].n_tasks))
            lines.append(f"| {labels[name]} | {seed} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def divergence_note(results):
    """One sentence for the README: on how many of other_seeds()'s tasks each model diverged."""
    by_seed = next(iter(results.values()))
    per_seed = next(iter(next(iter(by_seed.values())).values())).n_tasks
    labels = dict(ROWS)
    counts = [f"{' / '.join(str(sum(s[int(n)].diverged for s in results[name].values())) for n in STEPS)} "
              f"for {labels[name]}" for name in results]
    seeds = list(map(str, by_seed))
    return (f"Of {len(seeds) * per_seed:,} fresh tasks ({per_seed:,} from each of the seeds "
            f"{', '.join(seeds[:-1])} and {seeds[-1]}), adaptation diverged after 1 / 5 / 10 steps on "
            f"{', '.join(counts[:-1])} and {counts[-1]}.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", help="evaluate again on fresh tasks from these seeds")
    parser.add_argument("--tasks", type=int, default=2000, help="tasks per seed (with --seeds)")
    parser.add_argument("--pairs", action="store_true",
                        help=f"paired comparisons of the shipped models, written to {PAIRS_PATH.name}")
    args = parser.parse_args()
    if args.pairs:
        import json

        rows = shipped_pairs()
        PAIRS_PATH.write_text(json.dumps({"n_tasks": 1000, "steps": 10, "pairs": rows}, indent=1) + "\n")
        for r in rows:
            print(f"{r['a']} - {r['b']} (K = {r['k_shot']}): {r['mean']:+.3f} ± {r['ci']:.3f}")
    elif args.seeds:
        results = other_seeds(args.seeds, args.tasks)
        print(seeds_markdown(results), divergence_note(results), sep="\n\n")
    else:
        print(maml_paper_table()[1], shots_table(), protocols_table(), inner_solves_note(), sep="\n\n")
