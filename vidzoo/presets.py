"""Transform presets: an existing transform factory with other defaults.

A preset keeps every option of its base (so `--transform.<opt>` flags, and options the base
gains later, stay available) and its documented Args; only the defaults differ::

    tv_r3d = preset(kinetics_transform, "torchvision R3D preprocessing: 16 frames, crop 112.",
                    num_frames=16, crop_size=112, mean=TV_MEAN, std=TV_STD)
"""

from __future__ import annotations

import functools
import inspect
from typing import Callable


def preset(base: Callable, summary: str, **defaults) -> Callable:
    """``base`` with new defaults and the description ``summary`` (Args are the base's)."""
    signature = inspect.signature(base)
    unknown = sorted(set(defaults) - set(signature.parameters))
    if unknown:
        raise TypeError(f"{base.__name__} has no option(s) {', '.join(unknown)}")
    signature = signature.replace(parameters=[
        p.replace(default=defaults[p.name]) if p.name in defaults else p for p in signature.parameters.values()
    ])

    @functools.wraps(base)
    def factory(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return base(*bound.args, **bound.kwargs)

    factory.__signature__ = signature
    doc = inspect.getdoc(base) or ""
    args = doc[doc.index("Args:"):] if "Args:" in doc else ""
    factory.__doc__ = f"{summary}\n\n{args}".strip()
    del factory.__wrapped__  # inspect and jsonargparse must read this signature, not the base's
    return factory
