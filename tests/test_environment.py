"""Install metadata: the Pythons pyproject.toml admits, and one lock (constraints.txt) for make and conda."""

import re
from pathlib import Path

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]


def lock(python):
    """{name: version} pinned by constraints.txt for this Python ('3.10', ...)."""
    env = {**default_environment(), "python_version": python, "python_full_version": f"{python}.0"}
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate(env):
                assert canonicalize_name(req.name) not in pins, f"{req.name} pinned twice for {python}"
                [spec] = req.specifier
                assert spec.operator == "==", line
                pins[canonicalize_name(req.name)] = spec.version
    return pins, env


def requirements():
    """Every requirement the course installs: the dependencies and every extra (test, book)."""
    project = PROJECT["project"]
    extras = project["optional-dependencies"]
    return [Requirement(r) for r in project["dependencies"] + [r for extra in extras.values() for r in extra]]


def test_metadata_admits_python_3_10_to_3_13_and_ruff_targets_the_lowest():
    admits = SpecifierSet(PROJECT["project"]["requires-python"])
    assert all(admits.contains(f"{v}.0") for v in PYTHONS)
    assert not admits.contains("3.9.18") and not admits.contains("3.14.0")
    assert PROJECT["tool"]["ruff"]["target-version"] == "py310"


def test_distribution_has_its_own_name_and_finds_every_helpers_package():
    assert PROJECT["project"]["name"] == "imaml-course"  # PyPI's "helpers" is someone else's
    assert PROJECT["tool"]["setuptools"]["packages"]["find"]["include"] == ["helpers*"]
    assert PROJECT["tool"]["setuptools"]["package-data"]["helpers.weights"] == ["*.npz", "*.json"]


@pytest.mark.parametrize("python", PYTHONS)
def test_lock_pins_every_requirement_within_its_range(python):
    pins, env = lock(python)
    for req in requirements():
        if req.marker is None or req.marker.evaluate({**env, "extra": ""}):
            name = canonicalize_name(req.name)
            assert name in pins, f"constraints.txt does not pin {req.name} for Python {python}"
            assert req.specifier.contains(pins[name], prereleases=True), (str(req), pins[name])


@pytest.mark.parametrize("python", PYTHONS)
def test_lock_has_the_course_torch_for_every_python(python):
    assert lock(python)[0]["torch"] == "2.13.0"  # the CPU build on the course machine (Python 3.11)


def test_make_and_conda_install_the_course_with_the_lock_on_python_3_11():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^PYTHON \?= python3\.11$", makefile, re.M)
    assert "pip install --quiet -c constraints.txt -e '.[test,book]'" in makefile
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert conda == ["python=3.11", "pip"]  # everything else comes from pip, pinned by the lock
    assert pip == [["-c constraints.txt", "-e .[test,book]"]]
