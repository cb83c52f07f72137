"""Notebook 01 (transfer learning): the pooled optimum, the linearised fine-tuning dynamics, the
transfer-vs-scratch numbers the notebook shows, the widget's speed and errors, the exercise checkers.

The held-out numbers use the notebook's own functions and seeds on the shipped "transfer" model, so
they are the notebook's numbers; the tolerances allow a retrained model (same recipe) to pass.
"""

import math

import pytest
import torch

from helpers import MLP, SinusoidTasks, adapt, mean_ci, mse
from helpers.lessons.transfer.exercises import check_linearised_loss, check_pooled_optimum
from helpers.lessons.transfer.finetune import (
    fine_tune,
    held_out_batch,
    kernel_spectrum,
    linearisation_errors,
    linearised_support_loss,
    max_stable_lr,
    paired_table,
    pooled_optimum,
    pooled_optimum_mse,
    scratch_errors,
    step_size_probe,
    support_jacobian,
    transfer_errors,
)
from helpers.lessons.transfer.panels import TransferPanel, pooled_summary
from helpers.lessons.transfer.pooled import pretrain_pooled
from helpers.pretrained import load_pretrained


@pytest.fixture(scope="module")
def transfer():
    return load_pretrained("transfer")


@pytest.fixture(scope="module")
def held_out(transfer):
    """The notebook's table: {K: (transfer errors {n: (T,)}, scratch errors (T,))}."""
    model, theta = transfer
    out = {}
    for k in (5, 10, 20):
        batch = held_out_batch(k)
        out[k] = (transfer_errors(model, theta, batch, (0, 1, 10, 100)), scratch_errors(batch))
    return out


# ------------------------------------------------------------------------- the pooled optimum

def test_pooled_optimum_is_the_monte_carlo_mean_of_the_targets():
    g = torch.Generator().manual_seed(0)
    n = 400_000
    amp = 0.1 + 4.9 * torch.rand(n, 1, generator=g, dtype=torch.float64)
    phase = math.pi * torch.rand(n, 1, generator=g, dtype=torch.float64)
    x = torch.linspace(-5, 5, 21, dtype=torch.float64)
    mc = (amp * torch.sin(x - phase)).mean(0)
    # standard error of each mean: sd(A sin(x - b)) / sqrt(n) <= 3 / 632 ~ 0.005; 4 of them: 0.02
    assert (mc - pooled_optimum(x)).abs().max() < 0.02
    assert torch.allclose(pooled_optimum(x), -(2 * 2.55 / math.pi) * torch.cos(x), atol=1e-12)


def test_pooled_optimum_for_a_whole_period_of_phases_is_zero():
    x = torch.linspace(-5, 5, 11, dtype=torch.float64)
    assert pooled_optimum(x, SinusoidTasks(phase=(0.0, 2 * math.pi))).abs().max() < 1e-12


def test_pooled_optimum_mse_matches_monte_carlo():
    tasks = SinusoidTasks()
    batch = tasks.sample(20_000, 1, 50, generator=1, dtype=torch.float64)
    mc = mean_ci((batch.y_te - pooled_optimum(batch.x_te)).pow(2).mean(dim=(1, 2)))
    assert abs(mc[0] - pooled_optimum_mse()) < 2 * mc[1]  # mc[1] ~ 0.04
    assert 2.95 < pooled_optimum_mse() < 3.05  # 4.25 - 1.245 for the course's ranges


def test_shipped_transfer_network_is_the_pooled_optimum(transfer, held_out):
    gap, optimum_mse = pooled_summary(*transfer)
    assert gap < 0.35  # measured 0.22: max |f_theta - f*| over [-5, 5], amplitude of f* 1.62
    zero_steps = mean_ci(held_out[5][0][0])
    assert abs(zero_steps[0] - optimum_mse) < 0.3  # measured 3.04 vs 3.01 (CI 0.53)
    # notebook 01, section 2: "f*'s error plus a few hundredths", paired on the same tasks, with an
    # interval of a few hundredths where each mean alone has one of about 0.5
    batch = held_out_batch(5)
    opt_err = (pooled_optimum(batch.x_te) - batch.y_te).pow(2).mean(dim=(1, 2))
    mean, ci = mean_ci(held_out[5][0][0] - opt_err)
    assert 0 <= mean < 0.1 and ci < 0.1  # measured +0.041 +- 0.028
    assert 0.3 < mean_ci(opt_err)[1] < 0.8  # measured 0.52


def test_pretrain_pooled_is_the_loop_written_in_notebook_01():
    tasks = SinusoidTasks()
    net = MLP()
    g = torch.Generator().manual_seed(0)
    theta = {k: p.requires_grad_() for k, p in net.init(g).items()}
    opt = torch.optim.Adam(theta.values(), lr=1e-3)
    losses = []
    for _ in range(30):
        batch = tasks.sample(25, 10, 1, generator=g)
        loss = mse(net, theta, batch.x_tr, batch.y_tr).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    _, params, lesson_losses, _ = pretrain_pooled(iterations=30, seed=0, progress=False)
    assert lesson_losses == losses
    assert all(torch.equal(params[k], theta[k].detach()) for k in params)


# ----------------------------------------------------------------- the linearised dynamics

@pytest.mark.numerics
def test_support_jacobian_rows_are_output_gradients(transfer):
    model, theta = transfer
    x = torch.linspace(-4, 4, 5).view(-1, 1)
    jac = support_jacobian(model, theta, x)
    for j in range(5):
        leaves = {k: v.clone().requires_grad_() for k, v in theta.items()}
        grads = torch.autograd.grad(model(leaves, x[j : j + 1]).sum(), list(leaves.values()))
        assert torch.allclose(jac[j], torch.cat([g.flatten() for g in grads]), atol=1e-6)


@pytest.mark.numerics
def test_linearised_loss_is_exact_for_the_first_step_direction(transfer):
    # t = 0 reproduces the initial loss exactly; the kernel is symmetric positive semi-definite
    model, theta = transfer
    task = SinusoidTasks().task(3.0, 1.0, 10, 100, generator=3)
    x, y = task.x_tr[0], task.y_tr[0]
    mu, u = kernel_spectrum(model, theta, x)
    r0 = (model(theta, x) - y)[:, 0]
    assert (mu >= 0).all() and torch.allclose(u.T @ u, torch.eye(10, dtype=u.dtype), atol=1e-8)
    assert math.isclose(linearised_support_loss(mu, u, r0, 0.01, 0)[0].item(),
                        mse(model, theta, x, y).item(), rel_tol=1e-5)


def test_linearised_dynamics_predict_the_first_fine_tuning_steps(transfer):
    batch = held_out_batch(10, n_tasks=30)
    errors = linearisation_errors(*transfer, batch.x_tr, batch.y_tr, steps=5, lr=0.01)
    assert errors.median() < 0.2  # measured 7%
    assert (errors < 0.2).sum() >= 18  # measured 22 of 30


def test_step_above_the_kernel_limit_overshoots_and_far_above_diverges(transfer):
    batch = held_out_batch(10, n_tasks=30)
    probe = step_size_probe(*transfer, batch.x_tr, batch.y_tr, factors=(0.5, 1, 2, 10), steps=100)
    assert probe[0.5] == (0, 0) and probe[1] == (0, 0)  # below the ceiling: never up, never diverges
    assert probe[2][0] >= 8  # measured: the first step raises L_tr on 17 of 30
    assert probe[10][1] >= 15  # measured: 20 of 30 diverge


def test_one_task_claims_of_notebook_01(transfer):
    """Sections 3 and 4 on their task (A = 3, b = 1, K = 10, seed 3) at alpha = 0.01."""
    model, theta = transfer
    task = SinusoidTasks().task(3.0, 1.0, 10, 100, generator=3)
    x, y = task.x_tr[0], task.y_tr[0]
    _, train, test = fine_tune(model, theta, x, y, 100, 0.01, task.x_te[0], task.y_te[0])
    # "the first step already lowers the query error, ten steps remove most of it, and a hundred fit
    # the support points closely" (measured L_test 1.91, 1.22, 0.50; L_tr 0.015 after 100)
    assert test[1] < test[0] and test[10] < 0.5 * test[0] and train[100] < 0.05
    # "most of the initial error sits in modes that shrink tenfold within a few tens of steps, but
    # about a tenth sits in modes that need hundreds of steps or more" (measured 0.90 and 0.10)
    mu, u = kernel_spectrum(model, theta, x)
    r0 = (model(theta, x) - y)[:, 0].double()
    share = (u.T @ r0).pow(2) / r0.pow(2).sum()
    tenfold = math.log(10) / -torch.log((1 - 2 * 0.01 * mu / 10).abs())
    assert share[tenfold < 50].sum() > 0.75
    assert 0.05 < share[tenfold > 100].sum() < 0.2


def test_max_stable_lr_is_k_over_the_largest_eigenvalue():
    assert max_stable_lr(torch.tensor([500.0, 2.0, 0.1]), 10) == pytest.approx(0.02)


@pytest.mark.numerics
def test_fine_tune_matches_adapt_and_reports_divergence(transfer):
    model, theta = transfer
    task = SinusoidTasks().task(2.0, 0.5, 10, 50, generator=0)
    x, y = task.x_tr[0], task.y_tr[0]
    phi, train, test = fine_tune(model, theta, x, y, 7, 0.01, task.x_te[0], task.y_te[0])
    ref = adapt(model, theta, x, y, 7, 0.01)
    assert all(torch.allclose(phi[k], ref[k], atol=1e-6) for k in ref)
    assert train.shape == test.shape == (8,)
    assert math.isclose(test[-1].item(), mse(model, ref, task.x_te[0], task.y_te[0]).item(), rel_tol=1e-5)
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        fine_tune(model, theta, x, y, 50, 0.9)
    with pytest.raises(ValueError, match="learning rate"):
        fine_tune(model, theta, x, y, 5, -0.1)


# ------------------------------------------------------ transfer vs scratch (the notebook's table)

def test_held_out_transfer_vs_scratch_numbers_shown_in_notebook_01(held_out):
    m = {k: ({n: e.mean().item() for n, e in tr.items()}, mean_ci(sc)) for k, (tr, sc) in held_out.items()}
    for k in (5, 10, 20):  # before fine-tuning: the pooled optimum's error, 3.01 (measured 2.99-3.04)
        assert abs(m[k][0][0] - 3.01) < 0.35
    # K = 5: fine-tuning barely moves (measured 2.40 after 10 steps) but the fit from scratch
    # shoots off (measured 6.98 +- 1.99): transfer wins by doing little
    assert m[5][0][10] > 2.0 and m[5][0][10] < 0.6 * m[5][1][0]
    # K = 20: after 10 steps transfer (1.09) is behind the fit from scratch (0.46)
    assert m[20][1][0] < m[20][0][10] - 0.3
    for k in (10, 20):  # more steps, lower error (measured 3.0 > 2.3 > 1.5 > 0.8 for K = 10)
        assert m[k][0][0] > m[k][0][1] > m[k][0][10] > m[k][0][100]


def test_paired_transfer_vs_scratch_claims_of_notebook_01(held_out):
    """Section 5's paired differences (fine-tuned - from scratch, same tasks) and what its text says."""
    def paired(k, n):
        delta = held_out[k][0][n] - held_out[k][1]
        mean, ci = mean_ci(delta)
        return mean, ci, int((delta < 0).sum())  # tasks on which fine-tuning has the lower error

    mean, ci, wins = paired(5, 10)  # measured -4.58 +- 1.80, fine-tuning lower on 69 of 100
    assert mean + ci < 0 and 55 <= wins <= 80  # "better by a wide margin ... scratch wins on a third"
    mean, ci, _ = paired(10, 10)  # measured -0.15 +- 0.57: "cannot be told apart"
    assert mean - ci < 0 < mean + ci
    mean, ci, _ = paired(10, 100)  # measured -0.87 +- 0.48: "ahead on average"
    assert mean + ci < 0
    mean, ci, wins = paired(20, 10)  # measured +0.63 +- 0.49, fine-tuning lower on 11 of 100
    assert mean - ci > 0 and wins <= 20  # "scratch better, on nearly nine tasks in ten"
    mean, ci, wins = paired(20, 100)  # measured -0.16 +- 0.42, fine-tuning lower on 29 of 100
    assert mean - ci < 0 < mean + ci and wins < 50  # "mean within noise, scratch lower on most tasks"


def test_paired_table_shows_mean_interval_and_wins():
    delta = torch.tensor([-1.0, -2.0, 0.5, -0.1])
    mean, ci = mean_ci(delta)
    table = paired_table({"a - b": {"K = 5": delta}}, ["K = 5", "K = 10"])
    assert table.splitlines()[2] == f"| a - b | {mean:+.2f} ± {ci:.2f} (3/4) |  |"


# ----------------------------------------------------------------------------------- the widget

def test_transfer_panel_shows_a_figure_or_a_message_over_every_slider_range(transfer):
    panel = TransferPanel(*transfer)
    # the largest learning rate diverges in 10 steps: said in the caption (latency: make bench)
    assert panel.sweep_problems(messages={"lr=max", "all=max"}) == {}


def test_transfer_panel_shows_divergence_and_limit(transfer):
    panel = TransferPanel(*transfer)
    panel.set(k_shot=5, steps=50, lr=0.3)
    assert isinstance(panel.last_error, FloatingPointError)
    assert "lower the learning rate" in panel.caption.value
    panel.set(lr=0.01, steps=10)
    assert panel.last_error is None and "linearised stability limit" in panel.caption.value
    assert panel.query_mse < panel.query_mse_before  # fine-tuning helps this task
    with pytest.raises(ValueError, match="k_shot"):
        panel.draw(k_shot=0, steps=1, lr=0.01, amplitude=1.0, phase=0.0)


# ---------------------------------------------------------------------------------- the checkers

def _pooled(x, a_low, a_high, b_low, b_high):
    return (a_low + a_high) / 2 * (torch.cos(x - b_high) - torch.cos(x - b_low)) / (b_high - b_low)


def test_check_pooled_optimum_accepts_the_formula_and_rejects_slips(capsys):
    assert check_pooled_optimum(_pooled)
    assert not check_pooled_optimum(lambda x, a0, a1, b0, b1: (a0 + a1) / 2 * torch.sin(x - (b0 + b1) / 2))
    assert not check_pooled_optimum(lambda x, a0, a1, b0, b1: _pooled(x, a0, a1, b0, b1) * (b1 - b0))
    assert not check_pooled_optimum(lambda *args: None)
    assert "not yet right" in capsys.readouterr().out


def test_check_linearised_loss_accepts_the_formula_and_rejects_slips(capsys):
    def right(mu, c, lr, k, t):
        return ((1 - 2 * lr * mu / k) ** (2 * t) * c**2).sum() / k

    def wrong(mu, c, lr, k, t):  # forgot the 2 of the squared error's gradient
        return ((1 - lr * mu / k) ** (2 * t) * c**2).sum() / k

    assert check_linearised_loss(right)
    assert not check_linearised_loss(wrong)
    assert not check_linearised_loss(lambda *args: 1 / 0)
    assert "ZeroDivisionError" in capsys.readouterr().out
