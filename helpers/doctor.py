"""Before class: `python -m helpers.doctor` (or `make doctor`) checks that this machine runs the course.

One line per check: ok, or FAIL with the fix to apply. The exit status is 1 when a check failed.
Checked: Python and the course's packages against the ranges of the installed metadata; ipywidgets and
jupyterlab_widgets from matching releases; the widget extension known to JupyterLab and enabled; every
shipped weight file loads with its checksum; a MAML and an iMAML meta-gradient on 25 tasks.
"""

import json
import math
import platform
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from . import pretrained
from .imaml import imaml_grad
from .maml import maml_grad
from .models import MLP
from .tasks import SinusoidTasks

DIST = "imaml-course"
INSTALL = "pip install -c constraints.txt -e .   (in the course folder)"
WIDGET_EXTENSION = "@jupyter-widgets/jupyterlab-manager"


@dataclass
class Check:
    ok: bool
    what: str
    fix: str = ""


def _installed(name, version):
    try:
        return version(name)
    except metadata.PackageNotFoundError:
        return None


def _range(specifier):
    """'>=3.10,<3.14', lower bounds first (packaging sorts them the other way)."""
    return ",".join(sorted(map(str, SpecifierSet(str(specifier))), key=lambda s: not s.startswith(">")))


def _applies(requirement):
    """A requirement of the base install (no extra) whose marker holds on this Python."""
    return requirement.marker is None or requirement.marker.evaluate({"extra": ""})


def python_check(requires_python, python=None):
    python = python or platform.python_version()
    if SpecifierSet(requires_python).contains(python, prereleases=True):
        return Check(True, f"Python {python} (the course supports {_range(requires_python)})")
    return Check(False, f"Python {python} is not one the course supports ({_range(requires_python)})",
                 f"make an environment with a supported Python, then {INSTALL}")


def package_checks(requirements, version=metadata.version):
    """One check per requirement string: installed, and in its range."""
    checks = []
    for req in map(Requirement, requirements):
        if not _applies(req):
            continue
        found = _installed(req.name, version)
        wanted = _range(req.specifier)
        fix = f'pip install "{req.name}{wanted}"'
        if found is None:
            checks.append(Check(False, f"{req.name} is not installed", fix))
        elif not req.specifier.contains(found, prereleases=True):
            checks.append(Check(False, f"{req.name} {found} is outside the tested range {wanted}", fix))
        else:
            checks.append(Check(True, f"{req.name} {found} ({wanted})"))
    return checks


def widget_check(version=metadata.version, requires=metadata.requires):
    """ipywidgets (kernel side) and jupyterlab_widgets (JupyterLab side) from matching releases."""
    ipywidgets = _installed("ipywidgets", version)
    if ipywidgets is None:
        return Check(False, "ipywidgets is not installed: the sliders cannot show", INSTALL)
    spec = next((r.specifier for r in map(Requirement, requires("ipywidgets") or [])
                 if canonicalize_name(r.name) == "jupyterlab-widgets" and _applies(r)), SpecifierSet())
    found = _installed("jupyterlab_widgets", version)
    if found is None or not spec.contains(found, prereleases=True):
        needed = _range(spec)
        return Check(False, f"jupyterlab_widgets {found or '(missing)'} does not match ipywidgets "
                            f"{ipywidgets} (it needs jupyterlab_widgets{needed}): widgets would show as text",
                     f'pip install "jupyterlab_widgets{needed}"')
    return Check(True, f"ipywidgets {ipywidgets} and jupyterlab_widgets {found} match")


def _shipped_extension_version():
    """Version of the widget extension that the installed jupyterlab_widgets carries, or None."""
    suffix = f"labextensions/{WIDGET_EXTENSION}/package.json"
    try:
        files = metadata.files("jupyterlab_widgets") or []
    except metadata.PackageNotFoundError:
        return None
    path = next((f for f in files if f.as_posix().endswith(suffix)), None)
    return json.loads(Path(path.locate()).read_text())["version"] if path else None


def extension_check(labextensions_path=None, expected=None):
    """JupyterLab finds the widget extension, it is enabled, and it is the installed jupyterlab_widgets' copy.

    labextensions_path defaults to JupyterLab's own search path, `expected` to the version of that copy.
    """
    from jupyter_core.paths import jupyter_path
    from jupyterlab_server.config import get_federated_extensions, get_page_config

    if labextensions_path is None:
        labextensions_path = jupyter_path("labextensions")
    if expected is None:
        expected = _shipped_extension_version()
    found = get_federated_extensions(labextensions_path).get(WIDGET_EXTENSION)
    if found is None:
        return Check(False, f"JupyterLab does not know the widget extension {WIDGET_EXTENSION}: "
                            "widgets would show as text",
                     "pip install jupyterlab_widgets   (into the environment that runs `jupyter lab`)")
    if WIDGET_EXTENSION in get_page_config(labextensions_path)["disabledExtensions"]:
        return Check(False, f"the widget extension {WIDGET_EXTENSION} is disabled in JupyterLab",
                     f"jupyter labextension enable {WIDGET_EXTENSION}")
    version, path = found["version"], found["ext_path"]
    if expected is not None and version != expected:
        return Check(False, f"JupyterLab loads {WIDGET_EXTENSION} {version} from {path}, "
                            f"not the {expected} of the installed jupyterlab_widgets",
                     f"remove the stale copy {path}")
    return Check(True, f"JupyterLab knows the widget extension {WIDGET_EXTENSION} {version} (enabled)")


def weight_checks():
    """Every shipped model (a record with a model) loads with a matching checksum."""
    failed, loaded = [], 0
    for name in pretrained.available():
        try:
            if "model" not in pretrained.pretrained_record(name, pretrained.WEIGHTS):
                continue  # a study's results (sgd_study), not weights
            pretrained.load_pretrained(name, pretrained.WEIGHTS)
            loaded += 1
        except (OSError, KeyError, ValueError) as e:
            failed.append(Check(False, f"shipped model {name!r}: {e}",
                                "restore the course's files: `git checkout -- helpers/weights` in the "
                                "course folder, or reinstall the course"))
    if failed:
        return failed
    if loaded == 0:
        return [Check(False, f"no shipped weights found in {pretrained.WEIGHTS}", f"reinstall: {INSTALL}")]
    return [Check(True, f"{loaded} shipped models load, checksums match")]


def smoke_check(n_tasks=25, seed=0):
    """One MAML (5 steps) and one iMAML (16 steps, 5 CG steps) meta-gradient: finite, timed."""
    model = MLP()
    params = model.init(seed)
    batch = SinusoidTasks().sample(n_tasks, 10, 10, seed + 1)
    runs = {"MAML": lambda: maml_grad(model, params, batch, 5, 0.01),
            "iMAML": lambda: imaml_grad(model, params, batch, lam=2.0)}
    seconds = {}
    for name, run in runs.items():
        start = time.perf_counter()
        try:
            grad, _ = run()
        except Exception as e:  # report any failure of the library on this machine as a check
            return Check(False, f"{name} meta-gradient failed: {type(e).__name__}: {e}",
                         f"check the torch line above; reinstall: {INSTALL}")
        seconds[name] = time.perf_counter() - start
        norm = math.sqrt(sum(g.double().pow(2).sum().item() for g in grad.values()))
        if grad.keys() != params.keys() or not math.isfinite(norm) or norm == 0:
            return Check(False, f"{name} meta-gradient is wrong (norm {norm})",
                         f"check the torch line above; reinstall: {INSTALL}")
    times = ", ".join(f"{name} {s:.2f} s" for name, s in seconds.items())
    return Check(True, f"MAML and iMAML meta-gradients on {n_tasks} tasks are finite ({times})")


def run_checks():
    try:
        meta = metadata.metadata(DIST)
    except metadata.PackageNotFoundError:
        checks = [Check(False, f"the course ({DIST}) is not installed in this Python ({sys.executable})",
                        INSTALL)]
    else:
        checks = [python_check(meta["Requires-Python"]), *package_checks(metadata.requires(DIST) or [])]
    return [*checks, widget_check(), extension_check(), *weight_checks(), smoke_check()]


def main():
    print(f"Checking this machine for the course ({sys.executable})")
    checks = run_checks()
    for check in checks:
        print(f"  {'ok  ' if check.ok else 'FAIL'}  {check.what}")
        if not check.ok:
            print(f"        fix: {check.fix}")
    failed = sum(not c.ok for c in checks)
    if failed:
        print(f"{failed} of {len(checks)} checks failed: apply the fixes above, then run this again.")
        return 1
    print(f"All {len(checks)} checks passed: ready for class.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
