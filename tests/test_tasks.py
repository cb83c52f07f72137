import math

import pytest
import torch

from helpers import SinusoidTasks, TaskBatch


def test_sample_shapes_and_task_axis_first():
    b = SinusoidTasks().sample(7, 5, 11, generator=0)
    assert b.x_tr.shape == b.y_tr.shape == (7, 5, 1)
    assert b.x_te.shape == b.y_te.shape == (7, 11, 1)
    assert b.amplitude.shape == b.phase.shape == (7,)
    assert b.x_tr.dtype == torch.float32


def test_sample_ranges_follow_the_maml_paper():
    b = SinusoidTasks().sample(2000, 10, 10, generator=1)
    assert 0.1 <= b.amplitude.min() and b.amplitude.max() <= 5.0
    assert 0.0 <= b.phase.min() and b.phase.max() <= math.pi
    assert -5.0 <= b.x_tr.min() and b.x_tr.max() <= 5.0
    # uniform: the mean amplitude is 2.55 (+- 3 standard errors of 1.41/sqrt(2000))
    assert abs(b.amplitude.mean().item() - 2.55) < 3 * 1.41 / math.sqrt(2000)


@pytest.mark.numerics
def test_targets_are_the_sinusoid_of_each_task():
    b = SinusoidTasks().sample(3, 4, 4, generator=2, dtype=torch.float64)
    expected = b.amplitude.view(-1, 1, 1) * torch.sin(b.x_te - b.phase.view(-1, 1, 1))
    torch.testing.assert_close(b.y_te, expected, rtol=0, atol=1e-12)


def test_support_and_query_points_are_separate_draws():
    b = SinusoidTasks().sample(5, 10, 10, generator=3)
    assert not torch.equal(b.x_tr, b.x_te)


def test_same_seed_same_batch_other_seed_other_batch():
    a = SinusoidTasks().sample(4, 5, generator=42)
    b = SinusoidTasks().sample(4, 5, generator=42)
    c = SinusoidTasks().sample(4, 5, generator=43)
    assert torch.equal(a.x_tr, b.x_tr) and torch.equal(a.amplitude, b.amplitude)
    assert not torch.equal(a.x_tr, c.x_tr)


def test_custom_ranges_are_parameters():
    b = SinusoidTasks(amplitude=(1.0, 1.0), phase=(0.5, 0.5), x_range=(0.0, 1.0)).sample(3, 4, generator=0)
    assert torch.all(b.amplitude == 1.0) and torch.all(b.phase == 0.5)
    assert 0.0 <= b.x_tr.min() and b.x_tr.max() <= 1.0


def test_float64_on_request():
    assert SinusoidTasks().sample(2, 3, generator=0, dtype=torch.float64).y_tr.dtype == torch.float64


@pytest.mark.parametrize("kwargs, name", [
    ({"n_tasks": 0, "k_support": 5}, "n_tasks"),
    ({"n_tasks": 3, "k_support": 0}, "k_support"),
    ({"n_tasks": 3, "k_support": 5, "k_query": -1}, "k_query"),
    ({"n_tasks": 2.5, "k_support": 5}, "n_tasks"),
])
def test_bad_sizes_raise_value_error_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SinusoidTasks().sample(**kwargs)


def test_bad_ranges_and_task_parameters_raise():
    with pytest.raises(ValueError, match="amplitude"):
        SinusoidTasks(amplitude=(5.0, 0.1))
    with pytest.raises(ValueError, match="phase"):
        SinusoidTasks().task(amplitude=1.0, phase=4.0, k_support=5)
    with pytest.raises(ValueError, match="generator"):
        SinusoidTasks().sample(2, 3, generator="seed")


def test_single_task_with_chosen_amplitude_and_phase():
    b = SinusoidTasks().task(2.0, 1.0, k_support=6, k_query=50, generator=0, dtype=torch.float64)
    assert b.n_tasks == 1 and b.x_tr.shape == (1, 6, 1)
    torch.testing.assert_close(b.y_tr, 2.0 * torch.sin(b.x_tr - 1.0))


def test_batch_shapes_are_checked():
    x = torch.zeros(2, 3, 1)
    with pytest.raises(ValueError, match="y_tr"):
        TaskBatch(x, torch.zeros(2, 4, 1), x, x, torch.ones(2), torch.ones(2))
    with pytest.raises(ValueError, match="tasks"):
        TaskBatch(x, x, torch.zeros(3, 3, 1), torch.zeros(3, 3, 1), torch.ones(2), torch.ones(2))
    with pytest.raises(ValueError, match="shape"):
        TaskBatch(torch.zeros(2, 3), torch.zeros(2, 3), x, x, torch.ones(2), torch.ones(2))


def test_indexing_keeps_the_task_axis():
    b = SinusoidTasks().sample(5, 3, generator=0)
    assert b[2].x_tr.shape == (1, 3, 1) and b[1:4].n_tasks == 3
