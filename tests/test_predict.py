"""vidzoo predict and vidzoo.load(...).predict on real mp4 files of any length."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import run_cli

NO_PLUGINS = {"VIDZOO_LOAD_PLUGINS": ""}


def _write(path, seconds, fps=15, seed=0):
    from vidzoo.testing import write_video

    rng = np.random.default_rng(seed)
    frames = [rng.integers(0, 255, size=(48, 64, 3), dtype=np.uint8) for _ in range(int(seconds * fps))]
    write_video(path, frames, fps, 64, 48)
    return path


def test_cli_predict_folder_json_skips_unreadable(trained_run, demo_dir, tmp_path):
    videos = tmp_path / "videos"
    shutil.copytree(demo_dir / "val" / "move_up", videos / "up")
    (videos / "notes.txt").write_text("not a video, and not picked up from a folder")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"garbage" * 100)
    ckpt = trained_run / "checkpoints" / "best.ckpt"
    result = run_cli("predict", str(videos), str(broken), str(tmp_path / "missing.mp4"), "--checkpoint", str(ckpt),
                     "--top-k", "3", "--json", env=NO_PLUGINS)
    assert result.returncode == 1, result.stderr[-3000:]  # some skipped
    assert f"skipped cannot read video {broken}" in result.stderr
    assert "2 of 4 videos predicted, 2 skipped" in result.stderr
    doc = json.loads(result.stdout)
    assert doc["views"] == "5x1" and doc["checkpoint"] == str(ckpt)
    results = doc["results"]
    assert [r["path"] for r in results] == sorted(str(p) for p in (videos / "up").iterdir()) + [
        str(broken), str(tmp_path / "missing.mp4")]
    classes = {"grow", "move_down", "move_up", "shrink"}
    for r in results[:2]:
        probs = [t["probability"] for t in r["top"]]
        assert len(r["top"]) == 3 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
        assert {t["class"] for t in r["top"]} <= classes and "error" not in r
    assert "error" in results[2] and "No such file" in results[3]["error"]

    # The Python API gives the same numbers.
    import vidzoo

    model = vidzoo.load(ckpt)
    pred = model.predict(results[0]["path"], top_k=3)
    assert [c for c, _ in pred.top] == [t["class"] for t in results[0]["top"]]
    assert [p for _, p in pred.top] == pytest.approx([t["probability"] for t in results[0]["top"]], abs=1e-5)
    assert pred.probs.sum().item() == pytest.approx(1, abs=1e-5) and pred.views == 5


def test_python_api_any_length_and_text_output(trained_run, tmp_path):
    import vidzoo
    from vidzoo.errors import VidzooError

    model = vidzoo.load(trained_run)  # a run directory works too
    long_video = _write(tmp_path / "long.mp4", 7.0)
    short_video = _write(tmp_path / "short.mp4", 0.8, seed=1)
    long_pred = model.predict(long_video, top_k=2, views="10x3")
    assert long_pred.views == 30 and len(long_pred.top) == 2
    assert model.views(long_video, "10x1").shape == (10, 3, 4, 32, 32)
    short_pred = model.predict(short_video)
    assert short_pred.views == 1  # shorter than one clip: the whole video, once
    assert len(short_pred.top) == 4  # top-5 of 4 classes
    with pytest.raises(VidzooError, match="cannot read video"):
        model.predict(tmp_path / "nope.mp4")

    result = run_cli("predict", str(long_video), "--checkpoint", str(trained_run / "checkpoints" / "best.ckpt"),
                     "--top-k", "2", "--views", "10x3", env=NO_PLUGINS)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert lines[0] == f"{long_video}  (30 views)" and len(lines) == 3
    name, percent = lines[1].split()
    assert name == long_pred.top[0][0] and float(percent.rstrip("%")) == pytest.approx(100 * long_pred.top[0][1], abs=0.01)


def test_cli_predict_bad_input_is_one_line(tmp_path, trained_run):
    empty = tmp_path / "empty"
    empty.mkdir()
    for args, message in (
        ([str(empty), "--checkpoint", str(trained_run / "checkpoints" / "best.ckpt")], "no video files found"),
        ([str(empty), "--checkpoint", "x.ckpt", "--top-k", "0"], "--top-k must be 1 or more"),
    ):
        bad = run_cli("predict", *args, env=NO_PLUGINS)
        assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and message in bad.stderr, bad.stderr


def _conv3d_net(view_input: bool):
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv3d(3, 8, 3, padding=1, bias=False)
            self.norm = nn.BatchNorm3d(8)
            self.head = nn.Linear(8, 5)

        def forward(self, x):
            if view_input:  # code that needs contiguous input: a view across the channel dimension
                b, c, t, h, w = x.shape
                x = x.view(b, c * t, h, w).view(b, c, t, h, w)
            y = torch.relu(self.norm(self.conv(x)))
            return self.head(y.mean((2, 3, 4)))

    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():  # batch norm statistics that are not the identity
        net.norm.running_mean.uniform_(-1, 1)
        net.norm.running_var.uniform_(0.5, 2)
    return net.eval()


@pytest.mark.parametrize("view_input", [False, True], ids=["conv3d", "needs-contiguous-input"])
def test_cpu_forward_matches_the_plain_model(view_input):
    """The Predictor's CPU forward (channels_last_3d for 3D CNNs) gives the plain model's outputs,
    and a model that cannot take channels_last input falls back to contiguous input, still right."""
    import copy

    import torch

    from vidzoo.evaluation.inference import Predictor

    plain = _conv3d_net(view_input)
    pred = Predictor(copy.deepcopy(plain), [f"c{i}" for i in range(5)],
                     {"transform": {"name": "kinetics"}, "dataset": {"clip_duration": 1.0}}, device="cpu")
    assert pred._channels_last  # the path under test is taken
    clips = torch.rand(3, 3, 4, 24, 32)
    with torch.inference_mode():
        expected = plain(clips)
    for _ in range(2):  # the second call runs in the format the first one settled on
        got = pred.logits(clips)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    assert pred._channels_last is (not view_input)
    torch.testing.assert_close(pred.scores(clips), torch.softmax(expected, -1), rtol=1e-5, atol=1e-6)
