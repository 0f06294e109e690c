"""A checkpoint write that fails for lack of space (a real 200 KiB tmpfs the test mounts) stops the run
with one line; the previous checkpoints stay loadable and no temporary is left behind."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import run_cli
from faultkit import TINY_FK, plugin_env
from vidzoo.io import safe_load


@pytest.fixture
def small_disk(tmp_path):
    """A 200 KiB tmpfs (needs root and a kernel that lets it mount; skipped otherwise)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_during_a_checkpoint_write_stops_cleanly_and_keeps_the_previous_ones(demo_dir, tmp_path,
                                                                                         small_disk):
    out = small_disk / "runs"
    done = run_cli("run", "--dataset", "faultkit", "--backbone", "faultkit-tiny", "--dataset.data_path", str(demo_dir),
                   *TINY_FK, "--data.batch_size", "4", "--data.num_workers", "0",
                   "--trainer.max_epochs", "1", "--trainer.num_sanity_val_steps", "0",
                   "--checkpoint.every_n_steps", "1", "--checkpoint.keep", "20", "--output", str(out),
                   env=plugin_env(tmp_path / "site"), timeout=300)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("vidzoo run: error:")]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    (run_dir,) = list(out.iterdir())
    ckpts = sorted((run_dir / "checkpoints").glob("step-*.ckpt"))
    assert ckpts, "some checkpoints fitted before the disk was full"
    newest = ckpts[-1]
    m = re.match(r"vidzoo run: error: could not write checkpoint (\S+) \((\d+) KiB\): no space left on the device; ",
                 errors[0])
    assert m, errors[0]
    failed = Path(m[1])
    assert failed.parent == run_dir / "checkpoints" and int(m[2]) > 10, errors[0]
    assert errors[0].endswith(f"nothing half-written was left; the previous checkpoints are untouched and load "
                              f"(newest: {newest}); free space (or choose another --output) and continue with "
                              f"`vidzoo run --resume {run_dir}`"), errors[0]
    for ckpt in ckpts:  # every earlier checkpoint whole
        assert safe_load(ckpt)["global_step"] == int(ckpt.stem.split("-")[1])
    assert not list((run_dir / "checkpoints").glob(".*.tmp"))
    assert not failed.exists()
