"""Mid-epoch checkpoints and exact resume: a run SIGKILLed in the middle of an epoch and resumed
trains on the same clips in the same order (sampler position, DataLoader workers' random states)
and ends bit-identical to a run never killed; also with 2 DDP ranks x 2 workers."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from faultkit import TINY_FK, plugin_env, sigkill, start, wait_for
from vidzoo.io import safe_load
from vidzoo.training.midepoch import newest_checkpoint, step_checkpoints

EPOCHS = 2


def _args(data: Path, output: Path, *extra: str) -> list[str]:
    return ["run", "--dataset", "faultkit", "--backbone", "faultkit-tiny", "--dataset.data_path", str(data),
            "--dataset.stamp", "true", "--dataset.eval_clip_sampler", "uniform", *TINY_FK,
            "--data.batch_size", "4", "--optimizer.scheduler", "cosine", "--trainer.max_epochs", str(EPOCHS),
            "--trainer.num_sanity_val_steps", "0", "--trainer.log_every_n_steps", "1",
            "--trainer.deterministic", "true", "--checkpoint.every_n_steps", "1", "--checkpoint.keep", "2",
            "--output", str(output), *extra]


def _seen(path: Path) -> dict[str, list[list[int]]]:
    """What each rank trained on: {rank: [[clip index, ...] per step, in order]}."""
    out: dict[str, list[list[int]]] = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        rank, *indices = line.split()
        out.setdefault(rank, []).append([int(i) for i in indices])
    return out


def _finish(args, env, log, timeout=300):
    proc = start(args, env, log)
    assert proc.wait(timeout=timeout) == 0, log.read_text()[-4000:]


def _same_weights(a: Path, b: Path) -> None:
    x, y = safe_load(a), safe_load(b)
    assert x["global_step"] == y["global_step"] and x["epoch"] == y["epoch"]
    for key, value in y["state_dict"].items():
        assert x["state_dict"][key].equal(value), key
    for (_, sx), (_, sy) in zip(sorted(x["optimizer_states"][0]["state"].items()),
                                sorted(y["optimizer_states"][0]["state"].items())):
        assert sx["exp_avg"].equal(sy["exp_avg"]) and sx["exp_avg_sq"].equal(sy["exp_avg_sq"])
    assert x["lr_schedulers"] == y["lr_schedulers"]


def _kill_mid_epoch_and_resume(args, env, log, run_root: Path, after_step: int, seen: Path):
    """SIGKILL once step-<after_step>.ckpt exists, resume; (resumed-from step, what was trained, in order)."""
    proc = start(args, env, log)
    wait_for(lambda: any(p.name == f"step-{after_step:08d}.ckpt" for r in run_root.glob("*")
                         for p in step_checkpoints(r / "checkpoints")), proc, what=f"step {after_step}")
    sigkill(proc)
    (run_dir,) = list(run_root.iterdir())
    ckpt = newest_checkpoint(run_dir / "checkpoints")
    resumed_from = int(safe_load(ckpt)["global_step"])
    killed = _seen(seen)
    seen.unlink()
    _finish([*args, "--resume"], env, log)
    # What the killed run trained after its newest checkpoint is lost work, done again after the resume.
    after = _seen(seen)
    return resumed_from, {rank: steps[:resumed_from] + after.get(rank, []) for rank, steps in killed.items()}


def test_sigkill_mid_epoch_with_two_workers_resumes_bit_identical(demo_dir, tmp_path):
    env = plugin_env(tmp_path / "site")
    log = tmp_path / "run.log"
    workers = ["--data.num_workers", "2", "--data.worker_start", "fork"]

    reference_seen = tmp_path / "reference-seen"
    _finish(_args(demo_dir, tmp_path / "reference", *workers), {**env, "VIDZOO_FAULTKIT_SEEN": reference_seen}, log)
    (reference,) = list((tmp_path / "reference").iterdir())
    steps_per_epoch = 6  # 24 clips, batch 4
    assert [p.name for p in step_checkpoints(reference / "checkpoints")] == ["step-00000011.ckpt",
                                                                            "step-00000012.ckpt"]  # keep 2

    seen = tmp_path / "seen"
    out = tmp_path / "runs"
    resumed_from, trained = _kill_mid_epoch_and_resume(
        _args(demo_dir, out, *workers), {**env, "VIDZOO_FAULTKIT_SEEN": seen, "VIDZOO_FAULTKIT_SLEEP": "0.25"},
        log, out, after_step=steps_per_epoch + 2, seen=seen)
    assert steps_per_epoch < resumed_from < 2 * steps_per_epoch  # mid-epoch 1
    (run_dir,) = list(out.iterdir())
    text = log.read_text()
    assert f"step-{resumed_from:08d}.ckpt (epoch 1, step {resumed_from})" in text, text[-3000:]

    # The same clips in the same order (the stamped dataset indices of every training step) ...
    expected = _seen(reference_seen)
    assert trained == expected, "the clips trained on differ from those of the uninterrupted run"
    epoch1 = [i for step in expected["r0"][steps_per_epoch:] for i in step]
    assert sorted(epoch1) == list(range(24))  # ... each clip of the interrupted epoch once
    # ... with the same random clip times and crops: the same weights, bit for bit.
    _same_weights(run_dir / "checkpoints" / "last.ckpt", reference / "checkpoints" / "last.ckpt")


def test_ddp_two_ranks_two_workers_sigkill_mid_epoch_each_clip_once_and_bit_identical(demo_dir, tmp_path):
    env = plugin_env(tmp_path / "site")
    log = tmp_path / "run.log"
    ddp = ["--data.batch_size", "2", "--data.num_workers", "2", "--trainer.max_epochs", "1",
           "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp"]
    steps = 6  # 24 clips over 2 ranks, batch 2

    reference_seen = tmp_path / "reference-seen"
    _finish(_args(demo_dir, tmp_path / "reference", *ddp), {**env, "VIDZOO_FAULTKIT_SEEN": reference_seen}, log,
            timeout=400)
    (reference,) = list((tmp_path / "reference").iterdir())
    expected = _seen(reference_seen)
    assert sorted(expected) == ["r0", "r1"] and all(len(v) == steps for v in expected.values())

    seen = tmp_path / "seen"
    out = tmp_path / "runs"
    resumed_from, trained = _kill_mid_epoch_and_resume(
        _args(demo_dir, out, *ddp), {**env, "VIDZOO_FAULTKIT_SEEN": seen, "VIDZOO_FAULTKIT_SLEEP": "0.3"},
        log, out, after_step=3, seen=seen)
    assert 0 < resumed_from < steps, resumed_from
    # Each rank went on with its own next clips: across ranks, every clip of the epoch once, none twice.
    clips = Counter(i for rank in trained.values() for step in rank for i in step)
    assert sorted(clips) == list(range(24)) and set(clips.values()) == {1}, clips
    assert trained == expected  # the same clips in the same order on each rank
    (run_dir,) = list(out.iterdir())
    _same_weights(run_dir / "checkpoints" / "last.ckpt", reference / "checkpoints" / "last.ckpt")
