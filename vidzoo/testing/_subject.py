"""What every check shares: the error it raises and the registration it checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from vidzoo.plugins.contracts import CONTRACTS

# (T, H, W) of the clip check_backbone feeds when the backbone states no larger min_input.
TINY_INPUT = (4, 32, 32)
# Options that make the Kinetics-style presets tiny (4 frames, 32 px).
TINY_TRANSFORM = {"num_frames": 4, "crop_size": 32, "min_short_side": 36, "max_short_side": 40,
                  "eval_short_side": 36}

class ConformanceError(AssertionError):
    """A registration broke its kind's contract; the message says which part and how."""

    def __init__(self, kind: str, name: str, problem: str, package: str = ""):
        self.kind, self.name, self.problem, self.package = kind, name, problem, package
        where = f" ({package})" if package else ""
        super().__init__(
            f"{kind} {name!r}{where} breaks the {kind} contract: {problem}\n"
            f"  contract: {CONTRACTS[kind]}"
        )


@dataclass
class Subject:
    """The registration (or bare factory) under check, and the one way a check reports a breach."""

    kind: str
    name: str
    factory: Callable
    spec: Any
    package: str = ""

    def fail(self, problem: str):
        raise ConformanceError(self.kind, self.name, problem, self.package)


def resolve(kind: str, target) -> Subject:
    """The Subject of a registered name or a bare factory (whose spec is empty)."""
    from vidzoo.plugins.specs import SPEC_TYPES

    if isinstance(target, str):
        from vidzoo.plugins import get_registry

        reg = get_registry().get(kind, target)
        return Subject(kind, reg.name, reg.factory, reg.spec, f"{reg.package} {reg.version}")
    if not callable(target):
        raise TypeError(f"expected a registered {kind} name or a factory, got {type(target).__name__}")
    return Subject(kind, getattr(target, "__name__", repr(target)), target, SPEC_TYPES[kind]())


def videos(value) -> list:
    """The clip tensors of a sample's 'video': one, or one per pathway."""
    return list(value) if isinstance(value, (list, tuple)) else [value]
