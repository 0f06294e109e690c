"""The registry: what plugins registered, by kind and name."""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from dataclasses import dataclass
from typing import Any, Callable

from vidzoo.errors import PluginError, UnknownNameError

KINDS = ("dataset", "transform", "backbone")


@dataclass(frozen=True)
class Registration:
    kind: str
    name: str
    factory: Callable
    description: str
    package: str
    version: str
    plugin: str = ""  # entry-point name that registered it
    spec: Any = None  # ModelSpec / DatasetSpec / TransformSpec (vidzoo.plugins.specs)

    @classmethod
    def create(cls, kind: str, name: str, factory: Callable, description: str | None = None, spec=None,
               package: str = "", version: str = "", plugin: str = "", **keywords) -> "Registration":
        """A registration from what a plugin's ``register(name, factory, description, spec=...)`` got.

        A bad spec, or keywords in place of one, raise PluginError naming the plugin, in one line.
        """
        from vidzoo.plugins.specs import SPEC_TYPES

        where = f"{package} ({plugin})" if plugin else (package or "a plugin")
        spec_type = SPEC_TYPES.get(kind)
        if keywords:
            raise PluginError(f"{where}: {kind} {name!r}: register() takes spec={spec_type.__name__}(...), not "
                              f"keywords ({', '.join(sorted(keywords))}); see docs/plugins.md")
        if spec is None:
            spec = spec_type()  # every field has a default: a registration always has a spec
        try:
            if not isinstance(spec, spec_type):
                raise ValueError(f"spec must be a vidzoo {spec_type.__name__}, got {type(spec).__name__}")
            spec.validate()
        except (TypeError, ValueError) as exc:
            raise PluginError(f"{where}: {kind} {name!r} has a bad spec: {exc}") from None
        return cls(kind, name, factory, describe(factory, description), package, version, plugin, spec)

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly view (what `vidzoo list --json` prints)."""
        from vidzoo.plugins.specs import spec_as_json

        return {
            "kind": self.kind,
            "name": self.name,
            "description": self.description,
            "package": self.package,
            "version": self.version,
            "plugin": self.plugin,
            "spec": spec_as_json(self.spec),
        }


def describe(factory: Callable, description: str | None) -> str:
    if description:
        return description
    doc = inspect.getdoc(factory) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


class Registry:
    """Registrations by kind and name. ``vidzoo.plugins.get_registry()`` gives the process's default
    one; ``vidzoo.plugins.load_registry(...)`` builds new ones (this module knows no plugin manager)."""

    def __init__(self):
        self._entries: dict[str, dict[str, Registration]] = {k: {} for k in KINDS}
        self._conflicts: dict[tuple[str, str], list[Registration]] = {}
        self.infos: dict = {}  # plugin id -> vidzoo.plugins.PluginInfo (what each plugin did)

    def add(self, reg: Registration) -> None:
        if reg.kind not in KINDS:
            raise PluginError(f"unknown kind {reg.kind!r}; expected one of {', '.join(KINDS)}")
        if not reg.name or not isinstance(reg.name, str):
            raise PluginError(f"{reg.package}: a {reg.kind} was registered with an empty or non-string name")
        if not callable(reg.factory):
            raise PluginError(f"{reg.package}: {reg.kind} {reg.name!r} was registered with a factory that is not callable")
        key = (reg.kind, reg.name)
        existing = self._entries[reg.kind].get(reg.name)
        if existing is not None or key in self._conflicts:
            # Never last-one-wins: the name becomes unusable until one provider goes.
            others = self._conflicts.setdefault(key, [existing] if existing else [])
            others.append(reg)
            self._entries[reg.kind].pop(reg.name, None)
            raise PluginError(self.conflict_message(reg.kind, reg.name))
        self._entries[reg.kind][reg.name] = reg

    def conflict_message(self, kind: str, name: str) -> str:
        providers = " and ".join(f"{r.package} ({r.plugin})" for r in self._conflicts[(kind, name)])
        return (
            f"{kind} {name!r} is registered by both {providers}; uninstall one of them "
            f"or disable one with VIDZOO_DISABLE_PLUGINS"
        )

    def get(self, kind: str, name: str) -> Registration:
        if (kind, name) in self._conflicts:
            raise PluginError(self.conflict_message(kind, name))
        try:
            return self._entries[kind][name]
        except KeyError:
            pass
        close = difflib.get_close_matches(name, list(self._entries[kind]), n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        raise UnknownNameError(
            f"unknown {kind} {name!r}; {hint}`vidzoo list --kind {kind}` shows the {len(self._entries[kind])} available"
        )

    def conflicts(self) -> dict[tuple[str, str], list[Registration]]:
        """(kind, name) -> the registrations that claim it (the name is unusable until one goes)."""
        return {key: list(regs) for key, regs in self._conflicts.items()}

    def names(self, kind: str) -> list[str]:
        return sorted(self._entries[kind])

    def list(self, kind: str | None = None, pattern: str | None = None) -> list[Registration]:
        """Registrations sorted by kind then name; `pattern` is a shell-style wildcard (`x3d*`)."""
        kinds = [kind] if kind else list(KINDS)
        out = []
        for k in kinds:
            for name in sorted(self._entries[k]):
                if pattern is None or fnmatch.fnmatch(name, pattern):
                    out.append(self._entries[k][name])
        return out
