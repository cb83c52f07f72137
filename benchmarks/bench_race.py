"""The meta-training race's targets (issue 21): the default race of notebook 08's panel (MAML and
iMAML, equal time, 1 torch thread), run headless; when each contestant first reached its target
validation MSE (5-shot, after 10 steps of its own rule, 100 held-out tasks) and where it stands at
the end.

    .venv/bin/python -m benchmarks.bench_race [--seconds 60] [--out results.json]
    .venv/bin/python -m benchmarks.bench_race --sweep [--seconds 60]

--sweep is how the race's meta step size (race.OUTER_LR, one for all contestants) was chosen: the
default race at each candidate step, in both modes, scored on other held-out tasks (race.SELECT_SEED)
than the race shows. A race's score is its worse contestant's mean validation MSE over the last
third of the race (a contestant that diverged scores infinity); the step with the lowest worst
score over the two modes wins: the race must end well in either mode, not just at one moment.
"""

import argparse
import json
import math

import torch

from helpers.lessons.takeaways.race import MODES, OUTER_LR, SELECT_SEED, VAL_SEED, Contestant, Race

TARGETS = {"maml": 0.8, "imaml": 0.7}  # validation MSE within 60 s of pressing start
CANDIDATES = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)  # Adam's meta step size, for --sweep


def race(seconds, outer_lr=OUTER_LR, val_seed=VAL_SEED, mode="time"):
    """The default race, run for `seconds`: method -> its results."""
    done = Race([Contestant(method) for method in TARGETS], mode=mode, outer_lr=outer_lr,
                val_seed=val_seed).run(seconds)
    results = {}
    for lane in done.lanes:
        method = lane.contestant.method
        iterations, training_s, value, _ = lane.points[-1]
        late = [v for *_, v, wall in lane.points if wall >= 2 * seconds / 3]
        results[method] = {"target": TARGETS[method], "reached_at_s": done.reached(lane, TARGETS[method]),
                           "final_mse": value, "late_mse": sum(late) / len(late) if late else value,
                           "meta_iterations": iterations, "training_s": training_s, "stopped": lane.stopped,
                           "label": lane.contestant.label}
    return results


def score(results):
    """The worse contestant's mean validation MSE over the race's last third (diverged: infinity)."""
    return max(math.inf if r["stopped"] or not math.isfinite(r["late_mse"]) else r["late_mse"]
               for r in results.values())


def report(results):
    for r in results.values():
        at = r["reached_at_s"]
        when = f"reached at {at:.1f} s" if at is not None else "not reached"
        print(f"  {r['label']:6s} target {r['target']}: {when}; at the end {r['final_mse']:.3f} after "
              f"{r['meta_iterations']} meta-iterations ({r['training_s']:.1f} s of training), over the "
              f"last third {r['late_mse']:.3f}" + (f"; {r['stopped']}" if r["stopped"] else ""))


def sweep(seconds):
    """{mode: {step: results}} on the selection tasks; prints each race and the winner."""
    results = {mode: {} for mode in MODES}
    for lr in CANDIDATES:
        for mode in MODES:
            results[mode][lr] = race(seconds, lr, SELECT_SEED, mode)
            print(f"meta step size {lr:g}, mode {mode!r}, {seconds:.0f} s, on the selection tasks "
                  f"(score {score(results[mode][lr]):.3f}):")
            report(results[mode][lr])
    best = min(CANDIDATES, key=lambda lr: max(score(results[mode][lr]) for mode in MODES))
    print(f"lowest worst score over both modes: meta step size {best:g} (race.OUTER_LR = {OUTER_LR:g})")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--sweep", action="store_true", help=f"the default race at each step of {CANDIDATES}")
    parser.add_argument("--out", help="also write the results as JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.sweep:
        results = sweep(args.seconds)
    else:
        results = race(args.seconds)
        print(f"the default race, {args.seconds:.0f} s of wall-clock time (equal time, 1 torch thread, "
              f"meta step size {OUTER_LR:g}):")
        report(results)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
