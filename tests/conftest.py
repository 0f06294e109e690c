"""Shared fixtures: a private cache (demo sample) and small real mp4 datasets; how the suite runs in
parallel (scripts/test.sh: two pytest-xdist workers)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Session fixtures that take a real training run or a big model: every test using one runs on the same
# xdist worker, so each is built once (and tests writing into trained_run's folder never run at once).
SHARED_GROUPS = ("trained_run", "slow_r50_zoo", "zoo_server", "x3d_xs_zoo")


def _common_folder(config) -> Path:
    """The folder the controller and its xdist workers share (the workers' own are popen-gw0, ... in it)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return Path(config.option.basetemp).parent
    return config._tmp_path_factory.getbasetemp()


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups
def pytest_collection_modifyitems(config, items):
    # With --dist loadgroup (scripts/test.sh) the tests of a group run on one worker; the others go
    # wherever a worker is free. A module-scoped fixture (a server, a training run the module's tests
    # read) keeps its module together, so that no fixture is built twice.
    groups = {}
    for item in items:
        names = item.fixturenames
        group = next((f"session-{name}" for name in SHARED_GROUPS if name in names), None)
        if group is None:
            defs = getattr(item, "_fixtureinfo", None)
            if defs is not None and any(d.scope == "module" for ds in defs.name2fixturedefs.values() for d in ds):
                group = item.nodeid.split("::")[0]
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
            groups[item.nodeid] = group
    # The real-size runs first (`slow`: the demo's main command alone takes minutes), then the groups (a
    # group is one long piece of work for one worker), then the single tests, which fill both workers to
    # the end instead of one worker finishing a long run alone. An `exclusive` slow test is not moved to
    # the front: it would wait for the other worker's long run, its own worker idle.
    def first(item):
        return item.get_closest_marker("slow") is not None and item.get_closest_marker("exclusive") is None

    items.sort(key=lambda item: (not first(item), item.nodeid not in groups))
    if os.environ.get("PYTEST_XDIST_WORKER"):  # for the controller's scheduler below
        path = _common_folder(config) / "xdist-groups.json"
        tmp = path.with_name(f"{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(groups))
        tmp.replace(path)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    # xdist's loadgroup reads the groups from node ids it renames, which pytest 9 no longer reads back:
    # the same scheduling here, from the groups the workers wrote at collection.
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        groups = None

        def _split_scope(self, nodeid):
            if self.groups is None:  # every worker has collected (and written it) before scheduling
                self.groups = json.loads((_common_folder(config) / "xdist-groups.json").read_text())
            return self.groups.get(nodeid, nodeid)

    return GroupScheduling(config, log)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    # A test marked `exclusive` (it reinstalls the packages the others import, or it measures timings)
    # runs while no other xdist worker runs a test: the others hold the lock shared, it holds it alone;
    # the turnstile stops the other worker's next tests from starving it.
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        with _cpu_time(item.nodeid):
            return (yield)
    common = _common_folder(item.config)
    with open(common / "turnstile.lock", "a") as turnstile, open(common / "exclusive.lock", "a") as lock:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        fcntl.flock(lock, fcntl.LOCK_EX if item.get_closest_marker("exclusive") else fcntl.LOCK_SH)
        fcntl.flock(turnstile, fcntl.LOCK_UN)
        with _cpu_time(item.nodeid):
            return (yield)


# CPU seconds per test (setup, call and teardown; this process and the subprocesses it waited for,
# which is where a CLI test spends them). On 2 cores the suite's time is its CPU time over two, so the
# summary's CPU list, not the wall-clock durations two workers inflate for each other, says what to cut.
_CPU: dict[str, float] = {}


@contextlib.contextmanager
def _cpu_time(nodeid: str):
    before = os.times()
    try:
        yield
    finally:
        after = os.times()
        _CPU[nodeid] = sum(a - b for a, b in zip(after[:4], before[:4]))


def pytest_sessionfinish(session):
    if hasattr(session.config, "workeroutput"):  # an xdist worker: sent to the controller
        session.config.workeroutput["cpu_seconds"] = _CPU


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    _CPU.update(getattr(node, "workeroutput", {}).get("cpu_seconds", {}))


def pytest_terminal_summary(terminalreporter, config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    cpu = _CPU
    if not cpu:
        return
    terminalreporter.write_sep("=", f"slowest 15 by CPU time ({sum(cpu.values()) / 60:.1f} CPU-minutes in all tests)")
    for nodeid, seconds in sorted(cpu.items(), key=lambda kv: -kv[1])[:15]:
        terminalreporter.write_line(f"{seconds:8.1f} CPU-s  {nodeid}")


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    # The demo sample and downloads go to a cache of the test session, never the user's.
    cache = tmp_path_factory.mktemp("vidzoo-cache")
    old = os.environ.get("VIDZOO_CACHE")
    os.environ["VIDZOO_CACHE"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("VIDZOO_CACHE", None)
    else:
        os.environ["VIDZOO_CACHE"] = old


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """A small demo sample: 4 classes, 6 train + 2 val videos per class, 64x48 px."""
    from vidzoo.data.demo import write_demo

    return write_demo(tmp_path_factory.mktemp("demo") / "demo", train_per_class=6, val_per_class=2,
                      width=64, height=48)


def run_cli(*args: str, env: dict | None = None, cwd=None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the installed `vidzoo` command in a subprocess (a real CLI run)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "vidzoo", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=timeout)


# Options that make a run tiny: 4 frames at 32 px, one epoch of two batches.
TINY = [
    "--transform.num_frames", "4", "--transform.crop_size", "32", "--transform.min_short_side", "36",
    "--transform.max_short_side", "40", "--transform.eval_short_side", "36",
    "--data.batch_size", "4", "--data.num_workers", "0",
    "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "2",
    "--trainer.enable_model_summary", "false", "--trainer.enable_progress_bar", "false",
]


@pytest.fixture(scope="session")
def trained_run(demo_dir, tmp_path_factory) -> Path:
    """The run directory of one tiny real `vidzoo run` on demo_dir (checkpoints/best.ckpt inside).

    Shared by the test/predict/export/weights tests; built-in plugins only.
    """
    out = tmp_path_factory.mktemp("trained")
    result = run_cli("run", "--dataset", "kinetics", "--backbone", "resnet3d50", "--dataset.data_path",
                     str(demo_dir), "--output", str(out), *TINY, env={"VIDZOO_LOAD_PLUGINS": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    return run_dir


@pytest.fixture(scope="session")
def slow_r50_zoo(tmp_path_factory):
    """pytorchvideo's slow_r50 (built without weights: nothing is downloaded) saved as its zoo files are,
    `{"model_state": ...}`; returns (path, state). BatchNorm statistics differ from a fresh model's, so that
    loading them shows. One file for every weights test (each is 125 MB)."""
    import torch
    from pytorchvideo.models.hub import slow_r50

    torch.manual_seed(2)
    model = slow_r50(pretrained=False)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.9, 1.1)
        model.blocks[5].proj.weight.mul_(20)  # a confident head: the published-model tests see a recipe change
    state = model.state_dict()
    path = tmp_path_factory.mktemp("zoo") / "SLOW_8x8_R50.pyth"
    torch.save({"model_state": state}, path)
    return path, state


@pytest.fixture(scope="session")
def x3d_xs_zoo(tmp_path_factory):
    """PyTorchVideo's x3d_xs (3.8M parameters, 4 frames at 182 px: the smallest published Kinetics-400
    model) with a confident random head, saved as its zoo file is (`{"model_state": ...}`): the
    published model that `vidzoo test/export/serve --model x3d_xs --pretrained FILE` tests run."""
    import torch
    from pytorchvideo.models.hub import x3d_xs

    torch.manual_seed(3)
    model = x3d_xs(pretrained=False)
    with torch.no_grad():
        model.blocks[5].proj.weight.mul_(20)
    path = tmp_path_factory.mktemp("zoo") / "X3D_XS.pyth"
    torch.save({"model_state": model.state_dict()}, path)
    return path


@pytest.fixture(scope="session")
def zoo_server(slow_r50_zoo):
    """A real HTTP server on 127.0.0.1 serving slow_r50_zoo's folder: (base URL, GET paths, folder)."""
    import functools
    import http.server
    import threading

    folder = slow_r50_zoo[0].parent
    hits: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            return super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", hits, folder
    httpd.shutdown()
    httpd.server_close()
