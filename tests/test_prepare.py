"""vidzoo prepare: a training-ready copy (real encodes, a real run on it, a real SIGKILL and resume)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import TINY, run_cli
from faultkit import plugin_env
from vidzoo.data import manifest, prepare, prepare_runner
from vidzoo.data import video as _video

ENV = {"VIDZOO_LOAD_PLUGINS": ""}


def _videos(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.mp4") if not p.name.startswith("."))


def _write(path: Path, width: int, height: int, frames: int = 30, fps: int = 15, audio: bool = False) -> Path:
    import av
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        a = c.add_stream("aac", rate=16000) if audio else None
        for i in range(frames):
            img = np.full((height, width, 3), (i * 8) % 256, np.uint8)
            for packet in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)
        if a is not None:
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate = 16000
            for packet in a.encode(frame):
                c.mux(packet)
            for packet in a.encode():
                c.mux(packet)
    return path


def test_encode_video_scales_down_never_up_and_sets_keyframes(tmp_path):
    import io

    import av

    wide = _write(tmp_path / "wide.mp4", 320, 180, frames=40, audio=True)
    data = prepare.encode_video(wide, short_side=90, keyint=8)
    with av.open(io.BytesIO(data)) as c:
        assert not c.streams.audio and len(c.streams.video) == 1
        s = c.streams.video[0]
        assert (s.codec_context.width, s.codec_context.height) == (160, 90)
        assert s.codec_context.name == "h264"
        packets = sorted((p for p in c.demux(s) if p.size), key=lambda p: p.pts)
        keys = [i for i, p in enumerate(packets) if p.is_keyframe]
    assert len(packets) == 40 and keys == [0, 8, 16, 24, 32]
    small = _write(tmp_path / "small.mp4", 64, 48)
    info = prepare.facts(prepare.encode_video(small, short_side=256))
    assert (info["width"], info["height"], info["frames"]) == (64, 48, 30)
    assert prepare.output_size(1280, 720, 256) == (454, 256) and prepare.output_size(341, 257, 256) == (340, 256)
    with pytest.raises(_video.VideoReadError, match="cannot read video"):
        prepare.encode_video(tmp_path / "nope.mp4")


def test_prepare_demo_then_train_on_it(demo_dir, tmp_path):
    out = tmp_path / "prepared"
    result = run_cli("prepare", "--dataset", "kinetics", "--dataset.data_path", str(demo_dir), "--output", str(out),
                     "--short-side", "40", "--keyint", "8", "--no-progress", env=ENV)
    assert result.returncode == 0, result.stderr[-2000:]
    src, dst = _videos(demo_dir), _videos(out)
    assert [p.relative_to(demo_dir) for p in src] == [p.relative_to(out) for p in dst]
    for split in ("train", "val"):
        m = json.loads((out / f"vidzoo-manifest.{split}.json").read_text())
        assert m["classes"] == sorted(d.name for d in (demo_dir / "train").iterdir())
        assert len(m["videos"]) == len(list((demo_dir / split).rglob("*.mp4")))
        entry = m["videos"][0]
        assert entry["height"] == 40 and entry["frames"] > 0 and len(entry["source"]["sha256"]) == 64
        info = _video.probe(out / entry["path"])  # the manifest says what the header says
        assert (info.width, info.height) == (entry["width"], entry["height"])
        assert abs(info.duration - entry["duration"]) < 1e-6
    assert not list(out.rglob("*.tmp"))
    run = run_cli("run", "--dataset", "kinetics", "--backbone", "faultkit-tiny", "--dataset.data_path", str(out),
                  "--output", str(tmp_path / "runs"), *TINY, env=plugin_env(tmp_path / "site"))  # any model trains
    assert run.returncode == 0, run.stderr[-3000:]
    assert list((tmp_path / "runs").glob("*/checkpoints/best.ckpt"))


def test_clip_dataset_reads_the_manifest_not_the_headers(demo_dir, tmp_path, monkeypatch):
    out = tmp_path / "prepared"
    plan = prepare.make_plan("kinetics", {"data_path": str(demo_dir)}, str(out), ["val"], short_side=40, keyint=8)
    prepare_runner.run(plan, workers=1, progress=False)
    from vidzoo.default_plugins.kinetics import kinetics

    def no_header(path):
        raise AssertionError(f"opened the header of {path}")

    monkeypatch.setattr(_video, "probe", no_header)
    ds = kinetics("val", None, data_path=str(out))  # uniform clips: their count comes from each duration
    assert len(ds) >= len(ds.videos) and manifest.lookup(ds.videos[0][0])["height"] == 40
    (out / Path(ds.videos[0][0]).relative_to(out)).write_bytes(b"changed")  # a changed file is not trusted
    with pytest.raises(AssertionError, match="opened the header"):
        manifest.probe(ds.videos[0][0])


def test_prepare_resumes_after_sigkill_without_redoing(demo_dir, tmp_path):
    out = tmp_path / "prepared"
    cmd = [sys.executable, "-m", "vidzoo", "prepare", "--dataset", "kinetics", "--dataset.data_path", str(demo_dir),
           "--output", str(out), "--workers", "1", "--no-progress", "--keyint", "8"]
    proc = subprocess.Popen(cmd, env={**os.environ, **ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    total = len(_videos(demo_dir))
    deadline = time.monotonic() + 300
    while len(_videos(out)) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in _videos(out)}
    assert 3 <= len(before) < total, "the kill came too late to test resuming"
    assert not list(out.glob("vidzoo-manifest.*.json"))  # manifests come last
    for p in before:  # every file at its final name is whole
        assert _video.probe(p).duration > 0
    result = run_cli(*cmd[3:], env=ENV)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"prepared {total - len(before)} videos ({len(before)} were already done)" in result.stdout
    for p, stamp in before.items():
        assert (p.stat().st_ino, p.stat().st_mtime_ns) == stamp, f"{p} was redone"
    assert len(_videos(out)) == total and not list(out.rglob("*.tmp"))
    listed = sum(len(json.loads(m.read_text())["videos"]) for m in out.glob("vidzoo-manifest.*.json"))
    assert listed == total


def test_unreadable_videos_are_skipped_with_check_data_reasons(demo_dir, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(demo_dir, src)
    bad = src / "train" / "grow" / "zz_bad.mp4"
    bad.write_bytes(b"this is not a video")
    (src / "train" / "grow" / "zz_empty.mp4").write_bytes(b"")
    from vidzoo.data.bad_videos import check_video

    reasons = {str(p): check_video(str(p))["reason"] for p in (bad, src / "train" / "grow" / "zz_empty.mp4")}
    out = tmp_path / "prepared"
    result = run_cli("prepare", "--dataset", "kinetics", "--dataset.data_path", str(src), "--output", str(out),
                     "--splits", "train", "--short-side", "40", "--no-progress", env=ENV)
    assert result.returncode == 0, result.stderr[-2000:]
    for path, reason in reasons.items():
        assert reason and f"skipped (unreadable): {path}: {reason}" in result.stdout
    assert not (out / "train" / "grow" / "zz_bad.mp4").exists()
    m = json.loads((out / "vidzoo-manifest.train.json").read_text())
    assert {s["path"]: s["reason"] for s in m["skipped"]} == reasons
    assert len(m["videos"]) == len(list((demo_dir / "train").rglob("*.mp4")))


def test_dry_run_writes_nothing_and_estimates_the_disk(demo_dir, tmp_path):
    out = tmp_path / "prepared"
    args = ["prepare", "--dataset", "kinetics", "--dataset.data_path", str(demo_dir), "--output", str(out),
            "--short-side", "40", "--no-progress"]
    result = run_cli(*args, "--dry-run", "--json", env=ENV)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not out.exists()
    plan = json.loads(result.stdout)
    assert plan["splits"]["train"]["videos"] == len(list((demo_dir / "train").rglob("*.mp4")))
    assert run_cli(*args, env=ENV).returncode == 0
    actual = sum(p.stat().st_size for p in _videos(out))
    assert 0.5 * actual < plan["estimated_bytes"] < 2 * actual, (plan["estimated_bytes"], actual)
    text = run_cli(*args, "--dry-run", env=ENV)
    assert "already prepared" in text.stdout and "dry run: nothing written" in text.stdout


def test_prepare_help_has_an_example():
    result = run_cli("prepare", "--help")
    assert result.returncode == 0 and "vidzoo prepare --dataset kinetics" in result.stdout
