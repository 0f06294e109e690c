"""vidzoo: a plugin-style model zoo for video classification.

Importing vidzoo is cheap (no torch): the heavy parts load when used.
"""

from vidzoo import compat as _compat
from vidzoo.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["hookimpl", "list_models", "get_registry", "__version__"]

_compat.install()


def get_registry():
    """The registry of all installed plugins (see vidzoo.plugins)."""
    from vidzoo.plugins import get_registry as _get

    return _get()


def list_models(pattern: str = "*") -> list[str]:
    """Backbone names matching a shell-style pattern, like timm.list_models('x3d*')."""
    return [r.name for r in get_registry().list("backbone", pattern)]
