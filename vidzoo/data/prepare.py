"""`vidzoo prepare`: a training-ready copy of a dataset, made once: the encoding and the plan.

Training decodes each clip from the keyframe before it, at the video's full size. Typical
sources (x264's default keyframe every 250 frames, 720p and more) make that most of the
data path's cost. The prepared copy is H.264 at a short side of 256 (never upscaled), with a
keyframe every ``keyint`` frames and B-frames that nothing references (so the reader skips
the ones a clip does not keep), no audio, in the same folders under the same names, so the
same dataset plugin reads it with the same classes. Its manifests
(``vidzoo-manifest.<split>.json``) hold each video's duration, fps, frame count and size,
which ClipDataset reads instead of opening every header (vidzoo.data.manifest).

This module re-encodes one video (``encode_video``) and plans the copy (``make_plan``: which
videos, where they go, the other files). ``vidzoo.data.prepare_runner`` carries a plan out, in
parallel and resumably (``run``), or says what that would take (``dry_run``).
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from vidzoo.data import VIDEO_EXTENSIONS
from vidzoo.errors import VidzooError

DEFAULT_SHORT_SIDE = 256
DEFAULT_KEYINT = 32  # frames between keyframes: as fast as 16 and 8 in benchmarks/prepare.py, with less disk (docs/data.md)
# x264's fastdecode tune (CAVLC instead of CABAC, no deblocking, no weighted prediction): 2x the
# clips per CPU-second of the default tune in benchmarks/prepare.py, for 1.2-1.5x the disk (docs/data.md).
TUNE = "fastdecode"
DEFAULT_CRF = 23  # x264's default quality
DEFAULT_PRESET = "fast"
STATE_DIR = ".vidzoo-prepare"  # the runner's settings and journal, inside the output
SPLITS = ("train", "val", "test")


def output_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """The prepared frame size: the short side scaled to ``short_side`` (never up), both sides even (yuv420p)."""
    short = min(width, height)
    if short_side and short > short_side:
        scale = short_side / short
        width, height = (short_side, round(height * scale)) if width <= height else (round(width * scale), short_side)
    return max(2, width - width % 2), max(2, height - height % 2)


def x264_options(keyint: int, crf: int = DEFAULT_CRF, preset: str = DEFAULT_PRESET) -> dict:
    # b-pyramid=none: no frame references a B-frame, so the reader's decoder skips every B-frame a
    # clip does not keep (vidzoo.data.video._decoded_frames). threads=1: prepare runs one video per core.
    return {"crf": str(crf), "preset": preset, "tune": TUNE, "g": str(keyint), "keyint_min": str(min(keyint, 25)),
            "x264-params": "b-pyramid=none", "threads": "1"}


def encode_video(src_path, *, short_side: int = DEFAULT_SHORT_SIDE, keyint: int = DEFAULT_KEYINT,
                 crf: int = DEFAULT_CRF, preset: str = DEFAULT_PRESET) -> bytes:
    """The video at ``src_path`` re-encoded for training, as the bytes of an mp4 (made in memory).

    H.264 (yuv420p), short side ``short_side`` (never upscaled), a keyframe every ``keyint``
    frames, the source's frame rate and frame count, no audio. Raises
    vidzoo.data.video.VideoReadError for a source that cannot be read.
    """
    import av
    from av.video.reformatter import Interpolation, VideoReformatter

    from vidzoo.data.video import VideoReadError
    from vidzoo.messages import one_line

    if keyint < 1:
        raise VidzooError(f"keyint must be 1 or more, got {keyint}")
    buf = io.BytesIO()
    try:
        with av.open(str(src_path)) as src:
            if not src.streams.video:
                raise VideoReadError(f"cannot read video {src_path}: it has no video stream")
            ins = src.streams.video[0]
            ins.thread_count = 1
            rate = Fraction(ins.average_rate or ins.guessed_rate or 30)
            width, height = output_size(ins.codec_context.width, ins.codec_context.height, short_side)
            reformatter = VideoReformatter()
            with av.open(buf, mode="w", format="mp4") as dst:
                out = dst.add_stream("libx264", rate=rate)
                out.width, out.height, out.pix_fmt = width, height, "yuv420p"
                out.options = x264_options(keyint, crf, preset)
                for i, frame in enumerate(src.decode(ins)):
                    # Constant frame rate at the source's average: the frame count and duration are kept.
                    new = reformatter.reformat(frame, width=width, height=height, format="yuv420p",
                                               interpolation=Interpolation.AREA)
                    new.pts, new.time_base = i, 1 / rate
                    for packet in out.encode(new):
                        dst.mux(packet)
                for packet in out.encode():
                    dst.mux(packet)
    except VideoReadError:
        raise
    except VidzooError:
        raise
    except Exception as exc:
        raise VideoReadError(f"cannot read video {src_path}: {one_line(exc)}") from None
    return buf.getvalue()


def facts(data: bytes) -> dict:
    """The manifest facts of an encoded video (from its header: what vidzoo.data.video.probe would read)."""
    import av

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        return {"duration": float(stream.duration * stream.time_base), "fps": float(stream.average_rate),
                "frames": int(stream.frames), "width": stream.codec_context.width,
                "height": stream.codec_context.height, "bytes": len(data)}


def source_facts(path: str) -> dict:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    st = os.stat(path)
    return {"sha256": h.hexdigest(), "bytes": st.st_size, "mtime": st.st_mtime}


@dataclass
class Video:
    src: str
    label: int
    rel: str  # path under the source root and the output


@dataclass
class Plan:
    dataset: str
    root: Path
    output: str
    splits: dict[str, list[Video]]
    classes: dict[str, list[str]]
    settings: dict
    extra_files: list[str] = field(default_factory=list)  # annotation files etc., relative to root

    def unique(self) -> dict[str, Video]:
        out = {}
        for videos in self.splits.values():
            for v in videos:
                out.setdefault(v.rel, v)
        return out


def load_splits(dataset: str, options: dict, splits: list[str] | None) -> tuple[dict, dict]:
    """{split: ClipDataset} for the requested splits (default: those of train, val, test that exist)."""
    from vidzoo.plugins import get_registry

    factory = get_registry().get("dataset", dataset).factory
    out = {}
    for split in splits or SPLITS:
        try:
            ds = factory(split, None, **options)
        except VidzooError:
            if splits or split == "train":
                raise
            continue  # a split this dataset does not have
        if not hasattr(ds, "videos") or not hasattr(ds, "classes"):
            raise VidzooError(f"dataset {dataset!r} does not list its videos (no `videos` attribute of (path, label) "
                              f"pairs); prepare needs a dataset built on vidzoo.data.clips.ClipDataset")
        out[split] = ds
    return out, {s: list(ds.classes) for s, ds in out.items()}


def make_plan(dataset: str, options: dict, output: str, splits: list[str] | None = None, *,
              short_side: int = DEFAULT_SHORT_SIDE, keyint: int = DEFAULT_KEYINT, crf: int = DEFAULT_CRF,
              preset: str = DEFAULT_PRESET, local: bool = True) -> Plan:
    if short_side < 2:
        raise VidzooError(f"--short-side must be 2 or more, got {short_side}")
    if keyint < 1:
        raise VidzooError(f"--keyint must be 1 or more, got {keyint}")
    datasets, classes = load_splits(dataset, options, splits)
    paths = [os.path.abspath(p) for ds in datasets.values() for p, _ in ds.videos]
    if not paths:
        raise VidzooError(f"dataset {dataset!r} lists no videos")
    data_path = options.get("data_path")
    root = Path(os.path.abspath(os.path.expanduser(data_path))) if data_path else Path(os.path.commonpath(paths))
    if not data_path and len(set(paths)) == 1:
        root = root.parent
    per_split = {}
    for split, ds in datasets.items():
        videos = []
        for p, label in ds.videos:
            rel = os.path.relpath(os.path.abspath(p), root)
            if rel.startswith(os.pardir):
                raise VidzooError(f"video {p} of the {split} split is outside the dataset folder {root}; "
                                  f"prepare keeps paths relative to it (move the video under it)")
            videos.append(Video(os.path.abspath(p), int(label), rel))
        per_split[split] = videos
    if local:
        out = Path(os.path.abspath(output))
        if out == root or root in out.parents:
            raise VidzooError(f"--output {out} is inside the dataset folder {root}; choose a folder outside it")
        if out.exists() and not out.is_dir():
            raise VidzooError(f"--output {out} is a file, not a folder; choose another --output")
    listed = {os.path.abspath(p) for p in paths}
    extra = []
    for dirpath, dirnames, names in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != STATE_DIR]
        for n in names:
            full = os.path.join(dirpath, n)
            if full in listed or n.lower().endswith(VIDEO_EXTENSIONS) or n.endswith(".tmp"):
                continue
            if n.startswith("vidzoo-manifest."):
                continue
            extra.append(os.path.relpath(full, root))
    settings = {"short_side": short_side, "keyint": keyint, "crf": crf, "preset": preset, "codec": "h264",
                "tune": TUNE}
    return Plan(dataset, root, output, per_split, classes, settings, sorted(extra))


def describe(plan: Plan) -> str:
    s = plan.settings
    return (f"vidzoo prepare: {plan.dataset} at {plan.root} -> {plan.output} (H.264 crf {s['crf']}, short side "
            f"{s['short_side']} (never upscaled), a keyframe every {s['keyint']} frames, no audio)")
