"""`vidzoo bench` (real subprocesses on real mp4 files) and the model speed options (perf section)."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import run_cli

ENV = {"VIDZOO_LOAD_PLUGINS": ""}
TINY_TRANSFORM = ["--transform.num_frames", "4", "--transform.crop_size", "32", "--transform.min_short_side", "36",
                  "--transform.max_short_side", "40", "--transform.eval_short_side", "36", "--data.batch_size", "2"]


def test_bench_data_times_each_stage_and_names_the_bottleneck(demo_dir, tmp_path):
    out = tmp_path / "bench.json"
    result = run_cli("bench", "data", "--dataset", "kinetics", "--dataset.data_path", str(demo_dir), *TINY_TRANSFORM,
                     "--clips", "4", "--json", str(out), env=ENV)
    assert result.returncode == 0, result.stderr
    for stage in ("decode only (limit)", "reader (decode + convert kept frames)", "whole sample (reader + transform)",
                  "resnet3d50 train step (cpu, batch 2x3x4x32x32)"):
        assert stage in result.stdout
    assert "workers needed to keep the model fed" in result.stdout
    assert "bottleneck: " in result.stdout
    report = json.loads(out.read_text())
    assert set(report["stages"]) == {"decode", "read", "sample"}
    assert all(s["clips"] == 4 and s["clips_per_s"] > 0 for s in report["stages"].values())
    assert report["model"]["clips"] == 2 * 2 and report["workers"] >= 1
    assert any(line.startswith("bottleneck: ") for line in report["verdict"])


def test_bench_data_without_model_and_on_the_val_split(demo_dir):
    result = run_cli("bench", "data", "--dataset", "kinetics", "--dataset.data_path", str(demo_dir), *TINY_TRANSFORM,
                     "--clips", "3", "--no-model", "--split", "val", env=ENV)
    assert result.returncode == 0, result.stderr
    assert "(val, 8 items)" in result.stdout and "train step" not in result.stdout
    assert "the largest stage is" in result.stdout


def _cli(capsys, monkeypatch, *args):
    """The `vidzoo` dispatcher in this process (for the quick cases: help and mistakes)."""
    from vidzoo.cli import main

    monkeypatch.setenv("VIDZOO_LOAD_PLUGINS", "")
    from vidzoo import plugins

    plugins.reset()
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("args,message", [
    (["nope"], "unknown benchmark 'nope'"),
    (["data", "--dataset", "kinetcs"], "kinetics"),
    (["data", "--dataset", "kinetics", "--clips", "0"], "--clips must be positive"),
    (["train", "--batch-shape", "3x3"], "--batch-shape must be BxCxTxHxW"),
    (["train", "--backbone", "resnet3d5O"], "resnet3d50"),
])
def test_bench_mistakes_are_one_line_errors(capsys, monkeypatch, args, message):
    code, out, err = _cli(capsys, monkeypatch, "bench", *args)
    assert code == 2, (out, err)
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_bench_help_has_examples(capsys, monkeypatch):
    for args in (["bench", "--help"], ["bench", "data", "--help"], ["bench", "train", "--help"]):
        code, out, _ = _cli(capsys, monkeypatch, *args)
        assert code == 0 and "vidzoo bench" in out and "examples:" in out
    assert "bench" in _cli(capsys, monkeypatch, "--help")[1]


def test_bench_train_compares_the_lightning_task_with_a_plain_loop(tmp_path):
    out = tmp_path / "train.json"
    result = run_cli("bench", "train", "--batch-shape", "2x3x4x32x32", "--steps", "1", "--rounds", "1",
                     "--json", str(out), env=ENV)
    assert result.returncode == 0, result.stderr
    assert "Lightning task overhead vs plain loop" in result.stdout
    report = json.loads(out.read_text())
    assert set(report["clips_per_s"]) == {"plain PyTorch loop", "vidzoo Lightning task", "vidzoo + channels_last_3d"}
    assert all(v > 0 for v in report["clips_per_s"].values())


def _task(perf):
    from vidzoo.models.builder import build_model
    from vidzoo.training.task import VideoClassificationTask

    torch.manual_seed(0)
    built = build_model("resnet3d50", 3)
    return VideoClassificationTask(built.model, ["a", "b", "c"], built.recipe, built.classifier, perf=perf)


def test_channels_last_3d_keeps_outputs_and_checkpoint_names():
    plain, fast = _task({}), _task({"channels_last_3d": True})
    conv = fast.model.blocks[0].conv.weight
    assert conv.is_contiguous(memory_format=torch.channels_last_3d) and not conv.is_contiguous()
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(fast.eval()(x), plain.eval()(x), rtol=1e-4, atol=1e-4)
    assert list(fast.state_dict()) == list(plain.state_dict())


def test_compile_is_applied_outside_the_module_tree():
    task = _task({"compile": True})
    keys = list(task.state_dict())
    task.configure_model()
    assert type(task.__dict__["_compiled"]).__name__ == "OptimizedModule"
    assert list(task.state_dict()) == keys and not any("_orig_mod" in k for k in keys)
    untouched = _task({})
    untouched.configure_model()
    assert "_compiled" not in untouched.__dict__


def test_perf_options_are_run_options_and_cpu_stays_fp32(capsys, monkeypatch):
    import yaml

    code, out, err = _cli(capsys, monkeypatch, "run", "--dataset", "kinetics", "--backbone", "resnet3d50",
                          "--perf.channels_last_3d", "true", "--print-config")
    assert code == 0, err
    config = yaml.safe_load(out)
    assert config["perf"] == {"channels_last_3d": True, "compile": False}
    assert str(config["trainer"].get("precision") or "32") in ("32", "32-true")
