"""The registry: registrations, unique names, close-match errors, wildcard listing."""

from __future__ import annotations

import pytest

from vidzoo.errors import PluginError, UnknownNameError
from vidzoo.plugins.registry import Registration, Registry, describe


def _reg(kind="backbone", name="net", package="pkg-a", factory=None):
    return Registration(kind, name, factory or (lambda num_classes: None), "d", package, "1.0", package)


def test_get_returns_what_was_added_with_its_provider():
    r = Registry()
    r.add(_reg(name="x3d_s", package="zoo"))
    got = r.get("backbone", "x3d_s")
    assert (got.package, got.version, got.kind) == ("zoo", "1.0", "backbone")


def test_same_name_in_another_kind_is_fine():
    r = Registry()
    r.add(_reg(kind="dataset", name="kinetics"))
    r.add(_reg(kind="transform", name="kinetics"))
    assert r.get("dataset", "kinetics").kind == "dataset"


def test_duplicate_name_is_an_error_naming_both_packages_and_never_last_one_wins():
    r = Registry()
    r.add(_reg(package="first-pkg"))
    with pytest.raises(PluginError, match="first-pkg.*second-pkg"):
        r.add(_reg(package="second-pkg"))
    with pytest.raises(PluginError, match="first-pkg.*second-pkg"):
        r.get("backbone", "net")
    assert "net" not in r.names("backbone")


def test_unknown_name_suggests_close_matches_and_the_list_command():
    r = Registry()
    for n in ("resnet3d50", "x3d_s", "x3d_m"):
        r.add(_reg(name=n))
    with pytest.raises(UnknownNameError) as exc:
        r.get("backbone", "resnet3d5")
    message = str(exc.value)
    assert "'resnet3d50'" in message and "vidzoo list --kind backbone" in message
    assert "\n" not in message


def test_list_filters_by_kind_and_wildcard():
    r = Registry()
    for n in ("x3d_s", "x3d_m", "slowfast_r50"):
        r.add(_reg(name=n))
    r.add(_reg(kind="dataset", name="x3d_data"))
    assert [x.name for x in r.list("backbone", "x3d*")] == ["x3d_m", "x3d_s"]
    assert [x.name for x in r.list(pattern="x3d*")] == ["x3d_data", "x3d_m", "x3d_s"]


def test_factory_must_be_callable_and_name_non_empty():
    r = Registry()
    with pytest.raises(PluginError, match="not callable"):
        r.add(_reg(factory="nope"))
    with pytest.raises(PluginError, match="empty"):
        r.add(_reg(name=""))


def test_description_defaults_to_the_first_docstring_line():
    def factory(num_classes: int):
        """A small model.

        More text."""

    assert describe(factory, None) == "A small model."
    assert describe(factory, "given") == "given"


def test_builtins_come_from_vidzoos_own_entry_points():
    from importlib.metadata import entry_points

    from vidzoo.plugins import get_registry

    eps = {ep.value for ep in entry_points(group="vidzoo") if ep.dist.name == "vidzoo"}
    registry = get_registry()
    for kind, name in (("dataset", "kinetics"), ("transform", "kinetics"), ("backbone", "resnet3d50")):
        reg = registry.get(kind, name)
        assert reg.package == "vidzoo"
        assert reg.factory.__module__ in eps
