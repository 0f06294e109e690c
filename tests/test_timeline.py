"""Timelines (vidzoo predict --timeline, Predictor.timeline): files, a live MPEG-TS stream over HTTP, Ctrl-C."""

from __future__ import annotations

import csv
import functools
import http.server
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, run_cli

NO_PLUGINS = {"VIDZOO_LOAD_PLUGINS": ""}
DOCS_PORT = 8765  # the port docs/predict.md's live block names


def _write(path, seconds: float, fps: int = 8, size=(48, 64)):
    """Colour changes every 2 s (so labels can change), noise on top (so frames differ)."""
    from vidzoo.testing import write_video

    rng = np.random.default_rng(0)
    frames = []
    for i in range(int(seconds * fps)):
        frame = rng.integers(0, 60, size=(*size, 3), dtype=np.uint8)
        frame[..., (i // (2 * fps)) % 3] += 180
        frames.append(frame)
    write_video(path, frames, fps, size[1], size[0])
    return path


class _Paced(http.server.SimpleHTTPRequestHandler):
    """Sends a file at about its real-time rate (a live camera's pace), in small chunks."""

    seconds_per_file = 1.0

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            return self.send_error(404)
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "video/mp2t")
        self.end_headers()
        chunks = max(1, len(data) // 2048)
        step = len(data) / chunks
        for i in range(chunks):
            try:
                self.wfile.write(data[int(i * step):int((i + 1) * step)])
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return
            time.sleep(self.seconds_per_file / chunks)

    def log_message(self, *args):
        pass


@pytest.fixture
def live_server(tmp_path):
    """A real HTTP server on 127.0.0.1 that serves tmp_path/live/ at real-time pace: (start(port), folder)."""
    folder = tmp_path / "live"
    folder.mkdir()
    servers = []

    def start(port: int = 0, seconds_per_file: float = 1.0):
        handler = type("Handler", (_Paced,), {"seconds_per_file": seconds_per_file})
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(handler, directory=str(folder)))
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return httpd.server_address[1]

    yield start, folder
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def test_stream_windows_equal_the_clip_reader(trained_run, tmp_path):
    """One pass of the stream gives each window the frames (and pixels) decode_clip + the transform give it."""
    import vidzoo
    from vidzoo.data.video import decode_clip
    from vidzoo.data.windows import stream_windows

    video = _write(tmp_path / "v.mp4", 5, fps=15)
    model = vidzoo.load(trained_run)
    plan = model.transform.decode_plan()
    windows = list(stream_windows(video, model.transform, 2.0, 0.5))
    assert [(s, e) for s, e, _ in windows] == [(k * 0.5, k * 0.5 + 2.0) for k in range(7)]
    for s, e, clip in windows:
        sample = {"video": decode_clip(video, s, e, plan), "label": 0, "video_index": 0, "video_name": "",
                  "clip_start": s, "decode_plan": plan}
        assert clip.equal(model.transform(sample)["video"]), (s, e)


def test_segmenter_smooths_and_merges_short_runs():
    import torch

    from vidzoo.evaluation.timeline import Segmenter

    labels = [0, 0, 0, 1, 0, 0, 2, 2, 2, 2, 2, 2]  # one-window blip of class 1, then class 2
    probs = [torch.nn.functional.one_hot(torch.tensor(c), 3).float() for c in labels]
    raw = Segmenter(["a", "b", "c"], stride=1.0)
    segs = [s for i, p in enumerate(probs) for s in raw.add(i, i + 2, p)] + raw.finish(13)
    assert [(s.start, s.end, s.label) for s in segs] == [(0, 3, "a"), (3, 4, "b"), (4, 6, "a"), (6, 13, "c")]
    merged = Segmenter(["a", "b", "c"], stride=1.0, min_segment=2)
    segs = [s for i, p in enumerate(probs) for s in merged.add(i, i + 2, p)]
    assert [(s.start, s.end, s.label) for s in segs] == [(0, 6, "a")]  # closed once class 2 lasted 2 s
    segs += merged.finish(13)
    assert [(s.start, s.end, s.label) for s in segs] == [(0, 6, "a"), (6, 13, "c")]
    smooth = Segmenter(["a", "b", "c"], stride=1.0, smooth=3)
    segs = [s for i, p in enumerate(probs) for s in smooth.add(i, i + 2, p)] + smooth.finish(13)
    assert "b" not in [s.label for s in segs]  # the blip is averaged away


def test_cli_timeline_json_csv_plot_and_python(trained_run, tmp_path):
    video = _write(tmp_path / "long.mp4", 7)
    ckpt = str(trained_run / "checkpoints" / "best.ckpt")
    png, out_csv = tmp_path / "t.png", tmp_path / "t.csv"
    done = run_cli("predict", str(video), "--checkpoint", ckpt, "--timeline", "--window", "2", "--stride", "1",
                   "--top-k", "2", "--json", "--output", str(out_csv), "--plot", str(png), env=NO_PLUGINS)
    assert done.returncode == 0, done.stderr[-3000:]
    (result,) = json.loads(done.stdout)["results"]
    windows = result["windows"]
    assert [(w["start"], w["end"]) for w in windows] == [(k, k + 2) for k in range(6)]
    assert all(len(w["top"]) == 2 and w["top"][0]["probability"] >= w["top"][1]["probability"] for w in windows)
    segs = result["segments"]
    assert segs[0]["start"] == 0 and segs[-1]["end"] == 7 and result["duration"] == pytest.approx(7, abs=0.2)
    assert all(a["end"] == b["start"] and a["class"] != b["class"] for a, b in zip(segs, segs[1:]))
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    assert len(rows) == 12 and rows[0]["path"] == str(video) and rows[1]["rank"] == "2"
    from PIL import Image

    with Image.open(png) as image:
        assert image.format == "PNG" and image.width == 1200 and len(image.convert("RGB").getcolors(1 << 20)) > 4

    import vidzoo

    tl = vidzoo.load(ckpt).timeline(video, window=2, stride=1, top_k=2)
    assert [round(p, 5) for p in (w[2][0][1] for w in tl.windows)] == pytest.approx(
        [w["top"][0]["probability"] for w in windows], abs=1e-5)

    text = run_cli("predict", str(video), "--checkpoint", ckpt, "--timeline", env=NO_PLUGINS)
    assert text.returncode == 0 and re.search(r"00:00\.000 - \S+  \w+ +\d+\.\d%", text.stdout), text.stdout
    bad = run_cli("predict", str(video), "--checkpoint", ckpt, "--smooth", "3", env=NO_PLUGINS)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "vidzoo predict: error: --smooth: only with --timeline"]
    bad = run_cli("predict", str(video), "--checkpoint", ckpt, "--timeline", "--stride", "0", env=NO_PLUGINS)
    assert bad.returncode == 2 and "--stride must be more than 0" in bad.stderr and "Traceback" not in bad.stderr
    bad = run_cli("predict", str(video), "--checkpoint", ckpt, "--timeline", "--batch-size", "0", env=NO_PLUGINS)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "vidzoo predict: error: --batch-size must be 1 or more, got 0"]


def test_cpu_timelines_score_few_windows_a_forward_pass(trained_run, tmp_path):
    """On the CPU the default batch is about a million input values (x3d_xs 2 windows, resnet3d50 1:
    bigger batches were slower there, docs/performance.md#timelines); the windows' scores do not
    depend on the batch."""
    import vidzoo
    from vidzoo.evaluation.inference import Predictor
    from vidzoo.plugins import get_registry

    for name, transform, expected in (("x3d_xs", "x3d_xs", 2), ("resnet3d50", "kinetics", 1)):
        model = get_registry().get("backbone", name).factory(num_classes=4)
        config = {"transform": {"name": transform}, "dataset": {"name": "kinetics", "clip_duration": 1.6}}
        assert Predictor(model, list("abcd"), config, device="cpu").clips_per_forward() == expected, name
    tiny = vidzoo.load(str(trained_run / "checkpoints" / "best.ckpt"), device="cpu")
    assert tiny.clips_per_forward() == 32 and tiny.clips_per_forward(8) == 8  # 32-px clips: the caps
    video = _write(tmp_path / "v.mp4", 5)
    one, default = (tiny.timeline(video, window=1, stride=0.5, batch_size=b).windows for b in (1, None))
    assert [w[:2] for w in one] == [w[:2] for w in default] and len(one) >= 8
    assert [w[2][0][1] for w in one] == pytest.approx([w[2][0][1] for w in default], abs=1e-5)


def _docs_blocks(marker: str) -> list[str]:
    text = (ROOT / "docs" / "predict.md").read_text()
    return [b for b in re.findall(r"^```bash\n(.*?)^```", text, re.S | re.M) if marker in b]


def test_docs_timeline_blocks_run_as_written(trained_run, live_server, tmp_path):
    """docs/predict.md's timeline blocks, as written: a file, then a live MPEG-TS stream this test serves."""
    start, folder = live_server
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "RUN").symlink_to(trained_run)
    _write(tmp_path / "video.mp4", 6)
    _write(folder / "live.ts", 6)
    start(DOCS_PORT, seconds_per_file=6.0)
    env = {**os.environ, **NO_PLUGINS, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    blocks = _docs_blocks("--timeline")
    assert len(blocks) >= 2 and any("http://127.0.0.1:8765/" in b for b in blocks)
    for block in blocks:
        began = time.monotonic()
        done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0 and "Traceback" not in done.stderr, (block, done.stderr[-3000:])
        if "http://" in block:  # read at the stream's pace; segments reported with their latency
            assert time.monotonic() - began > 4
            assert re.search(r"closed \d+\.\d s behind the stream", done.stdout), done.stdout
            seen = json.loads((tmp_path / "seen.json").read_text())["results"][0]
            assert seen["windows"] and seen["windows"][-1]["end"] >= 5 and not seen["interrupted"]
    assert json.loads((tmp_path / "timeline.json").read_text())["results"][0]["segments"]
    assert (tmp_path / "timeline.png").stat().st_size > 1000


def _ctrl_c_as_in_a_terminal():
    # A child inherits an ignored SIGINT (pytest started from a non-interactive shell's background job
    # has one), and Python then keeps ignoring Ctrl-C: the command would run the whole stream. A user's
    # terminal gives the foreground command SIGINT's default action, so the test does too.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_ends_a_live_stream_and_writes_what_was_seen(trained_run, live_server, tmp_path):
    start, folder = live_server
    _write(folder / "x.ts", 40)
    port = start(0, seconds_per_file=40.0)
    out = tmp_path / "seen.json"
    proc = subprocess.Popen([sys.executable, "-m", "vidzoo", "predict", f"http://127.0.0.1:{port}/x.ts",
                             "--checkpoint", str(trained_run), "--timeline", "--window", "1", "--output", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **NO_PLUGINS}, preexec_fn=_ctrl_c_as_in_a_terminal)
    try:
        header = proc.stdout.readline()
        assert "live" in header, (header, proc.stderr.read() if proc.poll() is not None else "")
        time.sleep(5)  # a few seconds of the 40 s stream
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr and "stopped by Ctrl-C" in stderr and str(out) in stderr
    assert "(stopped)" in stdout and "behind the stream" in stdout
    (seen,) = json.loads(out.read_text())["results"]
    assert seen["interrupted"] and seen["windows"] and seen["segments"]
    assert 1 <= seen["windows"][-1]["end"] < 30  # what was seen, not the whole stream


def _send_live(src: Path, url: str, fmt: str, stop: threading.Event, **options) -> None:
    """A live source (PyAV's ``fmt`` muxer to ``url``): the file's packets at real-time pace, looped
    with shifted timestamps until ``stop`` (a datagram sent before the reader listens is lost)."""
    import av

    with av.open(str(src)) as inp:
        stream = inp.streams.video[0]
        packets = [(bytes(p), p.pts, p.dts, p.duration, p.is_keyframe) for p in inp.demux(stream) if p.dts is not None]
        span = max(pts + duration for _, pts, _, duration, _ in packets) - min(pts for _, pts, _, _, _ in packets)
        time_base = stream.time_base
        with av.open(url, "w", format=fmt, options=options) as out:
            ostream = out.add_stream_from_template(stream)
            began, loop = time.monotonic(), 0
            while not stop.is_set():
                for data, pts, dts, duration, key in packets:
                    due = began + float((pts + loop * span) * time_base)
                    time.sleep(max(0.0, due - time.monotonic()))
                    packet = av.Packet(data)
                    packet.pts, packet.dts, packet.duration = pts + loop * span, dts + loop * span, duration
                    packet.time_base, packet.is_keyframe, packet.stream = time_base, key, ostream
                    out.mux(packet)
                    if stop.is_set():
                        break
                loop += 1


def _live_timeline(model, url: str, send, seconds: float = 8.0, lead: float = 0.0):
    """The timeline of ``url`` while ``send(stop)`` feeds it from a thread started ``lead`` seconds
    before the reader; stopped after ``seconds``."""
    from vidzoo.evaluation.timeline import run_timeline

    stop = threading.Event()
    sender = threading.Thread(target=send, args=(stop,), daemon=True)
    sender.start()
    time.sleep(lead)
    threading.Timer(seconds, stop.set).start()  # a live stream ends when the reader stops it
    try:
        return run_timeline(model, url, window=1.0, stop=stop)
    finally:
        stop.set()
        sender.join(timeout=10)


def _assert_live_windows(result) -> None:
    starts = [s for s, _, _ in result.windows]
    assert len(starts) >= 3 and starts == sorted(starts) and starts[0] == 0.0, result.windows
    assert all(e - s == pytest.approx(1.0) for s, e, _ in result.windows)  # a live stream's windows are whole
    assert result.segments and 1.0 <= result.duration < 30


def _free_port(kind=None) -> int:
    import socket

    with socket.socket(socket.AF_INET, kind or socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_timeline_of_a_udp_mpegts_stream(trained_run, tmp_path):
    """A udp:// MPEG-TS source (sent on 127.0.0.1 by a PyAV thread) is read as a live stream: windows
    over the stream's time until it is stopped, with what was seen kept."""
    import socket

    import vidzoo

    url = f"udp://127.0.0.1:{_free_port(socket.SOCK_DGRAM)}"
    send = functools.partial(_send_live, _write(tmp_path / "x.ts", 4), f"{url}?pkt_size=1316", "mpegts")
    _assert_live_windows(_live_timeline(vidzoo.load(trained_run), url, send))


def test_timeline_of_an_rtsp_stream(trained_run, tmp_path):
    """rtsp:// as from a camera: a real RTSP server on 127.0.0.1 (Debian's rtsp-server-perl) relays
    what a PyAV thread publishes to it (ANNOUNCE/RECORD, RTP over UDP); vidzoo plays it."""
    import vidzoo

    server = shutil.which("rtsp-server-perl")
    if server is None:
        pytest.skip("rtsp-server-perl is not installed (apt-get install rtsp-server-perl)")
    play, publish = _free_port(), _free_port()
    log = tmp_path / "rtsp-server.log"  # a file, not a pipe that could fill and stall the server
    proc = subprocess.Popen([server, "--clientport", str(play), "--serverport", str(publish)],
                            stdout=subprocess.DEVNULL, stderr=log.open("w"))
    try:
        _wait_for_port(publish, proc, log)
        # mp4: its H.264 parameter sets go into the SDP the server hands to players
        send = functools.partial(_send_live, _write(tmp_path / "x.mp4", 4), f"rtsp://127.0.0.1:{publish}/live",
                                 "rtsp", rtsp_transport="udp")
        # published first: a player asking before the stream exists is refused
        _assert_live_windows(_live_timeline(vidzoo.load(trained_run), f"rtsp://127.0.0.1:{play}/live", send,
                                            lead=1.5))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _wait_for_port(port: int, proc, log: Path, seconds: float = 15.0) -> None:
    import socket

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {log.read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {seconds} s")
