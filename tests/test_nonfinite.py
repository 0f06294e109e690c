"""A NaN loss stops the run with one line (epoch, step, last good checkpoint), or is skipped up to
--trainer.skip_nonfinite N times and counted; no checkpoint with NaN weights is ever written."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from conftest import run_cli
from faultkit import TINY_FK, plugin_env
from vidzoo.io import safe_load


def _run(data: Path, out: Path, env: dict, *extra: str):
    return run_cli("run", "--dataset", "faultkit", "--backbone", "faultkit-tiny", "--dataset.data_path", str(data),
                   *TINY_FK, "--data.batch_size", "4", "--data.num_workers", "0", "--trainer.max_epochs", "1",
                   "--trainer.limit_train_batches", "5", "--trainer.limit_val_batches", "1",
                   "--trainer.num_sanity_val_steps", "0", "--checkpoint.every_n_steps", "1", "--checkpoint.keep", "10",
                   "--output", str(out), *extra, env=env, timeout=300)


def _all_finite(path: Path) -> bool:
    return all(torch.isfinite(v).all() for v in safe_load(path)["state_dict"].values() if v.is_floating_point())


def test_a_nan_loss_stops_the_run_naming_epoch_step_and_the_last_good_checkpoint(demo_dir, tmp_path):
    env = plugin_env(tmp_path / "site")
    done = _run(demo_dir, tmp_path / "runs", env, "--backbone.nan_steps", "3-")
    assert done.returncode == 2, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("vidzoo run: error:")]
    (run_dir,) = list((tmp_path / "runs").iterdir())
    good = run_dir / "checkpoints" / "step-00000002.ckpt"
    assert errors == [f"vidzoo run: error: the training loss is not finite (nan) at epoch 0, step 2; the weights were "
                      f"not updated with it; the last good checkpoint is {good} (`vidzoo run --resume {good}` "
                      f"continues from it); lower --optimizer.lr, check the data, or pass --trainer.skip_nonfinite N "
                      f"to skip up to N such steps"], done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    ckpts = sorted((run_dir / "checkpoints").glob("*.ckpt"))
    assert [p.name for p in ckpts] == ["step-00000001.ckpt", "step-00000002.ckpt"]  # nothing after the NaN
    assert all(_all_finite(p) for p in ckpts)


def test_skip_nonfinite_skips_and_counts_up_to_n_steps_then_stops(demo_dir, tmp_path):
    env = plugin_env(tmp_path / "site")
    done = _run(demo_dir, tmp_path / "runs", env, "--backbone.nan_steps", "2,4", "--trainer.skip_nonfinite", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    warnings = [line for line in done.stderr.splitlines() if "non-finite training loss" in line]
    assert warnings == [
        "vidzoo: warning: non-finite training loss at epoch 0, step 1: step skipped (1 of --trainer.skip_nonfinite 2)",
        "vidzoo: warning: non-finite training loss at epoch 0, step 3: step skipped (2 of --trainer.skip_nonfinite 2)",
    ], done.stderr[-3000:]
    assert "non-finite training steps skipped: 2" in done.stdout
    (run_dir,) = list((tmp_path / "runs").iterdir())
    last = safe_load(run_dir / "checkpoints" / "last.ckpt")
    assert last["global_step"] == 5  # a skipped step still counts (Lightning's step), without any weight update
    for name in ("last.ckpt", "best.ckpt"):
        assert _all_finite(run_dir / "checkpoints" / name)
    assert math.isfinite(float(next(r for r in _rows(run_dir) if r.get("train/loss_epoch"))["train/loss_epoch"]))

    # one skip allowed, two NaN steps: the second stops the run, saying so
    done = _run(demo_dir, tmp_path / "runs2", env, "--backbone.nan_steps", "2,4", "--trainer.skip_nonfinite", "1")
    assert done.returncode == 2
    assert "at epoch 0, step 3 (after skipping 1, the --trainer.skip_nonfinite limit)" in done.stderr, done.stderr[-2000:]


def _rows(run_dir: Path) -> list[dict]:
    from faultkit import metrics_rows

    return metrics_rows(run_dir)


def test_no_checkpoint_is_written_with_nan_weights(tmp_path):
    from vidzoo.training.nonfinite import FiniteWeights, NonFiniteError

    class Trainer:
        current_epoch, global_step = 3, 17

    good = {"state_dict": {"w": torch.ones(3), "n": torch.tensor(2)}}
    FiniteWeights().on_save_checkpoint(Trainer(), None, good)  # finite: no objection
    bad = {"state_dict": {"w": torch.tensor([1.0, float("nan")])}}
    with pytest.raises(NonFiniteError, match=r"weights became non-finite \(w\) at epoch 3, step 17; no checkpoint"):
        FiniteWeights().on_save_checkpoint(Trainer(), None, bad)
