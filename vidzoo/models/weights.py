"""Pretrained weights: find them (path, URL or a backbone's default), verify, load what fits.

``load_pretrained(model, source, sha256=None, default_url=None)`` is what backbone plugins
call for their ``pretrained`` option. It

- takes a local path, an ``http(s)://`` or ``file://`` URL (downloaded once into
  ``$VIDZOO_CACHE/weights``, atomically, with a progress bar), or the word ``default``
  (the backbone's ``default_url``);
- checks the file against ``sha256`` when one is given; a cached download is re-verified
  on every use (against ``sha256``, or against the hash recorded when it was downloaded);
- reads it with ``torch.load(weights_only=True)`` always: a file that needs pickled code
  to load is refused with a one-line error, and no code from it runs;
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
import hashlib
import os
import sys
import tempfile
import threading
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from vidzoo.errors import VidzooError

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

    Used when a model is rebuilt from a vidzoo checkpoint: its own weights replace the
    pretrained ones anyway, and the pretrained file may no longer be reachable.
    """
    old = getattr(_skip, "on", False)
    _skip.on = True
    try:
        yield
    finally:
        _skip.on = old


# ---------------------------------------------------------------- finding the file


def cache_dir() -> Path:
    from vidzoo.data.demo import cache_dir as _root

    return _root() / "weights"


def file_sha256(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                return h.hexdigest()
            h.update(block)


def _check_hash_arg(sha256: str | None) -> str | None:
    if sha256 is None or sha256 == "":
        return None
    value = sha256.strip().lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise VidzooError(f"sha256 must be 64 hex digits, got {sha256!r}")
    return value


def _verify(path: Path, expected: str | None, what: str) -> str:
    actual = file_sha256(path)
    if expected and actual != expected:
        raise VidzooError(f"{what} {path} has sha256 {actual}, expected {expected}; "
                          f"delete it or fix --backbone.sha256")
    return actual


def cached_path(url: str) -> Path:
    """Where a URL's download is kept: $VIDZOO_CACHE/weights/<url hash>-<file name>."""
    name = os.path.basename(urllib.parse.urlparse(url).path) or "weights"
    tag = hashlib.sha256(url.encode()).hexdigest()[:10]
    return cache_dir() / f"{tag}-{name}"


@contextlib.contextmanager
def _lock(path: Path):
    """An exclusive lock on ``path`` (a lock file), so that processes (DDP ranks) download once."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock; downloads are still atomic
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def download(url: str, sha256: str | None = None, progress: bool = True) -> Path:
    """The cached file for a URL, downloaded first if needed (atomically) and verified.

    Processes that ask for the same URL at once (DDP ranks) wait for the first one's download.
    """
    sha256 = _check_hash_arg(sha256)
    dest = cached_path(url)
    with _lock(dest.with_name(dest.name + ".lock")):
        return _download(url, sha256, dest, progress)


def _download(url: str, sha256: str | None, dest: Path, progress: bool) -> Path:
    record = dest.with_name(dest.name + ".sha256")
    if dest.is_file():
        recorded = record.read_text().strip() if record.is_file() else None
        actual = file_sha256(dest)
        expected = sha256 or recorded
        if expected is None or actual == expected:
            if not record.is_file():
                record.write_text(actual + "\n")
            return dest
        if not (sha256 and recorded and recorded != sha256):  # else: intact, but not the file asked for
            _say(f"cached weights {dest} do not match their sha256 (corrupt?); downloading again")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".download-", dir=dest.parent)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "vidzoo"}),
                                                  timeout=60)
            except Exception as exc:
                raise VidzooError(f"cannot download {url}: {_reason(exc)}") from None
            with response:
                total = response.headers.get("Content-Length")
                bar = _bar(int(total) if total and total.isdigit() else None, os.path.basename(dest.name), progress)
                try:
                    while True:
                        block = response.read(1 << 20)
                        if not block:
                            break
                        out.write(block)
                        h.update(block)
                        if bar:
                            bar.update(len(block))
                except Exception as exc:
                    raise VidzooError(f"download of {url} failed: {_reason(exc)}") from None
                finally:
                    if bar:
                        bar.close()
        actual = h.hexdigest()
        if sha256 and actual != sha256:
            raise VidzooError(f"download of {url} has sha256 {actual}, expected {sha256}; not kept")
        os.replace(tmp, dest)
        record.write_text(actual + "\n")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def _reason(exc: Exception) -> str:
    return " ".join(str(getattr(exc, "reason", None) or exc).split()) or type(exc).__name__


def _bar(total, name, enabled):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=f"downloading {name}",
                file=sys.stderr, leave=False)


def say(message: str) -> None:
    """Print a one-line message to stderr, once per job (first DDP rank only); for report summaries."""
    if os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) != "0" or getattr(_skip, "on", False):
        return
    print(message, file=sys.stderr)


_say = say


def resolve_source(source: str, sha256: str | None = None, default_url: str | None = None,
                   progress: bool = True) -> tuple[Path, str]:
    """(local file, its sha256) for a path, URL or "default"."""
    sha256 = _check_hash_arg(sha256)
    if source == "default":
        if not default_url:
            raise VidzooError("this backbone has no default pretrained weights; pass a path or URL to pretrained")
        source = default_url
    scheme = urllib.parse.urlparse(source).scheme.lower()
    if scheme in ("http", "https"):
        path = download(source, sha256, progress)
        return path, (sha256 or _recorded(path))
    if scheme == "file":
        source = urllib.request.url2pathname(urllib.parse.urlparse(source).path)
    path = Path(source).expanduser()
    if not path.exists():
        raise VidzooError(f"pretrained weights {path} do not exist; pass a file path, an http(s) URL or 'default'")
    if not path.is_file():
        raise VidzooError(f"pretrained weights {path} is a folder, not a checkpoint file")
    return path, _verify(path, sha256, "pretrained weights")


def _recorded(path: Path) -> str:
    record = path.with_name(path.name + ".sha256")
    return record.read_text().strip() if record.is_file() else file_sha256(path)


# ---------------------------------------------------------------- reading and loading


def read_checkpoint(path) -> dict:
    """torch.load(weights_only=True) with one-line errors; never runs code from the file."""
    import pickle

    import torch

    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        import re

        text = str(exc)
        if not re.search(r"GLOBAL|global|Unsupported class", text):  # corrupt or not a pickle at all
            detail = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)
            reason = detail.group(1) if detail else " ".join(text.split())[:200]
            raise VidzooError(f"{path} is not a readable torch checkpoint ({reason.strip()})") from None
        found = re.search(r"GLOBAL (\S+)", str(exc))
        what = f" (it needs {found.group(1)})" if found else ""
        raise VidzooError(
            f"{path} is not a plain weights file: loading it needs pickled Python objects{what}, which vidzoo "
            f"refuses to run (torch.load weights_only=True); re-save it as a state dict") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise VidzooError(f"{path} is not a readable torch checkpoint: {' '.join(str(exc).split())[:300]}") from None


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
    path, digest = resolve_source(source, sha256, default_url, progress)
    state = extract_state_dict(read_checkpoint(path))
    return load_state_dict_into(model, state, source=source, path=str(path), sha256=digest)


def head_parameter_names(model) -> list[str]:
    """Names of the parameters that form the head: the last Linear, plus what load_pretrained kept new."""
    names = set(last_linear_names(model))
    report = getattr(model, "vidzoo_pretrained", None)
    if isinstance(report, LoadReport):
        names.update(report.head)
    params = dict(model.named_parameters())
    return [n for n in params if n in names]
