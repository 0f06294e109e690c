"""Writes that fail for lack of space (a real 200 KiB tmpfs the test mounts): a checkpoint, the run
directory's files (metrics.csv, curves.png, config.yaml) and `vidzoo prepare`'s videos. Each stops the
command with one line; what was written before stays whole and readable, no temporary is left behind,
and once space is freed the same command (or --resume) goes on."""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

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


PAGE = 4096  # tmpfs hands out space in pages


def fill(mount: Path, leave_pages: int = 0) -> None:
    """Fill the tmpfs at MOUNT (a file .filler in it) so that exactly LEAVE_PAGES pages stay free."""
    fd = os.open(mount / ".filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        block = b"\0" * PAGE
        with pytest.raises(OSError) as full:
            while True:
                os.write(fd, block)
        assert full.value.errno == errno.ENOSPC
        os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave_pages * PAGE))
    finally:
        os.close(fd)
    st = os.statvfs(mount)
    assert st.f_bavail * st.f_frsize == leave_pages * PAGE


def free(mount: Path) -> None:
    (mount / ".filler").unlink()


def one_error(done: subprocess.CompletedProcess, command: str) -> str:
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith(f"vidzoo {command}: error:")]
    assert len(errors) == 1, done.stderr[-3000:]
    return errors[0]


def no_temporaries(root: Path) -> None:
    assert not [p for p in root.rglob("*") if p.name.endswith(".tmp")], list(root.rglob("*.tmp"))


def pages(path: Path) -> int:
    return -(-path.stat().st_size // PAGE)


def test_a_full_disk_while_writing_the_run_directory_stops_cleanly_and_keeps_what_was_written(demo_dir, tmp_path,
                                                                                             small_disk):
    """metrics.csv, curves.png, config.yaml: each write that finds the disk full stops the run with one
    line; what was there before stays whole and readable; once space is freed --resume goes on."""
    import csv

    # room for two runs; fill() sets the free space each time
    subprocess.run(["mount", "-o", "remount,size=1m", str(small_disk)], check=True)
    out = small_disk / "runs"
    args = ["--dataset", "faultkit", "--backbone", "faultkit-tiny", "--dataset.data_path", str(demo_dir), *TINY_FK,
            "--data.batch_size", "8", "--data.num_workers", "0", "--trainer.num_sanity_val_steps", "0",
            "--trainer.log_every_n_steps", "1", "--trainer.max_epochs", "1", "--output", str(out)]
    env = plugin_env(tmp_path / "site")
    done = run_cli("run", *args, env=env, timeout=300)  # a finished run, and the sizes of its files
    assert done.returncode == 0, done.stderr[-3000:]
    (finished,) = list(out.iterdir())
    config, hparams = finished / "config.yaml", finished / "logs" / "hparams.yaml"
    png, config_bytes, logged = (finished / "curves.png").read_bytes(), config.read_bytes(), \
        (finished / "logs" / "metrics.csv").read_bytes()

    # 1. A new run with room for config.yaml, hparams.yaml and one page of metrics.csv: the step rows
    # fit; the epoch's end adds columns, and the copy with the new header does not.
    fill(small_disk, leave_pages=pages(config) + pages(hparams) + 1)
    error = one_error(run_cli("run", *args, env=env, timeout=300), "run")
    (run_dir,) = set(out.iterdir()) - {finished}
    metrics = run_dir / "logs" / "metrics.csv"
    assert error == (f"vidzoo run: error: could not write {metrics}: no space left on the device; nothing "
                     f"half-written was left (an earlier version stays as it was); no checkpoint was written yet; "
                     f"free space (or choose another --output) and continue with `vidzoo run --resume {run_dir}`")
    with metrics.open(newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) > 1 and {len(r) for r in rows} == {len(rows[0])}, rows  # whole rows only
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["dataset"]["name"] == "faultkit"
    assert yaml.unsafe_load((run_dir / "logs" / "hparams.yaml").read_text())["config"]  # Lightning writes tuples
    no_temporaries(run_dir)
    free(small_disk)  # space freed: --resume finishes it, each step logged once
    done = run_cli("run", "--resume", str(run_dir), env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    steps = [r["step"] for r in csv.DictReader(metrics.open(newline="")) if r.get("train/loss_step")]
    assert len(steps) == len(set(steps)) == 3, steps  # 24 clips / batch 8

    # 2. The finished run resumed with room to replace config.yaml and hparams.yaml (the rename frees the
    # old pages) but not curves.png: the old plot stays.
    fill(small_disk, leave_pages=max(pages(config), pages(hparams)))
    error = one_error(run_cli("run", "--resume", str(finished), env=env, timeout=300), "run")
    assert error.startswith(f"vidzoo run: error: could not write {finished / 'curves.png'}: no space left on the "
                            f"device; nothing half-written was left"), error
    assert f"(newest: {finished / 'checkpoints' / 'last.ckpt'})" in error and error.endswith(
        f"free space (or choose another --output) and continue with `vidzoo run --resume {finished}`"), error
    assert (finished / "curves.png").read_bytes() == png
    assert (finished / "logs" / "metrics.csv").read_bytes() == logged

    # 3. No page free: not even config.yaml; the old one stays, byte for byte.
    free(small_disk)
    fill(small_disk, leave_pages=0)
    error = one_error(run_cli("run", "--resume", str(finished), env=env, timeout=300), "run")
    assert error.startswith(f"vidzoo run: error: could not write {config}: no space left"), error
    assert config.read_bytes() == config_bytes and (finished / "curves.png").read_bytes() == png
    assert safe_load(finished / "checkpoints" / "last.ckpt")["global_step"] == 3
    no_temporaries(out)


def test_a_metrics_row_cut_by_a_full_disk_is_taken_back(small_disk):
    """Lightning appends rows to metrics.csv in place: a row that crosses into a page the disk no longer
    has is written in part; vidzoo's logger cuts the file back to its last whole row."""
    from vidzoo.training.checkpoint import RunFileWriteError
    from vidzoo.training.checkpoint_io import ResumableCSVLogger

    run_dir = small_disk / "run"
    logger = ResumableCSVLogger(str(run_dir), name="", version="logs")
    row = {"a": 1 / 3, "b": 2 / 3, "c": 1 / 7}  # with 4-digit steps, every row the same length
    logger.log_metrics(row, step=1000)
    metrics = run_dir / "logs" / "metrics.csv"
    length = metrics.stat().st_size - len(metrics.read_text().splitlines()[0]) - 1
    step = 1001
    while metrics.stat().st_size + length <= PAGE:  # whole rows, until the next one would cross the page's end
        logger.log_metrics(row, step=step)
        step += 1
    before = metrics.read_bytes()
    fill(small_disk, leave_pages=0)
    with pytest.raises(RunFileWriteError, match=rf"could not write {re.escape(str(metrics))}: no space left"):
        logger.log_metrics(row, step=step)
    assert metrics.read_bytes() == before
    logger.finalize("failed")  # what Lightning calls next: nothing more is written
    assert metrics.read_bytes() == before


def test_prepare_on_a_full_disk_keeps_the_prepared_videos_and_finishes_once_space_is_freed(demo_dir, small_disk):
    from vidzoo.data.prepare import facts

    output = small_disk / "prepared"
    cmd = ["prepare", "--dataset", "kinetics", "--dataset.data_path", str(demo_dir), "--output", str(output),
           "--workers", "1", "--no-progress"]
    env = {"VIDZOO_LOAD_PLUGINS": ""}
    error = one_error(run_cli(*cmd, env=env, timeout=300), "prepare")
    total = len(list(demo_dir.rglob("*.mp4")))
    m = re.fullmatch(rf"vidzoo prepare: error: could not write (\S+): no space left on the device; (\d+) of {total} "
                     rf"videos are prepared and kept in {output}, nothing half-written was left; free space and run "
                     rf"the same command again to finish \(or choose another --output\)", error)
    assert m, error
    kept = sorted(output.rglob("*.mp4"))
    assert 0 < len(kept) < total and int(m[2]) == len(kept), (len(kept), error)
    for video in kept:  # whole: every frame of the source is there
        source = demo_dir / video.relative_to(output)
        assert facts(video.read_bytes())["frames"] == facts(source.read_bytes())["frames"]
    journal = (output / ".vidzoo-prepare" / "done.jsonl").read_text()
    assert journal.endswith("\n") and all(json.loads(line) for line in journal.splitlines())  # no cut line
    no_temporaries(output)
    assert not list(output.glob("vidzoo-manifest.*.json"))  # no manifest that lists only part of a split
    # more space (tmpfs can grow in place): the same command finishes what is left
    subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)
    done = run_cli(*cmd, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"prepared {total - len(kept)} videos ({len(kept)} were already done)" in done.stdout, done.stdout
    listed = [v["path"] for split in ("train", "val")
              for v in json.loads((output / f"vidzoo-manifest.{split}.json").read_text())["videos"]]
    assert len(listed) == total


def test_litdata_prepare_on_a_full_disk_is_one_line_and_leaves_no_chunks(demo_dir, small_disk):
    # litdata's writer fails inside its worker and re-raises the OSError as RuntimeError text
    out = small_disk / "chunks"
    fill(small_disk, leave_pages=8)  # 32 KiB: less than the train split's chunks
    done = run_cli("prepare", "--dataset", "kinetics", "--dataset.data_path", str(demo_dir), "--format", "litdata",
                   "--output", str(out), "--no-progress", env={"VIDZOO_LOAD_PLUGINS": ""})
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"vidzoo prepare: error: could not write the train split to {out / 'train'}: no space left on the device; none of it "
        f"was kept; free space and run the same command again with --overwrite (or choose another --output)")
    assert not (out / "train").exists()  # chunks without an index only take the space a rerun needs
