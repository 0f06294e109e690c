"""The kinetics dataset: the three layouts it reads, clip sampling, missing-video reports."""

from __future__ import annotations

import shutil

import pytest
import torch

from vidzoo.data.clips import uniform_clip_times
from vidzoo.testing import write_video
from vidzoo.errors import VidzooError
from vidzoo.plugins import get_registry


def kinetics(split, path, **kw):
    return get_registry().get("dataset", "kinetics").factory(split, None, data_path=str(path), **kw)


def test_class_folder_layout(demo_dir):
    train, val = kinetics("train", demo_dir), kinetics("val", demo_dir)
    assert train.classes == val.classes == ["grow", "move_down", "move_up", "shrink"]
    assert len(train) == 24  # one random clip per video
    sample = train[0]
    assert sample["video"].shape[0] == 3 and sample["video"].dtype == torch.float32
    assert sample["label"] == 0 and sample["video"].shape[2:] == (48, 64)


def test_uniform_eval_sampling_counts_clips_from_durations(demo_dir):
    val = kinetics("val", demo_dir, clip_duration=1.0)
    # 3 s videos, 1 s clips: pytorchvideo's UniformClipSampler gives 3 clips per video.
    assert len(uniform_clip_times(3.0, 1.0)) == 3
    assert len(val) == 8 * 3
    starts = sorted({float(val[i]["clip_start"]) for i in range(3)})
    assert starts == [0.0, 1.0, 2.0]


def test_random_clips_differ_between_epochs(demo_dir):
    train = kinetics("train", demo_dir, clip_duration=1.0)
    torch.manual_seed(0)
    import random

    random.seed(0)
    starts = {float(train.clip_times(0)[1]) for _ in range(5)}
    assert len(starts) > 1


def test_labelled_paths_file(demo_dir, tmp_path):
    lines = {"train": [], "val": []}
    for split in lines:
        for i, cls in enumerate(["grow", "move_down", "move_up", "shrink"]):
            for f in sorted((demo_dir / split / cls).glob("*.mp4")):
                lines[split].append(f"{f} {i}")
        (tmp_path / f"{split}.csv").write_text("\n".join(lines[split]) + "\n")
    train, val = kinetics("train", tmp_path), kinetics("val", tmp_path)
    assert train.classes == val.classes == ["0", "1", "2", "3"]
    assert len(train) == 24 and train[7]["label"] == 1


def _write_clip(path, frames=30):
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, (np.full((32, 32, 3), i * 8, np.uint8) for i in range(frames)), 15, 32, 32)


def test_kinetics_annotation_csv_with_downloader_file_names(tmp_path, capsys):
    rows = [
        ("abseiling", "aaaaaaaaaaa", 10, 20), ("abseiling", "bbbbbbbbbbb", 0, 10),
        ("air drumming", "ccccccccccc", 5, 15), ("air drumming", "missing0001", 30, 40),
    ]
    header = "label,youtube_id,time_start,time_end,split\n"
    (tmp_path / "train.csv").write_text(header + "".join(f"{l},{y},{s},{e},train\n" for l, y, s, e in rows))
    (tmp_path / "validate.csv").write_text(header + "".join(f"{l},{y},{s},{e},val\n" for l, y, s, e in rows[:3]))
    for label, yid, start, end in rows[:3]:
        name = f"{yid}_{start:06d}_{end:06d}.mp4"
        _write_clip(tmp_path / "train" / name)  # flat, as the cvdf downloader saves them
        _write_clip(tmp_path / "val" / label / name)  # per class, as others do
    train = kinetics("train", tmp_path)
    err = capsys.readouterr().err
    assert "1 of 4 videos annotated" in err and "missing0001_000030_000040.mp4" in err
    assert train.classes == ["abseiling", "air drumming"] and len(train) == 3
    val = kinetics("val", tmp_path)
    assert val.classes == train.classes and len(val) == 3
    assert sorted(label for _, label in val.videos) == [0, 0, 1]


def test_missing_and_empty_data_paths_are_one_line_errors(tmp_path):
    with pytest.raises(VidzooError, match="does not exist"):
        kinetics("train", tmp_path / "nope")
    with pytest.raises(VidzooError, match="no train split"):
        kinetics("train", tmp_path)
    (tmp_path / "train" / "a").mkdir(parents=True)
    with pytest.raises(VidzooError, match="no videos found"):
        kinetics("train", tmp_path)


def test_demo_sample_is_used_without_a_data_path(capsys):
    ds = get_registry().get("dataset", "kinetics").factory("val", None)
    assert "built-in demo sample" in capsys.readouterr().err
    from vidzoo.data.demo import VAL_PER_CLASS

    assert ds.classes == ["grow", "move_down", "move_up", "shrink"] and len(ds) == 4 * VAL_PER_CLASS


@pytest.mark.exclusive  # x264's output differed once while the other xdist worker loaded both cores
def test_demo_sample_is_deterministic(tmp_path):
    from vidzoo.data.demo import write_demo

    a = write_demo(tmp_path / "a", train_per_class=1, val_per_class=1, width=32, height=32)
    b = write_demo(tmp_path / "b", train_per_class=1, val_per_class=1, width=32, height=32)
    files = sorted(a.rglob("*.mp4"))
    assert len(files) == 8
    for f in files:  # same pixels (the encoder's bytes may differ by thread timing)
        assert torch.equal(_decode(f), _decode(b / f.relative_to(a)))
    c = write_demo(tmp_path / "c", seed=1, train_per_class=1, val_per_class=1, width=32, height=32)
    assert not torch.equal(_decode(files[0]), _decode(c / files[0].relative_to(a)))
    shutil.rmtree(a)


def _decode(path):
    import av
    import numpy as np

    with av.open(str(path)) as c:
        return torch.from_numpy(np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]))
