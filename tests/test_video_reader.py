"""The fast clip reader (vidzoo.data.video.decode_clip) against pytorchvideo's own decoding, on real mp4 files.

Files written here with PyAV cover what real videos throw at a reader: B-frames, variable
frame rate, an audio stream, 176x144 and 1280x720 frames, odd sizes (yuv444p, 175x99),
portrait frames and videos shorter than the clip.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

import vidzoo  # noqa: F401  (installs the torchvision alias pytorchvideo.transforms needs)
from vidzoo.data.decode_plan import DecodePlan, codec_threads, short_side_size, uniform_indices
from vidzoo.data.video import VideoReadError, decode_clip, read_clip


def write(path: Path, w: int, h: int, seconds: float, fps: int = 30, pix_fmt: str = "yuv420p", vfr: bool = False,
          audio: bool = False, seed: int = 0, options: dict | None = None) -> Path:
    """H.264 with B-frames (pts and dts differ), optional variable frame rate and AAC audio; ``options``
    go to libx264 (keyframe interval, open GOP)."""
    import av

    rng = np.random.default_rng(seed)
    tb = Fraction(1, 1000)
    # A panning texture with coloured blocks: motion, detail and chroma edges.
    texture = np.kron(rng.integers(0, 256, (h // 4 + 1, w // 2 + 1, 3)), np.ones((4, 4, 1))).astype(np.uint8)[:h]
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = w, h, pix_fmt
        video.options = {"preset": "veryfast", "crf": "23", "bframes": "3", **(options or {})}
        video.codec_context.time_base = tb
        sound = container.add_stream("aac", rate=22050) if audio else None
        t, samples = 0, 0
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(texture[:, i:i + w]), format="rgb24")
            frame.pts, frame.time_base = t, tb
            t += int(rng.choice([20, 33, 50, 80])) if vfr else 1000 // fps
            for packet in video.encode(frame):
                container.mux(packet)
            while sound is not None and samples < t * 22.05:
                chunk = av.AudioFrame.from_ndarray(
                    (0.1 * np.sin(np.arange(samples, samples + 1024) / 10.0))[None].astype(np.float32),
                    format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts, chunk.time_base = 22050, samples, Fraction(1, 22050)
                samples += 1024
                for packet in sound.encode(chunk):
                    container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if sound is not None:
            for packet in sound.encode():
                container.mux(packet)
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("reader")
    return {
        "cfr": write(root / "cfr.mp4", 96, 72, 3.0),
        "vfr_audio": write(root / "vfr_audio.mp4", 176, 144, 3.0, vfr=True, audio=True, seed=1),
        "odd_444": write(root / "odd_444.mp4", 175, 99, 2.0, pix_fmt="yuv444p", seed=2),
        "portrait": write(root / "portrait.mp4", 72, 128, 2.0, fps=25, seed=3),
        "short": write(root / "short.mp4", 64, 48, 0.6, seed=4),
        "hd": write(root / "hd.mp4", 1280, 720, 0.5, seed=5),
        # Short GOPs, where the reader jumps from IDR frame to IDR frame (vidzoo.data.skipping): as
        # `vidzoo prepare` encodes, every 4 or 8 frames, and open GOPs whose I-frames are not IDR (no jumps).
        "prepared_k4": write(root / "prepared_k4.mp4", 96, 72, 3.0, seed=6, options=SHORT_GOP("4")),
        "k8_vfr": write(root / "k8_vfr.mp4", 96, 72, 3.0, vfr=True, seed=7, options=SHORT_GOP("8")),
        "open_gop": write(root / "open_gop.mp4", 96, 72, 3.0, seed=8,
                          options={"g": "12", "x264-params": "open-gop=1:b-pyramid=normal"}),
    }


def SHORT_GOP(keyint: str) -> dict:
    return {"g": keyint, "keyint_min": keyint, "x264-params": "b-pyramid=none"}


def pytorchvideo_clip(path, start, end):
    """pytorchvideo's EncodedVideo (PyAV) clip: frames (C, T, H, W) float and their times in seconds."""
    from pytorchvideo.data.encoded_video import EncodedVideo

    video = EncodedVideo.from_path(str(path), decode_audio=False, decoder="pyav")
    try:
        clip = video.get_clip(start, end)["video"]
        base, first = video._video_time_base, video._video_start_pts
        start_pts = np.ceil(start / base) + first
        end_pts = np.ceil(end / base) + first
        pts = sorted(p for _, p in video._video if start_pts <= p < end_pts)
    finally:
        video.close()
    return clip, [float((p - first) * base) for p in pts]


WINDOWS = [(0, 2), (Fraction(1, 3), Fraction(7, 3)), (0.5, 1.25), (1.9, 3.9), (Fraction(5, 2), Fraction(9, 2))]


@pytest.mark.parametrize("name", ["cfr", "vfr_audio", "odd_444", "portrait", "short", "hd", "prepared_k4", "k8_vfr",
                                  "open_gop"])
def test_read_clip_is_pytorchvideos_clip_and_the_plan_keeps_its_subsampled_frames(videos, name, monkeypatch):
    from pytorchvideo.transforms.functional import uniform_temporal_subsample

    import vidzoo.data.video

    fallbacks = []  # the planned path (packet times, skipped frames) must serve all these files
    real = vidzoo.data.video._decode_all
    monkeypatch.setattr(vidzoo.data.video, "_decode_all", lambda *a: fallbacks.append(1) or real(*a))

    path = videos[name]
    windows = WINDOWS[:2] if name == "hd" else WINDOWS
    checked = 0
    for start, end in windows:
        try:
            ref, ref_times = pytorchvideo_clip(path, start, end)
        except Exception:
            ref = None
        if ref is None:  # window past the end: pytorchvideo has no frames; we raise
            with pytest.raises(VideoReadError, match="no frames"):
                read_clip(path, start, end)
            continue
        ours, times = decode_clip(path, start, end, with_times=True)
        assert times == pytest.approx(ref_times, abs=1e-9), (name, start, end)
        assert torch.equal(ours.float(), ref), (name, start, end)
        assert torch.equal(read_clip(path, start, end), ref)
        for n in (8, 3, ref.shape[1] + 5):  # fewer, and more frames than the window has (repeats)
            kept, kept_times = decode_clip(path, start, end, DecodePlan(num_frames=n), with_times=True)
            idx = uniform_indices(len(ref_times), n)
            assert kept_times == pytest.approx([ref_times[i] for i in idx], abs=1e-9)
            assert torch.equal(kept.float(), uniform_temporal_subsample(ref, n))
        checked += 1
    assert checked >= 1 and not fallbacks


def test_the_test_videos_have_b_frames_variable_rate_and_audio(videos):
    import av

    with av.open(str(videos["vfr_audio"])) as container:
        assert [s.type for s in container.streams] == ["video", "audio"]
        packets = [p for p in container.demux(container.streams.video[0]) if p.size]
    pts = [p.pts for p in packets]
    assert pts != sorted(pts)  # presentation order differs from decode order: B-frames
    gaps = np.diff(sorted(pts))
    assert len(set(gaps.tolist())) > 2  # variable frame rate


def _window_modes(path, start: float, end: float, frames: int = 8):
    """The reader's skip mode per packet for a clip [start, end) keeping ``frames`` frames."""
    import av

    from vidzoo.data import video as reader
    from vidzoo.data.skipping import skip_modes

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start_pts = reader.secs_to_pts(start, stream.time_base, stream.start_time or 0)
        end_pts = reader.secs_to_pts(end, stream.time_base, stream.start_time or 0)
        container.seek(max(start_pts - reader.SEEK_MARGIN_PTS, 0), backward=True, stream=stream)
        packets = reader._window_packets(container, stream, end_pts)
        window = sorted(p.pts for p in packets if start_pts <= p.pts < end_pts)
        wanted = {window[i] for i in uniform_indices(len(window), frames)}
        return skip_modes(stream, packets, wanted), [p.is_keyframe for p in packets]


def test_short_gops_let_the_reader_jump_between_idr_frames_and_open_gops_do_not(videos):
    modes, keyframes = _window_modes(videos["prepared_k4"], 0.4, 2.4)
    last_kept = max(i for i, m in enumerate(modes) if m == "DEFAULT")
    jumped = modes[:last_kept].count("ALL")
    assert jumped >= len(modes) // 3, modes  # whole runs of packets between a kept frame and the next IDR
    assert sum(keyframes) >= 12
    # open GOP: its later I-frames are not IDR (frames after them may reference earlier ones): no jumps
    modes, keyframes = _window_modes(videos["open_gop"], 0.4, 2.4)
    last_kept = max(i for i, m in enumerate(modes) if m == "DEFAULT")
    assert sum(keyframes[1:]) >= 2 and "ALL" not in modes[:last_kept], (keyframes, modes)


def test_uniform_indices_are_pytorchvideos():
    from pytorchvideo.transforms.functional import uniform_temporal_subsample

    for total in (1, 2, 7, 15, 60, 61, 300):
        for n in (1, 4, 8, 32, 64):
            x = torch.arange(total).view(1, total, 1, 1)
            assert uniform_indices(total, n) == uniform_temporal_subsample(x, n).flatten().tolist()


def test_short_side_size_matches_short_side_scale():
    from pytorchvideo.transforms.functional import short_side_scale

    for w, h, s in ((340, 256, 256), (1280, 720, 256), (175, 99, 112), (72, 128, 36), (176, 144, 300)):
        out = short_side_scale(torch.zeros(3, 1, h, w), s)
        assert short_side_size(w, h, s) == (out.shape[-1], out.shape[-2])


def _seed_and_fast(path, start, end, **options):
    from vidzoo.default_plugins.kinetics_transforms import kinetics_transform

    transform = kinetics_transform("val", **options)
    seed = transform.recipe({"video": read_clip(path, start, end)})["video"]
    plan = transform.decode_plan()
    fast = transform({"video": decode_clip(path, start, end, plan), "decode_plan": plan})["video"]
    assert fast.shape == seed.shape and fast.dtype == seed.dtype == torch.float32
    return seed, fast, transform


def _levels(seed, fast):  # absolute difference in 0..255 pixel levels (undoing the normalisation)
    return ((fast - seed) * 0.225 * 255).abs()


def test_eval_without_resize_is_exactly_the_seed(videos):
    # Frames already at the eval short side (Kinetics' 340x256 at 256): nothing to scale.
    seed, fast, _ = _seed_and_fast(videos["cfr"], 0.5, 2.5, eval_short_side=72, crop_size=64)
    assert torch.equal(fast, seed)


RESIZE_CASES = [("cfr", 112, 96), ("vfr_audio", 200, 160), ("portrait", 90, 80), ("odd_444", 128, 112),
                ("vfr_audio", 100, 96), ("hd", 128, 112)]  # enlarging, then shrinking


@pytest.mark.parametrize("name,short,crop", RESIZE_CASES)
def test_eval_resizing_in_the_reader_matches_the_seed_within_one_level(videos, name, short, crop):
    # The stated tolerance of the default (resize="uint8"): every pixel within 1/255 of the
    # seed's, enlarging or shrinking (torch's bilinear on uint8 rounds; the seed's is float).
    end = 0.5 if name == "hd" else 2
    seed, fast, _ = _seed_and_fast(videos[name], 0, end, eval_short_side=short, crop_size=crop)
    diff = _levels(seed, fast)
    assert diff.max() <= 1.01, diff.max()  # 1 level, plus float noise of undoing the normalisation


def test_resize_float_is_exactly_the_seed(videos):
    seed, fast, _ = _seed_and_fast(videos["hd"], 0, 0.5, eval_short_side=128, crop_size=112, resize="float")
    assert torch.equal(fast, seed)


def test_resize_swscale_scales_in_the_decoder_with_its_own_filter(videos):
    # swscale's bilinear: the same sizes; pixels differ from the seed's where the filters
    # differ (chroma interpolation, antialiasing when shrinking): this block-noise video
    # is a worst case; docs/performance.md gives the figures on the benchmark videos.
    import torch.nn.functional as F

    seed, fast, _ = _seed_and_fast(videos["cfr"], 0, 2, eval_short_side=112, crop_size=96, resize="swscale")
    assert _levels(seed, fast).mean() <= 12.0
    path = videos["hd"]
    frames = decode_clip(path, 0, 0.5, DecodePlan(num_frames=8)).float()
    w, h = short_side_size(1280, 720, 128)
    ours = decode_clip(path, 0, 0.5, DecodePlan(num_frames=8, short_side=128, resize="swscale")).float()
    assert ours.shape == (3, 8, h, w)
    # Shrinking: close to torch's antialiased bilinear on the RGB frames (luma exact, chroma filtered).
    antialiased = F.interpolate(frames, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
    plain = F.interpolate(frames, size=(h, w), mode="bilinear", align_corners=False)
    assert (ours - antialiased).abs().mean() < (ours - plain).abs().mean()


def test_dataset_eval_uses_the_fast_path_and_equals_the_seed(tmp_path, videos):
    import os

    from vidzoo.default_plugins.kinetics import kinetics
    from vidzoo.default_plugins.kinetics_transforms import kinetics_transform

    for split in ("train", "val"):
        for cls in ("a", "b"):
            (tmp_path / split / cls).mkdir(parents=True)
        os.symlink(videos["cfr"], tmp_path / split / "a" / "x.mp4")
        os.symlink(videos["vfr_audio"], tmp_path / split / "b" / "y.mp4")
    transform = kinetics_transform("val", eval_short_side=160, crop_size=96)  # both videos are enlarged
    dataset = kinetics("val", transform, data_path=str(tmp_path))
    assert len(dataset) == 2  # one whole 2 s clip in each 3 s video (pytorchvideo's uniform sampler)
    calls = []
    plan_fn = transform.decode_plan
    transform.decode_plan = lambda: calls.append(1) or plan_fn()  # count, keep behaviour
    for i in range(len(dataset)):
        sample = dataset[i]
        video_index, start, end = dataset.index[i]
        seed = transform.recipe({"video": read_clip(dataset.videos[video_index][0], start, end)})["video"]
        assert "decode_plan" not in sample and sample["video"].shape == (3, 8, 96, 96)
        assert _levels(seed, sample["video"]).max() <= 1.01
    assert len(calls) == len(dataset)


def test_train_plan_draws_sizes_like_random_short_side_scale(videos):
    from vidzoo.default_plugins.kinetics_transforms import kinetics_transform

    transform = kinetics_transform("train", min_short_side=80, max_short_side=84, crop_size=64, num_frames=4)
    torch.manual_seed(0)
    sizes = {transform.decode_plan().short_side for _ in range(200)}
    assert sizes == {80, 81, 82, 83, 84}
    plan = dataclasses.replace(transform.decode_plan(), short_side=84)
    clip = decode_clip(videos["cfr"], 0, 2, plan)
    assert clip.dtype == torch.uint8 and clip.shape == (3, 4, 84, 112)
    out = transform({"video": clip, "decode_plan": plan, "label": 1})
    assert out["video"].shape == (3, 4, 64, 64) and out["video"].dtype == torch.float32 and out["label"] == 1


def test_threads_give_the_same_frames_and_are_split_among_workers(videos):
    path = videos["vfr_audio"]
    plan = DecodePlan(num_frames=8, short_side=160)
    assert torch.equal(decode_clip(path, 0.3, 2.3, plan, threads=1), decode_clip(path, 0.3, 2.3, plan, threads=3))
    assert codec_threads(5) == 5
    loader = torch.utils.data.DataLoader(_ThreadsSeen(), num_workers=2, batch_size=None)
    from vidzoo.data.decode_plan import available_cpus

    assert set(loader) == {max(1, available_cpus() // 2)}


class _ThreadsSeen(torch.utils.data.Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        return codec_threads()


def test_unreadable_files_raise_a_clear_error(tmp_path, videos):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("not a video\n" * 100)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(videos["cfr"].read_bytes()[:2000])
    for path in (tmp_path / "missing.mp4", tmp_path / "empty.mp4", tmp_path / "text.mp4", truncated):
        with pytest.raises(VideoReadError, match="cannot read video .*" + path.name):
            decode_clip(path, 0, 1, DecodePlan(num_frames=4))
    with pytest.raises(VideoReadError, match="no frames between 9.00s and 11.00s"):
        read_clip(videos["cfr"], 9, 11)


class _NoPlan:
    """A wrapper transform whose decode_plan() has nothing to pass on (returns None)."""

    def __init__(self, inner):
        self.inner = inner

    def decode_plan(self):
        return None

    def __call__(self, sample):
        return self.inner(sample)


def test_dataset_without_a_plan_gets_every_frame_as_float(videos):
    from vidzoo.data.clips import ClipDataset
    from vidzoo.default_plugins.kinetics_transforms import kinetics_transform

    seed = kinetics_transform("val", eval_short_side=72, crop_size=64).recipe
    dataset = ClipDataset([(str(videos["cfr"]), 0)], ["a"], clip_sampler="uniform", transform=_NoPlan(seed))
    sample = dataset[0]
    expected = seed({"video": read_clip(videos["cfr"], *dataset.index[0][1:])})["video"]
    assert "decode_plan" not in sample and torch.equal(sample["video"], expected)
