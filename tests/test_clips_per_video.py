"""--data.clips_per_video K: K clips from one opened and decoded span; batches count clips; epochs visit videos once."""

from __future__ import annotations

import random
from collections import Counter

import pytest
import torch

from conftest import TINY, run_cli
from faultkit import plugin_env
from vidzoo.data import multiclip
from vidzoo.data import video as _video
from vidzoo.data.decode_plan import DecodePlan

SMALL = {"num_frames": 4, "crop_size": 32, "min_short_side": 36, "max_short_side": 44, "eval_short_side": 36}


def _train_dataset(demo_dir, k: int):
    from vidzoo.default_plugins.kinetics import kinetics
    from vidzoo.default_plugins.kinetics_transforms import kinetics_transform

    from vidzoo.data.bad_videos import BadVideoPolicy

    ds = kinetics("train", kinetics_transform("train", **SMALL), data_path=str(demo_dir))
    ds.configure_loading(BadVideoPolicy("train"), clips_per_video=k)
    return ds


def test_k_clips_from_one_open_are_distinct(demo_dir, monkeypatch):
    opens = Counter()
    real_open = _video._open

    def counting_open(path):
        opens[path] += 1
        return real_open(path)

    monkeypatch.setattr(_video, "_open", counting_open)
    ds = _train_dataset(demo_dir, 4)
    torch.manual_seed(0)
    random.seed(0)
    item = ds[0]
    assert isinstance(item, list) and len(item) == 4
    assert opens == Counter({ds.videos[0][0]: 1})  # one open, one seek, one decode for the 4 clips
    clips = [s["video"] for s in item]
    assert all(c.shape == (3, 4, 32, 32) for c in clips)
    assert all(not torch.equal(a, b) for i, a in enumerate(clips) for b in clips[i + 1:])  # crops/flips/windows differ
    assert len({s["clip_start"] for s in item}) == 4 and {s["label"] for s in item} == {ds.videos[0][1]}


def test_shared_decode_gives_the_first_window_its_ordinary_clip_and_the_others_its_grid(demo_dir):
    path = sorted((demo_dir / "train").rglob("*.mp4"))[0]
    duration = _video.probe(path).duration
    plan = DecodePlan(num_frames=4, short_side=40)
    every, every_time = _video.decode_clip(path, 0, duration + 1, DecodePlan(short_side=40), with_times=True)
    frame_s = every_time[1] - every_time[0]
    for seed in range(6):
        windows = multiclip.span_windows(duration, 2.0, 3, random.Random(seed))
        shared, times = multiclip.decode_clips(path, windows, plan, with_times=True)
        earliest = min(range(3), key=lambda i: windows[i][0])
        assert torch.equal(shared[earliest], _video.decode_clip(path, *windows[earliest], plan))  # the ordinary clip
        base = [b - a for a, b in zip(times[earliest], times[earliest][1:])]
        for clip, t, (s, e) in zip(shared, times, windows):
            assert torch.equal(clip, every[:, [every_time.index(x) for x in t]])  # real frames, decoded as usual
            assert [b - a for a, b in zip(t, t[1:])] == pytest.approx(base, abs=frame_s * 1.01)  # same spacing
            # the grid step nearest the window's start, or the one before it
            assert -(base[0] / 2 + frame_s) * 1.01 <= s - t[0] <= (base[0] + frame_s) * 1.01
        assert len({x for t in times for x in t}) <= 4 + 1  # frames shared: at most one grid step in 0.5 s
    assert multiclip.span_windows(1.5, 2.0, 2) == [(0.0, 2.0), (0.0, 2.0)]  # shorter than a clip: pytorchvideo's clip
    for s, e in multiclip.span_windows(10.0, 2.0, 4, random.Random(2)):
        assert 0 <= s and e <= 10.0 and e - s == pytest.approx(2.0)


def test_grid_keeps_shift_whole_steps_and_fall_back_at_the_end():
    pts = list(range(100))
    windows = [list(range(19, 49)), list(range(10, 40)), list(range(12, 42)), list(range(75, 100))]
    keeps = multiclip.grid_keeps(pts, windows, 4)
    assert keeps[1] == [10, 19, 29, 39]  # the earliest: uniform_indices(30, 4) = 0, 9, 19, 29 (pytorchvideo's)
    assert keeps[0] == [19, 29, 39, 48]  # 9 frames later is one step (29/3 frames): shares 19, 29, 39
    assert keeps[2] == keeps[1]  # 2 frames after the earliest start: no step
    assert keeps[3] == [68, 77, 87, 97]  # 6.7 steps: the nearest (7) would pass frame 99, the step before fits
    reordered = multiclip.grid_keeps(pts, [windows[1], windows[0], windows[2], windows[3]], 4)
    assert reordered == [keeps[1], keeps[0], keeps[2], keeps[3]]  # the base is the earliest, wherever it is
    # a short window at the end that fits no step keeps its own uniform subsample
    assert multiclip.grid_keeps(list(range(90)), [list(range(10, 40)), list(range(75, 90))], 4)[1] == [75, 79, 84, 89]


def test_batches_count_clips_and_the_epoch_visits_each_video_once(demo_dir):
    from vidzoo.data.datamodule import DataOptions, build_dataset
    from vidzoo.training.datamodule import VideoDataModule

    def datasets(split):
        return build_dataset("kinetics", {"data_path": str(demo_dir)}, split, "kinetics", SMALL)

    dm = VideoDataModule(datasets, DataOptions(batch_size=8, num_workers=0, clips_per_video=4))
    loader = dm.train_dataloader()
    batches = list(loader)
    n_videos = len(dm.dataset("train").videos)
    assert [b["video"].shape[0] for b in batches] == [8] * (n_videos // 2)
    seen = Counter(int(v) for b in batches for v in b["video_index"])
    assert seen == Counter({i: 4 for i in range(n_videos)})
    assert len(dm.val_dataloader().dataset) >= len(dm.dataset("val").videos)  # eval unchanged: one clip per item
    with pytest.raises(Exception, match="must be 1 or more and divide --data.batch_size"):
        VideoDataModule(datasets, DataOptions(batch_size=8, clips_per_video=3))


def test_run_with_two_clips_per_video(demo_dir, tmp_path):
    # the batches are tested, not the model: a tiny backbone
    result = run_cli("run", "--dataset", "kinetics", "--backbone", "faultkit-tiny", "--dataset.data_path",
                     str(demo_dir), "--output", str(tmp_path / "runs"), *TINY, "--data.clips_per_video", "2",
                     env=plugin_env(tmp_path / "site"))
    assert result.returncode == 0, result.stderr[-3000:]
