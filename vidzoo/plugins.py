"""Owns the PluginManager: entry-point loading, load switches, load errors, the registry.

Environment switches (names are distribution names such as ``vidzoo-torchvision``
or entry-point names; ``-`` and ``_`` are interchangeable):

- ``VIDZOO_LOAD_PLUGINS=a,b``: load only these plugin packages besides the built-ins
  (set but empty: only the built-ins).
- ``VIDZOO_DISABLE_PLUGINS=a,b``: skip these.
- ``VIDZOO_STRICT_PLUGINS=1``: a plugin that fails to load is an error, not a warning.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points

import pluggy

from vidzoo import hookspecs
from vidzoo.errors import PluginError
from vidzoo.registry import Registration, Registry, describe

GROUP = "vidzoo"
BUILTIN_PACKAGE = "vidzoo"
HOOK_KINDS = {
    "register_datasets": "dataset",
    "register_transforms": "transform",
    "register_backbones": "backbone",
}


@dataclass
class PluginInfo:
    name: str  # entry-point (or registration) name
    package: str
    version: str
    module: str
    hooks: list[str] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)  # "kind:name"
    error: str | None = None
    builtin: bool = False

    def as_dict(self) -> dict:
        return dict(self.__dict__)


_pm: pluggy.PluginManager | None = None
_registry: Registry | None = None
_infos: dict[str, PluginInfo] = {}
_extra: list[tuple[object, str]] = []  # plugins registered from Python, see register()


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _names_from_env(var: str) -> set[str] | None:
    value = os.environ.get(var)
    if value is None:
        return None
    return {_norm(n) for n in value.split(",") if n.strip()}


def _strict() -> bool:
    return os.environ.get("VIDZOO_STRICT_PLUGINS", "").strip().lower() in {"1", "true", "yes", "on"}


def _fail(info: PluginInfo, message: str) -> None:
    info.error = message
    if _strict():
        raise PluginError(f"plugin {info.name!r} from {info.package}: {message} (VIDZOO_STRICT_PLUGINS is set)")
    print(
        f"vidzoo: warning: plugin {info.name!r} from {info.package} {info.version} was skipped: {message}",
        file=sys.stderr,
    )


def _wanted(package: str, ep_name: str) -> bool:
    if package == BUILTIN_PACKAGE:
        return True
    keys = {_norm(package), _norm(ep_name)}
    only = _names_from_env("VIDZOO_LOAD_PLUGINS")
    if only is not None and not keys & only:
        return False
    disabled = _names_from_env("VIDZOO_DISABLE_PLUGINS") or set()
    return not keys & disabled


def get_plugin_manager() -> pluggy.PluginManager:
    global _pm
    if _pm is not None:
        return _pm
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    _infos.clear()
    # Built-ins first, so that a third-party duplicate is the one reported as the newcomer.
    eps = sorted(entry_points(group=GROUP), key=lambda ep: (ep.dist.name != BUILTIN_PACKAGE, ep.dist.name, ep.name))
    for ep in eps:
        package, version = ep.dist.name, ep.dist.version
        if not _wanted(package, ep.name):
            continue
        info = PluginInfo(ep.name, package, version, ep.value, builtin=package == BUILTIN_PACKAGE)
        if ep.name in _infos:
            _fail(info, f"entry-point name {ep.name!r} is also used by {_infos[ep.name].package}; rename one")
            _infos[f"{package}:{ep.name}"] = info
            continue
        _infos[ep.name] = info
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin must not take the CLI down
            _fail(info, f"import failed: {type(exc).__name__}: {exc}")
            continue
        try:
            pm.register(plugin, name=ep.name)
        except Exception as exc:
            _fail(info, f"registration failed: {type(exc).__name__}: {exc}")
    for plugin, name in _extra:
        _infos[name] = PluginInfo(name, "(registered in Python)", "", getattr(plugin, "__name__", repr(plugin)))
        pm.register(plugin, name=name)
    _pm = pm
    return pm


def get_registry() -> Registry:
    """The registry of every loaded plugin (loaded once per process)."""
    global _registry
    if _registry is not None:
        return _registry
    pm = get_plugin_manager()
    registry = Registry()
    for hook_name, kind in HOOK_KINDS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            info = _infos[impl.plugin_name]
            if info.error:
                continue
            info.hooks.append(hook_name)
            pending: list[Registration] = []

            def register(name, factory, description=None, _kind=kind, _info=info, _pending=pending, **metadata):
                _pending.append(
                    Registration(_kind, name, factory, describe(factory, description), _info.package,
                                 _info.version, _info.name, metadata)
                )

            try:
                impl.function(register=register)
            except Exception as exc:
                _fail(info, f"{hook_name} raised {type(exc).__name__}: {exc}")
                continue
            for reg in pending:
                try:
                    registry.add(reg)
                except PluginError as exc:
                    if _strict():
                        raise
                    print(f"vidzoo: warning: {exc}", file=sys.stderr)
                info.registered.append(f"{reg.kind}:{reg.name}")
    _registry = registry
    return registry


def plugin_infos() -> list[PluginInfo]:
    get_registry()
    return sorted(_infos.values(), key=lambda i: (not i.builtin, i.package, i.name))


def register(plugin: object, name: str) -> None:
    """Register a plugin object from Python (a notebook, a test) without packaging it."""
    _extra.append((plugin, name))
    reset()


def reset() -> None:
    """Forget loaded plugins; the next get_registry() loads them again."""
    global _pm, _registry
    _pm = None
    _registry = None
