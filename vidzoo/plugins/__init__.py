"""The plugin system: the PluginManager (entry-point loading, load switches, load errors, the
registry) and the building blocks plugin packages use.

Plugin packages import from ``vidzoo`` (``hookimpl``, the specs) and from here, never from vidzoo's
internal modules, which may move (docs/plugins.md, "What a plugin may import"). The building
blocks are imported on first use, so that ``import vidzoo.plugins`` does not import torch::

    from vidzoo.plugins import ClipDataset, kinetics_transform, preset

Environment switches (names are distribution names such as ``vidzoo-torchvision``
or entry-point names; ``-`` and ``_`` are interchangeable):

- ``VIDZOO_LOAD_PLUGINS=a,b``: load only these plugin packages besides the built-ins
  (set but empty: only the built-ins).
- ``VIDZOO_DISABLE_PLUGINS=a,b``: skip these.
- ``VIDZOO_STRICT_PLUGINS=1``: a plugin that fails to load is an error, not a warning.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from importlib.metadata import entry_points

import pluggy

from vidzoo.plugins import hookspecs
from vidzoo.errors import PluginError
from vidzoo.messages import debug, warn
from vidzoo.plugins.registry import Registration, Registry

# The building blocks for plugin authors: name -> (module, attribute), imported on first use.
# Inside vidzoo, code imports them from their own modules (the layer rules, docs/architecture.md).
_AUTHOR_API = {
    "kinetics_transform": ("vidzoo.default_plugins.kinetics_transforms", "kinetics_transform"),
    "published_transform": ("vidzoo.default_plugins.kinetics_transforms", "published_transform"),
    "pack_pathways": ("vidzoo.default_plugins.published", "pack_pathways"),
    "preset": ("vidzoo.data.presets", "preset"),
    "ClipDataset": ("vidzoo.data.clips", "ClipDataset"),
    "ClampedAvgPool3d": ("vidzoo.models.layers", "ClampedAvgPool3d"),
    "safe_load": ("vidzoo.io", "safe_load"),
    "say": ("vidzoo.messages", "say"),
    "download_weights": ("vidzoo.models.hub", "download"),
    "resolve_weights": ("vidzoo.models.hub", "resolve_source"),
    "load_state_dict_into": ("vidzoo.models.state_dict", "load_state_dict_into"),
    "extract_state_dict": ("vidzoo.models.state_dict", "extract_state_dict"),
    "LoadReport": ("vidzoo.models.state_dict", "LoadReport"),
    # vidzoo's loader for a file or URL, for a spec's load_weights hook (weights load centrally, in the model layer)
    "load_pretrained": ("vidzoo.models.state_dict", "load_pretrained"),
    # the shipped class names of published heads (ModelSpec.categories=label_set("kinetics400"))
    "label_set": ("vidzoo.plugins.labels", "label_set"),
}


def __getattr__(name: str):
    if name in _AUTHOR_API:
        import importlib

        module, attribute = _AUTHOR_API[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'vidzoo.plugins' has no attribute {name!r}")


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
    disabled: str | None = None  # why VIDZOO_LOAD_PLUGINS / VIDZOO_DISABLE_PLUGINS skipped it
    problems: list[str] = field(default_factory=list)  # registrations refused (duplicate names, bad factories)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


_default: Registry | None = None  # get_registry()'s cache
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
    warn(f"vidzoo: warning: plugin {info.name!r} from {info.package} {info.version} was skipped: {message}")


def _why_skipped(package: str, ep_name: str) -> str | None:
    """None when the plugin is to be loaded, else the reason (a load switch names it or leaves it out)."""
    if package == BUILTIN_PACKAGE:
        return None
    keys = {_norm(package), _norm(ep_name)}
    only = _names_from_env("VIDZOO_LOAD_PLUGINS")
    if only is not None and not keys & only:
        return "not named in VIDZOO_LOAD_PLUGINS"
    disabled = _names_from_env("VIDZOO_DISABLE_PLUGINS") or set()
    if keys & disabled:
        return "named in VIDZOO_DISABLE_PLUGINS"
    return None


def _entry_points() -> list:
    eps = []
    for ep in entry_points(group=GROUP):
        dist = getattr(ep, "dist", None)
        eps.append((dist.name if dist else "(unknown package)", dist.version if dist else "", ep))
    # Built-ins first, so that a third-party duplicate is the one reported as the newcomer.
    return sorted(eps, key=lambda t: (t[0] != BUILTIN_PACKAGE, t[0], t[2].name))


def plugin_manager(plugins=(), entry_points: bool = True) -> tuple[pluggy.PluginManager, dict[str, PluginInfo]]:
    """A new PluginManager with the installed entry points (unless entry_points=False) and
    the given ``(plugin, name)`` pairs registered, and what was found about each plugin."""
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    infos: dict[str, PluginInfo] = {}
    for package, version, ep in (_entry_points() if entry_points else []):
        # Plugin ids are package-qualified: two packages may use the same entry-point name.
        key = f"{package}:{ep.name}"
        info = PluginInfo(ep.name, package, version, ep.value, builtin=package == BUILTIN_PACKAGE)
        if key in infos:  # the same distribution seen twice on sys.path: the first one wins, like imports
            continue
        infos[key] = info
        info.disabled = _why_skipped(package, ep.name)
        if info.disabled:
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin must not take the CLI down
            _fail(info, f"import failed: {type(exc).__name__}: {exc}")
            continue
        try:
            pm.register(plugin, name=key)
        except Exception as exc:
            _fail(info, f"registration failed: {type(exc).__name__}: {exc}")
            continue
        debug(f"vidzoo: plugin {ep.name!r} from {package} {version} loaded ({ep.value})")
    for plugin, name in plugins:
        key = f"(python):{name}"
        infos[key] = PluginInfo(name, "(registered in Python)", "", getattr(plugin, "__name__", repr(plugin)))
        pm.register(plugin, name=key)
    return pm, infos


def get_registry() -> Registry:
    """The registry of every installed plugin and those given to register(), loaded once per
    process (reset() or register()/unregister() load it again)."""
    global _default
    if _default is None:
        _default = load_registry(_extra)
    return _default


def load_registry(plugins=(), entry_points: bool = True) -> Registry:
    """A new Registry from the installed entry points (unless entry_points=False) and the
    given ``(plugin, name)`` pairs: ``load_registry([(obj, "mine")], entry_points=False)`` holds
    only that plugin's registrations."""
    pm, infos = plugin_manager(plugins, entry_points)
    registry = Registry()
    registry.infos = infos
    for hook_name, kind in HOOK_KINDS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():  # in registration order: built-ins first
            info = infos[impl.plugin_name]
            if info.error:
                continue
            info.hooks.append(hook_name)
            pending: list[Registration] = []

            def register(name, factory, description=None, spec=None, _kind=kind, _info=info, _pending=pending,
                         **keywords):
                try:
                    _pending.append(Registration.create(_kind, name, factory, description, spec, _info.package,
                                                        _info.version, _info.name, **keywords))
                except PluginError as exc:
                    _pending.append(exc)  # reported like a duplicate name: this one registration is refused

            try:
                impl.function(register=register)
            except Exception as exc:
                _fail(info, f"{hook_name} raised {type(exc).__name__}: {exc}")
                continue
            for reg in pending:
                try:
                    if isinstance(reg, PluginError):
                        raise reg
                    registry.add(reg)
                except PluginError as exc:
                    if _strict():
                        raise PluginError(f"{exc} (VIDZOO_STRICT_PLUGINS is set)") from None
                    info.problems.append(str(exc))
                    warn(f"vidzoo: warning: {exc}")
                    continue
                info.registered.append(f"{reg.kind}:{reg.name}")
    # A name two plugins registered is unusable: the first one's entry says so too.
    for (kind, name), regs in registry.conflicts().items():
        for reg in regs:
            for info in infos.values():
                if info.package == reg.package and info.name == reg.plugin:
                    message = registry.conflict_message(kind, name)
                    if f"{kind}:{name}" in info.registered:
                        info.registered.remove(f"{kind}:{name}")
                    if message not in info.problems:
                        info.problems.append(message)
    return registry


def plugin_infos() -> list[PluginInfo]:
    return sorted(get_registry().infos.values(), key=lambda i: (not i.builtin, i.package, i.name))


def register(plugin: object, name: str) -> None:
    """Register a plugin object (any object or module with @vidzoo.hookimpl functions) from
    Python (a notebook, a test) without packaging it; unregister(name) takes it out again."""
    _extra.append((plugin, name))
    reset()


def unregister(name: str) -> None:
    """Take out a plugin that register() added; unknown names are an error."""
    if not any(n == name for _, n in _extra):
        raise PluginError(f"no plugin named {name!r} was registered from Python; "
                          f"registered: {', '.join(n for _, n in _extra) or 'none'}")
    _extra[:] = [(p, n) for p, n in _extra if n != name]
    reset()


@contextlib.contextmanager
def registered(plugin: object, name: str):
    """``with vidzoo.plugins.registered(obj, "name"):`` the plugin is registered inside the block."""
    register(plugin, name)
    try:
        yield get_registry()
    finally:
        unregister(name)


def reset() -> None:
    """Forget the loaded registry; the next get_registry() loads the plugins again."""
    global _default
    _default = None
