"""Real signals on a real run: SIGUSR1, Ctrl-C (SIGINT) and SIGTERM each stop it at the next step
with a checkpoint and one line naming it and the `--resume` command; a second Ctrl-C stops at once,
in the middle of writing that checkpoint, and the last good checkpoint stays loadable."""

from __future__ import annotations

import os
import re
import shlex
import signal
import time
from collections import Counter
from pathlib import Path

from faultkit import TINY_FK, lines, metrics_rows, plugin_env, start, wait_for
from vidzoo.io import safe_load
from vidzoo.training.midepoch import newest_checkpoint

LINE = re.compile(r"^vidzoo run: stopped by (?P<what>.+?) at epoch (?P<epoch>\d+), step (?P<step>\d+); "
                  r"checkpoint (?P<ckpt>\S+); continue with: (?P<cmd>vidzoo run --resume \S+)$")


def _args(data: Path, output: Path) -> list[str]:
    return ["run", "--dataset", "faultkit", "--backbone", "faultkit-tiny", "--dataset.data_path", str(data),
            *TINY_FK, "--data.batch_size", "4", "--data.num_workers", "0", "--trainer.max_epochs", "2",
            "--trainer.num_sanity_val_steps", "0", "--trainer.log_every_n_steps", "1", "--output", str(output)]


def _stop(args, env, log: Path, trace: Path, signum: int, after: int):
    """Start, send SIGNUM once the run has trained AFTER more steps; returns (exit code, its new output)."""
    before = log.read_text() if log.exists() else ""
    first = lines(trace).count("train")
    proc = start(args, {**env, "VIDZOO_FAULTKIT_TRACE": trace}, log)
    wait_for(lambda: lines(trace).count("train") >= first + after, proc, what=f"{after} training steps")
    sent = time.monotonic()
    os.kill(proc.pid, signum)  # the process itself, as a terminal, scancel or a cloud agent would
    code = proc.wait(timeout=120)
    return code, log.read_text()[len(before):], time.monotonic() - sent


def test_signals_stop_at_the_next_step_with_a_checkpoint_and_the_resume_command(demo_dir, tmp_path):
    out = tmp_path / "runs"
    env = plugin_env(tmp_path / "site", VIDZOO_FAULTKIT_SLEEP="0.3")
    log, trace = tmp_path / "run.log", tmp_path / "trace"
    args = _args(demo_dir, out)
    steps = []
    for signum, name, code in ((signal.SIGUSR1, "SIGUSR1", 138), (signal.SIGINT, r"Ctrl-C \(SIGINT\)", 130),
                               (signal.SIGTERM, "SIGTERM", 143)):
        exit_code, text, took = _stop(args, env, log, trace, signum, after=2)
        assert exit_code == code, text[-3000:]
        stops = [m for m in map(LINE.match, text.splitlines()) if m]
        assert len(stops) == 1 and re.fullmatch(name, stops[0]["what"]), text[-3000:]
        assert "Traceback" not in text and "Detected KeyboardInterrupt" not in text, text[-3000:]
        assert took < 60, took  # the next step, not the end of the epoch
        stop = stops[0]
        ckpt = safe_load(stop["ckpt"])  # whole and loadable, at the step it names
        assert ckpt["global_step"] == int(stop["step"]) and ckpt["epoch"] == int(stop["epoch"])
        steps.append(int(stop["step"]))
        run_dir = Path(stop["ckpt"]).parent.parent
        assert stop["cmd"] == f"vidzoo run --resume {run_dir}"
        args = [*shlex.split(stop["cmd"])[1:]]  # the printed command, as a user would paste it
    assert steps == sorted(steps) and len(set(steps)) == 3, steps  # each resume went on from the last stop

    # A second Ctrl-C while the stop checkpoint is being written: out at once; the last good one stays.
    last_good = newest_checkpoint(run_dir / "checkpoints")
    first = lines(trace).count("train")
    proc = start(args, {**env, "VIDZOO_FAULTKIT_TRACE": trace, "VIDZOO_TEST_CHECKPOINT_WRITE_PAUSE": "60"}, log)
    wait_for(lambda: lines(trace).count("train") >= first + 1, proc, what="a training step")
    os.kill(proc.pid, signal.SIGINT)
    wait_for(lambda: list((run_dir / "checkpoints").glob(".*.tmp")), proc, what="the stop checkpoint's write")
    before = log.read_text()
    sent = time.monotonic()
    os.kill(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=30) == 130 and time.monotonic() - sent < 10
    text = log.read_text()[len(before):]
    assert f"vidzoo run: stopped at once (second Ctrl-C); the last checkpoint is kept: {last_good}" in text, text
    assert newest_checkpoint(run_dir / "checkpoints") == last_good
    assert safe_load(last_good)["global_step"] == steps[-1]

    proc = start(args, env, log)  # and the run still finishes from there
    assert proc.wait(timeout=300) == 0, log.read_text()[-3000:]
    assert not list((run_dir / "checkpoints").glob(".*.tmp"))
    rows = metrics_rows(run_dir)
    logged = Counter(int(r["step"]) for r in rows if r.get("train/loss_step"))
    assert logged == {s: 1 for s in range(12)}, logged  # 2 epochs x 6 steps, each logged once
