"""Notebook 00 (the toy problem): fit_from_scratch, ScratchFitPanel and the exercise checkers."""

import io
import math

import numpy as np
import pytest
import torch

from helpers import MLP, SinusoidTasks, flatten, mean_ci, mse
from helpers.lessons.toy.exercises import (
    check_count_params,
    check_zero_prediction_mse,
    zero_prediction_mse_reference,
)
from helpers.lessons.toy.panels import ScratchFitPanel, fit_from_scratch

MODEL = MLP()


@pytest.fixture(scope="module")
def panel():
    return ScratchFitPanel()


@pytest.fixture(scope="module")
def five_shot():
    """50 tasks with K = 5 support points and 100 query points each."""
    return SinusoidTasks().sample(50, 5, 100, generator=123)


# --- fit_from_scratch -----------------------------------------------------------------------


def test_fit_from_scratch_fits_support_but_not_query_for_five_shots(five_shot):
    b = five_shot
    phi = fit_from_scratch(b.x_tr, b.y_tr, steps=100, lr=0.03, seed=0)
    train = mse(MODEL, phi, b.x_tr, b.y_tr).mean().item()
    test = mse(MODEL, phi, b.x_te, b.y_te).mean().item()
    zero = b.y_te.pow(2).mean().item()
    assert train < 0.05  # it interpolates its 5 points...
    assert test > 1.0  # ...but is far off elsewhere
    assert test > 0.5 * zero  # not even clearly better than predicting y = 0


def test_fit_from_scratch_query_error_falls_with_more_shots():
    pool = SinusoidTasks().sample(50, 40, 100, generator=7)
    errors = {}
    for k in (5, 40):
        phi = fit_from_scratch(pool.x_tr[:, :k], pool.y_tr[:, :k], seed=0)
        errors[k] = mse(MODEL, phi, pool.x_te, pool.y_te).mean().item()
    assert errors[40] < 0.5
    assert errors[40] < errors[5] / 10


@pytest.mark.numerics
def test_fit_from_scratch_single_task_matches_batched_and_drops_task_axis(five_shot):
    b = five_shot
    batched = fit_from_scratch(b.x_tr[:3], b.y_tr[:3], steps=20, lr=0.03, seed=1)
    single = fit_from_scratch(b.x_tr[1], b.y_tr[1], steps=20, lr=0.03, seed=1)
    assert single["w1"].shape == (40, 40) and batched["w1"].shape == (3, 40, 40)
    for k in single:
        torch.testing.assert_close(single[k], batched[k][1], rtol=1e-4, atol=1e-5)


def test_paired_comparison_with_predicting_zero_shown_in_notebook_00():
    """Section 6 of notebook 00, on its 100 tasks (seed 2): worse than y = 0 for K <= 5, better from 10."""
    pool = SinusoidTasks().sample(100, 40, 100, generator=2)
    zero = pool.y_te.pow(2).mean(dim=(1, 2))
    for k in (1, 2, 5, 10, 20, 40):
        phi = fit_from_scratch(pool.x_tr[:, :k], pool.y_tr[:, :k], seed=0)
        delta = mse(MODEL, phi, pool.x_te, pool.y_te) - zero
        mean, ci = mean_ci(delta)
        worse = int((delta > 0).sum())
        if k <= 5:  # measured +5.35 +- 2.05, +10.94 +- 3.83, +3.52 +- 2.15
            assert mean - ci > 0, f"K = {k}"
        else:  # measured -2.60 +- 0.79 (worse on 5 tasks), -3.87 +- 0.63 (0), -4.00 +- 0.65 (0)
            assert mean + ci < 0 and worse <= 10, f"K = {k}"
        if k == 5:  # "worse on only about half of the tasks": measured 51 of 100
            assert 35 <= worse <= 65


class AutogradOnly:
    """The same MLP seen as an arbitrary model: forces fit_from_scratch onto its autograd path."""

    def __init__(self, model):
        self.model = model

    def init(self, seed, dtype=torch.float32):
        return self.model.init(seed, dtype=dtype)

    def __call__(self, params, x):
        return self.model(params, x)


@pytest.mark.numerics
@pytest.mark.parametrize("batched", [False, True])
def test_mlp_backprop_matches_autograd_with_and_without_task_axis(batched):
    g = torch.Generator().manual_seed(0)
    model = MLP((1, 8, 6, 1))
    shape = (3, 7, 1) if batched else (7, 1)
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    y = torch.randn(shape, generator=g, dtype=torch.float64)
    params = model.init(g, dtype=torch.float64)
    if batched:  # a different phi_i per task
        params = {k: v + 0.1 * torch.randn(3, *v.shape, generator=g, dtype=v.dtype)
                  for k, v in params.items()}
    manual = flatten(model.loss_grad(params, x, y)[1], batch_dims=x.dim() - 2)
    leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
    grads = torch.autograd.grad(mse(model, leaves, x, y).sum(), list(leaves.values()))
    reference = flatten(dict(zip(leaves, grads)), batch_dims=x.dim() - 2)
    assert manual.shape == reference.shape == ((3,) if batched else ()) + (model.n_params(),)
    assert reference.abs().max() > 1e-3
    torch.testing.assert_close(manual, reference, rtol=1e-10, atol=1e-12)


@pytest.mark.numerics
def test_fit_from_scratch_same_result_on_autograd_path(five_shot):
    b = five_shot[:4]
    fast = fit_from_scratch(b.x_tr, b.y_tr, steps=30, seed=2)
    slow = fit_from_scratch(b.x_tr, b.y_tr, steps=30, seed=2, model=AutogradOnly(MODEL))
    for k in fast:
        torch.testing.assert_close(fast[k], slow[k], rtol=1e-4, atol=1e-5)


def test_fit_from_scratch_is_reproducible_from_its_seed(five_shot):
    b = five_shot[0]
    a1 = fit_from_scratch(b.x_tr[0], b.y_tr[0], steps=10, seed=3)
    a2 = fit_from_scratch(b.x_tr[0], b.y_tr[0], steps=10, seed=3)
    c = fit_from_scratch(b.x_tr[0], b.y_tr[0], steps=10, seed=4)
    assert all(torch.equal(a1[k], a2[k]) for k in a1)
    assert not torch.equal(a1["w1"], c["w1"])


def test_fit_from_scratch_zero_steps_is_the_init():
    x = torch.zeros(3, 1)
    phi = fit_from_scratch(x, x, steps=0, seed=5)
    init = MODEL.init(5)
    assert all(torch.equal(phi[k], init[k]) for k in init)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(steps=-1), "steps"),
        (dict(steps=2.5), "steps"),
        (dict(lr=0.0), "lr"),
        (dict(lr=float("nan")), "lr"),
        (dict(seed=None), "seed"),
    ],
)
def test_fit_from_scratch_rejects_bad_arguments_by_name(kwargs, name):
    x = torch.zeros(5, 1)
    with pytest.raises(ValueError, match=name):
        fit_from_scratch(x, x, **kwargs)


def test_fit_from_scratch_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        fit_from_scratch(torch.zeros(5, 1), torch.zeros(4, 1))
    with pytest.raises(ValueError, match="K >= 1"):
        fit_from_scratch(torch.zeros(2, 0, 1), torch.zeros(2, 0, 1))


def test_fit_from_scratch_reports_divergence():
    x = torch.linspace(-5, 5, 5).view(-1, 1)
    with pytest.raises(FloatingPointError, match="lr"):
        fit_from_scratch(x, 5 * torch.sin(x), steps=50, lr=1e30)


# --- ScratchFitPanel ------------------------------------------------------------------------

SETTINGS = [
    dict(k_shot=1, amplitude=3.0, phase=1.0),
    dict(k_shot=40, amplitude=5.0, phase=math.pi),
    dict(k_shot=2, amplitude=0.1, phase=0.0),
    dict(k_shot=10, amplitude=4.0, phase=2.0),
]


@pytest.mark.numerics
@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: "-".join(f"{v:g}" for v in s.values()))
def test_scratch_panel_updates_for_k1_and_extremes(panel, setting):
    panel.set(**setting)
    assert panel.last_error is None
    k = setting["k_shot"]
    x_pts, y_pts = panel.support_pts.get_data()
    assert len(x_pts) == k
    fit = panel.fit_line.get_ydata()
    assert len(fit) == 200 and all(math.isfinite(v) for v in fit)
    assert f"K = {k}:" in panel.caption.value and "L_test" in panel.caption.value
    # the caption's numbers are the fit's own errors, recomputed here independently
    task = SinusoidTasks().task(setting["amplitude"], setting["phase"], 40, 100, generator=0)
    phi = fit_from_scratch(task.x_tr[0, :k], task.y_tr[0, :k], seed=0)
    assert panel.query_mse == pytest.approx(mse(MODEL, phi, task.x_te[0], task.y_te[0]).item(),
                                            rel=1e-5)
    assert panel.support_mse < 0.15  # the fixed budget fits the support points


def test_scratch_panel_support_points_are_nested_in_k(panel):
    panel.set(k_shot=5, amplitude=3.0, phase=1.0)
    x5 = list(panel.support_pts.get_xdata())
    panel.set(k_shot=8)
    assert list(panel.support_pts.get_xdata())[:5] == x5


def _pixels(png):
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def _render(panel, cached=True, **savefig_kwargs):
    dynamic = panel.fig.dynamic
    if not cached:
        panel.fig.dynamic = ()  # switches the cache off: a full render
    try:
        buf = io.BytesIO()
        panel.fig.savefig(buf, format="png", **savefig_kwargs)
    finally:
        panel.fig.dynamic = dynamic
    return _pixels(buf.getvalue())


@pytest.mark.parametrize("dpi", [None, 45], ids=["figure-dpi", "other-dpi"])
def test_scratch_panel_cached_background_renders_like_a_full_draw(panel, dpi):
    panel.set(k_shot=12, amplitude=2.5, phase=0.5)
    kwargs = {} if dpi is None else {"dpi": dpi}  # another dpi: another size, a fresh cache
    cached, full = _render(panel, **kwargs), _render(panel, cached=False, **kwargs)
    assert cached.shape == full.shape
    assert (full < 128).any()  # not blank
    differing = (np.abs(cached - full).sum(-1) > 0).mean()
    assert differing < 1e-3  # a few antialiased pixels where two artists overlap


def test_scratch_panel_shows_bad_input_as_a_message(panel):
    with pytest.raises(ValueError, match="amplitude"):
        panel.draw(amplitude=7.0, phase=1.0, k_shot=5)
    with pytest.raises(ValueError, match="k_shot"):
        panel.draw(amplitude=1.0, phase=1.0, k_shot=0)


def test_scratch_panel_shows_a_figure_or_a_message_over_every_slider_range(panel):
    assert panel.sweep_problems() == {}  # latency: make bench


# --- exercise checkers ----------------------------------------------------------------------


def test_check_count_params_accepts_right_and_rejects_wrong(capsys):
    def right(sizes):
        return sum((n_in + 1) * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True))

    def no_biases(sizes):
        return sum(n_in * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True))

    def stub(sizes):
        return None

    assert check_count_params(right) is True
    assert "correct: a 1-40-40-1 network has 1761 parameters" in capsys.readouterr().out
    assert check_count_params(no_biases) is False
    assert "not yet right" in capsys.readouterr().out
    assert check_count_params(stub) is False
    assert check_count_params(lambda sizes: 1761) is False  # right for 1-40-40-1 only


def test_check_zero_prediction_mse_accepts_exact_formula_and_rejects_mean_squared(capsys):
    def exact(a_low, a_high):  # E[A^2] / 2, since E_b[sin^2(x - b)] = 1/2 for b ~ U[0, pi]
        return (a_low**2 + a_low * a_high + a_high**2) / 6

    def squared_mean(a_low, a_high):  # the slip E[A]^2 / 2
        return ((a_low + a_high) / 2) ** 2 / 2

    def broken(a_low, a_high):
        raise NotImplementedError

    assert check_zero_prediction_mse(exact) is True
    assert "correct" in capsys.readouterr().out
    assert check_zero_prediction_mse(squared_mean) is False
    assert check_zero_prediction_mse(broken) is False
    assert "NotImplementedError" in capsys.readouterr().out


def test_check_zero_prediction_mse_accepts_the_textbook_formula(capsys):
    """E[A^2] = (b^3 - a^3) / (3 (b - a)) for A ~ U[a, b]: right whenever a < b, as the exercise says
    (it divided by zero on a case with a_low = a_high, which the checker no longer asks)."""
    def textbook(a_low, a_high):
        return (a_high**3 - a_low**3) / (6 * (a_high - a_low))

    assert check_zero_prediction_mse(textbook) is True
    assert "correct" in capsys.readouterr().out


@pytest.mark.parametrize("wrong", [
    lambda a, b: (a * a + a * b + b * b) / 3,  # E[A^2]: forgot E_b[sin^2] = 1/2
    lambda a, b: (b**3 - a**3) / 6,  # forgot the uniform density 1 / (b - a) in E[A^2]
    lambda a, b: (b - a) ** 2 / 24,  # the variance of A, halved
    lambda a, b: 4.25,  # the course's value, whatever the amplitudes
], ids=["no-half", "no-density", "variance", "constant"])
def test_check_zero_prediction_mse_rejects_wrong_formulas(wrong):
    assert check_zero_prediction_mse(wrong) is False


def test_zero_prediction_reference_matches_monte_carlo():
    """The checker's quadrature agrees with sampling the course's own task distribution."""
    batch = SinusoidTasks().sample(20_000, 1, 50, generator=0, dtype=torch.float64)
    monte_carlo = batch.y_te.pow(2).mean().item()
    assert zero_prediction_mse_reference(0.1, 5.0) == pytest.approx(monte_carlo, rel=0.03)
