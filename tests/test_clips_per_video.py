"""--data.clips_per_video K: K clips from one opened and decoded span; batches count clips; epochs visit videos once."""

from __future__ import annotations

import random
from collections import Counter

import pytest
import torch

from conftest import TINY, run_cli
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


def test_shared_decode_gives_each_window_the_ordinary_clip(demo_dir):
    path = sorted((demo_dir / "train").rglob("*.mp4"))[0]
    windows = multiclip.span_windows(_video.probe(path).duration, 2.0, 3, random.Random(1))
    plan = DecodePlan(num_frames=4, short_side=40)
    shared = multiclip.decode_clips(path, windows, plan)
    for clip, (s, e) in zip(shared, windows):
        assert torch.equal(clip, _video.decode_clip(path, s, e, plan))
    assert multiclip.span_windows(1.5, 2.0, 2) == [(0.0, 2.0), (0.0, 2.0)]  # shorter than a clip: pytorchvideo's clip
    for s, e in multiclip.span_windows(10.0, 2.0, 4, random.Random(2)):
        assert 0 <= s and e <= 10.0 and e - s == pytest.approx(2.0)


def test_batches_count_clips_and_the_epoch_visits_each_video_once(demo_dir):
    from vidzoo.data.datamodule import VideoDataModule

    dm = VideoDataModule("kinetics", {"data_path": str(demo_dir)}, "kinetics", SMALL, batch_size=8, num_workers=0,
                         clips_per_video=4)
    loader = dm.train_dataloader()
    batches = list(loader)
    n_videos = len(dm.dataset("train").videos)
    assert [b["video"].shape[0] for b in batches] == [8] * (n_videos // 2)
    seen = Counter(int(v) for b in batches for v in b["video_index"])
    assert seen == Counter({i: 4 for i in range(n_videos)})
    assert len(dm.val_dataloader().dataset) >= len(dm.dataset("val").videos)  # eval unchanged: one clip per item
    with pytest.raises(Exception, match="must be 1 or more and divide --data.batch_size"):
        VideoDataModule("kinetics", {"data_path": str(demo_dir)}, batch_size=8, clips_per_video=3)


def test_run_with_two_clips_per_video(demo_dir, tmp_path):
    result = run_cli("run", "--dataset", "kinetics", "--backbone", "resnet3d50", "--dataset.data_path", str(demo_dir),
                     "--output", str(tmp_path), *TINY, "--data.clips_per_video", "2",
                     env={"VIDZOO_LOAD_PLUGINS": ""})
    assert result.returncode == 0, result.stderr[-3000:]
