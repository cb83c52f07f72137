"""The meta-training race's targets (issue 21): the default race of notebook 08's panel (MAML and
iMAML, equal time, 1 torch thread), run headless; when each contestant first reached its target
validation MSE (5-shot, after 10 steps of its own rule, 100 held-out tasks) and where it stands at
the end.

    .venv/bin/python -m benchmarks.bench_race [--seconds 60] [--out results.json]
"""

import argparse
import json

import torch

from helpers.lessons.takeaways.race import Contestant, Race

TARGETS = {"maml": 0.8, "imaml": 0.7}  # validation MSE within 60 s of pressing start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--out", help="also write the results as JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    race = Race([Contestant(method) for method in TARGETS]).run(args.seconds)
    print(f"the default race, {race.elapsed:.1f} s of wall-clock time (equal time, 1 torch thread):")
    results = {}
    for lane in race.lanes:
        method = lane.contestant.method
        iterations, seconds, value, _ = lane.points[-1]
        at = race.reached(lane, TARGETS[method])
        results[method] = {"target": TARGETS[method], "reached_at_s": at, "final_mse": value,
                           "meta_iterations": iterations, "training_s": seconds}
        when = f"reached at {at:.1f} s" if at is not None else "not reached"
        print(f"  {lane.contestant.label:6s} target {TARGETS[method]}: {when}; at the end {value:.3f} after "
              f"{iterations} meta-iterations ({seconds:.1f} s of training)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
