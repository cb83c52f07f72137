"""The conda environment.yml and pyproject.toml must list the same packages and pins."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def split(requirement):
    """'ipywidgets>=8.1.5,<9' -> ('ipywidgets', '>=8.1.5,<9') with a normalised name."""
    name, spec = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement).groups()
    return re.sub(r"[-_.]+", "-", name).lower(), spec.replace(" ", "")


def pyproject_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + [r for extra in project["optional-dependencies"].values()
                                      for r in extra]
    return dict(split(r) for r in reqs)


def environment_requirements():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    reqs = dict(split(d) for d in conda + [p for p in pip if not p.startswith("-e")])
    assert reqs.pop("python") == "=3.11", "environment.yml must pin python=3.11 like requires-python"
    reqs.pop("pip")
    return reqs, env


def test_environment_yml_lists_the_same_packages_and_pins_as_pyproject():
    env_reqs, _ = environment_requirements()
    assert env_reqs == pyproject_requirements()


def test_environment_installs_the_project_itself_from_conda_forge():
    _, env = environment_requirements()
    assert env["channels"] == ["conda-forge"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip


def test_torch_is_the_cpu_build_pin():
    assert pyproject_requirements()["torch"] == "==2.13.0"
