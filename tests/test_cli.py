"""The vidzoo CLI end to end: help without torch, list, unknown names, config round trip, a real run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import TINY, run_cli
from faultkit import plugin_env

BUILTINS_ONLY = {"VIDZOO_LOAD_PLUGINS": ""}


def _imports(args: list[str]) -> set[str]:
    code = ("import sys; from vidzoo.cli import main; rc = main(%r); "
            "print('MODULES:' + ','.join(m for m in ('torch', 'lightning', 'pytorchvideo', 'av') if m in sys.modules))" % args)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    line = done.stdout.rsplit("MODULES:", 1)[1].strip()
    return set(filter(None, line.split(",")))


def test_help_and_list_do_not_import_torch():
    assert _imports(["--help"]) == set()
    assert _imports(["list"]) == set()
    assert _imports(["list", "--json"]) == set()


def test_every_command_has_help_with_an_example():
    from vidzoo.cli import COMMANDS

    for name in COMMANDS:
        done = run_cli(name, "--help")
        assert done.returncode == 0, (name, done.stderr[-500:])
        assert "example" in done.stdout.lower(), name
        assert f"vidzoo {name}" in done.stdout, name


def test_list_shows_the_builtins_with_package_and_version():
    done = run_cli("list", "--json", env=BUILTINS_ONLY)
    rows = {(r["kind"], r["name"]): r for r in json.loads(done.stdout)}
    assert set(rows) == {("dataset", "kinetics"), ("dataset", "litdata"), ("dataset", "features"),
                         ("transform", "kinetics"), ("transform", "published"), ("transform", "features"),
                         ("backbone", "resnet3d50"), ("backbone", "linear"), ("backbone", "mlp")}
    assert rows[("backbone", "resnet3d50")]["package"] == "vidzoo"
    assert rows[("backbone", "resnet3d50")]["spec"]["figures"]["params_m"] == 32.45
    table = run_cli("list", "--kind", "backbone", env=BUILTINS_ONLY).stdout
    assert "resnet3d50" in table and "kinetics" not in table


def test_unknown_names_are_one_line_errors_with_suggestions():
    done = run_cli("run", "--dataset", "kinetic", "--backbone", "resnet3d50")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "'kinetics'" in done.stderr and "vidzoo list" in done.stderr
    done = run_cli("run", "--dataset", "kinetics", "--backbone", "resnet50_3d")
    assert done.returncode == 2 and "'resnet3d50'" in done.stderr and done.stderr.count("\n") == 1
    done = run_cli("runn")
    assert done.returncode == 2 and "'run'" in done.stderr


def test_run_help_lists_plugin_options_from_their_signatures():
    done = run_cli("run", "--dataset", "kinetics", "--backbone", "resnet3d50", "--help")
    assert done.returncode == 0
    for flag in ("--dataset.data_path", "--transform.crop_size", "--backbone.dropout", "--trainer.max_epochs",
                 "--optimizer.lr", "--data.batch_size"):
        assert flag in done.stdout, flag
    assert "Side of the square crop" in done.stdout  # help text from the docstring


def test_print_config_round_trips_through_config(tmp_path, demo_dir):
    done = run_cli("run", "--dataset", "kinetics", "--backbone", "resnet3d50", "--dataset.data_path",
                   str(demo_dir), "--transform.crop_size", "64", "--optimizer.name", "sgd", "--print-config")
    assert done.returncode == 0, done.stderr
    cfg = yaml.safe_load(done.stdout)
    assert cfg["dataset"]["name"] == "kinetics" and cfg["transform"]["name"] == "kinetics"
    assert cfg["transform"]["crop_size"] == 64 and cfg["optimizer"]["name"] == "sgd"
    assert cfg["optimizer"]["lr"] == 0.001 and cfg["trainer"]["max_epochs"] == 10
    path = tmp_path / "run.yaml"
    path.write_text(done.stdout)
    again = run_cli("run", "--config", str(path), "--print-config")
    assert again.returncode == 0, again.stderr
    assert yaml.safe_load(again.stdout) == cfg
    override = run_cli("run", "--config", str(path), "--transform.crop_size", "32", "--print-config")
    assert yaml.safe_load(override.stdout)["transform"]["crop_size"] == 32


def test_demo_defaults_apply_only_without_a_data_path(demo_dir):
    demo = yaml.safe_load(run_cli("run", "--dataset", "kinetics", "--backbone", "resnet3d50", "--print-config").stdout)
    real = yaml.safe_load(run_cli("run", "--dataset", "kinetics", "--backbone", "resnet3d50",
                                  "--dataset.data_path", str(demo_dir), "--print-config").stdout)
    assert demo["transform"]["crop_size"] < 224 and real["transform"]["crop_size"] == 224
    explicit = yaml.safe_load(run_cli("run", "--dataset", "kinetics", "--backbone", "resnet3d50",
                                      "--transform.crop_size", "128", "--print-config").stdout)
    assert explicit["transform"]["crop_size"] == 128  # a flag beats the dataset's recommendation


def test_run_trains_on_real_mp4_and_reports_metrics_and_run_dir(tmp_path, demo_dir):
    done = run_cli("run", "--dataset", "kinetics", "--backbone", "resnet3d50", "--dataset.data_path", str(demo_dir),
                   *TINY, "--output", str(tmp_path / "runs"), env=BUILTINS_ONLY)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "val/top1" in done.stdout and "val/top5" in done.stdout
    run_dir = Path(done.stdout.split("run directory: ")[1].split()[0])
    assert run_dir.parent == tmp_path / "runs"
    assert (run_dir / "checkpoints" / "last.ckpt").is_file() and (run_dir / "checkpoints" / "best.ckpt").is_file()
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["backbone"]["name"] == "resnet3d50"
    metrics = (run_dir / "logs" / "metrics.csv").read_text().splitlines()
    for column in ("train/loss_epoch", "val/loss", "val/top1", "val/top5", "train/top1"):
        assert column in metrics[0], column


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_workers_start_as_asked(start, tmp_path, demo_dir):
    """forkserver (the default) runs in the DDP, bad-data and plugin tests; the other two start methods here.
    The loading is what is tested: a tiny backbone (test_run_trains_on_real_mp4... trains resnet3d50)."""
    done = run_cli("run", "--dataset", "kinetics", "--backbone", "faultkit-tiny", "--dataset.data_path",
                   str(demo_dir), *TINY, "--data.num_workers", "2", "--data.worker_start", start,
                   "--output", str(tmp_path / "runs"), env=plugin_env(tmp_path / "site"))
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["data"]["worker_start"] == start
    assert "train/clips_per_s" in (run_dir / "logs" / "metrics.csv").read_text().splitlines()[0]


def test_every_commands_argument_mistakes_are_one_line():
    from vidzoo.cli import COMMANDS

    for name in COMMANDS:
        done = run_cli(name, "--no-such-flag", "x")
        assert done.returncode == 2, (name, done.stderr)
        assert done.stderr.count("\n") == 1 and "usage:" not in done.stderr, (name, done.stderr)
        assert done.stderr.startswith(f"vidzoo {name}: error: ") or done.stderr.startswith("vidzoo "), name
