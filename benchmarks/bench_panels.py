"""Slider latency of every panel of the course: the time of each callback over the panel's sweep.

    .venv/bin/python -m benchmarks.bench_panels [--repeats 3] [--only NAME ...] [--threads 1] [--out FILE]

Each panel is built as its notebook builds it, then taken through Panel.sweep(): every control to
its smallest, a middle and its largest value, then all controls to each end at once (what the
tests check for a figure or a clear message; here it is timed). A callback is Panel.set(), what a
slider move runs: computation, redraw and PNG encoding. A fresh panel per repeat, so first visits
(caches being filled, e.g. the explorer's first solve of a lambda) count as a student meets them.
One torch thread by default: on a 2-core machine shared with other jobs a second OpenMP thread
often waits for a descheduled core (see benchmarks/README.md); an idle laptop's default is faster.
The median and the 90th percentile over all callbacks are compared with the budget; the results
go to benchmarks/panel_latency.json and its table into the README (between README_MARKERS).
"""

import argparse
import functools
import json
import platform
import statistics
from pathlib import Path

import numpy as np
import torch

from helpers.lessons import beyond, fomaml, imaml, maml, multitask, takeaways, toy, transfer
from helpers.lessons.beyond import payoff
from helpers.pretrained import load_pretrained

BUDGET_MS = {"median": 250, "p90": 1000}  # a slider answers "at once"; first visits well under 1 s
OUT = Path(__file__).parent / "panel_latency.json"
README = Path(__file__).parents[1] / "README.md"
README_MARKERS = ("<!-- bench_panels: start -->\n", "<!-- bench_panels: end -->")


@functools.cache
def _head_to_head_stats():
    """Notebook 08's data (computed once: the panel only selects from it)."""
    shipped = takeaways.load_shipped()
    errors = {k: takeaways.adaptation_curves(shipped, k) for k in takeaways.K_SHOTS}
    return {k: {m: takeaways.curve_stats(e) for m, e in errors[k].items()} for k in takeaways.K_SHOTS}


def _head_to_head():
    return takeaways.HeadToHeadPanel(_head_to_head_stats(), takeaways.N_TASKS, k_shot=5, steps=1)


def _race():
    """The race panel after the notebook's 5-second race: its callbacks redraw, they do not train."""
    panel = takeaways.RacePanel()
    panel.run(seconds=5)
    return panel


# name -> (notebook, build): each panel as its notebook constructs it
PANELS = {
    "ScratchFitPanel": ("00", toy.ScratchFitPanel),
    "TransferPanel": ("01", lambda: transfer.TransferPanel(*load_pretrained("transfer"))),
    "TradeOffPanel": ("02", lambda: multitask.TradeOffPanel(*multitask.load_models())),
    "NewHeadPanel": ("02", lambda: multitask.NewHeadPanel(multitask.load_models()[0])),
    "AdaptationPanel": ("03", maml.AdaptationPanel),
    "MemoryPanel": ("03", maml.MemoryPanel),
    "BiasPanel": ("04", fomaml.BiasPanel),
    "ExplorerPanel": ("05", imaml.ExplorerPanel),
    "BayesPanel": ("07", beyond.BayesPanel),
    "PayoffPanel": ("07", payoff.PayoffPanel),
    "HeadToHeadPanel": ("08", _head_to_head),
    "RacePanel": ("08", _race),
    "ProximalAdaptationPanel": ("deck", takeaways.ProximalAdaptationPanel),
}


def time_panel(build, repeats):
    """{sweep label: [callback ms, one per repeat]}, each repeat a sweep of a freshly built panel;
    and the number of callbacks that showed a message (bad input, divergence) instead of a figure."""
    times, messages = {}, 0
    for _ in range(repeats):
        panel = build()
        for label, settings in panel.sweep().items():
            times.setdefault(label, []).extend(panel.callback_times([settings]))
            messages += panel.last_error is not None
    return times, messages


def latency_row(name, notebook, times, messages, repeats):
    every = [t for ts in times.values() for t in ts]
    median, p90 = statistics.median(every), float(np.percentile(every, 90))
    slowest = max(times, key=lambda label: max(times[label]))
    return {"panel": name, "notebook": notebook, "callbacks": len(every), "repeats": repeats,
            "messages": messages, "median_ms": round(median, 1), "p90_ms": round(p90, 1),
            "max_ms": round(max(every), 1), "slowest": slowest,
            "median_ms_by_setting": {label: round(statistics.median(ts), 1) for label, ts in times.items()},
            "within_budget": median <= BUDGET_MS["median"] and p90 <= BUDGET_MS["p90"]}


def markdown(results):
    """The README's table of results["panels"]."""
    lines = [f"| panel | notebook | callbacks | median ms | 90th percentile ms | slowest: setting, ms "
             f"| within budget (median {BUDGET_MS['median']} ms, p90 {BUDGET_MS['p90']:,} ms) |",
             "|---|---|---|---|---|---|---|"]
    for r in results["panels"]:
        lines.append(f"| `{r['panel']}` | {r['notebook']} | {r['callbacks']} | {r['median_ms']:.0f} | "
                     f"{r['p90_ms']:.0f} | {r['slowest']}, {r['max_ms']:.0f} | "
                     f"{'yes' if r['within_budget'] else 'no'} |")
    return "\n".join(lines)


def readme_with_table(text, results):
    """The README's text with markdown(results) between README_MARKERS."""
    start, end = (text.index(m) for m in README_MARKERS)
    return text[:start + len(README_MARKERS[0])] + markdown(results) + "\n" + text[end:]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3, help="sweeps, each of a freshly built panel")
    p.add_argument("--only", nargs="+", choices=sorted(PANELS), help="time these panels only")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as bench_peers)")
    p.add_argument("--out", help=f"JSON file to write (default, when every panel is timed: {OUT}, "
                                 "and its table into the README)")
    args = p.parse_args(argv)
    for name in ("repeats", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    names = args.only or list(PANELS)
    rows = []
    for name in names:
        notebook, build = PANELS[name]
        times, messages = time_panel(build, args.repeats)
        rows.append(latency_row(name, notebook, times, messages, args.repeats))
        print(f"{name:>16}: median {rows[-1]['median_ms']:7.1f} ms, p90 {rows[-1]['p90_ms']:7.1f} ms "
              f"over {rows[-1]['callbacks']} callbacks", flush=True)
    results = {"budget_ms": BUDGET_MS, "machine": f"{platform.machine()}, {torch.get_num_threads()} torch "
               f"thread(s), torch {torch.__version__}", "panels": rows}
    print("\n" + markdown(results))
    out = Path(args.out) if args.out else None if args.only else OUT
    if out is None:
        return results
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nwrote {out}")
    if out == OUT:  # the committed results: the README shows their table
        README.write_text(readme_with_table(README.read_text(), results))
        print(f"updated its table in {README}")
    return results


if __name__ == "__main__":
    main()
