"""Reading video files: duration probing and clip decoding (PyAV)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class VideoInfo:
    duration: float
    fps: float
    width: int
    height: int


def probe(path: str) -> VideoInfo:
    """Container-level facts about a video, read from its header (no decoding)."""
    import av

    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError("no video stream")
        stream = container.streams.video[0]
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        else:
            raise ValueError("unknown duration")
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        return VideoInfo(duration, fps, stream.codec_context.width, stream.codec_context.height)


def probe_many(paths: list[str], threads: int = 8) -> list[VideoInfo | Exception]:
    """probe() for many files at once (header reads are I/O bound, so threads help)."""

    def safe(path):
        try:
            return probe(path)
        except Exception as exc:  # reported by the caller, with the path
            return exc

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(safe, paths))


def read_clip(path: str, start: float | Fraction, end: float | Fraction):
    """Frames in [start, end) as a float32 tensor (C, T, H, W) in 0..255.

    Decoded exactly as pytorchvideo's Kinetics pipeline does (EncodedVideo, PyAV).
    """
    from pytorchvideo.data.encoded_video import EncodedVideo

    video = EncodedVideo.from_path(str(path), decode_audio=False, decoder="pyav")
    try:
        clip = video.get_clip(start, end)["video"]
    finally:
        video.close()
    if clip is None:
        raise ValueError(f"no frames between {float(start):.2f}s and {float(end):.2f}s")
    return clip
