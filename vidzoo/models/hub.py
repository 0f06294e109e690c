"""Pretrained weight files: find them (path, URL or a backbone's default), download, cache, verify.

- ``resolve_source(source, sha256=None, default_url=None)``: the local file for a path, an
  ``http(s)://`` or ``file://`` URL, or the word ``default`` (the backbone's ``default_url``),
  and its sha256.
- ``download(url, sha256=None)``: a URL's file in ``$VIDZOO_CACHE/weights`` (``cached_path``),
  downloaded once (atomically through ``vidzoo.io.atomic_writer``, with a progress bar) under a
  file lock, so that processes asking at once (DDP ranks) wait for the first one's download.
- Hashes: a file is checked against ``sha256`` when one is given; a cached download is
  re-verified on every use (against ``sha256``, or against the hash recorded when it was
  downloaded, ``<file>.sha256``).

Reading the file and fitting it into a model: ``vidzoo.models.state_dict``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import urllib.parse
import urllib.request
from pathlib import Path

from vidzoo.errors import VidzooError
from vidzoo.io import atomic_writer, cache_root
from vidzoo.messages import one_line, say


def _reason(exc: BaseException) -> str:  # urllib's errors carry the useful part in .reason
    return one_line(getattr(exc, "reason", None) or exc)


def cache_dir() -> Path:
    return cache_root() / "weights"


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
            say(f"cached weights {dest} do not match their sha256 (corrupt?); downloading again")
    h = hashlib.sha256()
    with atomic_writer(dest) as out:
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
        if sha256 and actual != sha256:  # raising inside the writer: the file is not kept
            raise VidzooError(f"download of {url} has sha256 {actual}, expected {sha256}; not kept")
    record.write_text(actual + "\n")
    return dest


def _bar(total, name, enabled):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=f"downloading {name}",
                file=sys.stderr, leave=False)


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
