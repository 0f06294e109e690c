"""The registry: what plugins registered, by kind and name."""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from dataclasses import dataclass, field
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
    metadata: dict[str, Any] = field(default_factory=dict)  # the flat view of spec (or the keywords given)
    spec: Any = None  # ModelSpec / DatasetSpec / TransformSpec (vidzoo.plugins.specs)

    @classmethod
    def create(cls, kind: str, name: str, factory: Callable, description: str | None = None, spec=None,
               package: str = "", version: str = "", plugin: str = "", **metadata) -> "Registration":
        """A registration from what a plugin's ``register(name, factory, description, spec=...)`` got.

        Without ``spec`` the ``**metadata`` keywords (the older form) are read into one. A bad
        spec raises PluginError naming the plugin, in one line.
        """
        from vidzoo.plugins.specs import SPEC_TYPES, spec_from_metadata

        where = f"{package} ({plugin})" if plugin else (package or "a plugin")
        try:
            if spec is None:
                spec = spec_from_metadata(kind, metadata) if kind in SPEC_TYPES else None
                if metadata:
                    import warnings

                    warnings.warn(f"{where}: register({name!r}, ..., **metadata) is deprecated; pass "
                                  f"spec={SPEC_TYPES[kind].__name__}(...) (vidzoo.plugins.specs, docs/plugins.md)",
                                  DeprecationWarning, stacklevel=3)
            elif metadata:
                raise ValueError(f"give spec= or metadata keywords ({', '.join(sorted(metadata))}), not both")
            elif kind in SPEC_TYPES and not isinstance(spec, SPEC_TYPES[kind]):
                raise ValueError(f"spec must be a vidzoo {SPEC_TYPES[kind].__name__}, got {type(spec).__name__}")
            else:
                metadata = spec.metadata()
            if spec is not None:
                spec.validate()
        except (TypeError, ValueError) as exc:
            raise PluginError(f"{where}: {kind} {name!r} has a bad spec: {exc}") from None
        return cls(kind, name, factory, describe(factory, description), package, version, plugin, metadata, spec)

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
            "metadata": {k: v for k, v in self.metadata.items() if _jsonable(v)},
            "spec": spec_as_json(self.spec) if self.spec is not None else None,
        }


def _jsonable(value) -> bool:
    return isinstance(value, (str, int, float, bool, type(None), list, tuple, dict))


def describe(factory: Callable, description: str | None) -> str:
    if description:
        return description
    doc = inspect.getdoc(factory) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


class Registry:
    """Registrations by kind and name. ``get_registry()`` gives the process's default one;
    ``Registry.from_entry_points()`` and ``Registry.from_plugins(...)`` build new ones."""

    def __init__(self):
        self._entries: dict[str, dict[str, Registration]] = {k: {} for k in KINDS}
        self._conflicts: dict[tuple[str, str], list[Registration]] = {}
        self.infos: dict = {}  # plugin id -> vidzoo.plugins.PluginInfo (what each plugin did)

    @classmethod
    def from_entry_points(cls, plugins=()) -> "Registry":
        """The installed plugins (entry-point group ``vidzoo``, load switches applied) and the
        given ``(plugin, name)`` pairs."""
        from vidzoo.plugins import load_registry

        return load_registry(plugins)

    @classmethod
    def from_plugins(cls, *plugins) -> "Registry":
        """Only the given plugins (objects or modules with ``@vidzoo.hookimpl`` hooks)."""
        from vidzoo.plugins import load_registry

        return load_registry([(p, getattr(p, "__name__", f"plugin{i}")) for i, p in enumerate(plugins)],
                             entry_points=False)

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


def call_factory(kind: str, name: str, factory: Callable, *args, **options):
    """factory(*args, **options), an unknown option being a one-line error listing the known ones."""
    from vidzoo.errors import VidzooError

    params = inspect.signature(factory).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    unknown = sorted(set(options) - set(params)) if not takes_any else []
    if unknown:
        known = [p for p in params if p not in ("split", "transform", "num_classes")]
        raise VidzooError(f"{kind} {name!r} has no option(s) {', '.join(unknown)}; its options: "
                          f"{', '.join(known) or 'none'}")
    return factory(*args, **options)
