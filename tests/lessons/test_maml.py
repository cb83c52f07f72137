"""Notebook 03 (MAML): measured cost, the exercise checkers of notebooks 03 and 04, and the widget
panels."""

import dataclasses

import pytest
import torch

from helpers import MLP, SinusoidTasks, maml_grad
from helpers.imaml import query_grad
from helpers.lessons.maml import exercises as ex
from helpers.lessons.maml.cost import COST_METHODS, cost_vs_inner_steps, growth_per_step, measure
from helpers.lessons.maml.panels import AdaptationPanel, MemoryPanel
from helpers.models import hvp_operator, loss_grad, per_task, unflatten

MODEL = MLP()


@pytest.fixture(scope="module")
def cost_rows():
    """Cost of one meta-gradient of 10 tasks for k = 0, 1, 2, 4, 8, every method."""
    return {m: cost_vs_inner_steps(m, [0, 1, 2, 4, 8], meta_batch=10, repeats=1) for m in COST_METHODS}


# --- measured cost (lessons.maml.cost) -------------------------------------------------------


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


@pytest.mark.parametrize("panel, messages", [
    ("adaptation_panel", {"inner_lr=max", "all=max"}),  # a step of 1 diverges: said in the caption
    ("memory_panel", set()),
])
def test_panel_shows_a_figure_or_a_message_over_every_slider_range(panel, messages, request):
    assert request.getfixturevalue(panel).sweep_problems(messages) == {}  # latency: make bench


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



# --- paired comparisons on the same held-out tasks (lessons.maml.compare) ---------------------


def test_held_out_errors_reproduce_evaluate_and_pair_task_by_task():
    from helpers import evaluate
    from helpers.lessons.maml import compare

    theta_a, theta_b = MODEL.init(0), MODEL.init(1)
    batch = SinusoidTasks().sample(40, 5, 20, 7)
    errors = compare.held_out_errors(MODEL, {"a": theta_a, "b": theta_b}, batch, 3, lr=0.01)
    assert errors["a"].shape == (4, 40)
    want = evaluate(MODEL, theta_a, n_tasks=40, k_shot=5, steps=(0, 1, 2, 3), lr=0.01, k_query=20, seed=7)
    got = compare.curves(errors)["a"]
    assert all(got[n] == want[n] for n in range(4))
    diff = compare.paired_differences(errors, "a", "b", (0, 3))[3]
    delta = (errors["a"][3] - errors["b"][3]).double()
    assert diff.mean == pytest.approx(delta.mean().item())
    assert diff.wins_a == int((delta < 0).sum()) and diff.wins_a + diff.wins_b <= diff.n == 40
    table = compare.paired_table(errors, "a", "b", (0, 3))
    assert table.count("\n") == 3 and f"{diff.mean:+.3f} ± {diff.ci:.3f}" in table


def test_verdict_says_which_is_lower_only_when_the_interval_excludes_zero():
    from helpers import Paired
    from helpers.lessons.maml.compare import verdict

    lower = verdict(Paired(-0.5, 0.1, 80, 20, 100, 0), "maml", "transfer")
    assert lower.startswith("MAML is lower than pretrained on all tasks by 0.500 ± 0.100")
    assert "MAML is lower on 80 of the 100 tasks, pretrained on all tasks on 20" in lower
    higher = verdict(Paired(0.5, 0.1, 20, 80, 100, 0), "maml", "transfer")
    assert higher.startswith("pretrained on all tasks is lower than MAML")
    unresolved = verdict(Paired(0.05, 0.1, 45, 55, 100, 0), "maml", "transfer")
    assert "contains 0: no difference is resolved" in unresolved


def test_paper_table_keeps_only_the_models_asked_for():
    from helpers.lessons.maml.compare import paper_table

    rows, table = paper_table(("maml", "transfer"))
    assert {r["name"] for r in rows} == {"maml", "transfer"}
    assert "iMAML" not in table and "first-order" not in table
    assert any(r["source"] == "MAML paper" for r in rows) and any(r["source"] == "this course" for r in rows)


# --- hints: a wrong answer's message names the likely mistake ----------------------------------

def _on_support(batch):
    return dataclasses.replace(batch, x_te=batch.x_tr, y_te=batch.y_tr)


@pytest.mark.parametrize("check, wrong, named", [
    (ex.check_inner_loop, inner_loop_one_step_short, "off by one: one step too few"),
    (ex.check_inner_loop, lambda m, t, x, y, k, a: inner_loop_right(m, t, x, y, k, -a), "uphill"),
    (ex.check_inner_loop, lambda m, t, x, y, k, a: inner_loop_right(m, t, x, y, k, a * x.shape[1]),
     "summed"),
    (ex.check_maml_meta_grad, first_order_right, "first-order gradient"),
    (ex.check_maml_meta_grad, lambda m, t, b, k, a: exact_maml(m, t, _on_support(b), k, a),
     "wrong set: the outer loss is on the support set"),
    (ex.check_first_order_grad, lambda m, t, b, k, a: first_order_right(m, t, _on_support(b), k, a),
     "wrong set: the outer loss is on the support set"),
    (ex.check_first_order_grad, exact_maml, "exact (second-order) MAML gradient"),
    (ex.check_first_order_grad, lambda m, t, b, k, a: first_order_right(m, t, b, k + 1, a),
     "one inner step too many"),
])
def test_checker_names_the_likely_mistake(check, wrong, named, capsys):
    assert check(wrong) is False
    out = capsys.readouterr().out
    assert "Likely mistake: " in out and named in out


def test_checker_names_no_mistake_it_did_not_detect(capsys):
    assert ex.check_inner_loop(lambda m, t, x, y, k, a: inner_loop_right(m, t, x, y, k, 0.5 * a)) is False
    assert "Likely mistake" not in capsys.readouterr().out
