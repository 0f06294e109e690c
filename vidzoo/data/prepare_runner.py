"""Carrying out a `vidzoo prepare` plan (vidzoo.data.prepare): one video per core, resumable; or,
with ``dry_run``, the disk it would take.

The work is resumable: a video is finished when its file is at its final name, and files are
only ever put there by an atomic rename, so a killed run leaves nothing half-written where a
reader looks, and the next run skips what is finished (the journal, STATE_DIR/done.jsonl,
holds their manifest entries). Each split's manifest (``vidzoo-manifest.<split>.json``) is
written at the end.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

from vidzoo.data.prepare import STATE_DIR, Plan, Video, encode_video, facts, output_size, source_facts
from vidzoo.errors import VidzooError

MANIFEST = "vidzoo-manifest.{split}.json"


def prepare_one(src: str, short_side: int, keyint: int, crf: int, preset: str) -> tuple:
    """("ok", bytes, facts, source facts) or ("skip", reason) for one source video (runs in a worker)."""
    from vidzoo.data.bad_videos import check_video, reason_of

    check = check_video(src)  # the reasons `vidzoo check-data` gives
    if not check["ok"]:
        return ("skip", check["reason"])
    try:
        data = encode_video(src, short_side=short_side, keyint=keyint, crf=crf, preset=preset)
        return ("ok", data, facts(data), source_facts(src))
    except Exception as exc:
        return ("skip", reason_of(exc, src))


def _state(output: Path) -> Path:
    return output / STATE_DIR


def _check_settings(output: Path, settings: dict) -> None:
    from vidzoo.io import atomic_write_bytes

    path = _state(output) / "settings.json"
    if path.is_file():
        old = json.loads(path.read_text())
        if old != settings:
            diff = ", ".join(f"{k} {old.get(k)} (asked: {v})" for k, v in settings.items() if old.get(k) != v)
            raise VidzooError(f"{output} was prepared with other settings ({diff}); use those settings to finish it, "
                              f"or another --output")
        return
    atomic_write_bytes(path, json.dumps(settings, indent=1).encode())


def _journal(output: Path) -> dict[str, dict]:
    """Manifest entries of finished videos, by relative path (one JSON line each, appended)."""
    path = _state(output) / "done.jsonl"
    entries = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:  # a line cut by a kill: that video's file is re-derived below
                continue
            entries[entry["path"]] = entry
    return entries


def _append(output: Path, entry: dict) -> None:
    path = _state(output) / "done.jsonl"
    line = (json.dumps(entry) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        size = os.fstat(fd).st_size
        try:
            written = os.write(fd, line)  # one write: whole lines even if killed
            if written != len(line):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError:
            os.ftruncate(fd, size)  # no cut line (a full disk writes part of it)
            raise
    finally:
        os.close(fd)


def finished(plan: Plan, record: bool = True) -> dict[str, dict]:
    """Manifest entries of the videos already at their final name in the output (``record``: journal new ones)."""
    output = Path(plan.output)
    journal = _journal(output) if output.is_dir() else {}
    done = {}
    for rel, video in plan.unique().items():
        target = output / rel
        if not target.is_file():
            continue
        entry = journal.get(rel)
        if entry is None or entry.get("bytes") != target.stat().st_size:
            # Renamed into place but killed before the journal line: read its facts, do not re-encode.
            data = target.read_bytes()
            entry = {"path": rel, **facts(data), "source": {"path": video.src, **source_facts(video.src)}}
            if record:
                _append(output, entry)
        done[rel] = entry
    return done


def dry_run(plan: Plan, sample: int = 3) -> dict:
    """The plan and the disk it will take (measured: a few videos are encoded in memory and extrapolated)."""
    from vidzoo.data import video as _video

    unique = plan.unique()
    done = finished(plan, record=False) if Path(plan.output).is_dir() else {}
    infos = dict(zip(unique, _video.probe_many([v.src for v in unique.values()])))
    readable = {rel: i for rel, i in infos.items() if isinstance(i, _video.VideoInfo)}
    # bytes per output pixel-second, from real encodes of the first readable videos
    sampled_bytes = sampled_px = 0.0
    for rel in list(readable)[:sample]:
        info = readable[rel]
        try:
            data = encode_video(unique[rel].src, **{k: plan.settings[k] for k in ("short_side", "keyint", "crf", "preset")})
        except Exception:
            continue
        w, h = output_size(info.width, info.height, plan.settings["short_side"])
        sampled_bytes += len(data)
        sampled_px += w * h * max(info.duration, 1e-3)
    rate = sampled_bytes / sampled_px if sampled_px else 0.0
    report = {"splits": {}, "settings": plan.settings, "root": str(plan.root), "output": plan.output}
    total_est = 0.0
    for split, videos in plan.splits.items():
        src_bytes = est = 0.0
        unreadable = []
        n_done = 0
        for v in videos:
            try:
                src_bytes += os.path.getsize(v.src)
            except OSError:
                pass
            info = infos[v.rel]
            if v.rel in done:
                n_done += 1
            if not isinstance(info, _video.VideoInfo):
                from vidzoo.data.bad_videos import reason_of

                unreadable.append({"path": v.src, "reason": reason_of(info, v.src)})
                continue
            if v.rel not in done:
                w, h = output_size(info.width, info.height, plan.settings["short_side"])
                est += rate * w * h * info.duration
        report["splits"][split] = {"videos": len(videos), "done": n_done, "unreadable": unreadable,
                                   "source_bytes": int(src_bytes), "estimated_bytes": int(est)}
        total_est += est
    report["estimated_bytes"] = int(total_est)
    target = Path(plan.output)
    existing = next((p for p in [target, *target.parents] if p.exists()), Path("."))
    report["free_bytes"] = shutil.disk_usage(existing).free
    return report


def _copy_extra(plan: Plan, output: Path) -> None:
    from vidzoo.io import atomic_write_bytes

    for rel in plan.extra_files:
        src, dst = plan.root / rel, output / rel
        if dst.is_file() and dst.stat().st_size == src.stat().st_size:
            continue
        atomic_write_bytes(dst, src.read_bytes())


def _remove_stale_tmp(output: Path) -> None:
    from vidzoo.io import TMP_SUFFIX

    for dirpath, _, names in os.walk(output):
        for n in names:
            if n.startswith(".") and n.endswith(TMP_SUFFIX):
                try:
                    os.unlink(os.path.join(dirpath, n))
                except OSError:
                    pass


def _write_error(path, exc: OSError, output: Path, done: int, total: int) -> VidzooError:
    from vidzoo.io import write_error_fix, write_error_reason

    fix = write_error_fix(exc)
    return VidzooError(f"could not write {path}: {write_error_reason(exc)}; {done} of {total} videos are prepared "
                       f"and kept in {output}, nothing half-written was left; {fix} and run the same command again "
                       f"to finish (or choose another --output)")


def run(plan: Plan, workers: int, progress: bool = True) -> dict:
    """Prepare every video of the plan (skipping finished ones); write the manifests; return a report."""
    from tqdm import tqdm

    from vidzoo.io import atomic_write_bytes

    output = Path(plan.output)
    unique = plan.unique()
    try:
        output.mkdir(parents=True, exist_ok=True)
        _state(output).mkdir(exist_ok=True)
        _check_settings(output, plan.settings)
        _remove_stale_tmp(output)
        _copy_extra(plan, output)
        done = finished(plan)
    except OSError as exc:
        raise _write_error(exc.filename or output, exc, output, 0, len(unique)) from None
    skipped: dict[str, str] = {}
    todo = [v for rel, v in unique.items() if rel not in done]
    args = [plan.settings[k] for k in ("short_side", "keyint", "crf", "preset")]
    bar = tqdm(total=len(unique), initial=len(done), unit="video", desc="prepare", file=sys.stderr,
               disable=not progress, dynamic_ncols=True, smoothing=0.1)

    def finish(video: Video, result: tuple) -> None:
        if result[0] == "skip":
            skipped[video.rel] = result[1]
        else:
            _, data, info, source = result
            entry = {"path": video.rel, **info, "source": {"path": video.src, **source}}
            try:
                atomic_write_bytes(output / video.rel, data)
            except OSError as exc:
                raise _write_error(output / video.rel, exc, output, len(done), len(unique)) from None
            try:
                _append(output, entry)
            except OSError as exc:  # the video is whole at its name: the next run reads its facts from it
                raise _write_error(_state(output) / "done.jsonl", exc, output, len(done) + 1, len(unique)) from None
            done[video.rel] = entry
        bar.update(1)

    try:
        if workers <= 1:
            for video in todo:
                finish(video, prepare_one(video.src, *args))
        else:
            import multiprocessing

            with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                pending = {}
                queue = iter(todo)
                try:
                    for video in queue:  # keep 2 per worker in flight: bounded memory for the encoded bytes
                        pending[pool.submit(prepare_one, video.src, *args)] = video
                        if len(pending) >= 2 * workers:
                            break
                    while pending:
                        ready, _ = wait(pending, return_when=FIRST_COMPLETED)
                        for fut in ready:
                            finish(pending.pop(fut), fut.result())
                            nxt = next(queue, None)
                            if nxt is not None:
                                pending[pool.submit(prepare_one, nxt.src, *args)] = nxt
                except BaseException:
                    for fut in pending:
                        fut.cancel()
                    raise
    finally:
        bar.close()
    report = {"output": str(output), "settings": plan.settings, "splits": {}}
    for split, videos in plan.splits.items():
        entries = [done[v.rel] for v in videos if v.rel in done]
        bad = [{"path": v.src, "reason": skipped[v.rel]} for v in videos if v.rel in skipped]
        manifest = {"version": 1, "dataset": plan.dataset, "split": split, "classes": plan.classes[split],
                    "settings": plan.settings, "source_root": str(plan.root),
                    "videos": [{k: e[k] for k in ("path", "duration", "fps", "frames", "width", "height", "bytes",
                                                  "source")} for e in entries],
                    "skipped": bad}
        try:
            atomic_write_bytes(output / MANIFEST.format(split=split), json.dumps(manifest, indent=1).encode())
        except OSError as exc:
            raise _write_error(output / MANIFEST.format(split=split), exc, output, len(done), len(unique)) from None
        report["splits"][split] = {"videos": len(videos), "prepared": len(entries), "skipped": bad,
                                   "bytes": sum(e["bytes"] for e in entries)}
    report["encoded"] = len(todo) - len(skipped)
    report["already_done"] = len(unique) - len(todo)
    return report
