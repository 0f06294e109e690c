"""A plugin package installed with pip adds a dataset and a backbone; vidzoo runs them unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli

PACKAGE = Path(__file__).parent / "plugin_pkgs" / "vidzoo-tiny"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(PACKAGE)], check=True)
    return target


def test_pip_installed_plugin_shows_in_list(site):
    done = run_cli("list", "--json", env={"PYTHONPATH": str(site)})
    rows = {(r["kind"], r["name"]): r for r in json.loads(done.stdout)}
    assert rows[("backbone", "tiny3d")]["package"] == "vidzoo-tiny"
    assert rows[("backbone", "tiny3d")]["version"] == "0.3.1"
    assert rows[("dataset", "class-folders")]["description"] == "Class-folder videos (test plugin)"
    assert ("backbone", "resnet3d50") in rows  # the built-ins are still there
    hidden = json.loads(run_cli("list", "--json", env={"PYTHONPATH": str(site), "VIDZOO_LOAD_PLUGINS": ""}).stdout)
    assert "tiny3d" not in {r["name"] for r in hidden}


def test_plugin_backbone_learns_the_demo_sample_well_above_chance(site, tmp_path):
    """The tiny learnable check: 4 motion classes (chance 25%), a small 3D CNN, 12 epochs."""
    from vidzoo.data.demo import write_demo

    data = write_demo(tmp_path / "demo", train_per_class=12, val_per_class=4, width=64, height=48)
    done = run_cli(
        "run", "--dataset", "class-folders", "--backbone", "tiny3d", "--dataset.root", str(data),
        "--transform.num_frames", "8", "--transform.crop_size", "40", "--transform.min_short_side", "44",
        "--transform.max_short_side", "52", "--transform.eval_short_side", "44", "--data.batch_size", "8",
        "--data.num_workers", "2", "--trainer.max_epochs", "12", "--optimizer.lr", "3e-3",
        "--trainer.enable_progress_bar", "false", "--output", str(tmp_path / "runs"),
        env={"PYTHONPATH": str(site)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    top1 = float(done.stdout.split("val/top1 ")[1].split(",")[0])
    assert top1 >= 0.5, done.stdout[-1000:]
