"""Notebook 08 (the takeaways): the numbers its statements quote, computed by lessons.takeaways.compare
on the notebook's own tasks and asserted with stated tolerances; the head-to-head data; the widget;
the exercise checkers."""

import numpy as np
import pytest
import torch

from helpers.lessons.maml.cost import growth_per_step
from helpers.lessons.takeaways import compare as tk
from helpers.lessons.takeaways import exercises as ex


@pytest.fixture(scope="module")
def shipped():
    return tk.load_shipped()


@pytest.fixture(scope="module")
def stats(shipped):
    """Figure 1's data, exactly as the notebook computes it."""
    return {k: {m: tk.curve_stats(e) for m, e in tk.adaptation_curves(shipped, k).items()}
            for k in tk.K_SHOTS}


@pytest.fixture(scope="module")
def cost(shipped):
    """Figure 2's measured data: time per meta-iteration (shipped and at k = 16) and memory vs k."""
    k_max = tk.MEMORY_STEPS[-1]
    return (tk.iteration_seconds(shipped, repeats=7),
            tk.iteration_seconds(shipped, repeats=3, inner_steps=k_max),
            tk.memory_vs_inner_steps(shipped))


@pytest.fixture(scope="module")
def numbers(shipped, stats, cost):
    imaml_trained = {k: tk.imaml_as_trained(shipped, k) for k in tk.K_SHOTS}
    return tk.takeaway_numbers(stats, imaml_trained, tk.training_seconds(shipped), *cost)


# --- takeaway 1: meta-learning adapts from K examples in a few steps ---------------------------


def test_maml_beats_transfer_at_5_shots_after_one_step_by_a_wide_margin(numbers):
    (maml, maml_ci), (transfer, transfer_ci) = numbers["k5_step1"]["maml"], numbers["k5_step1"]["transfer"]
    assert numbers["transfer_over_maml_k5_1"] > 3.0  # the MAML paper: 2.41 / 0.67 = 3.6
    assert maml + maml_ci < transfer - transfer_ci  # separated by more than both 95% intervals


def test_baselines_do_not_reach_mamls_first_step_within_ten_steps(numbers):
    assert numbers["transfer_steps_to_maml_1"] is None
    assert numbers["multitask_steps_to_maml_1"] is None
    maml_1 = numbers["k5_step1"]["maml"][0]
    assert numbers["k5_step10"]["transfer"][0] > 2 * maml_1  # not near it either
    assert numbers["k5_step10"]["multitask"][0] > 2 * maml_1


# --- takeaway 2: from scratch, K points are not enough ----------------------------------------


def test_scratch_fit_to_five_points_ends_worse_than_before_fitting(numbers):
    before, (after, after_ci) = numbers["k5_step0"]["scratch"][0], numbers["k5_step10"]["scratch"]
    assert after - after_ci > 1.5 * before  # interpolating 5 points makes the query error worse
    assert numbers["scratch_over_maml_k5_10"] > 10


# --- takeaways 3 and 4: memory held for backprop against k ------------------------------------


def test_maml_memory_grows_linearly_with_inner_steps(cost):
    memory = cost[2]["maml"]
    rows = [{"inner_steps": k, "saved_bytes": b} for k, b in zip(tk.MEMORY_STEPS, memory)]
    per_step, _, r2 = growth_per_step(rows)
    assert per_step > 0 and r2 > 0.99
    assert memory[-1] > 8 * memory[0]  # k = 16 against k = 1


def test_imaml_memory_is_flat_in_inner_steps_while_mamls_grows(numbers):
    maml_per_step = numbers["memory_growth_mb_per_step"]["maml"]
    assert numbers["imaml_memory_spread_mb"] <= 0.05 * maml_per_step  # flat: < 5% of one MAML step
    assert numbers["maml_over_imaml_memory_at_max_k"] > 5


def test_first_order_maml_holds_no_memory_for_backprop(numbers):
    assert max(numbers["memory_mb"]["fomaml"]) == 0


# --- takeaways 5 and 6: time per meta-iteration -----------------------------------------------


def test_first_order_maml_is_faster_per_iteration_than_maml(numbers):
    assert numbers["maml_over_fomaml_time"] > 1.5  # measured 2.7-9x on the loaded course machine
    at_k = numbers["iteration_ms_at_k"]
    assert at_k["fomaml"] < at_k["maml"] / 1.5  # and at k = 16, where MAML backprops through 16 steps


def test_imaml_iteration_costs_more_than_mamls_one_step(numbers):
    # 16 inner steps and 5 CG steps against one differentiated step: the time statement's direction
    assert numbers["imaml_over_maml_time"] > 2


def test_training_times_come_from_the_records(shipped, numbers):
    for name, s in shipped.items():
        assert numbers["train_seconds"][name] == s.record["train_seconds"] > 0
        assert numbers["train_iterations"][name] == s.record["config"]["iterations"]


# --- takeaway 7: a meta-learned theta is tuned to its inner loop ------------------------------


def test_each_meta_learned_theta_is_tuned_to_its_own_inner_loop(numbers):
    s0, s1 = numbers["k5_step0"], numbers["k5_step1"]
    assert s1["maml"][0] < 0.3 * s0["maml"][0]  # MAML: one step does most of the work
    assert s1["imaml"][0] > 0.9 * s0["imaml"][0]  # iMAML: one step of its solver barely moves
    assert numbers["imaml_as_trained"][5][0] < 0.5 * s1["imaml"][0]  # its full solve does


# --- takeaway 8: the MAML paper's table ------------------------------------------------------


def test_course_maml_reproduces_the_paper_table_within_30_percent():
    from helpers.report import maml_paper_table, ratio_to_paper

    rows, _ = maml_paper_table()
    assert all(0.7 < r < 1.3 for r in ratio_to_paper(rows, "maml"))  # after 1, 5 and 10 steps


# --- the statements quote these numbers -----------------------------------------------------


@pytest.fixture(scope="module")
def statements(shipped, numbers):
    from helpers.report import maml_paper_table

    return tk.takeaway_statements(numbers, tk.meta_config(shipped["imaml"].record), maml_paper_table()[0])


def test_statements_quote_the_computed_numbers_and_name_their_figure(numbers, statements):
    s1 = numbers["k5_step1"]
    assert len(statements) == 9
    assert all("(Figure" in s or "(Table" in s or "(notebooks" in s for s in statements)
    assert tk.format_mean_ci(s1["maml"]) in statements[0]
    assert tk.format_mean_ci(s1["transfer"]) in statements[0]
    assert tk.compare(s1["maml"][0], s1["transfer"][0], s1["maml"][1], s1["transfer"][1]) in statements[0]
    assert f"{numbers['memory_mb']['maml'][-1]:.2f} MB" in statements[2]
    assert f"{numbers['iteration_ms']['fomaml']:.1f} ms" in statements[4]


def test_statement_words_follow_the_data_not_the_text(shipped, numbers):
    """Swap MAML's and first-order MAML's 10-step errors: the comparison word must flip."""
    from helpers.report import maml_paper_table

    flipped = dict(numbers)
    s10 = dict(numbers["k5_step10"])
    s10["maml"], s10["fomaml"] = (1.0, 0.01), (0.5, 0.01)
    flipped["k5_step10"] = s10
    text = tk.takeaway_statements(flipped, tk.meta_config(shipped["imaml"].record), maml_paper_table()[0])[4]
    assert "0.50 ± 0.01, is 2.0x lower than MAML's 1.00 ± 0.01" in text


# --- the data behind Figure 1 -----------------------------------------------------------------


@pytest.mark.numerics
@pytest.mark.slow
def test_live_curves_reproduce_every_record_on_all_its_tasks(shipped):
    """Same tasks, same adaptation as helpers.pretrain's evaluation: the recorded means, to float32
    rounding amplified along 10 adaptation steps on another CPU (as in test_pretrained)."""
    curves = tk.adaptation_curves(shipped, 5, methods=tk.SHIPPED, n_tasks=tk.RECORD_TASKS)
    assert tk.record_gap(curves, shipped, 5) < 1e-4


def test_every_method_is_evaluated_on_the_same_tasks(shipped):
    head = tk.held_out_tasks(5, 30)
    full = tk.held_out_tasks(5, tk.RECORD_TASKS)
    assert torch.equal(head.x_tr, full.x_tr[:30]) and torch.equal(head.y_te, full.y_te[:30])
    curves = tk.adaptation_curves(shipped, 5, n_tasks=30, steps=3)
    assert set(curves) == set(tk.METHODS)
    assert all(e.shape == (4, 30) for e in curves.values())


def test_curve_stats_are_mean_and_95_percent_interval():
    errors = torch.tensor([[1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 2.0, 2.0]])
    mean, ci = tk.curve_stats(errors)
    assert mean == pytest.approx([2.5, 2.0])
    assert ci == pytest.approx([1.96 * np.std([1, 2, 3, 4], ddof=1) / 2, 0.0])


def test_compare_words_follow_the_data():
    assert tk.compare(1.0, 3.0) == "3.0x lower than"
    assert tk.compare(3.0, 1.0) == "3.0x higher than"
    assert tk.compare(1.0, 1.2, 0.1, 0.1) == "within the 95% CIs of"
    assert tk.compare(1.0, 1.3, 0.1, 0.1) == "1.3x lower than"


def test_steps_to_reach_is_the_first_step_at_or_below_target():
    assert tk.steps_to_reach([3.0, 0.6, 0.4], 0.6) == 1
    assert tk.steps_to_reach([3.0, 2.0], 0.6) is None
    assert tk.steps_to_reach(np.array([0.5, 2.0]), 1.0) == 0


def test_bad_input_is_a_value_error_naming_the_argument(shipped):
    batch = tk.held_out_tasks(5, 4)
    with pytest.raises(ValueError, match="k_shot"):
        tk.adaptation_curves(shipped, 0)
    with pytest.raises(ValueError, match="n_tasks"):
        tk.adaptation_curves(shipped, 5, n_tasks=1)
    with pytest.raises(ValueError, match="methods"):
        tk.adaptation_curves(shipped, 5, methods=["reptile"])
    with pytest.raises(ValueError, match="steps"):
        tk.adapt_errors("maml", shipped["maml"], batch, steps=-1)
    with pytest.raises(ValueError, match="shipped parameters"):
        tk.adapt_errors("maml", None, batch)
    with pytest.raises(ValueError, match="repeats"):
        tk.iteration_seconds(shipped, repeats=0)
    with pytest.raises(ValueError, match="inner_steps"):
        tk.iteration_seconds(shipped, inner_steps=-2)
    with pytest.raises(ValueError, match="steps_list"):
        tk.memory_vs_inner_steps(shipped, steps_list=[])
    with pytest.raises(ValueError, match="methods"):
        tk.memory_vs_inner_steps(shipped, methods=["transfer"])


# --- the widget -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def panel():
    """A panel on synthetic curves with a known order: method i has error (i + 1) / (n + 1)."""
    n = np.arange(tk.STEPS + 1)
    stats = {k: {m: ((i + 1) / (n + 1) * (10 / k), np.full(n.shape, 0.01)) for i, m in enumerate(tk.METHODS)}
             for k in tk.K_SHOTS}
    return tk.HeadToHeadPanel(stats, n_tasks=123)


def test_panel_caption_ranks_the_chosen_methods_after_n_steps(panel):
    panel.set(k_shot=5, steps=3, **{m: True for m in tk.METHODS})
    assert panel.last_error is None
    assert panel.summary.startswith("K = 5, after 3 steps: from scratch 0.50 < pretrained on all tasks 1.00")
    panel.set(scratch=False, transfer=False, k_shot=10, steps=0)
    assert panel.summary == ("K = 10, after 0 steps: multi-task head 3.00 < MAML 4.00 "
                             "< first-order MAML 5.00 < iMAML 6.00")


def test_panel_says_when_no_method_is_chosen(panel):
    panel.set(**{m: False for m in tk.METHODS})
    assert "at least one method" in str(panel.last_error)
    assert "panel-error" in panel.caption.value
    panel.set(maml=True)
    assert panel.last_error is None


def test_panel_shows_a_figure_or_a_message_over_every_control_range(panel):
    # every method unticked: "choose at least one method" (latency: make bench)
    assert panel.sweep_problems(messages={"all=min"}) == {}


# --- exercise checkers ------------------------------------------------------------------------


def _mean_ci95(errors):
    errors = errors.double()
    return errors.mean().item(), 1.96 * errors.std().item() / errors.numel() ** 0.5


def _mean_ci95_population(errors):  # the slip: n instead of n - 1
    errors = errors.double()
    return errors.mean().item(), 1.96 * errors.std(correction=0).item() / errors.numel() ** 0.5


def _slope(ks, ys):
    return float(np.polyfit(ks, ys, 1)[0])


def _slope_endpoints(ks, ys):  # the slip: the first and last points only
    return (ys[-1] - ys[0]) / (ks[-1] - ks[0])


def _steps_to_match(curve, target):
    return next((n for n, v in enumerate(curve) if v <= target), None)


def _steps_to_match_strict(curve, target):  # the slip: < instead of <=
    return next((n for n, v in enumerate(curve) if v < target), None)


def _stub(*_):
    raise NotImplementedError


@pytest.mark.parametrize(("check", "right", "wrong"), [
    (ex.check_mean_ci95, _mean_ci95, _mean_ci95_population),
    (ex.check_bytes_per_inner_step, _slope, _slope_endpoints),
    (ex.check_steps_to_match, _steps_to_match, _steps_to_match_strict),
])
def test_checkers_accept_a_right_answer_and_reject_a_wrong_one_or_a_stub(check, right, wrong, capsys):
    assert check(right) is True
    assert check(wrong) is False
    assert check(_stub) is False
    assert check(lambda *_: None) is False
    out = capsys.readouterr().out
    assert out.count("correct: ") == 1 and out.count("not yet right: ") == 3
