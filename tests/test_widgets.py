"""helpers.widgets: a panel's sweep of its controls, and what the sweep calls a broken frame."""

import math

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pytest

from helpers.widgets import Panel, control_range, slider


class Toy(Panel):
    """y = a x on [0, 1]: `trouble` picks what goes wrong at a >= 0.9 (or nothing)."""

    def __init__(self, trouble=None):
        fig, ax = plt.subplots()
        (self.line,) = ax.plot([], [])
        self.trouble = trouble
        super().__init__({"a": slider("a", 0.5, 0.0, 1.0, 0.1), "n": slider("n", 3, 1, 9, 2, integer=True),
                          "on": widgets.Checkbox(value=True)}, fig)

    def draw(self, a, n, on):
        y = a
        if a >= 0.9:
            if self.trouble == "message":
                raise ValueError("a must be < 0.9")
            if self.trouble == "bug":
                raise KeyError("w9")
            if self.trouble == "nan line":
                y = math.nan
            if self.trouble == "nan caption":
                return f"a = {math.nan}"
        self.line.set_data([0, 1], [0, y])
        return f"a = {a}, n = {n}, on = {on}"


def test_control_range_covers_each_kind_of_control():
    assert control_range(slider("a", 0.5, 0.0, 1.0, 0.1)) == {"min": 0.0, "mid": 0.5, "max": 1.0}
    assert control_range(slider("n", 3, 1, 9, 2, integer=True)) == {"min": 1, "mid": 5, "max": 9}
    lam = control_range(slider("lam", 1.0, math.log10(1 / 8), math.log10(8), math.log10(2), log=True))
    assert list(lam.values()) == pytest.approx([1 / 8, 1.0, 8.0], abs=1e-12)  # on the slider's grid
    assert control_range(widgets.ToggleButtons(options=[("K = 5", 5), ("K = 10", 10), ("K = 20", 20)])) == {
        "min": 5, "mid": 10, "max": 20}
    assert control_range(widgets.Checkbox()) == {"min": False, "max": True}


def test_sweep_moves_one_control_at_a_time_then_all_to_each_end():
    panel = Toy()
    panel.set(a=0.2)  # the sweep starts from the initial values, wherever the sliders are
    sweep = panel.sweep()
    assert list(sweep) == ["a=min", "a=mid", "a=max", "n=min", "n=mid", "n=max", "on=min", "on=max",
                           "all=min", "all=max"]
    assert sweep["n=max"] == {"a": 0.5, "n": 9, "on": True}
    assert sweep["all=min"] == {"a": 0.0, "n": 1, "on": False}
    assert panel.sweep_problems() == {}
    assert panel.values() == sweep["all=max"]


@pytest.mark.parametrize("trouble, found", [
    ("message", "an unexpected message"), ("bug", "traceback"), ("nan line", "a line with NaN"),
    ("nan caption", "NaN or inf shown"),
])
def test_sweep_problems_reports_a_traceback_a_nan_or_an_unexpected_message(trouble, found, monkeypatch):
    monkeypatch.setenv("HELPERS_STRICT_WIDGETS", "0")
    problems = Toy(trouble).sweep_problems()
    assert set(problems) == {"a=max", "all=max"}
    assert all(found in p for p in problems.values()), problems


def test_sweep_problems_accepts_the_expected_messages_and_only_those():
    assert Toy("message").sweep_problems(messages={"a=max", "all=max"}) == {}
    problems = Toy().sweep_problems(messages={"a=max"})
    assert list(problems) == ["a=max"] and "expected a message" in problems["a=max"]


def test_sweep_problems_reports_an_exception_a_strict_panel_raises(monkeypatch):
    monkeypatch.setenv("HELPERS_STRICT_WIDGETS", "1")
    problems = Toy("bug").sweep_problems()
    assert problems["a=max"] == "raised KeyError: 'w9'"


def test_callback_times_are_one_per_setting():
    times = Toy().callback_times([{"a": 0.1}, {"a": 0.2}, {"n": 5}])
    assert len(times) == 3 and all(t > 0 for t in times)
