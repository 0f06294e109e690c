"""--data.num_workers auto: the cores this process may use (affinity, cgroup quota), per local rank."""

import os

import pytest

from conftest import TINY, run_cli
from faultkit import plugin_env
from vidzoo.data import workers


def _cgroup(tmp_path, v2=None, v1=None):
    tmp_path.mkdir(parents=True, exist_ok=True)
    if v2 is not None:
        (tmp_path / "cpu.max").write_text(v2)
    if v1 is not None:
        (tmp_path / "cpu").mkdir()
        (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(str(v1[0]))
        (tmp_path / "cpu" / "cpu.cfs_period_us").write_text(str(v1[1]))
    return tmp_path


def test_cgroup_quota_v2_and_v1(tmp_path):
    assert workers.cgroup_cores(_cgroup(tmp_path / "a", v2="250000 100000\n")) == 2.5
    assert workers.cgroup_cores(_cgroup(tmp_path / "b", v2="max 100000\n")) is None
    assert workers.cgroup_cores(_cgroup(tmp_path / "c", v1=(50000, 100000))) == 0.5
    assert workers.cgroup_cores(_cgroup(tmp_path / "d", v1=(-1, 100000))) is None
    assert workers.cgroup_cores(tmp_path / "none") is None


def test_auto_is_affinity_capped_by_quota_divided_by_local_ranks(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    monkeypatch.setattr(os, "cpu_count", lambda: 64)  # never what auto uses
    free = tmp_path / "free"
    free.mkdir()
    assert workers.resolve_num_workers("auto", 1, free)[0] == 16
    assert workers.resolve_num_workers("auto", 2, free)[0] == 8
    n, line = workers.resolve_num_workers("auto", 4, _cgroup(tmp_path / "q", v2="600000 100000"))
    assert n == 1 and "6 cores available" in line and "cgroup quota 6" in line and "4 ranks" in line
    assert workers.resolve_num_workers("auto", 1, _cgroup(tmp_path / "h", v2="50000 100000"))[0] == 1
    assert workers.resolve_num_workers("auto", 8, free)[0] == 2
    assert workers.resolve_num_workers(3, 8, free) == (3, None)


def test_run_reports_auto_workers_in_one_line(demo_dir, tmp_path):
    tiny = [a for a in TINY]
    i = tiny.index("--data.num_workers")
    del tiny[i:i + 2]  # the default: auto
    # the data loading is tested, not the model: a tiny backbone
    result = run_cli("run", "--dataset", "kinetics", "--backbone", "faultkit-tiny", "--dataset.data_path",
                     str(demo_dir), "--output", str(tmp_path / "runs"), *tiny, "--data.worker_start", "fork",
                     env=plugin_env(tmp_path / "site"))
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [ln for ln in result.stderr.splitlines() if "--data.num_workers auto" in ln]
    cores = workers.available_cores()
    assert len(lines) == 1 and f"auto = {cores} per rank" in lines[0], result.stderr[-2000:]


def test_bad_num_workers_is_one_line(demo_dir):
    result = run_cli("run", "--dataset", "kinetics", "--backbone", "resnet3d50", "--data.num_workers", "many",
                     "--print-config")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--data.num_workers expects an integer or auto, got 'many'" in result.stderr


def test_forkserver_workers_get_torch_and_the_datasets_module_preloaded():
    """The default start (forkserver): the server imports torch and the modules of what the workers
    unpickle once, so that a worker is a fork of it instead of an interpreter importing them again."""
    import multiprocessing.forkserver

    from vidzoo.data.datamodule import DataOptions
    from vidzoo.data.workers import worker_context
    from collections import Counter
    from fractions import Fraction  # objects of modules the fixed list omits

    assert DataOptions().worker_start == "forkserver"
    assert worker_context(None, object()) is None
    assert worker_context("spawn", object()).get_start_method() == "spawn"
    context = worker_context("forkserver", Counter(), Fraction(1, 2))
    assert context.get_start_method() == "forkserver"
    preload = multiprocessing.forkserver._forkserver._preload_modules
    assert preload[0] == "__main__" and {"torch", "av", "collections", "fractions"} <= set(preload)
