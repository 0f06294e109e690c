"""`vidzoo run` reports training throughput and whether the data or the model sets it.

A real run of the faultkit plugin: once with a slow data source (each sample sleeps), once with
a slow model (each forward sleeps). The wait fraction must tell the two apart.
"""

from __future__ import annotations

import pytest

from faultkit import TINY_FK, metrics_rows, plugin_env
from conftest import run_cli

# The wait fractions are timings: no other xdist worker's test competes for the cores meanwhile.
pytestmark = pytest.mark.exclusive


def _run(demo_dir, tmp_path, dataset_sleep: float, model_sleep: float):
    out = tmp_path / "runs"
    env = plugin_env(tmp_path / "site", VIDZOO_FAULTKIT_SLEEP=model_sleep,
                     VIDZOO_FAULTKIT_TRACE=tmp_path / "trace")
    result = run_cli("run", "--dataset", "faultkit", "--backbone", "faultkit-tiny", "--dataset.data_path",
                     str(demo_dir), "--dataset.sleep", str(dataset_sleep), *TINY_FK, "--data.batch_size", "2",
                     "--data.num_workers", "0", "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "5",
                     "--trainer.limit_val_batches", "1", "--trainer.num_sanity_val_steps", "0",
                     "--output", str(out), env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = out.iterdir()
    (row,) = [r for r in metrics_rows(run_dir) if r.get("train/clips_per_s")]
    return float(row["train/clips_per_s"]), float(row["train/data_wait"]), result.stdout


def test_a_slow_data_source_shows_as_data_bound(demo_dir, tmp_path):
    rate, wait, stdout = _run(demo_dir, tmp_path, dataset_sleep=0.15, model_sleep=0)
    assert wait > 0.6, wait  # 0.3 s of sleep per batch of 2 against a tiny model's milliseconds
    # 10 clips; the first batch's fetch is not timed, the 4 fetches between the 5 steps are (0.3 s each)
    assert 0 < rate <= 10 / (4 * 0.3) * 1.05, rate
    (line,) = [ln for ln in stdout.splitlines() if ln.startswith("training throughput")]
    assert f"{rate:.1f} clips/s" in line and "data-bound: add --data.num_workers" in line


def test_a_slow_model_is_not_data_bound(demo_dir, tmp_path):
    rate, wait, stdout = _run(demo_dir, tmp_path, dataset_sleep=0, model_sleep=0.3)
    assert wait < 0.35, wait  # decoding 2 tiny clips takes far less than the model's 0.3 s step
    assert 0 < rate <= 10 / (5 * 0.3) * 1.05, rate  # 5 timed steps of at least 0.3 s
    (line,) = [ln for ln in stdout.splitlines() if ln.startswith("training throughput")]
    assert "data-bound" not in line
