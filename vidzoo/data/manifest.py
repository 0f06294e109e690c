"""Video facts from `vidzoo prepare`'s manifests, instead of opening every header at start-up.

A prepared dataset has ``vidzoo-manifest.<split>.json`` files at its root, listing each video
(path relative to that root) with its duration, fps, frame count, size and bytes. For any
video, ``probe`` looks for manifests in the video's folder and the folders above it (each
folder looked at once per process), and uses the entry when the file still has the
recorded size; otherwise it reads the header, as vidzoo.data.video.probe does. So every dataset
plugin built on ClipDataset reads prepared data without opening each file first.
"""

from __future__ import annotations

import glob
import json
import os
import threading

from vidzoo.data import video as _video

PATTERN = "vidzoo-manifest.*.json"
MAX_LEVELS = 8  # folders above a video searched for a manifest

_lock = threading.Lock()
_folders: dict[str, list[str]] = {}  # folder -> manifests found in it
_entries: dict[str, dict] = {}  # absolute video path -> manifest entry
_loaded: set[str] = set()


def _load(manifest: str) -> None:
    if manifest in _loaded:
        return
    _loaded.add(manifest)
    try:
        with open(manifest) as f:
            data = json.load(f)
        base = os.path.dirname(manifest)
        for entry in data.get("videos", []):
            _entries[os.path.normpath(os.path.join(base, entry["path"]))] = entry
    except (OSError, ValueError, KeyError, TypeError):  # not ours, or damaged: read the headers instead
        pass


def lookup(path: str) -> dict | None:
    """The manifest entry of a video, or None (no manifest above it, or the file changed since)."""
    path = os.path.normpath(os.path.abspath(str(path)))
    with _lock:
        if path not in _entries:
            folder = os.path.dirname(path)
            for _ in range(MAX_LEVELS):
                if folder not in _folders:
                    _folders[folder] = glob.glob(os.path.join(glob.escape(folder), PATTERN))
                for manifest in _folders[folder]:
                    _load(manifest)
                parent = os.path.dirname(folder)
                if path in _entries or parent == folder:
                    break
                folder = parent
        entry = _entries.get(path)
    if entry is None:
        return None
    try:
        if os.stat(path).st_size != entry.get("bytes"):
            return None
    except OSError:
        return None
    return entry


def probe(path: str) -> _video.VideoInfo:
    """vidzoo.data.video.probe, answered from a manifest when there is one."""
    entry = lookup(path)
    if entry is not None:
        return _video.VideoInfo(float(entry["duration"]), float(entry["fps"]), int(entry["width"]),
                                int(entry["height"]))
    return _video.probe(path)


def probe_many(paths: list[str], threads: int = 8) -> list:
    """vidzoo.data.video.probe_many, answered from manifests where there are some."""
    infos = [probe(p) if lookup(p) is not None else None for p in paths]
    missing = [i for i, info in enumerate(infos) if info is None]
    if missing:
        for i, info in zip(missing, _video.probe_many([paths[i] for i in missing], threads)):
            infos[i] = info
    return infos
