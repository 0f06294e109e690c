"""Kill a run (SIGKILL) during a step, during validation and during a checkpoint write; resume each time.

The resumed run finishes the planned epochs, its checkpoint loads, every logged epoch and step
appears once in metrics.csv, and its final weights equal those of a run that was never killed
(epoch, optimizer, RNG states and data order all continue).
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import pytest

from faultkit import TINY_FK, lines, metrics_rows, plugin_env, registered_in_process, sigkill, start, wait_for
from vidzoo.io import atomic_write_bytes, atomic_writer, safe_load
from vidzoo.training.checkpoint import find_resume, prepare_resume, remove_stale_temporaries

EPOCHS = 3
STEPS_PER_EPOCH = 2


def _args(data: Path, output: Path) -> list[str]:
    return ["run", "--dataset", "faultkit", "--backbone", "faultkit-tiny", "--dataset.data_path", str(data),
            *TINY_FK, "--data.batch_size", "4", "--data.num_workers", "0", "--optimizer.scheduler", "cosine",
            "--trainer.max_epochs", str(EPOCHS), "--trainer.limit_train_batches", str(STEPS_PER_EPOCH),
            "--trainer.limit_val_batches", "1", "--trainer.num_sanity_val_steps", "0",
            "--trainer.log_every_n_steps", "1", "--trainer.deterministic", "true", "--output", str(output)]


def _epoch(ckpt: Path) -> int:
    return int(safe_load(ckpt)["epoch"])


def test_killed_three_times_then_resumed_finishes_like_an_uninterrupted_run(demo_dir, tmp_path):
    out = tmp_path / "runs"
    args = _args(demo_dir, out)
    env = plugin_env(tmp_path / "site", VIDZOO_FAULTKIT_SLEEP="0.3")
    log = tmp_path / "run.log"

    # 1. killed during a training step of epoch 1 (epoch 0: 2 train steps, val, checkpoint)
    trace = tmp_path / "trace1"
    proc = start(args, {**env, "VIDZOO_FAULTKIT_TRACE": trace}, log)
    wait_for(lambda: lines(trace).count("train") >= 4, proc, what="the 2nd train step of epoch 1")
    sigkill(proc)
    run_dir = next(out.iterdir())
    last = run_dir / "checkpoints" / "last.ckpt"
    assert _epoch(last) == 0

    # 2. resumed (latest run under --output), killed during validation of epoch 1
    trace = tmp_path / "trace2"
    proc = start([*args, "--resume"], {**env, "VIDZOO_FAULTKIT_TRACE": trace}, log)
    wait_for(lambda: "val" in lines(trace), proc, what="validation of epoch 1")
    assert lines(trace)[:2] == ["train", "train"]  # it went on with epoch 1, not epoch 0
    sigkill(proc)
    assert _epoch(last) == 0

    # 3. resumed (by run directory), killed in the middle of writing the epoch-1 checkpoint
    trace = tmp_path / "trace3"
    proc = start([*args, "--resume", str(run_dir)],
                 {**env, "VIDZOO_FAULTKIT_TRACE": trace, "VIDZOO_TEST_CHECKPOINT_WRITE_PAUSE": "30"}, log)
    wait_for(lambda: list((run_dir / "checkpoints").glob(".*.tmp")), proc, what="a checkpoint write")
    sigkill(proc)
    assert lines(trace).count("train") == STEPS_PER_EPOCH  # it was epoch 1's checkpoint
    half_written = list((run_dir / "checkpoints").glob(".*.tmp"))
    assert half_written, "the kill came during the write"
    assert _epoch(last) == 0  # the previous checkpoint is intact

    # 4. resumed (by checkpoint path): finishes
    proc = start([*args, "--resume", str(last)], env, log)
    assert proc.wait(timeout=300) == 0, log.read_text()[-3000:]
    text = log.read_text()
    assert f"finished {EPOCHS} epochs" in text
    assert not list((run_dir / "checkpoints").glob(".*.tmp"))  # the stale temporary was removed
    ckpt = safe_load(last)
    assert ckpt["epoch"] == EPOCHS - 1 and ckpt["global_step"] == EPOCHS * STEPS_PER_EPOCH
    rows = metrics_rows(run_dir)
    val_epochs = Counter(int(r["epoch"]) for r in rows if r.get("val/top1"))
    assert val_epochs == {e: 1 for e in range(EPOCHS)}, rows  # each epoch's validation logged once
    steps = Counter(int(r["step"]) for r in rows if r.get("train/loss_step"))
    assert steps == {s: 1 for s in range(EPOCHS * STEPS_PER_EPOCH)}, rows  # each step logged once

    with registered_in_process():
        from vidzoo.training.task import VideoClassificationTask

        model = VideoClassificationTask.load_from_checkpoint(last, map_location="cpu", weights_only=True)
        assert model.hparams.model["name"] == "faultkit-tiny"

    # A run never killed ends with the same weights and optimizer state.
    reference = tmp_path / "reference"
    proc = start(_args(demo_dir, reference), env, log)
    assert proc.wait(timeout=300) == 0, log.read_text()[-3000:]
    expected = safe_load(next(reference.iterdir()) / "checkpoints" / "last.ckpt")
    for key, value in expected["state_dict"].items():
        assert ckpt["state_dict"][key].equal(value), key
    assert ckpt["optimizer_states"][0]["state"][0]["exp_avg"].equal(expected["optimizer_states"][0]["state"][0]["exp_avg"])
    assert ckpt["lr_schedulers"] == expected["lr_schedulers"]


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "last.ckpt"
    atomic_write_bytes(target, b"old")

    def fail(*a, **k):
        raise KeyboardInterrupt  # a signal in the middle of the write

    monkeypatch.setattr("os.replace", fail)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b"new" * 1000)
    assert target.read_bytes() == b"old"
    assert not list(tmp_path.glob(".*.tmp"))  # cleaned up on the way out
    monkeypatch.undo()
    (tmp_path / ".last.ckpt.abc.tmp").write_bytes(b"half")  # what a SIGKILL leaves
    assert [p.name for p in remove_stale_temporaries(tmp_path)] == [".last.ckpt.abc.tmp"]


def test_lightning_checkpoint_io_writes_in_place_and_vidzoo_does_not():
    """Why vidzoo has its own CheckpointIO: Lightning's goes through a temp file in the system temp
    folder and shutil.move (a copy into the target across file systems), without fsync."""
    import inspect

    from lightning.fabric.utilities import cloud_io

    from vidzoo.training.checkpoint_io import AtomicCheckpointIO

    assert "fsync" not in inspect.getsource(cloud_io._atomic_save)
    source = (inspect.getsource(AtomicCheckpointIO.save_checkpoint) + inspect.getsource(atomic_write_bytes)
              + inspect.getsource(atomic_writer))
    assert "os.replace" in source and "fsync" in source


def test_resume_finds_runs_and_drops_log_rows_the_checkpoint_does_not_hold(tmp_path):
    import torch

    from vidzoo.errors import VidzooError

    with pytest.raises(VidzooError, match="no run to resume"):
        find_resume("", str(tmp_path))
    run = tmp_path / "20260101-000000-k-b"
    (run / "checkpoints").mkdir(parents=True)
    (run / "logs").mkdir()
    (run / "config.yaml").write_text("dataset: {name: kinetics}\n")
    assert find_resume("", str(tmp_path)) == (run, None)
    buffer = io.BytesIO()
    torch.save({"epoch": 1, "global_step": 4, "state_dict": {}}, buffer)
    (run / "checkpoints" / "last.ckpt").write_bytes(buffer.getvalue())
    assert find_resume(str(run), "unused") == (run, run / "checkpoints" / "last.ckpt")
    (run / "logs" / "metrics.csv").write_text("epoch,step,val/top1\n0,1,0.5\n1,3,0.6\n2,4,\n")
    assert prepare_resume(run, run / "checkpoints" / "last.ckpt") == 1
    assert (run / "logs" / "metrics.csv").read_text().splitlines() == ["epoch,step,val/top1", "0,1,0.5", "1,3,0.6"]
    with pytest.raises(VidzooError, match="no such run"):
        find_resume(str(tmp_path / "nope"), "")
