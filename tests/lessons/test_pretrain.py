"""The catalogue of shipped models (python -m helpers.lessons.pretrain): every model the notebooks
load is shipped, as good as its record says, and the command reproduces its figures."""

import json

import pytest

from helpers.lessons import pretrain
from helpers.pretrained import available, load_pretrained, pretrained_record

FRESH_SEED = 777  # neither a training seed nor the recorded evaluation's seed


def test_every_model_the_notebooks_load_is_shipped():
    assert set(pretrain.SPECS) <= set(available()), sorted(set(pretrain.SPECS) - set(available()))


@pytest.mark.parametrize("name", sorted(pretrain.SPECS))
def test_shipped_model_matches_its_recorded_5_shot_mse_on_fresh_tasks(name):
    model, params = load_pretrained(name)
    recorded = pretrained_record(name)["evaluation"]["mse"]["K=5"]["10"]["mean"]
    fresh = pretrain.SPECS[name][1](model, params, 5, FRESH_SEED)[10].mean
    assert abs(fresh - recorded) <= 0.2 * recorded, (fresh, recorded)


def test_pretrain_command_with_the_same_seed_reproduces_its_figures(tmp_path):
    runs = []
    for out in (tmp_path / "a", tmp_path / "b"):
        pretrain.main(["--only", "maml", "--quick", "--out", str(out)])
        runs.append(json.loads((out / "maml.json").read_text()))
    assert runs[0]["evaluation"] == runs[1]["evaluation"]
    assert runs[0]["sha256"] == runs[1]["sha256"]
