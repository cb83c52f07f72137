"""Test set-up for tests/ and notebooks/: strict widgets, and each notebook's run time under nbval
against its budget (reported; only a run several times over budget, a hang, fails)."""

import collections
import os
from pathlib import Path

import pytest

os.environ.setdefault("HELPERS_STRICT_WIDGETS", "1")  # a broken widget callback fails the tests

# Each notebook should run top to bottom within its budget on the 2-core course machine (seconds).
# A busy machine is slower, not broken: a run over budget is reported, and fails only beyond
# HANG_FACTOR times the budget.
NOTEBOOK_BUDGETS = {"00": 30, "01": 30, "02": 30, "03": 30, "04": 30, "05": 45, "06": 45, "07": 45, "08": 45,
                    "lecture": 60}
HANG_FACTOR = 4
_notebook_seconds = collections.defaultdict(float)


def _budget(path):
    name = Path(path).name
    return next((s for key, s in NOTEBOOK_BUDGETS.items() if name.startswith(key)), None)


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb") and report.when == "call":
        _notebook_seconds[path] += report.duration


def pytest_terminal_summary(terminalreporter):
    if not _notebook_seconds:
        return
    terminalreporter.section("notebook run times (sum of cell times)")
    for path, seconds in sorted(_notebook_seconds.items()):
        budget = _budget(path)
        flag = "" if budget is None or seconds <= budget else (
            "  OVER BUDGET" if seconds <= HANG_FACTOR * budget else f"  OVER {HANG_FACTOR}x BUDGET: FAILED")
        terminalreporter.write_line(f"{path}: {seconds:6.1f} s (budget {budget} s){flag}")


def pytest_sessionfinish(session, exitstatus):
    hung = [p for p, s in _notebook_seconds.items() if _budget(p) and s > HANG_FACTOR * _budget(p)]
    if hung and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
