"""Notebook 04 (first-order MAML): first-order bias, Reptile and the bias panel."""

import pytest
import torch

from helpers import MLP, SinusoidTasks, maml_grad
from helpers.lessons.fomaml.bias import cosine, first_order_bias, per_task_meta_grads
from helpers.lessons.fomaml.panels import BiasPanel
from helpers.lessons.fomaml.reptile import reptile_direction, reptile_train, task_data
from helpers.models import flatten, loss_grad, per_task, relative_error

MODEL = MLP()


@pytest.fixture(scope="module")
def small():
    return MODEL, MODEL.init(0), SinusoidTasks().sample(6, 10, 10, generator=5)


# --- first-order bias (lessons.fomaml.bias) --------------------------------------------------


@pytest.mark.numerics
@pytest.mark.parametrize("first_order", [False, True])
def test_per_task_meta_grads_average_to_maml_grad(small, first_order):
    model, params, batch = small
    per_task_grads = per_task_meta_grads(model, params, batch, 3, 0.02, first_order)
    reference, _ = maml_grad(model, params, batch, 3, 0.02, first_order=first_order)
    assert per_task_grads.shape == (batch.n_tasks, model.n_params())
    torch.testing.assert_close(per_task_grads.mean(0), flatten(reference), atol=1e-6, rtol=1e-5)


@pytest.mark.numerics
def test_per_task_meta_grads_match_each_task_alone(small):
    model, params, batch = small
    together = per_task_meta_grads(model, params, batch, 2, 0.02)
    alone, _ = maml_grad(model, params, batch[4], 2, 0.02)
    torch.testing.assert_close(together[4], flatten(alone), atol=1e-6, rtol=1e-5)


def test_first_order_bias_is_zero_without_inner_steps_and_grows_with_them():
    model = MODEL
    params = model.init(0)
    rows = first_order_bias(model, params, SinusoidTasks().sample(50, 10, 10, generator=9),
                            [0, 1, 5, 10], inner_lr=0.01, meta_batch=25)
    by_k = {r["inner_steps"]: r for r in rows}
    assert by_k[0]["task_cosine"].min() > 1 - 1e-5
    assert by_k[0]["relative_error"].max() < 1e-5
    med_cos = {k: r["task_cosine"].median().item() for k, r in by_k.items()}
    med_err = {k: r["task_relative_error"].median().item() for k, r in by_k.items()}
    assert med_cos[1] < 1 - 1e-3  # biased from the first inner step on...
    assert med_cos[10] < med_cos[5] < med_cos[1]  # ...and more with every step
    assert med_cos[10] < med_cos[1] - 0.1
    assert med_err[1] < med_err[5] < med_err[10]
    assert by_k[10]["cosine"].shape == (2,)  # two meta-batches of 25 tasks


def test_bias_metrics_on_known_vectors():
    a = torch.tensor([3.0, 4.0])
    assert cosine(2 * a, a).item() == pytest.approx(1.0)
    assert cosine(-a, a).item() == pytest.approx(-1.0)
    assert relative_error(2 * a, a).item() == pytest.approx(1.0)
    assert relative_error(a, a).item() == 0.0


def test_first_order_bias_rejects_a_meta_batch_larger_than_the_batch(small):
    model, params, batch = small
    with pytest.raises(ValueError, match="meta_batch"):
        first_order_bias(model, params, batch, [1], 0.01, meta_batch=7)


# --- Reptile ------------------------------------------------------------------------------------


@pytest.mark.numerics
def test_reptile_with_one_step_is_gradient_descent_on_the_pooled_loss(small):
    model, params, batch = small
    direction = reptile_direction(model, params, batch, 1, 0.02)
    x, y = task_data(batch)
    _, grads = loss_grad(model, per_task(params, batch.n_tasks), x, y)
    expected = {k: -0.02 * g.mean(0) for k, g in grads.items()}
    torch.testing.assert_close(flatten(direction), flatten(expected), atol=1e-6, rtol=1e-5)


@pytest.mark.numerics
def test_reptile_first_update_with_eps_one_jumps_to_the_mean_adapted_parameters():
    model = MODEL
    params = model.init(3)
    _, theta, history = reptile_train(model, params, iterations=1, meta_batch=4, inner_steps=3,
                                      inner_lr=0.02, eps=1.0, seed=11, progress=False)
    g = torch.Generator().manual_seed(11)
    batch = SinusoidTasks().sample(4, 10, 10, g)
    direction = reptile_direction(model, params, batch, 3, 0.02)
    torch.testing.assert_close(flatten(theta), flatten(params) + flatten(direction), atol=1e-6, rtol=1e-6)
    assert len(history.loss) == 1


def test_reptile_rejects_zero_inner_steps(small):
    model, params, batch = small
    with pytest.raises(ValueError, match="inner_steps"):
        reptile_direction(model, params, batch, 0, 0.02)


# --- panel -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bias_panel():
    return BiasPanel()


@pytest.mark.numerics
def test_bias_panel_is_exact_without_inner_steps_and_biased_with_them(bias_panel):
    bias_panel.set(inner_steps=0, inner_lr=0.01, k_shot=10)
    assert bias_panel.cosine == pytest.approx(1.0, abs=1e-5)
    assert bias_panel.relative_error < 1e-5
    bias_panel.set(inner_steps=10)
    assert bias_panel.cosine < 0.999
    assert bias_panel.relative_error > 0.01


def test_bias_panel_compares_at_the_initialisation_or_at_mamls_theta(bias_panel):
    bias_panel.set(inner_steps=1, inner_lr=0.01, k_shot=10, where="MAML's theta")
    at_maml = bias_panel.cosine
    bias_panel.set(where="random init")
    assert bias_panel.last_error is None and bias_panel.cosine != at_maml
    with pytest.raises(ValueError, match="where"):
        bias_panel.draw(inner_steps=1, inner_lr=0.01, k_shot=10, where="nowhere")


def test_bias_panel_shows_a_figure_or_a_message_over_every_slider_range(bias_panel):
    # 20 steps of the largest alpha diverge: said in the caption (latency: make bench)
    assert bias_panel.sweep_problems(messages={"all=max"}) == {}


def test_notebook_04_reaches_the_paired_comparisons_through_its_lesson():
    from helpers.lessons import fomaml, maml

    for name in ("curves", "held_out_errors", "paired_differences", "paired_table", "verdict"):
        assert getattr(fomaml, name) is getattr(maml, name)
