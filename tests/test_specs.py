"""Typed specs: validated at registration (one line naming the plugin), the older **metadata
form read into one, `vidzoo list --json` prints them; the registry as an object."""

from __future__ import annotations

import json
import warnings

import pytest

import vidzoo
from vidzoo import plugins
from vidzoo.plugins.specs import DatasetSpec, InputConfig, ModelSpec, Weights


class _Good:
    @vidzoo.hookimpl
    def register_backbones(self, register):
        register("spec-net", lambda num_classes: None, "typed", spec=ModelSpec(
            input=InputConfig(frames=4, crop_size=32, min_input=[2, 8, 8]),
            weights={"K400": Weights("https://example.invalid/w.pth", sha256="a" * 64)},
            figures={"params_m": 0.5}, extra={"paper": "2026"}))


class _Bad:
    @vidzoo.hookimpl
    def register_backbones(self, register):
        register("bad-net", lambda num_classes: None, spec=ModelSpec(input=InputConfig(frames=0)))
        register("bad-mean", lambda num_classes: None, spec=ModelSpec(input=InputConfig(mean=(0.5, 0.5))))


class _Legacy:
    @vidzoo.hookimpl
    def register_datasets(self, register):
        register("legacy-data", lambda split, transform=None: None, transform="kinetics", official_classes=3)


def test_a_typed_spec_travels_with_the_registration(monkeypatch):
    monkeypatch.setenv("VIDZOO_LOAD_PLUGINS", "")
    with plugins.registered(_Good(), "good") as registry:
        reg = registry.get("backbone", "spec-net")
        assert reg.spec.input.min_input == (2, 8, 8)  # lists become tuples
        assert reg.spec.default.url.endswith("w.pth")
        assert {n: w.url for n, w in reg.spec.weights.items()} == {"K400": "https://example.invalid/w.pth"}
        assert reg.spec.extra["paper"] == "2026" and reg.spec.input.frames == 4
        assert reg.summary()["spec"]["input"]["frames"] == 4  # what `vidzoo list --json` prints
    assert "spec-net" not in [r.name for r in plugins.get_registry().list("backbone")]


def test_a_bad_spec_is_one_line_naming_the_plugin(monkeypatch):
    monkeypatch.setenv("VIDZOO_LOAD_PLUGINS", "")
    with plugins.registered(_Bad(), "bad") as registry:
        names = [r.name for r in registry.list("backbone")]
        assert "bad-net" not in names and "bad-mean" not in names
        problems = registry.infos["(python):bad"].problems
    assert len(problems) == 2 and all("\n" not in p for p in problems)
    assert "(bad): backbone 'bad-net' has a bad spec: frames must be a positive int, got 0" in problems[0]
    assert "mean must be 3 numbers" in problems[1]


def test_a_bad_spec_is_fatal_when_strict(monkeypatch):
    from vidzoo.errors import PluginError

    monkeypatch.setenv("VIDZOO_LOAD_PLUGINS", "")
    monkeypatch.setenv("VIDZOO_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="bad-net.*bad spec"):
        plugins.load_registry([(_Bad(), "bad")], entry_points=False)


def test_metadata_keywords_are_refused_in_one_line_naming_the_spec(monkeypatch):
    from vidzoo.errors import PluginError

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DeprecationWarning: the keyword form is gone, not deprecated
        registry = plugins.load_registry([(_Legacy(), "legacy")], entry_points=False)
    assert "legacy-data" not in registry.names("dataset")
    (problem,) = registry.infos["(python):legacy"].problems
    assert "\n" not in problem
    assert "dataset 'legacy-data': register() takes spec=DatasetSpec(...), not keywords (official_classes, transform)" \
        in problem
    monkeypatch.setenv("VIDZOO_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="not keywords"):
        plugins.load_registry([(_Legacy(), "legacy")], entry_points=False)


def test_a_registration_without_a_spec_gets_the_empty_spec_of_its_kind():
    class _Plain:
        @vidzoo.hookimpl
        def register_datasets(self, register):
            register("plain-data", lambda split, transform=None: None)

    reg = plugins.load_registry([(_Plain(), "plain")], entry_points=False).get("dataset", "plain-data")
    assert reg.spec == DatasetSpec()


def test_a_registry_of_given_plugins_holds_only_those():
    registry = plugins.load_registry([(_Good(), "good")], entry_points=False)
    assert [r.name for r in registry.list()] == ["spec-net"]
    assert registry is not plugins.get_registry()


def test_unregister_of_an_unknown_name_says_what_is_registered():
    from vidzoo.errors import PluginError

    with pytest.raises(PluginError, match="no plugin named 'nope'"):
        plugins.unregister("nope")


def test_list_json_prints_the_specs():
    from conftest import run_cli

    result = run_cli("list", "--json", "r3d_18", "--kind", "backbone")
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    spec = row["spec"]
    assert spec["input"]["frames"] == 16 and spec["input"]["min_input"] == [2, 16, 16]
    assert spec["weights"]["KINETICS400_V1"]["url"].endswith("r3d_18-b3b3357e.pth")
    assert spec["figures"]["kinetics400_top1"] == 63.2 and len(spec["categories"]) == 400


class _ClaimA:
    @vidzoo.hookimpl
    def register_backbones(self, register):
        register("twin-net", lambda num_classes: None, "from A")


class _ClaimB:
    @vidzoo.hookimpl
    def register_backbones(self, register):
        register("twin-net", lambda num_classes: None, "from B")


def test_list_shows_both_claims_of_a_conflicting_name_with_the_fix(monkeypatch, capsys):
    from vidzoo.cli import main

    monkeypatch.setenv("VIDZOO_LOAD_PLUGINS", "")
    with plugins.registered(_ClaimA(), "claim-a"), plugins.registered(_ClaimB(), "claim-b"):
        assert main(["list", "TWIN*"]) == 0
        out = capsys.readouterr().out
        assert main(["list", "twin-net", "--json"]) == 0
        rows = json.loads(capsys.readouterr().out)
    lines = [line for line in out.splitlines() if "twin-net" in line]
    assert len(lines) == 2 and all("CONFLICT: backbone 'twin-net' is registered by both" in line for line in lines)
    assert all("VIDZOO_DISABLE_PLUGINS" in line for line in lines)
    assert len(rows) == 2 and all("registered by both" in r["conflict"] for r in rows)
