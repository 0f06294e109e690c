"""vidzoo: a plugin-style model zoo for video classification.

Importing vidzoo is cheap (no torch): the heavy parts load when used.
"""

from vidzoo import compat as _compat
from vidzoo.plugins.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["hookimpl", "list_models", "get_registry", "load", "__version__"]

_compat.install()


def get_registry():
    """The registry of all installed plugins (see vidzoo.plugins)."""
    from vidzoo.plugins import get_registry as _get

    return _get()


def list_models(pattern: str = "*") -> list[str]:
    """Backbone names matching a shell-style pattern, like timm.list_models('x3d*')."""
    return [r.name for r in get_registry().list("backbone", pattern)]


def load(checkpoint, device: str | None = None):
    """A trained checkpoint ready for inference: ``vidzoo.load(CKPT).predict("video.mp4").top``.

    Returns a vidzoo.evaluation.inference.Predictor (model, eval transform and class names rebuilt from
    the checkpoint alone); see docs/predict.md.
    """
    from vidzoo.evaluation.inference import load as _load

    return _load(checkpoint, device=device)
