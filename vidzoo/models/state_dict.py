"""Pretrained weights into a model: load what fits, keep the new head, report exactly what happened.

``load_pretrained(model, source, sha256=None, default_url=None, classifier=())`` is vidzoo's
loader for a file or URL (the model layer, ``vidzoo.models.builder``, calls it for
``pretrained``). It

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

"The head" is what the backbone's spec declares (``ModelSpec.classifier``, module paths):
the mismatched tensors inside those modules are the new head; nothing is guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vidzoo.errors import VidzooError
from vidzoo.io import safe_load
from vidzoo.models import hub

WRAPPER_KEYS = ("model_state", "state_dict", "model", "model_state_dict")
STRIP_PREFIXES = ("module.", "model.", "backbone.", "_orig_mod.")


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
    notes: list[str] = field(default_factory=list)  # a plugin loader's remarks for the line (config differs ...)
    categories: list[str] | None = None  # the class names the file gives its head (a Hub config's id2label)

    @property
    def not_loaded(self) -> list[str]:
        """Model keys that keep their initial values (new head, other shape mismatches, missing)."""
        return [k for k, _, _ in self.skipped_shape] + list(self.missing)

    def summary(self) -> str:
        """One line for the user."""
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
        return f"pretrained weights from {where}: " + "; ".join(parts + self.notes)

    def as_dict(self) -> dict:
        return {
            "source": self.source, "path": self.path, "sha256": self.sha256, "loaded": list(self.loaded),
            "skipped_shape": [[k, list(a), list(b)] for k, a, b in self.skipped_shape], "head": list(self.head),
            "missing": list(self.missing), "unexpected": list(self.unexpected), "total": self.total,
            **({"notes": list(self.notes)} if self.notes else {}),
        }


def _shape(s) -> str:
    return "x".join(str(d) for d in s) or "scalar"


def _few(keys, n: int = 10) -> str:
    keys = list(keys)
    return ", ".join(keys[:n]) + (f", ... {len(keys) - n} more" if len(keys) > n else "")


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


def in_modules(key: str, modules) -> bool:
    """Whether a state-dict key belongs to one of the module paths (``"fc"`` holds ``fc.weight``)."""
    return any(key == m or key.startswith(m + ".") for m in modules)


def load_state_dict_into(model, state: dict, source: str = "", path: str = "", sha256: str = "",
                         classifier=()) -> LoadReport:
    """Load what fits of ``state`` into ``model``; the report says exactly what happened.

    ``classifier``: the module paths of the model's head (its spec's); the mismatched tensors in
    them are reported as the new head kept."""
    import torch

    own = model.state_dict()
    state = _align_prefix(state, set(own))
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
    report.head = [k for k, _, _ in report.skipped_shape if in_modules(k, classifier)]
    with torch.no_grad():
        model.load_state_dict(to_load, strict=False)
    return report


def load_pretrained(model, source: str, sha256: str | None = None, default_url: str | None = None,
                    progress: bool = True, classifier=()) -> LoadReport:
    """Load pretrained weights into ``model`` (see the module docstring); returns the report.

    The caller prints ``report.summary()`` (one line).
    """
    if not source or not isinstance(source, str):
        raise VidzooError(f"pretrained must be a file path, an http(s) URL or 'default', got {source!r}")
    path, digest = hub.resolve_source(source, sha256, default_url, progress)
    state = extract_state_dict(safe_load(path, what="pretrained weights"))
    return load_state_dict_into(model, state, source=source, path=str(path), sha256=digest, classifier=classifier)
