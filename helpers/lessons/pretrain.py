"""Train, with fixed seeds, every model the notebooks load, and evaluate it on held-out tasks: the
meta-learners of helpers.pretrain and the lessons' baselines, with helpers.pretrain's machinery.

    python -m helpers.lessons.pretrain               # all models, into helpers/weights/
    python -m helpers.lessons.pretrain --only maml   # a subset
    python -m helpers.lessons.pretrain --quick --out /tmp/w   # a short smoke run elsewhere

Uses helpers.lessons.transfer (the network pretrained on all tasks) and helpers.lessons.multitask
(the shared-trunk models of notebook 02).
"""

from helpers import pretrain
from helpers.inner import Adaptation
from helpers.lessons.multitask.heads import PRETRAIN_SPECS as MULTITASK_SPECS
from helpers.lessons.transfer.pooled import pretrain_pooled


def _transfer(iterations, seed):
    def train(progress, scale):
        config = {"iterations": int(iterations * scale), "tasks_per_batch": 25, "points_per_task": 10,
                  "lr": 1e-3, "seed": seed}
        model, params, _, seconds = pretrain_pooled(progress=progress, **config)
        return model, params, seconds, config
    return train


# name -> (train(progress, scale) -> (model, params, seconds, config), evaluate(model, params, K, seed))
SPECS = {
    **pretrain.SPECS,  # maml, fomaml, imaml
    "transfer": (_transfer(20_000, 4), pretrain.standard_eval(Adaptation(0.01))),
    **MULTITASK_SPECS,  # notebook 02: shared-trunk models on 1..50 tasks, and separate networks
}


def main(argv=None):
    pretrain.main(argv, SPECS, __doc__)


if __name__ == "__main__":
    main()
