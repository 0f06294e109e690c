"""Bad videos never kill an epoch: a failed read is reported once and replaced.

Real video datasets are messy (a few percent of a Kinetics download is corrupt or missing).
pytorchvideo gives up after 10 consecutive failures and otherwise only logs; vidzoo:

- replaces a clip whose video cannot be read by a clip of another video, so every batch
  is full (``read_or_replace``, used by ``ClipDataset.__getitem__``);
- remembers the bad video in the process (it is not tried again) and reports it once,
  with its path and the reason;
- stops with one clear error when more than ``max_bad_fraction`` (``--data.max_bad_fraction``,
  default 0.1) of a split's videos are bad.

Inside ``vidzoo run`` the DataLoader workers and DDP ranks append each new bad video to a
shared log, ``RUN_DIR/bad_videos.jsonl`` (the policy's ``log``, which travels to the workers with
the dataset); the ``BadVideoMonitor`` callback (vidzoo.training.data_callbacks) in the main process
prints each bad video once, prints the per-epoch count, and makes the too-many-bad decision on all
ranks together (a collective
at train-batch and validation-epoch ends, so that no rank is left waiting in DDP).
Without the log (a ClipDataset used on its own), the dataset prints and checks by itself.
"""

from __future__ import annotations

import json
import os
import random
import re
from dataclasses import dataclass, field

from vidzoo.messages import is_rank_zero, warn
from vidzoo.errors import VidzooError

LOG_NAME = "bad_videos.jsonl"
DEFAULT_MAX_BAD_FRACTION = 0.1
MAX_CONSECUTIVE = 50  # new unreadable videos in a row before giving up on a sample


class BadDataError(VidzooError):
    """Too many videos of a split cannot be read."""

    def __init__(self, message: str = ""):
        # A DataLoader worker's exception comes back as BadDataError("Caught ... Original Traceback ...");
        # keep only the original one-line message, so the CLI still shows one line.
        if "Original Traceback" in message:
            lines = [ln for ln in message.splitlines() if ln.strip()]
            for ln in reversed(lines):
                if "BadDataError: " in ln:
                    message = ln.split("BadDataError: ", 1)[1]
                    break
        super().__init__(message)


def reason_of(exc: BaseException, path: str = "") -> str:
    """A short, one-line reason for a failed read (the path is reported separately)."""
    if isinstance(exc, FileNotFoundError) or (path and not os.path.lexists(path)):
        return "file not found"
    if path and os.path.isdir(path):
        return "is a folder, not a video file"
    if isinstance(exc, PermissionError) or (path and not os.access(path, os.R_OK)):
        return "permission denied"
    try:
        if path and os.path.getsize(path) == 0:
            return "empty file (0 bytes)"
    except OSError:
        pass
    text = re.sub(r"^\[Errno -?\d+\] ", "", " ".join(str(exc).split()))  # one_line, without its type-name fallback
    if path:
        for prefix in (f"cannot read video {path}: ", f"{path}: "):
            if text.startswith(prefix):
                text = text[len(prefix):]
        text = text.replace(f": '{path}'", "").replace(f"'{path}'", "").replace(path, "").strip(" :")
    if not text:
        return type(exc).__name__
    return text if isinstance(exc, ValueError) else f"{type(exc).__name__}: {text}"


def check_video(path: str, decode_all: bool = False) -> dict:
    """{"ok", "reason", "duration", "frames"} for one video file."""
    from vidzoo.data import video as _video

    out = {"ok": False, "reason": "", "duration": None, "frames": 0}
    try:
        if not os.path.lexists(path):
            raise FileNotFoundError(path)
        with open(path, "rb") as f:  # is it there, a file, and readable?
            if not f.read(1):
                raise ValueError("empty file (0 bytes)")
        out["duration"] = _video.probe(path).duration
        import av

        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            for _ in container.decode(stream):
                out["frames"] += 1
                if not decode_all:
                    break
        if out["frames"] == 0:
            raise ValueError("no decodable video frames")
        out["ok"] = True
    except Exception as exc:  # the reason is the report
        out["reason"] = reason_of(exc, str(path))
    return out


def max_fraction_error(split: str, bad: dict[str, str], total: int, fraction: float) -> BadDataError:
    first_path, first_reason = next(iter(bad.items()))
    return BadDataError(
        f"too many unreadable videos in the {split} split: {len(bad)} of {total} "
        f"({100 * len(bad) / max(total, 1):.1f}%) > --data.max_bad_fraction {fraction:g} "
        f"(first: {first_path}: {first_reason}); fix or remove them (`vidzoo check-data` lists them "
        f"and writes a clean file list) or raise --data.max_bad_fraction"
    )


@dataclass
class BadVideoPolicy:
    """How a dataset's reads treat bad videos, and what this process has learnt of them.

    The data module makes one per split (``--data.max_bad_fraction``) and gives it to the
    dataset; a ClipDataset used on its own has a default one. Each DataLoader worker reads its
    own copy, so ``bad`` and ``printed`` are per process.
    """

    split: str = "?"
    max_fraction: float = DEFAULT_MAX_BAD_FRACTION
    bad: dict[int, str] = field(default_factory=dict)  # video index -> reason
    printed: set[str] = field(default_factory=set)
    log: str | None = None  # the run's shared log (the monitor prints and checks); None: this process does


def record(log: str, path: str, reason: str, split: str, total: int) -> None:
    """Append one bad video to the shared log (one write, O_APPEND: safe across processes)."""
    line = json.dumps({"split": split, "path": path, "reason": reason, "total": total}) + "\n"
    try:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    except OSError:
        pass  # reporting must never be what kills the epoch


def read_log(path: str | os.PathLike, offset: int = 0) -> tuple[list[dict], int]:
    """Complete lines of the log from ``offset``: (entries, new offset)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1  # a line still being written is read next time
    entries = []
    for raw in data[:end].splitlines():
        try:
            entries.append(json.loads(raw))
        except ValueError:
            continue
    return entries, offset + end


def read_or_replace(dataset, i: int, policy: BadVideoPolicy) -> dict:
    """``dataset.read_sample(i)``, or, when that video cannot be read, the sample of another video.

    ``dataset`` is a ClipDataset (``videos``, ``index``, ``read_sample``); ``policy`` names the
    split, holds the limit and remembers the bad videos.
    """
    state = policy
    n = len(dataset)
    total = len(dataset.videos)
    split, fraction = policy.split, policy.max_fraction
    rng = random.Random(i * 1_000_003 + n)  # deterministic: the same bad sample gets the same substitute
    j = i
    failures = 0
    while True:
        video_index = dataset.index[j][0]
        if video_index not in state.bad:
            try:
                return dataset.read_sample(j)
            except (KeyboardInterrupt, VidzooError):
                raise
            except Exception as exc:
                path = dataset.videos[video_index][0]
                reason = reason_of(exc, path)
                state.bad[video_index] = reason
                _report(state, path, reason, split, total)
                if not policy.log and len(state.bad) > fraction * total:
                    bad = {dataset.videos[v][0]: r for v, r in state.bad.items()}
                    raise max_fraction_error(split, bad, total, fraction) from None
                failures += 1
        j = _substitute(dataset, state, rng, n)
        if j is None or failures >= MAX_CONSECUTIVE:
            first_index, first_reason = next(iter(state.bad.items()))
            what = "no video" if j is None else f"{MAX_CONSECUTIVE} videos in a row"
            raise BadDataError(
                f"{what} of the {split} split could be read (e.g. {dataset.videos[first_index][0]}: {first_reason}); "
                f"check the data with `vidzoo check-data`"
            )


def _substitute(dataset, state: BadVideoPolicy, rng: random.Random, n: int) -> int | None:
    """A random item whose video is not known to be bad (None when every video is)."""
    for _ in range(32):
        j = rng.randrange(n)
        if dataset.index[j][0] not in state.bad:
            return j
    start = rng.randrange(n)  # mostly bad: look at every item once
    for k in range(n):
        j = (start + k) % n
        if dataset.index[j][0] not in state.bad:
            return j
    return None


def _report(state: BadVideoPolicy, path: str, reason: str, split: str, total: int) -> None:
    if state.log:
        record(state.log, path, reason, split, total)  # the main process's BadVideoMonitor prints it
    elif path not in state.printed and is_rank_zero():
        state.printed.add(path)
        warn(f"vidzoo: warning: bad video replaced by another clip ({split}): {path}: {reason}")
