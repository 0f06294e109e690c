"""A checkpoint or pretrained file carrying a pickle payload is refused; its code never runs.

The payload's __reduce__ would create a marker folder when unpickled; the tests first prove
that it does (plain torch.load), then that no vidzoo path that reads such files runs it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import run_cli

ONLY_BUILTINS = {"VIDZOO_LOAD_PLUGINS": ""}


class Payload:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):  # what a malicious checkpoint does: call anything at load time
        return (os.mkdir, (self.marker,))


def evil_file(path: Path, marker: Path, lightning_like: bool = True) -> Path:
    import torch

    if lightning_like:  # a real-looking training checkpoint with the payload tucked inside
        content = {"epoch": 0, "global_step": 2, "pytorch-lightning_version": "2.6.6",
                   "state_dict": {"model.head.weight": torch.zeros(4, 8)},
                   "hyper_parameters": {"backbone": "resnet3d50", "extra": Payload(str(marker))}}
    else:  # a "pretrained weights" file
        content = {"model_state": {"conv.weight": torch.zeros(1)}, "meta": Payload(str(marker))}
    torch.save(content, path)
    return path


def assert_refused(done, command: str, marker: Path) -> None:
    assert done.returncode == 2, done.stdout[-1000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith(f"vidzoo {command}: error:")]
    assert len(lines) == 1, done.stderr[-2000:]
    assert "pickle" in lines[0] or "weights_only" in lines[0], lines[0]
    assert not marker.exists(), "the payload ran"


def test_the_payload_is_live(tmp_path):
    """Guard for the tests below: unpickling this file really runs code."""
    import torch

    marker = tmp_path / "pwned"
    path = evil_file(tmp_path / "evil.ckpt", marker)
    torch.load(path, weights_only=False)
    assert marker.is_dir()


def test_checkpoint_loading_in_python_refuses_the_payload(tmp_path):
    from vidzoo.io import safe_load
    from vidzoo.training.checkpoint_io import AtomicCheckpointIO
    from vidzoo.errors import VidzooError
    from vidzoo.training.task import VideoClassificationTask

    marker = tmp_path / "pwned"
    path = evil_file(tmp_path / "last.ckpt", marker)
    with pytest.raises(VidzooError, match="refusing to load checkpoint .* pickled Python objects") as info:
        safe_load(path)
    assert "\n" not in str(info.value)
    # Lightning's Trainer reads checkpoints (fit(ckpt_path=...)) through vidzoo's CheckpointIO,
    # which loads weights_only even when asked otherwise.
    with pytest.raises(VidzooError, match="refusing"):
        AtomicCheckpointIO().load_checkpoint(path, weights_only=False)
    # Lightning's own loader (LightningModule.load_from_checkpoint) with torch's default.
    with pytest.raises(Exception, match="(?i)weights_only|unsupported global"):
        VideoClassificationTask.load_from_checkpoint(path, map_location="cpu")
    assert not marker.exists()


@pytest.fixture()
def run_dir_with_evil_checkpoint(demo_dir, tmp_path, capsys) -> tuple[Path, Path]:
    from vidzoo.cli import main

    run_dir = tmp_path / "runs" / "20260101-000000-kinetics-resnet3d50"
    (run_dir / "checkpoints").mkdir(parents=True)
    assert main(["run", "--dataset", "kinetics", "--backbone", "resnet3d50", "--dataset.data_path", str(demo_dir),
                 "--output", str(tmp_path / "runs"), "--print-config"]) == 0
    (run_dir / "config.yaml").write_text(capsys.readouterr().out)
    marker = tmp_path / "pwned"
    evil_file(run_dir / "checkpoints" / "last.ckpt", marker)
    return run_dir, marker


def test_resume_refuses_a_malicious_last_checkpoint(run_dir_with_evil_checkpoint, tmp_path):
    run_dir, marker = run_dir_with_evil_checkpoint
    before = sorted(p.relative_to(run_dir) for p in run_dir.rglob("*"))
    done = run_cli("run", "--resume", "--output", str(tmp_path / "runs"), env=ONLY_BUILTINS)
    assert_refused(done, "run", marker)
    assert "refusing to load checkpoint" in done.stderr
    assert sorted(p.relative_to(run_dir) for p in run_dir.rglob("*")) == before  # nothing written


def test_predict_test_and_export_refuse_a_malicious_checkpoint(run_dir_with_evil_checkpoint, demo_dir, tmp_path):
    run_dir, marker = run_dir_with_evil_checkpoint
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    video = next((demo_dir / "val" / "grow").glob("*.mp4"))
    for command, args in (("predict", [str(video)]), ("test", ["--dataset.data_path", str(demo_dir)]),
                          ("export", ["--format", "torchscript", "--output", str(tmp_path / "model.pt")])):
        from vidzoo.cli import COMMANDS

        if command not in COMMANDS:
            continue
        done = run_cli(command, "--checkpoint", str(ckpt), *args, env=ONLY_BUILTINS)
        assert_refused(done, command, marker)


def test_pretrained_weights_with_a_payload_are_refused(demo_dir, tmp_path):
    marker = tmp_path / "pwned"
    weights = evil_file(tmp_path / "weights.pyth", marker, lightning_like=False)
    out = tmp_path / "runs"
    done = run_cli("run", "--dataset", "kinetics", "--backbone", "resnet3d50", "--dataset.data_path", str(demo_dir),
                   "--backbone.pretrained", str(weights), "--output", str(out), env=ONLY_BUILTINS)
    assert_refused(done, "run", marker)
    assert not out.exists()  # nothing written
