"""vidzoo export: TorchScript and ONNX files loaded back and run on real clips (onnxruntime for ONNX)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import ROOT, run_cli

NO_PLUGINS = {"VIDZOO_LOAD_PLUGINS": ""}


@pytest.fixture(scope="module")
def predictor(trained_run):
    import vidzoo

    return vidzoo.load(trained_run / "checkpoints" / "best.ckpt", device="cpu")


@pytest.fixture(scope="module")
def clips(predictor, demo_dir):
    """Real clips: the three crops of a val video's centre clip, plus one of another class (batch of 4)."""
    a = predictor.views(str(demo_dir / "val" / "grow" / "grow_000.mp4"), "1x3")
    b = predictor.views(str(demo_dir / "val" / "move_up" / "move_up_001.mp4"), "1x1")
    return torch.cat([a, b])


def _export(trained_run, fmt, output):
    result = run_cli("export", "--checkpoint", str(trained_run / "checkpoints" / "best.ckpt"), "--format", fmt,
                     "--output", str(output), env=NO_PLUGINS)
    assert result.returncode == 0, result.stderr[-3000:]
    assert output.is_file() and not list(output.parent.glob(".*.tmp"))
    meta = json.loads(Path(str(output) + ".json").read_text())
    return result, meta


def _check_meta(meta, predictor, fmt):
    assert meta["format"] == fmt
    assert meta["input"]["shape"] == ["batch", 3, 4, 32, 32]
    assert meta["class_names"] == predictor.class_names == ["grow", "move_down", "move_up", "shrink"]
    pre = meta["preprocessing"]
    assert pre["mean"] == [0.45] * 3 and pre["std"] == [0.225] * 3
    assert (pre["num_frames"], pre["short_side"], pre["crop_size"], pre["clip_duration"]) == (4, 36, 32, 2.0)
    assert meta["checked_max_abs_diff"] <= 1e-4


def test_torchscript_export_equals_checkpoint(trained_run, predictor, clips, tmp_path):
    out = tmp_path / "model.pt"
    result, meta = _export(trained_run, "torchscript", out)
    _check_meta(meta, predictor, "torchscript")
    assert "checked: max |logit difference|" in result.stdout
    loaded = torch.jit.load(str(out))
    with torch.inference_mode():
        got = loaded(clips)
    expected = predictor.logits(clips)
    assert got.shape == (4, 4)
    assert (got - expected).abs().max().item() <= 1e-4


def test_onnx_export_equals_checkpoint_and_serves_without_vidzoo(trained_run, predictor, clips, demo_dir, tmp_path):
    import onnxruntime as ort

    out = tmp_path / "model.onnx"
    _, meta = _export(trained_run, "onnx", out)
    _check_meta(meta, predictor, "onnx")
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (got,) = session.run(["logits"], {"video": clips.numpy()})  # batch 4: the batch axis is dynamic
    expected = predictor.logits(clips).numpy()
    assert got.shape == (4, 4)
    assert np.abs(got - expected).max() <= 1e-4

    # docs/export.md's serving script (onnxruntime + numpy + PyAV only; vidzoo and torch blocked)
    # makes the model's input from the JSON file alone: it must match vidzoo's own 1x1 view.
    text = (ROOT / "docs" / "export.md").read_text()
    script = re.search(r"```python\n(# serve\.py.*?)```", text, re.S).group(1)
    video = demo_dir / "val" / "shrink" / "shrink_001.mp4"
    runner = tmp_path / "run_serve.py"
    runner.write_text(
        "import sys\nsys.modules['vidzoo'] = None\nsys.modules['torch'] = None\n"
        + script + "\nnp.save(sys.argv[3], x)\n")
    served = subprocess.run([sys.executable, str(runner), str(out), str(video), str(tmp_path / "x.npy")],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert served.returncode == 0, served.stderr[-3000:]
    lines = served.stdout.strip().splitlines()
    assert len(lines) == 4 and {line.split()[0] for line in lines} == set(predictor.class_names)
    x = np.load(tmp_path / "x.npy")
    view = predictor.views(str(video), "1x1").numpy()
    assert x.shape == view.shape == (1, 3, 4, 32, 32)
    # Same frames, crop and normalisation; only the resize filter differs (swscale vs torch bilinear).
    assert np.abs(x - view).mean() < 0.05, np.abs(x - view).mean()
    served_probs = {line.split()[0]: float(line.split()[1]) for line in lines}
    probs = predictor.scores(predictor.views(str(video), "1x1"))[0]
    for name, p in zip(predictor.class_names, probs.tolist()):
        assert served_probs[name] == pytest.approx(p, abs=0.02)


def test_export_bad_output_writes_nothing(trained_run, tmp_path):
    ckpt = str(trained_run / "checkpoints" / "best.ckpt")
    for args, message in (
        (["--format", "onnx", "--output", str(tmp_path / "no" / "such" / "m.onnx")], "does not exist"),
        (["--format", "onnx", "--output", str(tmp_path)], "is a folder"),
    ):
        bad = run_cli("export", "--checkpoint", ckpt, *args, env=NO_PLUGINS)
        assert bad.returncode == 2 and message in bad.stderr and bad.stderr.count("\n") == 1, bad.stderr
    assert list(tmp_path.iterdir()) == []
    bad = run_cli("export", "--checkpoint", ckpt, "--format", "tflite", "--output", "m.tflite", env=NO_PLUGINS)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_multi_pathway_slowfast_predict_test_and_export(demo_dir, tmp_path):
    """A backbone fed a list of pathways (SlowFast's [slow, fast], from the pytorchvideo-hub plugin)."""
    pytest.importorskip("vidzoo_pytorchvideo_hub")
    from conftest import TINY

    result = run_cli("run", "--dataset", "kinetics", "--backbone", "slowfast_r50", "--transform", "slowfast",
                     "--dataset.data_path", str(demo_dir), "--output", str(tmp_path / "runs"), *TINY,
                     "--transform.num_frames", "8", "--transform.alpha", "4", "--trainer.limit_train_batches", "1",
                     "--trainer.limit_val_batches", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    (ckpt,) = (tmp_path / "runs").glob("*/checkpoints/best.ckpt")
    import vidzoo

    predictor = vidzoo.load(ckpt, device="cpu")
    views = predictor.views(str(demo_dir / "val" / "grow" / "grow_000.mp4"), "2x3")
    assert isinstance(views, list) and [tuple(v.shape) for v in views] == [(6, 3, 2, 32, 32), (6, 3, 8, 32, 32)]
    pred = predictor.predict(demo_dir / "val" / "grow" / "grow_000.mp4", views="2x3")
    assert pred.views == 6 and pred.probs.sum().item() == pytest.approx(1, abs=1e-5)

    out = tmp_path / "sf.pt"
    exported = run_cli("export", "--checkpoint", str(ckpt), "--format", "torchscript", "--output", str(out))
    assert exported.returncode == 0, exported.stderr[-3000:]
    meta = json.loads(Path(str(out) + ".json").read_text())
    assert [i["name"] for i in meta["inputs"]] == ["video_0", "video_1"]
    assert meta["inputs"][1]["shape"] == ["batch", 3, 8, 32, 32]
    with torch.inference_mode():
        got = torch.jit.load(str(out))(*views)
    assert (got - predictor.logits(views)).abs().max().item() <= 1e-4

    # ONNX: exported, and equal under onnxruntime.
    onnx_out = tmp_path / "sf.onnx"
    onnx = run_cli("export", "--checkpoint", str(ckpt), "--format", "onnx", "--output", str(onnx_out))
    assert onnx.returncode == 0, onnx.stderr[-3000:]
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_out), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"video_0": views[0].numpy(), "video_1": views[1].numpy()})
    assert np.abs(logits - predictor.logits(views).numpy()).max() <= 1e-4


def test_a_model_the_onnx_exporter_cannot_take_is_one_line_and_writes_nothing(demo_dir, tmp_path):
    from conftest import TINY
    from faultkit import plugin_env

    env = plugin_env(tmp_path / "site")
    run = run_cli("run", "--dataset", "kinetics", "--backbone", "faultkit-tiny", "--backbone.mode", "no_onnx",
                  "--dataset.data_path", str(demo_dir), "--output", str(tmp_path / "runs"), *TINY, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    (ckpt,) = (tmp_path / "runs").glob("*/checkpoints/best.ckpt")
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "m.onnx"
    bad = run_cli("export", "--checkpoint", str(ckpt), "--format", "onnx", "--output", str(out), env=env)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr[-3000:]
    assert bad.stderr.startswith("vidzoo export: error: ONNX export failed") and "--format torchscript" in bad.stderr
    assert list(out.parent.iterdir()) == []  # no file, no temporary left behind
    good = run_cli("export", "--checkpoint", str(ckpt), "--format", "torchscript", "--output",
                   str(tmp_path / "m.pt"), env=env)
    assert good.returncode == 0, good.stderr[-3000:]
