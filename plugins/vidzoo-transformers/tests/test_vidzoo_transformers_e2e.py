"""vidzoo-transformers end to end through the CLI: vidzoo run, test and export on tiny VideoMAEs."""

import json
import os
import shlex
import subprocess
import sys

import pytest

from vidzoo.testing import private_cache  # noqa: F401  (autouse: a cache of this module)

# 4 frames at 32 px, one epoch of two batches; the backbone built for the same clip, 2 layers of width 32.
TINY_RUN = [
    "--transform.num_frames", "4", "--transform.crop_size", "32", "--transform.min_short_side", "36",
    "--transform.max_short_side", "40", "--transform.eval_short_side", "36",
    "--data.batch_size", "4", "--data.num_workers", "0",
    "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "2",
    "--trainer.enable_model_summary", "false", "--trainer.enable_progress_bar", "false",
]
TINY_BACKBONE = ["--backbone.num_frames", "4", "--backbone.image_size", "32", "--backbone.hidden_size", "32",
                 "--backbone.num_hidden_layers", "2", "--backbone.num_attention_heads", "2",
                 "--backbone.intermediate_size", "64"]


def vidzoo(*args, env=None):
    return subprocess.run([sys.executable, "-m", "vidzoo", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=900)


def only_run_dir(out):
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


def test_run_test_and_export_videomae_on_the_demo_sample(tmp_path):
    from vidzoo.data.demo import write_demo

    demo = write_demo(tmp_path / "demo", train_per_class=2, val_per_class=1, width=64, height=48)
    out = tmp_path / "runs"
    run = vidzoo("run", "--dataset", "kinetics", "--backbone", "videomae_base", "--dataset.data_path", str(demo),
                 "--output", str(out), *TINY_RUN, *TINY_BACKBONE)
    assert run.returncode == 0, run.stderr[-3000:]
    ckpt = only_run_dir(out) / "checkpoints" / "best.ckpt"
    assert ckpt.is_file()

    tested = vidzoo("test", "--checkpoint", str(ckpt), "--views", "1x1", "--json", "-", "--no-progress")
    assert tested.returncode == 0, tested.stderr[-3000:]
    metrics = json.loads(tested.stdout[tested.stdout.index("{"):])
    assert 0.0 <= metrics["top1"] <= 1.0

    for fmt, name in (("onnx", "model.onnx"), ("torchscript", "model.pt")):
        exported = vidzoo("export", "--checkpoint", str(ckpt), "--format", fmt, "--output", str(tmp_path / name))
        assert exported.returncode == 0, exported.stderr[-3000:]
        assert "checked: max |logit difference|" in exported.stdout
        meta = json.loads((tmp_path / f"{name}.json").read_text())
        assert meta["backbone"] == "videomae_base"


def test_fine_tune_command_of_docs_zoo_md_with_weights_in_the_hub_cache(tmp_path):
    # The command docs/zoo.md shows for videomae_base, on UCF101 (vidzoo-datasets' fake tree) with
    # MCG-NJU/videomae-base-finetuned-kinetics in a local Hub cache (a tiny model saved there).
    import torch
    from vidzoo.plugins import get_registry
    from vidzoo.plugins.zoo_table import fine_tune_command
    from vidzoo_datasets.fake import write_ucf101
    from vidzoo_transformers.testing import save_to_hub_cache, tiny_options

    torch.manual_seed(0)
    model = get_registry().get("backbone", "videomae_base").factory(num_classes=400, **tiny_options("videomae_base"))
    save_to_hub_cache(model, tmp_path / "hf" / "hub", "MCG-NJU/videomae-base-finetuned-kinetics")
    ucf = write_ucf101(tmp_path / "ucf")
    out = tmp_path / "runs"
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    env.pop("HF_HUB_CACHE", None)
    # docs/zoo.md's line for videomae_base (tests/test_zoo_table.py keeps the file equal to render()).
    command = shlex.split(fine_tune_command(get_registry().get("backbone", "videomae_base").summary()))
    assert command[:2] == ["vidzoo", "run"] and "MCG-NJU/videomae-base-finetuned-kinetics" in command
    command[command.index("UCF-101")] = str(ucf)
    run = vidzoo(*command[1:], "--output", str(out), *TINY_RUN, *TINY_BACKBONE, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "pretrained weights from hf://MCG-NJU/videomae-base-finetuned-kinetics" in run.stderr
    assert "new head kept for 2 (model.classifier.weight 400x32->3x32" in run.stderr
    report = json.loads((only_run_dir(out) / "pretrained.json").read_text())
    assert report["head"] == ["model.classifier.weight", "model.classifier.bias"]
    assert len(report["loaded"]) == report["total"] - 2
