"""The meta-training race (helpers.lessons.takeaways.race) and its panel, swept headlessly."""

import threading
import time

import pytest
import torch

from helpers.lessons.takeaways import RacePanel
from helpers.lessons.takeaways.race import OUTER_LR, SEED, Contestant, Race
from helpers.models import MLP
from helpers.training import meta_train

HANG_SECONDS = 60


def test_a_contestant_trains_as_meta_train_does_from_the_shared_start():
    race = Race([Contestant("maml"), Contestant("imaml")], mode="iterations")
    maml, imaml = race.lanes
    for k in maml.learner.params:  # one initialisation for both networks
        assert torch.equal(maml.learner.params[k], imaml.learner.params[k])
    for _ in range(3):
        maml.learner.step()
    _, theta, _ = meta_train("maml", MLP(), iterations=3, seed=SEED, progress=False, inner_steps=1,
                             inner_lr=0.01, outer_lr=OUTER_LR)
    for k, v in theta.items():
        assert torch.equal(maml.learner.theta()[k], v)


@pytest.mark.parametrize("mode", ["iterations", "time"])
def test_the_contestant_behind_goes_next(mode):
    race = Race([Contestant("maml"), Contestant("fomaml", inner_steps=3)], mode=mode)
    race.run(1.5)
    a, b = race.lanes
    if mode == "iterations":
        assert abs(a.learner.iteration - b.learner.iteration) <= 1
    else:  # within one meta-iteration's time (a few ms; generous for a loaded machine)
        assert abs(a.seconds - b.seconds) < 0.2
    assert a.learner.iteration > 10 and len(a.points) >= 2
    assert a.points[-1][2] < a.points[0][2]  # it learns


def test_a_diverging_contestant_stops_with_a_message_and_the_others_race_on():
    race = Race([Contestant("maml", inner_lr=1.0, inner_steps=10), Contestant("fomaml")])
    race.run(1.0)
    maml, fomaml = race.lanes
    assert maml.stopped.startswith("MAML stopped at meta-iteration 0: adaptation diverged")
    assert "lower the learning rate" in maml.stopped
    assert fomaml.stopped is None and fomaml.learner.iteration > 10
    assert race.summary()[0] == maml.stopped


def test_bad_settings_are_refused_with_a_message():
    with pytest.raises(ValueError, match="at least one contestant"):
        Race([])
    with pytest.raises(ValueError, match="mode must be one of"):
        Race([Contestant("maml")], mode="fastest")
    with pytest.raises(ValueError, match="method must be one of"):
        Contestant("reptile")
    with pytest.raises(ValueError, match="outer_lr must be > 0"):
        Race([Contestant("maml")], outer_lr=0.0)


def test_the_panel_sweeps_every_control_with_a_figure_or_a_clear_message():
    panel = RacePanel()
    assert "Press start" in panel.caption.value
    problems, messages = {}, {}
    for label, settings in panel.sweep().items():
        panel.set(**settings)
        if panel.last_error is None:
            panel.run(seconds=0.6)
        problem = panel._frame_problem()
        if problem:
            problems[label] = problem
        if panel.last_error is not None:
            messages[label] = str(panel.last_error)
    assert problems == {}
    assert "at least one contestant" in messages.pop("all=min")
    assert "MAML stopped at meta-iteration 0: adaptation diverged" in messages.pop("all=max")
    # elsewhere a message can only name a contestant that diverged (alpha = 1 may, in time)
    assert all("stopped at meta-iteration" in m for m in messages.values()), messages


def test_the_panel_races_in_the_background_redraws_and_stops():
    panel = RacePanel(budget=30)
    panel.set(imaml=False, fomaml=True)
    frames = []
    panel.image.observe(lambda change: frames.append(time.perf_counter()), names="value")
    panel.start()
    t0 = time.perf_counter()
    ticks = 0
    while time.perf_counter() - t0 < 3:  # the caller's thread stays free while the race runs
        ticks += 1
        time.sleep(0.01)
    assert ticks > 100 and panel.thread.is_alive()
    stopping = threading.Thread(target=panel.stop)
    stopping.start()
    stopping.join(HANG_SECONDS)
    assert not stopping.is_alive(), "stop() hung"
    assert len(frames) >= 4, f"{len(frames)} redraws in 3 s"
    assert max(b - a for a, b in zip(frames, frames[1:], strict=False)) < 1.5
    assert all(lane.learner.iteration > 10 for lane in panel.race.lanes)
    assert panel.last_error is None and "MAML" in panel.caption.value
