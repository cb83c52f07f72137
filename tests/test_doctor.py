"""helpers.doctor: a healthy install passes every check; a broken one gets FAIL lines, fixes, exit 1."""

import json
import shutil
import subprocess
import sys
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from helpers import doctor, pretrained

EXT = doctor.WIDGET_EXTENSION


def fake_versions(**versions):
    """A stand-in for importlib.metadata.version: these packages at these versions, no others."""
    def version(name):
        try:
            return versions[name.replace("-", "_")]
        except KeyError:
            raise metadata.PackageNotFoundError(name) from None
    return version


def test_healthy_install_passes_every_check():
    out = subprocess.run([sys.executable, "-m", "helpers.doctor"], capture_output=True, text=True,
                         timeout=600)  # a hang guard only
    assert out.returncode == 0, out.stdout + out.stderr
    lines = [line.strip() for line in out.stdout.splitlines() if line.startswith("  ")]
    assert lines and all(line.startswith("ok") for line in lines), out.stdout
    for what in ("Python 3.", "torch 2.", "ipywidgets", "match", "JupyterLab knows the widget extension",
                 "shipped models load, checksums match", "MAML and iMAML meta-gradients"):
        assert what in out.stdout
    assert "ready for class" in out.stdout


@pytest.fixture
def weights_copy(tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    shutil.copytree(pretrained.WEIGHTS, folder)
    monkeypatch.setattr(pretrained, "WEIGHTS", folder)
    return folder


def test_corrupted_weight_file_fails_with_a_fix_and_exit_status_1(weights_copy, capsys):
    data = bytearray((weights_copy / "maml.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (weights_copy / "maml.npz").write_bytes(bytes(data))
    assert doctor.main() == 1
    out = capsys.readouterr().out
    assert "FAIL  shipped model 'maml'" in out and "corrupted" in out
    assert "fix: restore the course's files" in out
    assert out.count("FAIL") == 1, out  # the other checks still run, and pass
    assert "1 of" in out and "checks failed" in out


def test_missing_weight_file_and_missing_weights_fail(weights_copy):
    (weights_copy / "imaml.npz").unlink()
    checks = doctor.weight_checks()
    assert [c.ok for c in checks] == [False] and "'imaml'" in checks[0].what
    shutil.rmtree(weights_copy)
    weights_copy.mkdir()
    [check] = doctor.weight_checks()
    assert not check.ok and "no shipped weights" in check.what


def test_widget_version_mismatch_fails_with_the_matching_range():
    # ipywidgets 8 with the jupyterlab_widgets of ipywidgets 7: JupyterLab shows widgets as text
    check = doctor.widget_check(version=fake_versions(ipywidgets=metadata.version("ipywidgets"),
                                                      jupyterlab_widgets="1.1.7"))
    assert not check.ok and "1.1.7 does not match" in check.what
    needed = next(r.specifier for r in map(Requirement, metadata.requires("ipywidgets"))
                  if canonicalize_name(r.name) == "jupyterlab-widgets")
    assert "1.1.7" not in needed  # the simulated version is a real mismatch
    assert check.fix.startswith('pip install "jupyterlab_widgets')
    assert SpecifierSet(check.fix.split("jupyterlab_widgets")[1].strip('"')) == needed


def test_widget_check_passes_on_matching_versions_and_fails_without_ipywidgets():
    requires = lambda name: ["comm>=0.1.3", "jupyterlab_widgets~=3.0.15", "pytest; extra == 'test'"]  # noqa: E731
    ok = doctor.widget_check(version=fake_versions(ipywidgets="8.1.9", jupyterlab_widgets="3.0.17"),
                             requires=requires)
    assert ok.ok and "match" in ok.what
    missing = doctor.widget_check(version=fake_versions(jupyterlab_widgets="3.0.17"), requires=requires)
    assert not missing.ok and "ipywidgets is not installed" in missing.what


def write_extension(folder, version):
    ext = folder / EXT
    ext.mkdir(parents=True)
    (ext / "package.json").write_text(json.dumps({"name": EXT, "version": version,
                                                  "jupyterlab": {"_build": {"load": "static/x.js"}}}))


def test_extension_missing_stale_or_disabled_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "config"))
    missing = doctor.extension_check(labextensions_path=[str(tmp_path / "empty")], expected="5.0.16")
    assert not missing.ok and "does not know" in missing.what
    assert "pip install jupyterlab_widgets" in missing.fix

    write_extension(tmp_path / "labextensions", "3.0.1")
    stale = doctor.extension_check(labextensions_path=[str(tmp_path / "labextensions")], expected="5.0.16")
    assert not stale.ok and "3.0.1" in stale.what and "remove the stale copy" in stale.fix

    ok = doctor.extension_check(labextensions_path=[str(tmp_path / "labextensions")], expected="3.0.1")
    assert ok.ok, ok

    labconfig = tmp_path / "config" / "labconfig"
    labconfig.mkdir(parents=True)
    (labconfig / "page_config.json").write_text(json.dumps({"disabledExtensions": {EXT: True}}))
    disabled = doctor.extension_check(labextensions_path=[str(tmp_path / "labextensions")], expected="3.0.1")
    assert not disabled.ok and disabled.fix == f"jupyter labextension enable {EXT}"


@pytest.mark.parametrize("python, ok", [("3.9.18", False), ("3.10.0", True), ("3.13.1", True),
                                        ("3.14.0", False)])
def test_python_outside_the_supported_range_fails(python, ok):
    check = doctor.python_check(">=3.10,<3.14", python=python)
    assert check.ok is ok
    assert ">=3.10,<3.14" in check.what and (ok or "supported Python" in check.fix)


def test_packages_missing_or_outside_their_range_fail():
    checks = doctor.package_checks(
        ["torch>=2.13,<2.15", "numpy>=1.26", "tqdm>=4.66", "pytest>=8; extra == 'test'",
         "tomli>=2; python_version < '3'"],
        version=fake_versions(torch="2.12.1", tqdm="4.70.1"))
    assert [c.ok for c in checks] == [False, False, True]  # the extra and the marker do not apply
    assert "torch 2.12.1 is outside the tested range >=2.13,<2.15" in checks[0].what
    assert checks[0].fix == 'pip install "torch>=2.13,<2.15"'
    assert "numpy is not installed" in checks[1].what
