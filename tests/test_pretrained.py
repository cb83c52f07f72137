"""The shipped models: loadable, checked, and as good as their records (and the MAML paper) say."""

import json
import shutil

import pytest

from helpers import pretrain
from helpers.pretrained import WEIGHTS, load_pretrained, pretrained_record
from helpers.report import maml_paper_table, ratio_to_paper


@pytest.mark.numerics
def test_recorded_evaluation_is_reproduced():
    """The shipped MAML evaluated again gives its record. The per-task errors are float32 after up to
    10 gradient steps: another CPU (other BLAS kernels, another summation order) moves the summaries
    by rounding errors amplified along the steps, measured up to 2.1e-6 relative on this machine with
    MKL held to SSE4.2 or in its reproducible mode (MKL_CBWR=COMPATIBLE). rel = 1e-4 leaves 50x that
    and still catches a change of the tasks, the rule or the weights (which moves them by > 1e-3)."""
    model, params = load_pretrained("maml")
    record = pretrained_record("maml")["evaluation"]["mse"]
    again = pretrain.evaluate_record(pretrain.SPECS["maml"][1], model, params)
    for k, by_steps in record.items():
        for steps, summary in by_steps.items():
            for key in ("mean", "ci", "median"):
                assert again[k][steps][key] == pytest.approx(summary[key], rel=1e-4), (k, steps, key)
            assert again[k][steps]["diverged"] == summary["diverged"]


def test_maml_reproduces_the_paper_table_within_1_25x():
    rows, markdown = maml_paper_table()
    assert max(ratio_to_paper(rows, "maml")) <= 1.25
    assert max(ratio_to_paper(rows, "transfer")) <= 1.25
    assert min(ratio_to_paper(rows, "transfer")) >= 0.8
    assert "MAML paper" in markdown and "this course" in markdown


def test_unknown_name_lists_the_available_models():
    with pytest.raises(ValueError, match="available: .*maml"):
        load_pretrained("mamll")


def test_corrupted_weights_are_reported_not_loaded(tmp_path):
    shutil.copy(WEIGHTS / "maml.json", tmp_path)
    data = bytearray((WEIGHTS / "maml.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "maml.npz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupted"):
        load_pretrained("maml", folder=tmp_path)


def test_weights_that_do_not_fit_the_model_are_reported(tmp_path):
    shutil.copy(WEIGHTS / "maml.npz", tmp_path)
    record = json.loads((WEIGHTS / "maml.json").read_text())
    record["model"]["config"]["sizes"] = [1, 20, 20, 1]
    (tmp_path / "maml.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="does not match"):
        load_pretrained("maml", folder=tmp_path)


def test_a_record_naming_a_class_outside_helpers_is_refused(tmp_path):
    shutil.copy(WEIGHTS / "maml.npz", tmp_path)
    record = json.loads((WEIGHTS / "maml.json").read_text())
    record["model"]["class"] = "os:system"
    (tmp_path / "maml.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="not from helpers"):
        load_pretrained("maml", folder=tmp_path)
