"""DDP on CPU (gloo): 2 processes x 2 DataLoader workers see each clip exactly once; metrics are reduced exactly."""

from __future__ import annotations

import math
import shutil
from collections import Counter
from pathlib import Path

import pytest

from conftest import run_cli
from faultkit import TINY_FK, metrics_rows, plugin_env
from vidzoo.data.sampling import shard_indices


def test_shards_cover_every_clip_once_and_keep_step_counts_equal():
    for n in range(1, 40):
        for world in (1, 2, 3, 4):
            for batch in (1, 2, 3, 4, 8):
                for shuffle, epoch in ((False, 0), (True, 0), (True, 5)):
                    shards = [shard_indices(n, world, r, shuffle=shuffle, seed=7, epoch=epoch, batch_size=batch,
                                            equal_batches=False) for r in range(world)]
                    seen = Counter(i for s in shards for i in s)
                    if n >= world:  # evaluation: exact
                        assert sorted(seen) == list(range(n)) and set(seen.values()) == {1}, (n, world, batch)
                    assert all(shards), "every rank gets at least one clip"
                    train = [shard_indices(n, world, r, shuffle=shuffle, seed=7, epoch=epoch, batch_size=batch,
                                           equal_batches=True) for r in range(world)]
                    steps = {math.ceil(len(s) / batch) for s in train}
                    assert len(steps) == 1, ("ranks would run different numbers of steps", n, world, batch)
                    counts = Counter(i for s in train for i in s)
                    assert set(range(n)) <= set(counts), "no clip is ever skipped"
                    repeats = sum(counts.values()) - n
                    assert repeats <= world - 1 if n >= world else True
    # the order depends on (seed, epoch) only: a resumed run repeats an epoch exactly, epochs differ
    a = shard_indices(50, 2, 0, shuffle=True, seed=1, epoch=3, batch_size=4, equal_batches=True)
    assert a == shard_indices(50, 2, 0, shuffle=True, seed=1, epoch=3, batch_size=4, equal_batches=True)
    assert a != shard_indices(50, 2, 0, shuffle=True, seed=1, epoch=4, batch_size=4, equal_batches=True)


def test_sampler_is_kept_by_lightning_under_ddp_settings():
    """Lightning swaps in its padding DistributedSampler unless the loader's sampler is one already."""
    from torch.utils.data.distributed import DistributedSampler

    from vidzoo.data.sampling import ShardSampler

    sampler = ShardSampler(list(range(7)), num_replicas=2, rank=1, shuffle=False)
    assert isinstance(sampler, DistributedSampler)
    assert list(sampler) == [1, 3, 5] and len(sampler) == 3


@pytest.fixture(scope="module")
def odd_demo(demo_dir, tmp_path_factory) -> Path:
    """The demo with 23 train videos (12 + 11 per rank) and 5 val videos (3 + 2: unequal val batches)."""
    root = tmp_path_factory.mktemp("odd") / "demo"
    shutil.copytree(demo_dir, root)
    (sorted((root / "train" / "grow").glob("*.mp4"))[-1]).unlink()
    for cls in ("move_down", "move_up", "shrink"):
        (sorted((root / "val" / cls).glob("*.mp4"))[-1]).unlink()
    return root


def test_ddp_two_processes_two_workers_each_clip_once_and_exact_metrics(odd_demo, tmp_path):
    record = tmp_path / "record"
    record.mkdir()
    done = run_cli(
        "run", "--dataset", "faultkit", "--backbone", "faultkit-tiny", "--dataset.data_path", str(odd_demo),
        "--dataset.record_dir", str(record), "--dataset.oracle", "true", "--backbone.mode", "oracle",
        *TINY_FK, "--data.batch_size", "2", "--data.num_workers", "2", "--trainer.max_epochs", "1",
        "--trainer.num_sanity_val_steps", "0", "--trainer.log_every_n_steps", "1",
        "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp",
        "--output", str(tmp_path / "runs"), env=plugin_env(tmp_path / "site"), timeout=400,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "Starting with 2 processes" in done.stdout + done.stderr

    def loads(split):
        per_file = {p.name: [int(line.split()[0]) for line in p.read_text().splitlines()]
                    for p in sorted(record.glob(f"{split}-*.txt"))}
        return per_file, Counter(i for v in per_file.values() for i in v)

    train_files, train = loads("train")
    assert sorted(train) == list(range(23)) and set(train.values()) == {1}, train  # exactly once, none dropped
    ranks = Counter(name.split("-")[1] for name in train_files)
    assert ranks == {"r0": 2, "r1": 2}, train_files  # 2 ranks x 2 workers, each loaded some
    val_files, val = loads("val")
    assert sorted(val) == list(range(5)) and set(val.values()) == {1}, val
    assert {name.split("-")[1] for name in val_files} == {"r0", "r1"}

    # The oracle backbone is right exactly on even video indices: rank 0 holds val clips 0, 2, 4
    # (all right), rank 1 clips 1, 3 (all wrong); the reduced accuracy is 3/5, not rank 0's 1.0
    # nor the mean of rank means 0.5; same for the loss and the train metrics (12 of 23 right).
    rows = metrics_rows(next((tmp_path / "runs").iterdir()))
    val_row = next(r for r in rows if r.get("val/top1"))
    right = math.log(math.exp(5) + 3) - 5  # cross-entropy of logits 5 * one_hot, 4 classes
    wrong = math.log(math.exp(5) + 3)
    assert float(val_row["val/top1"]) == pytest.approx(3 / 5)
    assert float(val_row["val/loss"]) == pytest.approx((3 * right + 2 * wrong) / 5, rel=1e-5)
    train_row = next(r for r in rows if r.get("train/top1"))
    assert float(train_row["train/top1"]) == pytest.approx(12 / 23)
    assert float(train_row["train/loss_epoch"]) == pytest.approx((12 * right + 11 * wrong) / 23, rel=1e-5)
    assert len([r for r in rows if r.get("train/loss_step")]) == 6  # 12 clips / batch 2 on rank 0


def test_torchrun_launch_shares_one_run_directory(demo_dir, tmp_path):
    """torchrun starts every rank itself (Lightning launches nothing): they agree on one run directory."""
    import os
    import subprocess
    import sys

    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "vidzoo",
           "run", "--dataset", "faultkit", "--backbone", "faultkit-tiny", "--dataset.data_path", str(demo_dir),
           *TINY_FK, "--data.batch_size", "4", "--data.num_workers", "0", "--trainer.max_epochs", "1",
           "--trainer.limit_train_batches", "2", "--trainer.accelerator", "cpu", "--trainer.devices", "2",
           "--trainer.strategy", "ddp", "--output", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=400,
                          env={**os.environ, **plugin_env(tmp_path / "site")})
    assert done.returncode == 0, done.stderr[-3000:]
    runs = list(out.iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("torchrun-"), runs
    assert (runs[0] / "checkpoints" / "last.ckpt").is_file() and (runs[0] / "logs" / "metrics.csv").is_file()


def test_launcher_job_ids(monkeypatch):
    from vidzoo.training.runner import _launcher_job_id, make_run_dir
    from vidzoo.errors import VidzooError

    for var in ("WORLD_SIZE", "SLURM_NTASKS", "SLURM_JOB_ID", "SLURM_PROCID", "SLURM_STEP_ID", "TORCHELASTIC_RUN_ID",
                "VIDZOO_RUN_DIR"):
        monkeypatch.delenv(var, raising=False)
    assert _launcher_job_id() is None  # one process: a time-stamped run directory
    monkeypatch.setenv("SLURM_NTASKS", "8")
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_PROCID", "5")
    monkeypatch.setenv("SLURM_STEP_ID", "1")
    assert str(make_run_dir("runs", "kinetics", "resnet3d50")) == "runs/slurm-4242.1-kinetics-resnet3d50"
    for var in ("SLURM_NTASKS", "SLURM_JOB_ID", "SLURM_PROCID", "SLURM_STEP_ID"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("WORLD_SIZE", "16")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "none")  # static rendezvous: no shared id
    with pytest.raises(VidzooError, match="set VIDZOO_RUN_DIR"):
        _launcher_job_id()
    monkeypatch.setenv("VIDZOO_RUN_DIR", "/shared/runs/exp1")
    assert str(make_run_dir("runs", "kinetics", "resnet3d50")) == "/shared/runs/exp1"
