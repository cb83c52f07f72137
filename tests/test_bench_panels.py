"""benchmarks/bench_panels.py: every panel of the course is timed, and the README shows the table of
its last run (benchmarks/panel_latency.json). Latency is measured there, never asserted here."""

import importlib
import inspect
import json
import pkgutil
import sys
from pathlib import Path

import pytest
import torch

import helpers.lessons
from helpers.widgets import Panel

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # benchmarks/ is a folder of scripts, not an installed package
bench = importlib.import_module("benchmarks.bench_panels")


def test_every_panel_of_the_lessons_is_benchmarked():
    panels = set()
    for info in pkgutil.walk_packages(helpers.lessons.__path__, "helpers.lessons."):
        module = importlib.import_module(info.name)
        panels |= {name for name, c in inspect.getmembers(module, inspect.isclass)
                   if issubclass(c, Panel) and c is not Panel and c.__module__ == module.__name__}
    assert panels == set(bench.PANELS)


@pytest.fixture
def keep_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def test_benchmark_times_every_setting_of_the_sweep_and_writes_json(tmp_path, capsys, keep_threads):
    out = tmp_path / "latency.json"
    bench.main(["--only", "BayesPanel", "--repeats", "2", "--out", str(out)])
    (row,) = json.loads(out.read_text())["panels"]
    assert row["panel"] == "BayesPanel" and row["notebook"] == "07"
    assert row["callbacks"] == 2 * len(bench.PANELS["BayesPanel"][1]().sweep())
    assert 0 < row["median_ms"] <= row["p90_ms"] <= row["max_ms"]
    assert "| `BayesPanel` | 07 |" in capsys.readouterr().out


def test_readme_shows_the_last_benchmark_run():
    results = json.loads(bench.OUT.read_text())
    assert [r["panel"] for r in results["panels"]] == list(bench.PANELS)
    readme = (ROOT / "README.md").read_text()
    assert bench.readme_with_table(readme, results) == readme, "run make bench (or benchmarks.bench_panels)"
