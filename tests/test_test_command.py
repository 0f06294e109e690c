"""vidzoo test: multi-view evaluation of a real checkpoint on real mp4 files."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
import torch

from conftest import run_cli
from vidzoo.evaluation.views import clip_windows, crop_boxes, parse_views

NO_PLUGINS = {"VIDZOO_LOAD_PLUGINS": ""}


def test_view_geometry():
    assert parse_views("10x3") == (10, 3) and parse_views("1X1") == (1, 1)
    # 10 clips over a 10 s video, 2 s each: starts 0, 8/9, ..., 8 (ConstantClipsPerVideoSampler's spacing)
    windows = clip_windows(10.0, 2.0, 10)
    assert len(windows) == 10 and windows[0] == (0.0, 2.0) and windows[-1] == (8.0, 10.0)
    assert windows[1][0] == pytest.approx(8 / 9)
    assert clip_windows(10.0, 2.0, 1) == [(4.0, 6.0)]  # 1 clip: the centre one
    assert clip_windows(1.5, 2.0, 10) == [(0.0, 1.5)]  # shorter than a clip: the whole video, once
    # landscape: left / centre / right squares of the short side; portrait: top / centre / bottom
    assert crop_boxes(48, 64, 3) == [(0, 48, 0, 48), (0, 48, 8, 56), (0, 48, 16, 64)]
    assert crop_boxes(64, 48, 3) == [(0, 48, 0, 48), (8, 56, 0, 48), (16, 64, 0, 48)]
    assert crop_boxes(48, 64, 1) == [(0, 48, 0, 64)]


def test_views_match_the_training_pipeline(trained_run, tmp_path):
    """1x1 = the validation sample of the run's own data pipeline (centre crop, centre clip);
    the centre of three crops equals it; the side crops differ."""
    import vidzoo
    from vidzoo.data.datamodule import build_dataset
    from vidzoo.data.demo import write_demo

    predictor = vidzoo.load(trained_run / "checkpoints" / "best.ckpt")
    # 2 s videos (= clip_duration): the val dataset's only clip is the centre clip.
    data = write_demo(tmp_path / "two_seconds", train_per_class=0, val_per_class=1, width=64, height=48,
                      seconds=2.0)
    options = {k: v for k, v in predictor.config["dataset"].items() if k != "name"}
    dataset = build_dataset("kinetics", {**options, "data_path": str(data)}, "val", predictor.transform_name,
                            predictor.transform_options)
    assert len(dataset) == 4
    sample = dataset[0]
    one = predictor.views(sample["video_name"], "1x1")
    assert one.shape == (1, 3, 4, 32, 32)
    assert torch.equal(one[0], sample["video"])
    three = predictor.views(sample["video_name"], "1x3")
    assert three.shape == (3, 3, 4, 32, 32)
    assert torch.equal(three[1], one[0])
    assert not torch.equal(three[0], three[1]) and not torch.equal(three[2], three[1])
    assert predictor.views(sample["video_name"], "10x3").shape == (3, 3, 4, 32, 32)  # 2 s video: one clip


def test_cli_test_report_files_and_unreadable_video(trained_run, demo_dir, tmp_path):
    # The run's val split, plus one broken file: it is reported and skipped, the rest tested.
    data = tmp_path / "data"
    shutil.copytree(demo_dir / "val", data / "val")
    (data / "val" / "grow" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 but not really a video")
    ckpt = trained_run / "checkpoints" / "best.ckpt"
    # (the default 10x3 runs in test_readme_workflow.py)
    result = run_cli("test", "--checkpoint", str(ckpt), "--views", "3x3", "--dataset.data_path", str(data), "--json",
                     str(tmp_path / "m.json"), "--num-workers", "1", env=NO_PLUGINS)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "9/9" in result.stderr  # progress bar with a total
    assert "skipped cannot read video" in result.stderr and "broken.mp4" in result.stderr
    out = result.stdout
    assert "8 videos, 3x3 views (1 unreadable, skipped)" in out and "mean per-class" in out
    for name in ("grow", "move_down", "move_up", "shrink"):
        assert name in out

    report = trained_run / "test-val-3x3"
    metrics = json.loads((report / "metrics.json").read_text())
    assert json.loads((tmp_path / "m.json").read_text()) == metrics
    assert metrics["views"] == "3x3" and metrics["videos"] == 9 and metrics["tested"] == 8
    assert [s["path"].endswith("broken.mp4") for s in metrics["skipped"]] == [True]
    assert [r["videos"] for r in metrics["per_class"]] == [2, 2, 2, 2]
    assert sum(map(sum, metrics["confusion"])) == 8 and metrics["class_names"] == ["grow", "move_down", "move_up", "shrink"]
    assert [sum(row) for row in metrics["confusion"]] == [2, 2, 2, 2]
    assert (report / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The figures agree with each other and with the Python API on the same videos.
    rows = list(csv.DictReader(open(report / "predictions.csv")))
    tested = [r for r in rows if r["correct"] != "unreadable"]
    assert len(rows) == 9 and len(tested) == 8
    assert metrics["top1"] == pytest.approx(sum(r["correct"] == "True" for r in tested) / 8)
    per_class = {r["class"]: r["top1"] for r in metrics["per_class"]}
    assert metrics["mean_class_accuracy"] == pytest.approx(sum(per_class.values()) / 4)
    import vidzoo

    predictor = vidzoo.load(ckpt)
    for row in tested[:2]:
        probs = predictor.scores(predictor.views(row["path"], "3x3")).mean(0)
        name, p = predictor.top(probs, 1)[0]
        assert row["top1"] == name and float(row["p1"]) == pytest.approx(p, abs=1e-4)


def test_cli_test_single_view_and_bad_input(trained_run, tmp_path):
    ckpt = trained_run / "checkpoints" / "best.ckpt"
    result = run_cli("test", "--checkpoint", str(ckpt), "--views", "1x1", "--no-progress", "--json", "-",
                     "--output", str(tmp_path / "report"), env=NO_PLUGINS)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(result.stdout)
    assert metrics["views"] == "1x1" and metrics["tested"] == 8 and 0 <= metrics["top1"] <= metrics["top5"] <= 1
    assert (tmp_path / "report" / "confusion.png").is_file()
    assert "testing:" not in result.stderr  # --no-progress

    for args, message in (
        (["--checkpoint", str(tmp_path / "missing.ckpt")], "does not exist"),
        (["--checkpoint", str(ckpt), "--views", "0x3"], "--views must look like 10x3"),
        (["--checkpoint", str(trained_run / "config.yaml")], "not a readable torch checkpoint"),
        (["--checkpoint", str(ckpt), "--dataset.data_path", str(tmp_path / "nowhere")], "does not exist"),
    ):
        bad = run_cli("test", *args, env=NO_PLUGINS)
        assert bad.returncode == 2, (args, bad.stderr[-2000:])
        lines = bad.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0] and "Traceback" not in bad.stderr, (args, bad.stderr)
