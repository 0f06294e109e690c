"""Pretrained weights into a model: load what fits, keep the new head, report exactly what happened.

``load_pretrained(model, source, sha256=None, default_url=None)`` is what backbone plugins
call for their ``pretrained`` option. It

- finds the file through ``vidzoo.models.hub`` (a local path, an ``http(s)://`` or ``file://``
  URL downloaded once into ``$VIDZOO_CACHE/weights``, or the word ``default``, the backbone's
  ``default_url``), checked against ``sha256`` when one is given;
- reads it with ``vidzoo.io.safe_load`` (``torch.load(weights_only=True)``) always: a file that
  needs pickled code to load is refused with a one-line error, and no code from it runs;
- unwraps ``{"model_state": ...}`` (pytorchvideo and SlowFast zoo checkpoints),
  ``{"state_dict": ...}`` (Lightning, including vidzoo's own ``best.ckpt``) and
  ``{"model": ...}``, and strips a ``module.`` / ``model.`` prefix when that makes keys match;
- loads every tensor whose name and shape match; when the classification head's shape
  differs (fine-tuning to another number of classes), keeps the model's new head.

It returns a ``LoadReport`` listing exactly which keys were loaded, skipped for shape (and
which of those are the head, kept new), missing from the file, and unexpected in it.
The report is also kept on the model as ``model.vidzoo_pretrained`` so that the task can
tell the head from the backbone (``head_parameter_names``).

"The head" is the last ``torch.nn.Linear`` in the model (module registration order), plus
any tensors whose shapes differed from the checkpoint and were therefore kept new.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field

from vidzoo.errors import VidzooError
from vidzoo.io import safe_load
from vidzoo.models import hub
from vidzoo import messages

WRAPPER_KEYS = ("model_state", "state_dict", "model", "model_state_dict")
STRIP_PREFIXES = ("module.", "model.", "backbone.", "_orig_mod.")
_skip = threading.local()


@dataclass
class LoadReport:
    """What load_pretrained did; every list holds state-dict keys of the model (or the file)."""

    source: str
    path: str = ""
    sha256: str = ""
    loaded: list[str] = field(default_factory=list)
    skipped_shape: list[tuple[str, tuple, tuple]] = field(default_factory=list)  # (key, file shape, model shape)
    head: list[str] = field(default_factory=list)  # keys of the skipped_shape ones that are the head, kept new
    missing: list[str] = field(default_factory=list)  # in the model, not in the file: kept as initialised
    unexpected: list[str] = field(default_factory=list)  # in the file, not in the model: ignored
    total: int = 0  # tensors in the model's state dict
    skipped: bool = False  # True when loading was switched off (rebuilding from a vidzoo checkpoint)

    @property
    def not_loaded(self) -> list[str]:
        """Model keys that keep their initial values (new head, other shape mismatches, missing)."""
        return [k for k, _, _ in self.skipped_shape] + list(self.missing)

    def summary(self) -> str:
        """One line for the user."""
        if self.skipped:
            return f"pretrained weights {self.source}: not loaded (the checkpoint's own weights are used)"
        parts = [f"loaded {len(self.loaded)}/{self.total} tensors"]
        if self.head:
            shapes = {k: (a, b) for k, a, b in self.skipped_shape}
            desc = ", ".join(f"{k} {_shape(shapes[k][0])}->{_shape(shapes[k][1])}" for k in self.head)
            parts.append(f"new head kept for {len(self.head)} ({desc})")
        other = [k for k, _, _ in self.skipped_shape if k not in self.head]
        if other:
            parts.append(f"{len(other)} skipped for shape ({_few(other)})")
        parts.append(f"{len(self.missing)} missing" + (f" ({_few(self.missing)})" if self.missing else ""))
        parts.append(f"{len(self.unexpected)} unexpected" + (f" ({_few(self.unexpected)})" if self.unexpected else ""))
        where = self.source if "://" in self.source or not self.path else self.path
        return f"pretrained weights from {where}: " + "; ".join(parts)

    def as_dict(self) -> dict:
        return {
            "source": self.source, "path": self.path, "sha256": self.sha256, "loaded": list(self.loaded),
            "skipped_shape": [[k, list(a), list(b)] for k, a, b in self.skipped_shape], "head": list(self.head),
            "missing": list(self.missing), "unexpected": list(self.unexpected), "total": self.total,
        }


def _shape(s) -> str:
    return "x".join(str(d) for d in s) or "scalar"


def _few(keys, n: int = 10) -> str:
    keys = list(keys)
    return ", ".join(keys[:n]) + (f", ... {len(keys) - n} more" if len(keys) > n else "")


@contextlib.contextmanager
def skip_pretrained():
    """Within this block load_pretrained loads nothing (returns a report with skipped=True).

    Kept for code written against it; vidzoo itself rebuilds a model from a checkpoint with the
    backbone's ``pretrained`` option off (``VideoClassificationTask(load_pretrained=False)``).
    """
    old = getattr(_skip, "on", False)
    _skip.on = True
    try:
        yield
    finally:
        _skip.on = old


def pretrained_skipped() -> bool:
    """True inside ``skip_pretrained()``: a plugin with its own weight loader should load nothing."""
    return bool(getattr(_skip, "on", False))


def say(message: str) -> None:
    """Print a one-line message to stderr, once per job (first DDP rank only); for report summaries."""
    if getattr(_skip, "on", False):
        return
    messages.say(message)


_say = say


def extract_state_dict(obj) -> dict:
    """The tensor dict inside a checkpoint: unwraps model_state / state_dict / model."""
    import torch

    seen = 0
    while isinstance(obj, dict) and seen < 3:
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
        inner = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj, seen = inner, seen + 1
    if isinstance(obj, dict):
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
        keys = ", ".join(map(str, list(obj)[:6]))
        raise VidzooError(f"found no weights in the checkpoint (top-level keys: {keys}); expected a state dict "
                          f"or one under {' / '.join(WRAPPER_KEYS)}")
    raise VidzooError(f"the checkpoint holds a {type(obj).__name__}, not a state dict")


def _align_prefix(state: dict, model_keys: set[str]) -> dict:
    """Strip (or add) a wrapper prefix like 'module.' when that makes more keys match."""
    best, best_hits = state, len(model_keys & set(state))
    for prefix in STRIP_PREFIXES:
        stripped = {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in state.items()}
        hits = len(model_keys & set(stripped))
        if hits > best_hits:
            best, best_hits = stripped, hits
        added = {prefix + k: v for k, v in state.items()}
        hits = len(model_keys & set(added))
        if hits > best_hits:
            best, best_hits = added, hits
    return best


def last_linear_names(model) -> list[str]:
    """State-dict keys of the model's last torch.nn.Linear (its classifier, by convention)."""
    from torch import nn

    last = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = name
    if last is None:
        return []
    prefix = f"{last}." if last else ""
    return [prefix + k for k in model.get_submodule(last).state_dict()]


def load_state_dict_into(model, state: dict, source: str = "", path: str = "", sha256: str = "") -> LoadReport:
    """Load what fits of ``state`` into ``model``; the report says exactly what happened."""
    import torch

    own = model.state_dict()
    state = _align_prefix(state, set(own))
    head_keys = set(last_linear_names(model))
    report = LoadReport(source=source, path=path, sha256=sha256, total=len(own))
    to_load = {}
    for key, value in own.items():
        if key not in state:
            report.missing.append(key)
            continue
        theirs = state[key]
        if tuple(theirs.shape) != tuple(value.shape):
            report.skipped_shape.append((key, tuple(theirs.shape), tuple(value.shape)))
            continue
        to_load[key] = theirs
        report.loaded.append(key)
    report.unexpected = [k for k in state if k not in own]
    if not report.loaded:
        raise VidzooError(
            f"none of the {len(state)} tensors in {path or source} fit this model "
            f"(first file key {next(iter(state), '-')!r}, first model key {next(iter(own), '-')!r}); "
            f"is it a checkpoint of another architecture?")
    mismatched = [k for k, _, _ in report.skipped_shape]
    # The head: the last Linear's tensors when they mismatch; if the classifier is something
    # else (a 1x1x1 conv), the mismatched tensors that sit in the same module as the last ones.
    report.head = [k for k in mismatched if k in head_keys]
    if not report.head and mismatched:
        last_module = mismatched[-1].rpartition(".")[0]
        report.head = [k for k in mismatched if k.rpartition(".")[0] == last_module]
    with torch.no_grad():
        model.load_state_dict(to_load, strict=False)
    try:
        model.vidzoo_pretrained = report
    except Exception:
        pass
    return report


def load_pretrained(model, source: str, sha256: str | None = None, default_url: str | None = None,
                    progress: bool = True) -> LoadReport:
    """Load pretrained weights into ``model`` (see the module docstring); returns the report.

    The caller prints ``report.summary()`` (one line).
    """
    if getattr(_skip, "on", False):
        report = LoadReport(source=str(source), skipped=True)
        try:
            model.vidzoo_pretrained = report
        except Exception:
            pass
        return report
    if not source or not isinstance(source, str):
        raise VidzooError(f"pretrained must be a file path, an http(s) URL or 'default', got {source!r}")
    path, digest = hub.resolve_source(source, sha256, default_url, progress)
    state = extract_state_dict(safe_load(path, what="pretrained weights"))
    return load_state_dict_into(model, state, source=source, path=str(path), sha256=digest)


def head_parameter_names(model) -> list[str]:
    """Names of the parameters that form the head: the last Linear, plus what load_pretrained kept new."""
    names = set(last_linear_names(model))
    report = getattr(model, "vidzoo_pretrained", None)
    if isinstance(report, LoadReport):
        names.update(report.head)
    params = dict(model.named_parameters())
    return [n for n in params if n in names]


def pretrained_into(model, pretrained: str | None, sha256: str | None = None, default_url: str | None = None,
                    variants: dict[str, str] | None = None):
    """What a backbone factory does with its ``pretrained`` option: nothing when it is empty; else
    ``load_pretrained`` (a ``variants`` name picks its URL) and the report's one line. Returns the model."""
    if not pretrained:
        return model
    source = (variants or {}).get(pretrained, pretrained)
    report = load_pretrained(model, source, sha256=sha256, default_url=default_url)
    say(report.summary())
    return model


def document_pretrained(factories, text: str, placeholder: str = "{pretrained}") -> None:
    """Put ``text`` (the ``pretrained`` / ``sha256`` argument docs) where ``placeholder`` stands
    in each factory's docstring, so that `vidzoo run --help` shows one shared description."""
    for f in factories:
        if f.__doc__:
            f.__doc__ = f.__doc__.replace(placeholder, text)
