"""The main command learns its demo sample: `vidzoo run --dataset kinetics --backbone resnet3d50`,
with nothing but the demo's own defaults (the sample is written into the test session's cache)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import run_cli


@pytest.mark.slow
def test_the_main_command_learns_the_demo_sample(tmp_path):
    done = run_cli("run", "--dataset", "kinetics", "--backbone", "resnet3d50", "--output", str(tmp_path / "runs"),
                   "--trainer.enable_progress_bar", "false", env={"VIDZOO_LOAD_PLUGINS": ""}, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    final = re.search(r"^  val top-1\s+best ([\d.]+) \(epoch \d+\), final ([\d.]+)$", done.stdout, re.M)
    assert final, done.stdout[-2000:]
    assert float(final.group(2)) >= 0.75, done.stdout[-2000:]  # chance is 0.25 (4 classes)
    assert re.search(r"^  epochs\s+6$", done.stdout, re.M)  # the demo's run_defaults, not a cut-down run
    run_dir = Path(done.stdout.split("run directory: ")[1].split()[0])
    assert (run_dir / "curves.png").is_file()
