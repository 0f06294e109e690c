"""`vidzoo new-plugin`: the skeletons install with real pip, pass their own tests unchanged, and what they register
runs in `vidzoo run` without any change to vidzoo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli

KINDS = {"backbone": "vidzoo-tinynet", "dataset": "vidzoo-mydata", "transform": "vidzoo-mytf"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("new-plugin")
    for kind, name in KINDS.items():
        result = run_cli("new-plugin", name, "--kind", kind, "--output", str(root))
        assert result.returncode == 0, result.stderr
        assert f"{kind} plugin registering" in result.stdout
    written = {name: sorted(str(p.relative_to(root / name)) for p in (root / name).rglob("*") if p.is_file())
               for name in KINDS.values()}
    site = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(site), *[str(root / n) for n in KINDS.values()]], check=True, capture_output=True)
    # After the skeletons, the PYTHONPATH this test runs under (a checkout that is not the installed vidzoo).
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    env = {"PYTHONPATH": path, "VIDZOO_LOAD_PLUGINS": ",".join(KINDS.values()), "VIDZOO_DISABLE_PLUGINS": ""}
    return root, env, written


def test_skeleton_has_the_pieces_of_a_plugin_package(installed):
    root, _, written = installed
    pkg = root / "vidzoo-tinynet"
    assert written["vidzoo-tinynet"] == [
        "README.md", "pyproject.toml", "tests/test_vidzoo_tinynet.py", "vidzoo_tinynet/__init__.py"]
    pyproject = (pkg / "pyproject.toml").read_text()
    assert '[project.entry-points.vidzoo]\nvidzoo_tinynet = "vidzoo_tinynet"' in pyproject
    assert 'check_backbone("tinynet")' in (pkg / "tests/test_vidzoo_tinynet.py").read_text()


STRICT = ["-W", "error::DeprecationWarning"]  # a new plugin starts life with no deprecated form


def test_skeletons_pass_their_own_tests_unchanged(installed):
    """Each kind's skeleton passes the conformance kit (its own test), with DeprecationWarnings as errors."""
    root, env, _ = installed
    tests = [str(root / name / "tests") for name in KINDS.values()]
    result = subprocess.run([sys.executable, *STRICT, "-m", "pytest", "-q", "-p", "no:cacheprovider", *STRICT, *tests],
                            capture_output=True, text=True, cwd=root, env={**os.environ, **env}, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "3 passed" in result.stdout


def test_skeletons_register_without_a_deprecation_warning(installed):
    _, env, _ = installed
    code = ("import json, vidzoo.plugins as p; r = p.get_registry(); "
            "print(json.dumps({i.package: [i.registered, i.problems, i.error] for i in r.infos.values()}))")
    result = subprocess.run([sys.executable, *STRICT, "-c", code], capture_output=True, text=True,
                            env={**os.environ, **env, "VIDZOO_STRICT_PLUGINS": "1"}, timeout=300)
    assert result.returncode == 0 and "Warning" not in result.stderr, result.stderr[-3000:]
    infos = json.loads(result.stdout)
    for kind, dist in KINDS.items():
        registered, problems, error = infos[dist]
        assert registered and registered[0].startswith(f"{kind}:") and not problems and error is None, infos[dist]


def test_installed_skeletons_are_listed_and_run(installed, tmp_path):
    root, env, _ = installed
    listed = json.loads(run_cli("list", "--json", env=env).stdout)
    assert {(r["kind"], r["name"], r["package"]) for r in listed} >= {
        ("backbone", "tinynet", "vidzoo-tinynet"), ("dataset", "mydata", "vidzoo-mydata"),
        ("transform", "mytf", "vidzoo-mytf")}
    plugins = {p["package"]: p for p in json.loads(run_cli("plugins", "--json", env=env).stdout)}
    assert plugins["vidzoo-mydata"]["entry_points"][0]["registered"] == ["dataset:mydata"]

    from vidzoo.testing import write_test_video

    data = tmp_path / "data"
    for split, count in (("train", 4), ("val", 2)):
        for label in ("left", "right"):
            for i in range(count):
                write_test_video(data / split / label / f"{label}{i}.mp4", seed=i + (10 if label == "left" else 0))
    result = run_cli("run", "--dataset", "mydata", "--dataset.data_path", str(data), "--backbone", "tinynet",
                     "--transform", "mytf", "--transform.num_frames", "4", "--transform.crop_size", "32",
                     "--backbone.width", "8", "--data.batch_size", "4", "--data.num_workers", "0",
                     "--trainer.max_epochs", "1", "--trainer.enable_progress_bar", "false",
                     "--trainer.enable_model_summary", "false", "--output", str(tmp_path / "runs"), env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert list((tmp_path / "runs").glob("*-mydata-tinynet/checkpoints/last.ckpt"))


@pytest.mark.parametrize("name, message", [
    ("9lives", "not a valid package name"),
    ("my plugin", "not a valid package name"),
    ("vidzoo", "cannot be called vidzoo"),
    ("vidzoo-class", "must be a Python identifier"),
])
def test_bad_names_are_refused_and_nothing_is_written(name, message, tmp_path):
    result = run_cli("new-plugin", name, "--output", str(tmp_path))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_not_overwritten(tmp_path):
    (tmp_path / "vidzoo-tinynet").mkdir()
    (tmp_path / "vidzoo-tinynet" / "mine.txt").write_text("keep")
    result = run_cli("new-plugin", "vidzoo-tinynet", "--output", str(tmp_path))
    assert result.returncode == 2 and "already exists" in result.stderr
    assert [p.name for p in (tmp_path / "vidzoo-tinynet").iterdir()] == ["mine.txt"]


def test_help_has_an_example():
    result = run_cli("new-plugin", "--help")
    assert result.returncode == 0 and "examples:" in result.stdout and "--kind" in result.stdout
