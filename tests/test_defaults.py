"""Defaults under test: every command that reads data, as a user types it, on every data source.

Each command gets nothing but the data and the sizes a 2-core test needs (4 frames at 32 px,
one epoch of two batches, two clips); every option a user does not type keeps its default
(`--data.num_workers auto` above all: the docs' litdata run crashed on it while every test
passed an explicit number). The data sources, one module fixture each, all from the demo
sample: the video files; a `vidzoo prepare` copy; litdata chunks in a local folder (written as
docs/streaming.md writes them); the same chunks on a local S3-compatible server (moto, TLS,
the standard AWS variables). The backbone is the tests' tiny one (faultkit-tiny), as the
backbone is not under test here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli
from faultkit import plugin_path, registered_in_process

SOURCES = ("files", "prepared", "litdata", "litdata-s3")
PYTHON_SOURCES = ("files", "litdata")
BACKBONE = "faultkit-tiny"
TRANSFORM = {"num_frames": 4, "crop_size": 32, "min_short_side": 36, "max_short_side": 40, "eval_short_side": 36}
TRAINER = {"max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 2}
SIZES = [f"--{section}.{k}={v}" for section, opts in (("transform", TRANSFORM), ("trainer", TRAINER))
         for k, v in opts.items()]
# litdata's documented limits (docs/streaming.md, "Not covered"): these read the file datasets only.
FILES_ONLY = {"test", "check-data", "bench data"}
AUTO_LINE = "vidzoo: --data.num_workers auto = "


def no_traceback(done: subprocess.CompletedProcess) -> str:
    out = done.stdout + done.stderr
    assert "Traceback" not in out, out[-4000:]
    return out


class Source:
    def __init__(self, name: str, dataset: str, data_path: str, env: dict):
        self.name, self.dataset, self.data_path, self.env = name, dataset, data_path, env

    @property
    def flags(self) -> list[str]:
        return ["--dataset", self.dataset, "--dataset.data_path", self.data_path]

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return run_cli(*args, env=self.env, timeout=timeout)


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory) -> dict:
    """The built-ins and the test plugin (faultkit-tiny), the litdata cache kept in the test's folders."""
    root = tmp_path_factory.mktemp("defaults-env")
    return {"PYTHONPATH": os.pathsep.join(p for p in (plugin_path(root / "site"), os.environ.get("PYTHONPATH"))
                                          if p),
            "VIDZOO_LOAD_PLUGINS": "vidzoo-faultkit", "LITDATA_CACHE_DIR": str(root / "litdata-cache")}


@pytest.fixture(scope="module")
def litdata_local(demo_dir, tmp_path_factory) -> Path:
    """The chunks as docs/streaming.md writes them: `python -m vidzoo.data.streaming SOURCE OUTPUT`."""
    out = tmp_path_factory.mktemp("defaults-litdata") / "demo-litdata"
    done = subprocess.run([sys.executable, "-m", "vidzoo.data.streaming", str(demo_dir), str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def source(request, demo_dir, plugin_env, tmp_path_factory) -> Source:
    name = request.param
    if name == "files":
        return Source(name, "kinetics", str(demo_dir), plugin_env)
    if name == "prepared":
        out = tmp_path_factory.mktemp("defaults-prepared") / "demo-prepared"
        done = run_cli("prepare", "--dataset", "kinetics", "--dataset.data_path", str(demo_dir), "--output", str(out),
                       env=plugin_env)
        assert done.returncode == 0, no_traceback(done)[-3000:]
        return Source(name, "kinetics", str(out), plugin_env)
    local = request.getfixturevalue("litdata_local")
    if name == "litdata":
        return Source(name, "litdata", str(local), plugin_env)
    from s3kit import S3Server

    server = S3Server(tmp_path_factory.mktemp("defaults-s3"))
    request.addfinalizer(server.stop)
    client = server.client()
    client.create_bucket(Bucket="vidzoo-defaults")
    for f in sorted(p for p in local.rglob("*") if p.is_file()):  # the same chunks, in object storage
        client.upload_file(str(f), "vidzoo-defaults", f"demo/{f.relative_to(local).as_posix()}")
    return Source(name, "litdata", "s3://vidzoo-defaults/demo", {**plugin_env, **server.env})


@pytest.fixture(scope="module")
def trained(source, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path | None]:
    """`vidzoo run` on the source: (the finished process, its run directory holding checkpoints/best.ckpt)."""
    out = tmp_path_factory.mktemp(f"defaults-runs-{source.name}")
    done = source.cli("run", *source.flags, "--backbone", BACKBONE, *SIZES, "--output", str(out))
    runs = [p.parent.parent for p in out.glob("*/checkpoints/best.ckpt")]
    assert len(runs) <= 1, runs
    return done, runs[0] if runs else None


def _checkpoint(trained) -> str:
    done, run_dir = trained
    if done.returncode != 0 or run_dir is None:
        pytest.fail("`vidzoo run` failed, so the checkpoint is missing:\n" + (done.stdout + done.stderr)[-3000:])
    return str(run_dir / "checkpoints" / "best.ckpt")


pytestmark = pytest.mark.parametrize("source", SOURCES, indirect=True)


def test_run(source, trained):
    done, run_dir = trained
    out = no_traceback(done)
    assert done.returncode == 0, out[-4000:]
    assert "finished 1 epochs" in done.stdout, out[-3000:]
    assert AUTO_LINE in out, out[-3000:]  # the default was resolved (and said), not passed in
    assert run_dir is not None, "no run directory with checkpoints/best.ckpt"


def test_test_command(source, trained):
    done = source.cli("test", "--checkpoint", _checkpoint(trained))
    out = no_traceback(done)
    if source.dataset == "litdata":
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, out[-3000:]
        return
    assert done.returncode == 0, out[-4000:]
    assert "top-1" in done.stdout and "10x3" in out, out[-3000:]


def test_predict(source, trained, demo_dir):
    video = sorted((demo_dir / "val").glob("*/*.mp4"))[0]
    done = source.cli("predict", str(video), "--checkpoint", _checkpoint(trained))
    out = no_traceback(done)
    assert done.returncode == 0, out[-4000:]
    assert video.name in done.stdout, out[-3000:]


def test_check_data(source):
    done = source.cli("check-data", *source.flags)
    out = no_traceback(done)
    if source.dataset == "litdata":
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, out[-3000:]
        return
    assert done.returncode == 0, out[-4000:]
    assert "unreadable" in done.stdout.lower() or "readable" in done.stdout.lower(), out[-3000:]


def test_bench_data(source):
    done = source.cli("bench", "data", *source.flags, "--backbone", BACKBONE, "--clips", "2", "--model-steps", "1",
                      *SIZES[:len(TRANSFORM)])
    out = no_traceback(done)
    assert done.returncode == 0, out[-4000:]
    assert "clips/s" in done.stdout, out[-3000:]


def test_python_train_and_evaluate(source, tmp_path, monkeypatch):
    """vidzoo.train and vidzoo.evaluate in this process, with the same defaults: on the two kinds of loader
    (vidzoo's sampler over files, litdata's own), the CLI covering the other sources (same code paths)."""
    import vidzoo

    if source.name not in PYTHON_SOURCES:
        pytest.skip(f"the Python API runs on {' and '.join(PYTHON_SOURCES)}; `vidzoo run` covers {source.name}")

    for key, value in source.env.items():
        if key != "PYTHONPATH":
            monkeypatch.setenv(key, value)
    with registered_in_process():
        result = vidzoo.train(dataset={"name": source.dataset, "data_path": source.data_path}, backbone=BACKBONE,
                              transform={"name": "kinetics", **TRANSFORM}, trainer=dict(TRAINER),
                              output=str(tmp_path / "runs"))
        assert Path(result.best_checkpoint).is_file()
        assert "VIDZOO_RUN_DIR" not in os.environ  # the next run (here: the next cell's `vidzoo run`) gets its own
        if source.dataset == "litdata":
            return
        evaluation = vidzoo.evaluate(result.best_checkpoint, progress=False)
    assert 0 <= evaluation.top1 <= 1 and len(evaluation.per_class) == 4
