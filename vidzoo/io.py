"""Files written whole or not at all, and torch files read without running code.

- ``atomic_writer(path)`` / ``atomic_write_bytes(path, data)``: a temporary file next to
  ``path``, fsynced, renamed over it (``os.replace``, atomic on POSIX), the folder fsynced.
  A kill at any moment leaves the old file or the new one, whole. Checkpoints, run configs,
  reports, manifests and weight downloads all go through it.
- ``atomic_write_tree(target, files)``: a folder of text files, written into a temporary
  folder and renamed into place in one step (``vidzoo new-plugin``).
- ``write_error_reason(exc)``: what a failed write's OSError means, in the words every
  "could not write" message uses (a full disk, a quota, a read-only file system...).
- ``cache_root()``: vidzoo's cache folder (``$VIDZOO_CACHE``, else ``$XDG_CACHE_HOME/vidzoo``, else
  ``~/.cache/vidzoo``): the demo sample and downloaded weights live under it.
- ``safe_load(path)``: ``torch.load(weights_only=True)`` with one-line errors; a file whose
  pickle would import or call anything (the way a malicious checkpoint runs code) is
  refused before any of it runs. Checkpoints and pretrained weights both load through it.

Test-only hook: ``VIDZOO_TEST_CHECKPOINT_WRITE_PAUSE=SECONDS`` makes a write with
``_test_pause=True`` (checkpoints) write half of the temporary file, pause, then finish,
so that a test can kill the process in the middle of a checkpoint write.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pickle
import re
import shutil
import tempfile
import time
from pathlib import Path

from vidzoo.errors import VidzooError

TEST_PAUSE_ENV = "VIDZOO_TEST_CHECKPOINT_WRITE_PAUSE"  # test-only, see the module docstring
TMP_SUFFIX = ".tmp"
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)  # freeing space fixes these


def cache_root() -> Path:
    root = os.environ.get("VIDZOO_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "vidzoo"
    )
    return Path(root)


def write_error_reason(exc: OSError) -> str:
    """A failed write's cause in words: "no space left on the device", "disk quota exceeded", ..."""
    return {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
            errno.EFBIG: "file too large for the file system or its limits", errno.EROFS: "read-only file system",
            errno.EACCES: "permission denied"}.get(exc.errno, exc.strerror or str(exc))


def write_error_fix(exc: OSError) -> str:
    """What the user does about a failed write: "free space" for a full disk, else "make it writable"."""
    return "free space" if exc.errno in DISK_FULL else "make it writable"


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike):
    """``with atomic_writer(path) as f: f.write(...)``: ``path`` appears, whole, only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; the file gets the usual mode
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def atomic_write_bytes(path: str | os.PathLike, data: bytes, _test_pause: bool = False) -> None:
    """Write ``data`` to ``path`` so that ``path`` is never seen half-written."""
    with atomic_writer(path) as f:
        pause = float(os.environ.get(TEST_PAUSE_ENV) or 0) if _test_pause else 0
        if pause > 0:  # test-only: a window in which the checkpoint is half written
            f.write(data[: len(data) // 2])
            f.flush()
            time.sleep(pause)
            f.write(data[len(data) // 2:])
        else:
            f.write(data)


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files a killed atomic write left behind; returns them."""
    folder = Path(folder)
    stale = sorted(folder.glob(f".*{TMP_SUFFIX}")) if folder.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def atomic_write_tree(target: str | os.PathLike, files: dict[str, str]) -> None:
    """Write ``files`` (relative path -> text) as the new folder ``target``, in one rename."""
    target = Path(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        for rel, text in files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def safe_load(path: str | os.PathLike, map_location="cpu", what: str = "checkpoint", mmap: bool = False):
    """``torch.load(path, weights_only=True)``; refuses pickled code with a one-line VidzooError.

    ``what`` names the file in messages ("checkpoint", "pretrained weights").
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise VidzooError(f"{what} {path} does not exist")
    try:
        try:
            return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
        except RuntimeError as exc:
            if not (mmap and "mmap" in str(exc)):
                raise
            return torch.load(path, map_location=map_location, weights_only=True)  # a legacy (non-zip) file
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if re.search(r"GLOBAL|global|Unsupported class", text):  # an import or call: what malicious files do
            needs = re.search(r"GLOBAL ([\w.]+)", text)
            what_code = f" (it needs {needs[1]})" if needs else ""
            raise VidzooError(
                f"refusing to load {what} {path}: it holds pickled Python objects that could run code{what_code}, "
                f"which vidzoo refuses to run (it loads only tensors and plain values, torch.load weights_only=True); "
                f"re-save it as a state dict"
            ) from None
        detail = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)  # corrupt, not a pickle, odd opcodes
        reason = detail.group(1) if detail else " ".join(text.split())
        raise VidzooError(f"{what} {path} is not a readable torch checkpoint ({reason.strip()[:200]})") from None
    except Exception as exc:  # RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError...: not torch
        first = " ".join(str(exc).split("\n")[0].split())[:200] or type(exc).__name__
        first = f"{type(exc).__name__}: {first}" if isinstance(exc, KeyError) else first
        raise VidzooError(f"{what} {path} is not a readable torch checkpoint ({first})") from None
