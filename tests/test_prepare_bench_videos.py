"""The benchmark videos (benchmarks.make_videos: x264 defaults, a keyframe every 250 frames) go
through `vidzoo prepare`, in both formats, and `vidzoo run` trains on each copy (issue 10's
"the benchmark videos go through prepare, then train"). Two 2 s videos keep it short."""

from __future__ import annotations

from benchmarks import make_videos
from conftest import TINY, run_cli
from faultkit import plugin_env
from vidzoo.data import video as _video
from vidzoo.data.prepare import DEFAULT_KEYINT

ENV = {"VIDZOO_LOAD_PLUGINS": ""}


def _keyframes(path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(p.is_keyframe for p in container.demux(container.streams.video[0]) if p.size)


def test_benchmark_videos_prepare_to_files_and_litdata_then_train(tmp_path):
    root = make_videos.make(tmp_path / "bench", sizes={"340x256": 2}, seconds=2.0)["340x256"]
    source = sorted((root / "train").rglob("*.mp4"))
    assert [_keyframes(p) for p in source] == [1, 1]  # one GOP: the decoder must start at the first frame

    files = tmp_path / "prepared"
    done = run_cli("prepare", "--dataset", "kinetics", "--dataset.data_path", str(root), "--output", str(files),
                   "--no-progress", env=ENV)
    assert done.returncode == 0, done.stderr[-2000:]
    prepared = sorted((files / "train").rglob("*.mp4"))
    assert [p.relative_to(files) for p in prepared] == [p.relative_to(root) for p in source]
    info = _video.probe(prepared[0])
    assert (info.width, info.height) == (340, 256)  # already at the 256 short side: not rescaled
    assert _keyframes(prepared[0]) >= 60 // DEFAULT_KEYINT  # 2 s at 30 fps, a keyframe every DEFAULT_KEYINT

    runs = tmp_path / "runs"
    tiny_model = plugin_env(tmp_path / "site")  # the data is tested, not the model: a tiny backbone
    done = run_cli("run", "--dataset", "kinetics", "--backbone", "faultkit-tiny", "--dataset.data_path", str(files),
                   "--output", str(runs / "files"), *TINY, "--data.batch_size", "2", env=tiny_model)
    assert done.returncode == 0, done.stderr[-3000:]
    assert list((runs / "files").glob("*/checkpoints/best.ckpt"))

    chunks = tmp_path / "litdata"
    done = run_cli("prepare", "--dataset", "kinetics", "--dataset.data_path", str(root), "--format", "litdata",
                   "--output", str(chunks), "--no-progress", env=ENV)
    assert done.returncode == 0, done.stderr[-2000:]
    done = run_cli("run", "--dataset", "litdata", "--backbone", "faultkit-tiny", "--dataset.data_path", str(chunks),
                   "--dataset.cache_dir", str(tmp_path / "cache"), "--output", str(runs / "litdata"), *TINY,
                   "--data.batch_size", "2", env=tiny_model)
    assert done.returncode == 0, done.stderr[-3000:]
    assert list((runs / "litdata").glob("*/checkpoints/best.ckpt"))
