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


def preset(base: Callable, summary: str, then: Callable | None = None, **defaults) -> Callable:
    """``base`` with new defaults and the description ``summary`` (Args are the base's).

    ``then(transform, options, **own)``, if given, turns the base's transform into the one to
    use (SlowFast packs its pathways so); ``options`` are the base's options of the call, and
    ``then``'s own keyword options (with their Args) join the preset's, after the base's.
    """
    signature = inspect.signature(base)
    unknown = sorted(set(defaults) - set(signature.parameters))
    if unknown:
        raise TypeError(f"{base.__name__} has no option(s) {', '.join(unknown)}")
    params = [p.replace(default=defaults[p.name]) if p.name in defaults else p for p in signature.parameters.values()]
    own = list(inspect.signature(then).parameters.values())[2:] if then is not None else []
    clash = sorted({p.name for p in own} & {p.name for p in params})
    if clash:
        raise TypeError(f"{then.__name__} repeats option(s) of {base.__name__}: {', '.join(clash)}")
    base_names = [p.name for p in params]
    signature = signature.replace(parameters=params + own)

    @functools.wraps(base)
    def factory(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        options = {k: v for k, v in bound.arguments.items() if k in base_names}
        transform = base(**options)
        if then is None:
            return transform
        return then(transform, options, **{k: v for k, v in bound.arguments.items() if k not in base_names})

    factory.__signature__ = signature
    factory.__doc__ = f"{summary}\n\n{_args(base)}{_args(then, header=False)}".strip()
    del factory.__wrapped__  # inspect and jsonargparse must read this signature, not the base's
    return factory


def _args(fn: Callable | None, header: bool = True) -> str:
    """The "Args:" section of fn's docstring (without its header line when header is False)."""
    doc = (inspect.getdoc(fn) or "") if fn is not None else ""
    if "Args:" not in doc:
        return ""
    lines = doc[doc.index("Args:"):].split("\n")
    keep = [lines[0]]
    for line in lines[1:]:  # the indented entries; a paragraph after them is not the section's
        if line and not line[0].isspace():
            break
        keep.append(line)
    section = "\n".join(keep).rstrip()
    return section if header else "\n" + section.split("\n", 1)[1]
