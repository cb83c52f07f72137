"""Milliseconds per meta-iteration of every meta-learner at its shipped configuration, in one run.

    .venv/bin/python -m benchmarks.bench_meta_iteration [--quick] [--out results.json]

A meta-iteration is one meta-gradient on 25 tasks (K = 10 support, 10 query points, float32) plus
one Adam step (benchmarks.bench_peers.ours_step), at the shipped theta of each method
(helpers.pretrained): MAML with 1 and with 5 inner steps (ReLU network), first-order MAML, and iMAML
(softplus network) three ways:

- "iMAML (shipped)": the shipped configuration, helpers.pretrain.IMAML (CG preconditioned by the
  Gauss-Newton part of H, run to delta');
- "iMAML (tuning study)": the configuration before it, 5 plain CG steps for the meta-gradient
  (the issue-21 target, iMAML / MAML-5 <= 4, is measured on this one and on the shipped one);
- "iMAML (tuning study, autograd products)": the same, with the Hessian-vector products by double
  backprop, as the course computed them before (helpers.models.autograd_hvp_operator).

One torch thread; the methods take turns block by block (benchmarks.bench_peers.time_steps), so load
from other processes falls on all of them alike; each figure is the median over repeats.
"""

import argparse
import json
import platform

import torch

from benchmarks.bench_peers import ours_step, time_steps
from helpers.lessons.imaml.plateau import BASELINE
from helpers.models import AutogradProducts
from helpers.pretrain import IMAML, MAML, MAML_TUNED
from helpers.pretrained import load_pretrained
from helpers.tasks import SinusoidTasks


def steps(batch):
    """name -> one meta-iteration of that method at its shipped configuration."""
    maml, maml_theta = load_pretrained("maml")
    tuned, tuned_theta = load_pretrained("maml_tuned")
    fomaml, fomaml_theta = load_pretrained("fomaml")
    imaml, imaml_theta = load_pretrained("imaml")
    return {
        "MAML, 1 step": ours_step("maml", maml, maml_theta, batch, **MAML),
        "MAML, 5 steps": ours_step("maml", tuned, tuned_theta, batch, **MAML_TUNED),
        "first-order MAML": ours_step("maml", fomaml, fomaml_theta, batch, first_order=True, **MAML),
        "iMAML (shipped)": ours_step("imaml", imaml, imaml_theta, batch, **IMAML),
        "iMAML (tuning study)": ours_step("imaml", imaml, imaml_theta, batch, **BASELINE),
        "iMAML (tuning study, autograd products)": ours_step("imaml", AutogradProducts(imaml), imaml_theta,
                                                             batch, **BASELINE),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 repeats, 1 warm-up")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--out", help="also write the results as JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    batch = SinusoidTasks().sample(25, 10, 10, generator=0)
    repeats, warmup = (3, 1) if args.quick else (args.repeats, 2)
    ms = {name: 1e3 * s for name, s in time_steps(steps(batch), repeats, warmup, min_block=0.2).items()}
    base = ms["MAML, 5 steps"]
    print(f"ms per meta-iteration, 25 tasks, 1 torch thread ({platform.machine()}, "
          f"torch {torch.__version__})")
    for name, t in ms.items():
        print(f"  {name:42s} {t:8.2f} ms   {t / base:5.1f}x MAML, 5 steps")
    if args.out:
        with open(args.out, "w") as f:
            ratios = {k: v / base for k, v in ms.items()}
            json.dump({"ms_per_meta_iteration": ms, "ratio_to_maml5": ratios}, f, indent=1)
    return ms


if __name__ == "__main__":
    main()
