"""Makes pytorchvideo 0.1.5 (its last release) import on current torchvision.

pytorchvideo.transforms imports ``torchvision.transforms.functional_tensor``, which
torchvision renamed to ``_functional_tensor`` (0.17) and then removed. ``install()``
adds an import alias for the old name; it costs nothing until something imports it,
and it is done by ``import vidzoo``, so the seed's own imports work after that.
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


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        real = _ALIASES.get(fullname)
        if real is None:
            return None
        if importlib.util.find_spec(real.rpartition(".")[0]) is None:
            return None
        try:
            # A torchvision that still has the old module needs no alias.
            for finder in sys.meta_path:
                if finder is not self and hasattr(finder, "find_spec"):
                    spec = finder.find_spec(fullname, path, target)
                    if spec is not None:
                        return spec
        except Exception:
            pass
        return importlib.util.spec_from_loader(fullname, _AliasLoader(real))


def install() -> None:
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())
    # pytorchvideo decorates some modules with torch.jit.script at import; torch >= 2.10 warns
    # about it on every import (two lines of noise before any CLI output, even a one-line error).
    import warnings

    warnings.filterwarnings("ignore", message=r"`torch\.jit\.script(_method)?` is deprecated", category=FutureWarning)
