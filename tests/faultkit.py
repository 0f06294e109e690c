"""Helpers of the fault-injection tests: the test plugin, bad video files, killable runs."""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PACKAGE = Path(__file__).parent / "plugin_pkgs" / "vidzoo-faultkit"

# A tiny run of the faultkit plugin: 4 frames at 32 px.
TINY_FK = [
    "--transform.num_frames", "4", "--transform.crop_size", "32", "--transform.min_short_side", "36",
    "--transform.max_short_side", "40", "--transform.eval_short_side", "36",
    "--trainer.enable_model_summary", "false", "--trainer.enable_progress_bar", "false",
]


def plugin_path(root: Path) -> str:
    """PYTHONPATH that makes the faultkit package an installed plugin (its dist-info with the entry point)."""
    dist = root / "vidzoo_faultkit-0.1.0.dist-info"
    if not dist.is_dir():
        dist.mkdir(parents=True)
        (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: vidzoo-faultkit\nVersion: 0.1.0\n")
        (dist / "entry_points.txt").write_text("[vidzoo]\nfaultkit = vidzoo_faultkit.plugin\n")
    return os.pathsep.join([str(PACKAGE), str(root)])


def plugin_env(root: Path, **extra) -> dict:
    # the built-ins and this test plugin only, whatever else is installed
    env = {"PYTHONPATH": plugin_path(root), "PYTHONUNBUFFERED": "1", "VIDZOO_LOAD_PLUGINS": "vidzoo-faultkit"}
    env.update({k: str(v) for k, v in extra.items()})
    return env


@contextlib.contextmanager
def registered_in_process():
    """The faultkit plugin registered in this process (and removed again afterwards)."""
    sys.path.insert(0, str(PACKAGE))
    from vidzoo import plugins
    from vidzoo_faultkit import plugin

    plugins.register(plugin, "faultkit")
    try:
        yield plugin
    finally:
        plugins.unregister("faultkit")
        sys.path.remove(str(PACKAGE))


def start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    """Start `vidzoo ARGS` in the background, output to LOG (a new process group, so kills are exact)."""
    f = open(log, "ab")
    return subprocess.Popen([sys.executable, "-m", "vidzoo", *args], stdout=f, stderr=subprocess.STDOUT,
                            env={**os.environ, **env}, start_new_session=True)


def wait_for(condition, proc: subprocess.Popen, timeout: float = 240, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (exit {proc.returncode}) before {what}")
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def sigkill(proc: subprocess.Popen) -> None:
    """SIGKILL the run and every process it started (DataLoader workers), as an OOM killer or a lost node would."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def metrics_rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "logs" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def write_bad_files(folder: Path, good_video: Path) -> dict[str, str]:
    """Every kind of bad file the issue lists, in FOLDER; returns {file name: kind}."""
    import av
    import numpy as np

    from vidzoo.testing import write_video

    folder.mkdir(parents=True, exist_ok=True)
    data = good_video.read_bytes()
    kinds = {}
    (folder / "zero_bytes.mp4").write_bytes(b"")
    kinds["zero_bytes.mp4"] = "bad"
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 3])
    kinds["truncated.mp4"] = "bad"
    (folder / "not_a_video.mp4").write_text("this is a text file, not a video\n" * 20)
    kinds["not_a_video.mp4"] = "bad"
    with av.open(str(folder / "audio_only.mp4"), mode="w") as container:  # a real AAC track, no video
        stream = container.add_stream("aac", rate=16000)
        stream.layout = "mono"
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono")
            frame.sample_rate = 16000
            frame.pts = i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    kinds["audio_only.mp4"] = "bad"
    (folder / "a_folder.mp4").mkdir()
    kinds["a_folder.mp4"] = "bad"
    if os.geteuid() != 0:  # root reads any file, whatever its mode
        unreadable = folder / "unreadable.mp4"
        unreadable.write_bytes(data)
        unreadable.chmod(0)
        kinds["unreadable.mp4"] = "bad"
    frame = np.full((48, 64, 3), 120, dtype=np.uint8)
    write_video(folder / "one_frame.mp4", [frame], fps=15, width=64, height=48)
    kinds["one_frame.mp4"] = "good"  # short, but readable: the clip repeats its one frame
    write_video(folder / "short.mp4", [frame] * 8, fps=15, width=64, height=48)
    kinds["short.mp4"] = "good"  # 0.5 s, shorter than the 2 s clip
    return kinds
