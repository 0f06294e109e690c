"""Makes pytorchvideo 0.1.5 (its last release) import on current torchvision.

pytorchvideo.transforms imports ``torchvision.transforms.functional_tensor``, which
torchvision renamed to ``_functional_tensor`` (0.17) and then removed. ``install()``
adds an import alias for the old name; it costs nothing until something imports it,
and it is done by ``import vidzoo``, so the tutorial recipe's own imports work after that.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

_ALIASES = {"torchvision.transforms.functional_tensor": "torchvision.transforms._functional_tensor"}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        return importlib.import_module(self.target)

    def exec_module(self, module):
        pass


class _QuietLoader(importlib.abc.Loader):
    """Runs a pytorchvideo module with torch's `torch.jit.script` deprecation warning ignored.

    pytorchvideo decorates some modules with torch.jit.script at import; torch >= 2.10 warns
    about it on every import (two lines of noise before any CLI output, even a one-line error).
    The filter holds only while that module executes: no process-wide warnings change.
    """

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"`torch\.jit\.script(_method)?` is deprecated",
                                    category=FutureWarning)
            self.loader.exec_module(module)

    def __getattr__(self, name):  # get_resource_reader, is_package, ... of the real loader
        return getattr(self.loader, name)


def _other_spec(finder, fullname, path, target):
    for other in sys.meta_path:
        if other is not finder and hasattr(other, "find_spec"):
            spec = other.find_spec(fullname, path, target)
            if spec is not None:
                return spec
    return None


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname == "pytorchvideo" or fullname.startswith("pytorchvideo."):
            spec = _other_spec(self, fullname, path, target)
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                spec.loader = _QuietLoader(spec.loader)
            return spec
        real = _ALIASES.get(fullname)
        if real is None:
            return None
        if importlib.util.find_spec(real.rpartition(".")[0]) is None:
            return None
        try:
            # A torchvision that still has the old module needs no alias.
            spec = _other_spec(self, fullname, path, target)
            if spec is not None:
                return spec
        except Exception:
            pass
        return importlib.util.spec_from_loader(fullname, _AliasLoader(real))


def install() -> None:
    """The import hook (first on sys.meta_path): the functional_tensor alias, and pytorchvideo's
    modules imported without torch's jit deprecation noise."""
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())
