"""Notebooks 03 (MAML) and 04 (first-order MAML): measured cost, first-order bias, Reptile, the
exercise checkers and the widget panels."""

import pytest
import torch

from helpers import MLP, SinusoidTasks, maml_grad
from helpers.bias import cosine, first_order_bias, per_task_meta_grads, relative_error
from helpers.cost import COST_METHODS, cost_vs_inner_steps, growth_per_step, measure
from helpers.exercises import maml as ex
from helpers.imaml import hvp_operator, query_grad
from helpers.models import flatten, loss_grad, per_task, unflatten
from helpers.panels.maml import AdaptationPanel, BiasPanel, MemoryPanel
from helpers.reptile import reptile_direction, reptile_train, task_data

MODEL = MLP()
BUDGET_MS = 250  # median slider callback


@pytest.fixture(scope="module")
def cost_rows():
    """Cost of one meta-gradient of 10 tasks for k = 0, 1, 2, 4, 8, every method."""
    return {m: cost_vs_inner_steps(m, [0, 1, 2, 4, 8], meta_batch=10, repeats=1) for m in COST_METHODS}


@pytest.fixture(scope="module")
def small():
    return MODEL, MODEL.init(0), SinusoidTasks().sample(6, 10, 10, generator=5)


# --- measured cost (helpers.cost) ------------------------------------------------------------


def test_maml_backprop_memory_grows_linearly_in_inner_steps(cost_rows):
    rows = [r for r in cost_rows["maml"] if r["inner_steps"] >= 1]
    mem = {r["inner_steps"]: r["saved_bytes"] for r in rows}
    _, _, r2 = growth_per_step(rows)
    assert r2 > 0.99  # a straight line in k
    increments = [(mem[b] - mem[a]) / (b - a) for a, b in [(1, 2), (2, 4), (4, 8)]]
    assert min(increments) > 0
    assert max(increments) < 1.1 * min(increments)  # every step adds the same graph, within 10%
    assert mem[8] > 5 * mem[1]


def test_first_order_maml_memory_does_not_grow_with_inner_steps(cost_rows):
    maml_step, _, _ = growth_per_step(cost_rows["maml"])
    mem = [r["saved_bytes"] for r in cost_rows["fomaml"]]
    assert max(mem) - min(mem) <= 0.05 * maml_step  # flat: under 5% of what one MAML step adds


def test_imaml_memory_does_not_grow_with_inner_steps(cost_rows):
    maml_step, _, _ = growth_per_step(cost_rows["maml"])
    mem = [r["saved_bytes"] for r in cost_rows["imaml"] if r["inner_steps"] >= 1]
    assert max(mem) - min(mem) <= 0.05 * maml_step
    maml_at_8 = next(r["saved_bytes"] for r in cost_rows["maml"] if r["inner_steps"] == 8)
    assert max(mem) < maml_at_8 / 4


def test_maml_time_per_meta_iteration_grows_with_inner_steps():
    model, batch = MODEL, SinusoidTasks().sample(10, 10, 10, generator=0)
    params = model.init(0)
    t1 = measure("maml", 1, model, params, batch, repeats=5)["seconds"]
    t16 = measure("maml", 16, model, params, batch, repeats=5)["seconds"]
    fo16 = measure("fomaml", 16, model, params, batch, repeats=5)["seconds"]
    assert t16 > 3 * t1  # 16 unrolled steps forward and back vs 1 (ideally ~10x)
    assert fo16 < t16  # the first-order shortcut skips the backward pass through the loop


def test_cost_rows_report_method_steps_and_batch_size(cost_rows):
    row = cost_rows["maml"][2]
    assert row["method"] == "maml" and row["inner_steps"] == 2 and row["tasks"] == 10
    assert row["seconds"] > 0 and row["saved_bytes"] > 0


def test_cost_rejects_bad_arguments_by_name():
    with pytest.raises(ValueError, match="method"):
        cost_vs_inner_steps("reptile", [1])
    with pytest.raises(ValueError, match="inner_steps"):
        cost_vs_inner_steps("maml", [-1])
    with pytest.raises(ValueError, match="steps_list"):
        cost_vs_inner_steps("maml", [])
    with pytest.raises(ValueError, match="two or more"):
        growth_per_step([{"inner_steps": 1, "saved_bytes": 3}])


def test_growth_per_step_recovers_an_exact_line():
    rows = [{"inner_steps": k, "saved_bytes": 7 + 3 * k} for k in (0, 1, 5)]
    slope, intercept, r2 = growth_per_step(rows)
    assert slope == pytest.approx(3) and intercept == pytest.approx(7) and r2 == pytest.approx(1)


# --- first-order bias (helpers.bias) ----------------------------------------------------------


@pytest.mark.parametrize("first_order", [False, True])
def test_per_task_meta_grads_average_to_maml_grad(small, first_order):
    model, params, batch = small
    per_task_grads = per_task_meta_grads(model, params, batch, 3, 0.02, first_order)
    reference, _ = maml_grad(model, params, batch, 3, 0.02, first_order=first_order)
    assert per_task_grads.shape == (batch.n_tasks, model.n_params())
    torch.testing.assert_close(per_task_grads.mean(0), flatten(reference), atol=1e-6, rtol=1e-5)


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


def test_reptile_with_one_step_is_gradient_descent_on_the_pooled_loss(small):
    model, params, batch = small
    direction = reptile_direction(model, params, batch, 1, 0.02)
    x, y = task_data(batch)
    _, grads = loss_grad(model, per_task(params, batch.n_tasks), x, y)
    expected = {k: -0.02 * g.mean(0) for k, g in grads.items()}
    torch.testing.assert_close(flatten(direction), flatten(expected), atol=1e-6, rtol=1e-5)


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


# --- exercise checkers: accept a right answer, reject wrong ones, never raise ------------------


def inner_loop_right(model, theta, x, y, k, alpha):
    phi = per_task(theta, x.shape[0])
    for _ in range(k):
        _, g = loss_grad(model, phi, x, y)
        phi = {n: phi[n] - alpha * g[n] for n in phi}
    return phi


def inner_loop_one_step_short(model, theta, x, y, k, alpha):
    return inner_loop_right(model, theta, x, y, max(k - 1, 0), alpha)


def maml_meta_grad_right(model, theta, batch, k, alpha):
    phis = [per_task(theta, batch.n_tasks)]
    for _ in range(k):
        _, g = loss_grad(model, phis[-1], batch.x_tr, batch.y_tr)
        phis.append({n: phis[-1][n] - alpha * g[n] for n in theta})
    _, u = query_grad(model, phis[-1], batch.x_te, batch.y_te)
    for phi in reversed(phis[:-1]):
        u = u - alpha * hvp_operator(model, phi, batch.x_tr, batch.y_tr, theta)(u)
    return unflatten(u.mean(0), theta)


def first_order_right(model, theta, batch, k, alpha):
    return maml_grad(model, theta, batch, k, alpha, first_order=True)[0]


def exact_maml(model, theta, batch, k, alpha):
    return maml_grad(model, theta, batch, k, alpha)[0]


def not_implemented(*args):
    raise NotImplementedError


@pytest.mark.parametrize("check, right, wrong", [
    (ex.check_inner_loop, inner_loop_right, inner_loop_one_step_short),
    (ex.check_maml_meta_grad, maml_meta_grad_right, first_order_right),
    (ex.check_first_order_grad, first_order_right, exact_maml),
    (ex.check_bias_metrics,
     lambda a, b: (torch.cosine_similarity(a, b, 0), (a - b).norm() / b.norm()),
     lambda a, b: (torch.cosine_similarity(a, b, 0), (a - b).norm() / a.norm())),
    (ex.check_reptile_update,
     lambda t, p, e: {n: t[n] + e * (p[n] - t[n]).mean(0) for n in t},
     lambda t, p, e: {n: p[n].mean(0) for n in t}),
])
def test_checker_accepts_right_and_rejects_wrong_answers(check, right, wrong, capsys):
    assert check(right) is True
    assert capsys.readouterr().out.startswith("correct:")
    assert check(wrong) is False
    assert check(not_implemented) is False
    out = capsys.readouterr().out
    assert "not yet right:" in out and "NotImplementedError" in out


def test_maml_checker_also_accepts_autograd_through_the_loop(capsys):
    assert ex.check_maml_meta_grad(exact_maml) is True


def test_checker_reports_a_wrong_shape(capsys):
    assert ex.check_inner_loop(lambda model, theta, x, y, k, alpha: theta) is False
    assert "shape" in capsys.readouterr().out


# --- panels ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def adaptation_panel():
    return AdaptationPanel()


@pytest.fixture(scope="module")
def memory_panel():
    return MemoryPanel()  # constructible with no arguments (the lecture deck does this)


@pytest.fixture(scope="module")
def bias_panel():
    return BiasPanel()


def test_adaptation_panel_maml_beats_transfer_after_one_step(adaptation_panel):
    wins = 0
    for task in range(10):
        adaptation_panel.set(inner_steps=1, inner_lr=0.01, k_shot=5, task=task)
        assert adaptation_panel.last_error is None
        wins += adaptation_panel.query_mse["maml"][1] < adaptation_panel.query_mse["transfer"][1]
    assert wins >= 8  # on 10 held-out tasks


def test_adaptation_panel_zero_steps_changes_nothing(adaptation_panel):
    adaptation_panel.set(inner_steps=0, inner_lr=0.01, k_shot=5, task=2)
    for before, after in adaptation_panel.query_mse.values():
        assert before == after


def test_adaptation_panel_shows_divergence_as_a_message(adaptation_panel):
    adaptation_panel.set(inner_steps=20, inner_lr=1.0, k_shot=10, task=0)
    assert isinstance(adaptation_panel.last_error, FloatingPointError)
    assert "learning rate" in adaptation_panel.caption.value
    adaptation_panel.set(inner_steps=1, inner_lr=0.01)
    assert adaptation_panel.last_error is None


def test_adaptation_panel_rejects_bad_values_by_name(adaptation_panel):
    with pytest.raises(ValueError, match="k_shot"):
        adaptation_panel.draw(inner_steps=1, inner_lr=0.01, k_shot=0, task=0)
    with pytest.raises(ValueError, match="inner learning rate"):
        adaptation_panel.draw(inner_steps=1, inner_lr=-0.1, k_shot=5, task=0)


def test_adaptation_panel_callback_is_fast(adaptation_panel):
    settings = [dict(inner_steps=k, inner_lr=lr, k_shot=K, task=t)
                for k, lr, K, t in [(1, 0.01, 5, 0), (5, 0.01, 5, 1), (10, 0.02, 10, 2), (20, 0.01, 20, 3),
                                    (0, 0.01, 3, 4), (3, 0.05, 7, 5), (2, 0.01, 5, 6)]]
    assert adaptation_panel.time_updates(settings) < BUDGET_MS


def test_memory_panel_shows_maml_memory_growing_linearly_and_first_order_flat(memory_panel):
    ks = range(memory_panel.max_steps + 1)
    maml = [{"inner_steps": k, "saved_bytes": memory_panel.saved["maml", k]} for k in ks if k >= 1]
    slope, _, r2 = growth_per_step(maml)
    assert r2 > 0.99 and slope > 0
    assert memory_panel.saved["maml", 16] > 8 * memory_panel.saved["maml", 1]
    for method in ("fomaml", "imaml"):
        flat = [memory_panel.saved[method, k] for k in ks if k >= 1]
        assert max(flat) - min(flat) <= 0.05 * slope
    memory_panel.set(inner_steps=12)
    assert memory_panel.last_error is None
    assert "MAML" in memory_panel.caption.value and "MB" in memory_panel.caption.value
    assert memory_panel.seconds["maml", 12] > 0


def test_memory_panel_callback_is_fast_on_new_values(memory_panel):
    new_values = [dict(inner_steps=k) for k in (1, 2, 4, 7, 9, 11, 13)]
    assert memory_panel.time_updates(new_values) < BUDGET_MS


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


def test_bias_panel_callback_is_fast(bias_panel):
    settings = [dict(inner_steps=k, inner_lr=lr, k_shot=K)
                for k, lr, K in [(1, 0.01, 10), (2, 0.01, 10), (5, 0.02, 10), (10, 0.01, 5), (20, 0.01, 10),
                                 (3, 0.05, 20), (1, 0.001, 3)]]
    assert bias_panel.time_updates(settings) < BUDGET_MS
