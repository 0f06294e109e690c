"""Plugin management with real pip-installed packages: `vidzoo plugins`, broken plugins, load switches,
duplicate names, `vidzoo list` filters. Each scenario runs the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import run_cli

PACKAGES = {
    # A plugin whose module fails to import.
    "vidzoo-broken-import": "import no_such_module_xyz\n",
    # A plugin whose backbone hook raises; its transform hook works.
    "vidzoo-broken-hook": """
        from vidzoo.plugins.hookspecs import hookimpl

        def okpreset(split: str):
            return lambda sample: sample

        @hookimpl
        def register_transforms(register):
            register("okpreset", okpreset)

        @hookimpl
        def register_backbones(register):
            raise RuntimeError("cannot reach the model server")
        """,
    # A good plugin.
    "vidzoo-good": """
        from vidzoo import ModelSpec, hookimpl

        def goodnet(num_classes: int = 400):
            \"\"\"A good little net.\"\"\"
            import torch.nn as nn
            return nn.Sequential(nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(3, num_classes))

        @hookimpl
        def register_backbones(register):
            register("goodnet", goodnet, spec=ModelSpec(extra={"params_m": "n/a"}))
        """,
    # Registers names that the built-ins and vidzoo-good already use.
    "vidzoo-dup": """
        from vidzoo.plugins.hookspecs import hookimpl

        def other(num_classes: int = 400):
            import torch.nn as nn
            return nn.Linear(3, num_classes)

        @hookimpl
        def register_backbones(register):
            register("resnet3d50", other)
            register("goodnet", other)
        """,
}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The four packages, pip-installed (real wheels, entry points) into one folder put on PYTHONPATH."""
    root = tmp_path_factory.mktemp("plugin-packages")
    for dist, code in PACKAGES.items():
        module = dist.replace("-", "_")
        pkg = root / "src" / dist
        (pkg / module).mkdir(parents=True)
        (pkg / module / "__init__.py").write_text(textwrap.dedent(code))
        (pkg / "pyproject.toml").write_text(textwrap.dedent(f"""
            [build-system]
            requires = ["setuptools>=68"]
            build-backend = "setuptools.build_meta"
            [project]
            name = "{dist}"
            version = "1.2.3"
            [project.entry-points.vidzoo]
            {module} = "{module}"
            [tool.setuptools]
            packages = ["{module}"]
            """))
    target = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(target), *[str(root / "src" / d) for d in PACKAGES]], check=True, capture_output=True)
    return target


def vidzoo(site: Path, *args: str, load: str | None = None, **env: str) -> subprocess.CompletedProcess:
    """`python -m vidzoo ARGS` with the packages on PYTHONPATH; load=None leaves VIDZOO_LOAD_PLUGINS unset."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("VIDZOO_LOAD_PLUGINS", "VIDZOO_DISABLE_PLUGINS", "VIDZOO_STRICT_PLUGINS")}
    full = {**base, "PYTHONPATH": str(site), **env}
    if load is not None:
        full["VIDZOO_LOAD_PLUGINS"] = load
    return subprocess.run([sys.executable, "-m", "vidzoo", *args], capture_output=True, text=True, env=full,
                          timeout=300)


def packages_of(result) -> dict:
    return {p["package"]: p for p in json.loads(result.stdout)}


def test_plugins_lists_each_package_with_version_entry_point_hooks_and_registrations(site):
    result = vidzoo(site, "plugins", "--json", load="vidzoo-good,vidzoo-broken-hook")
    assert result.returncode == 0, result.stderr
    pkgs = packages_of(result)
    good = pkgs["vidzoo-good"]
    assert good["version"] == "1.2.3" and not good["builtin"]
    ep = good["entry_points"][0]
    assert (ep["name"], ep["module"], ep["status"]) == ("vidzoo_good", "vidzoo_good", "loaded")
    assert ep["hooks"] == ["register_backbones"] and ep["registered"] == ["backbone:goodnet"]
    assert pkgs["vidzoo"]["builtin"] and "backbone:resnet3d50" in str(pkgs["vidzoo"])
    text = vidzoo(site, "plugins", load="vidzoo-good")
    assert "vidzoo-good 1.2.3\n  vidzoo_good = vidzoo_good  [loaded]\n    hooks: register_backbones\n" \
           "    backbones (1): goodnet" in text.stdout


def test_a_plugin_that_fails_to_import_is_reported_once_and_the_rest_works(site):
    result = vidzoo(site, "list", "--kind", "backbone", load="vidzoo-broken-import,vidzoo-good")
    assert result.returncode == 0
    assert "goodnet" in result.stdout and "resnet3d50" in result.stdout
    warnings = [line for line in result.stderr.splitlines() if "vidzoo-broken-import" in line]
    assert len(warnings) == 1, result.stderr
    assert "import failed: ModuleNotFoundError: No module named 'no_such_module_xyz'" in warnings[0]

    plugins = vidzoo(site, "plugins", "--json", load="vidzoo-broken-import")
    assert plugins.returncode == 0
    ep = packages_of(plugins)["vidzoo-broken-import"]["entry_points"][0]
    assert ep["status"] == "error" and "no_such_module_xyz" in ep["error"]
    assert plugins.stderr.count("vidzoo-broken-import") == 1


def test_a_plugin_whose_hook_raises_is_reported_and_its_other_hooks_still_count(site):
    result = vidzoo(site, "plugins", load="vidzoo-broken-hook")
    assert result.returncode == 0
    assert "register_backbones raised RuntimeError: cannot reach the model server" in result.stdout
    assert result.stderr.count("cannot reach the model server") == 1
    assert "1 plugin(s) failed to load" in result.stdout
    listed = vidzoo(site, "list", "--json", load="vidzoo-broken-hook")
    assert "okpreset" in {r["name"] for r in json.loads(listed.stdout)}


def test_strict_mode_turns_plugin_errors_into_an_error(site):
    for load in ("vidzoo-broken-import", "vidzoo-broken-hook"):
        result = vidzoo(site, "list", load=load, VIDZOO_STRICT_PLUGINS="1")
        assert result.returncode == 2, (load, result.stdout)
        assert load in result.stderr and "VIDZOO_STRICT_PLUGINS" in result.stderr
        assert "Traceback" not in result.stderr


def test_duplicate_names_are_an_error_naming_both_packages_not_last_one_wins(site):
    result = vidzoo(site, "list", "--kind", "backbone", "--json", load="vidzoo-good,vidzoo-dup")
    assert result.returncode == 0
    rows = json.loads(result.stdout)
    for name, packages in (("goodnet", ["vidzoo-dup", "vidzoo-good"]), ("resnet3d50", ["vidzoo", "vidzoo-dup"])):
        claims = [r for r in rows if r["name"] == name]
        assert sorted(r["package"] for r in claims) == packages  # both listed ...
        assert all("registered by both" in r["conflict"] for r in claims)  # ... as unusable: neither wins silently
    assert all("conflict" not in r for r in rows if r["name"] not in ("goodnet", "resnet3d50"))
    assert "backbone 'goodnet' is registered by both vidzoo-dup (vidzoo_dup) and vidzoo-good (vidzoo_good)" \
        in result.stderr
    assert "backbone 'resnet3d50' is registered by both vidzoo (resnet3d) and vidzoo-dup (vidzoo_dup)" \
        in result.stderr

    run = vidzoo(site, "run", "--dataset", "kinetics", "--backbone", "goodnet", "--help", load="vidzoo-good,vidzoo-dup")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "vidzoo-dup" in run.stderr and "vidzoo-good" in run.stderr and "VIDZOO_DISABLE_PLUGINS" in run.stderr

    plugins = packages_of(vidzoo(site, "plugins", "--json", load="vidzoo-good,vidzoo-dup"))
    problems = plugins["vidzoo-good"]["entry_points"][0]["problems"]
    assert any("registered by both" in p for p in problems)

    strict = vidzoo(site, "list", load="vidzoo-good,vidzoo-dup", VIDZOO_STRICT_PLUGINS="1")
    assert strict.returncode == 2 and "registered by both" in strict.stderr


def test_disabling_one_duplicate_makes_the_other_usable(site):
    result = vidzoo(site, "list", "goodnet", "--json", load="vidzoo-good,vidzoo-dup", VIDZOO_DISABLE_PLUGINS="vidzoo_dup")
    assert [(r["name"], r["package"]) for r in json.loads(result.stdout)] == [("goodnet", "vidzoo-good")]
    assert result.stderr == ""


def test_load_plugins_empty_means_only_the_builtins(site):
    result = vidzoo(site, "list", "--json", load="")
    assert result.returncode == 0 and result.stderr == ""
    assert {r["package"] for r in json.loads(result.stdout)} == {"vidzoo"}
    plugins = packages_of(vidzoo(site, "plugins", "--json", load=""))
    assert plugins["vidzoo-good"]["entry_points"][0]["status"] == "disabled"
    assert plugins["vidzoo-good"]["entry_points"][0]["disabled"] == "not named in VIDZOO_LOAD_PLUGINS"


# vidzoo's own: the 3D ResNet-50 and the heads on cached features (vidzoo embed)
BUILTIN_BACKBONES = {"resnet3d50", "linear", "mlp"}


def test_load_plugins_takes_distribution_or_entry_point_names(site):
    for name in ("vidzoo-good", "vidzoo_good", "VIDZOO-GOOD"):
        result = vidzoo(site, "list", "--kind", "backbone", "--json", load=name)
        assert {r["name"] for r in json.loads(result.stdout)} == {*BUILTIN_BACKBONES, "goodnet"}, name


def test_disable_plugins_skips_the_named_ones(site):
    result = vidzoo(site, "list", "--json", VIDZOO_DISABLE_PLUGINS="vidzoo-broken-import,vidzoo-broken-hook,vidzoo-dup")
    assert result.returncode == 0
    assert "goodnet" in {r["name"] for r in json.loads(result.stdout)}
    assert "vidzoo-broken" not in result.stderr and "registered by both" not in result.stderr


def test_list_filters_by_kind_and_wildcards(site):
    result = vidzoo(site, "list", "--kind", "backbone", load="vidzoo-good")
    rows = result.stdout.splitlines()[1:]
    assert {row.split()[1] for row in rows} == {"goodnet", *BUILTIN_BACKBONES}
    assert "[n/aM params]" in result.stdout  # a spec value that is not a number does not break the table
    only = vidzoo(site, "list", "GOOD*", "res*", "--json", load="vidzoo-good")
    assert sorted(r["name"] for r in json.loads(only.stdout)) == ["goodnet", "resnet3d50"]
    kinetics = vidzoo(site, "list", "kin*", "--kind", "transform", "--json", load="vidzoo-good")
    assert [(r["kind"], r["name"]) for r in json.loads(kinetics.stdout)] == [("transform", "kinetics")]
    none = vidzoo(site, "list", "zzz*", load="vidzoo-good")
    assert none.returncode == 0 and "nothing registered matches 'zzz*'" in none.stdout


def test_plugins_help_documents_the_switches():
    result = run_cli("plugins", "--help")
    assert result.returncode == 0
    for switch in ("VIDZOO_LOAD_PLUGINS", "VIDZOO_DISABLE_PLUGINS", "VIDZOO_STRICT_PLUGINS", "examples:"):
        assert switch in result.stdout
