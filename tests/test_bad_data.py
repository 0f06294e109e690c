"""Bad videos never kill an epoch: replaced, reported once with path and reason, counted; too many stop the run."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import run_cli
from faultkit import TINY_FK, plugin_env, write_bad_files
from vidzoo.data import bad_videos

EXPECTED_REASON = {
    "zero_bytes.mp4": "empty file (0 bytes)",
    "truncated.mp4": "Invalid data",  # the mp4's index (moov atom) is cut off
    "not_a_video.mp4": "Invalid data",
    "audio_only.mp4": "no video stream",
    "a_folder.mp4": "is a folder",
    "unreadable.mp4": "permission denied",
    "missing.mp4": "file not found",
}


@pytest.fixture(scope="module")
def bad_root(demo_dir, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The demo sample plus every kind of bad file in train/grow, a bad val video and an empty class folder."""
    root = tmp_path_factory.mktemp("bad") / "data"
    shutil.copytree(demo_dir, root)
    kinds = write_bad_files(root / "train" / "grow", next((root / "train" / "grow").glob("*.mp4")))
    (root / "val" / "shrink" / "zero_bytes.mp4").write_bytes(b"")
    for split in ("train", "val"):
        (root / split / "empty_class").mkdir()
    return root, kinds


def test_every_kind_of_bad_file_is_replaced_and_reported_once(bad_root, tmp_path, monkeypatch, capfd):
    """A labelled-paths list (naming a missing file too) read by the built-in kinetics dataset."""
    from vidzoo.default_plugins.kinetics import kinetics

    root, kinds = bad_root
    folder = root / "train" / "grow"
    names = sorted(kinds) + ["missing.mp4"]
    good = sorted((root / "train" / "move_up").glob("*.mp4"))[:3]
    listing = [f"{folder / n} 0" for n in names] + [f"{p} 1" for p in good]
    (tmp_path / "train.txt").write_text("\n".join(listing) + "\n")
    (tmp_path / "val.txt").write_text(f"{good[0]} 1\n")
    ds = kinetics("train", None, data_path=str(tmp_path))
    ds.configure_loading(bad_videos.BadVideoPolicy("train", 1.0))
    for _ in range(2):  # two epochs: reported once, not once per epoch
        for i in range(len(ds)):
            sample = ds[i]
            assert sample["video"].ndim == 4 and sample["video"].shape[1] >= 1
            name = Path(sample["video_name"]).name
            assert name not in EXPECTED_REASON, f"a bad video came back: {name}"
    err = capfd.readouterr().err
    for name in names:
        reports = [line for line in err.splitlines() if f"{folder / name}:" in line]
        if kinds.get(name) == "good":  # one-frame and shorter-than-the-clip videos are read
            assert not reports, reports
            continue
        assert len(reports) == 1, (name, err)
        assert EXPECTED_REASON[name] in reports[0], reports[0]


def test_too_many_bad_videos_stop_with_a_one_line_error_also_from_workers(demo_dir, tmp_path, monkeypatch):
    import torch

    from vidzoo.data.clips import ClipDataset

    videos = [(str(p), 0) for p in sorted((demo_dir / "train" / "grow").glob("*.mp4"))]  # 6 good
    for name in ("a.mp4", "b.mp4"):
        (tmp_path / name).write_bytes(b"")
        videos.append((str(tmp_path / name), 0))
    ds = ClipDataset(videos, ["grow"], clip_duration=1.0)
    ds.configure_loading(bad_videos.BadVideoPolicy("train", 0.2))  # 2 of 8 = 25% > 20%
    with pytest.raises(bad_videos.BadDataError) as info:
        for i in range(len(ds)):
            ds[i]
    message = str(info.value)
    assert "too many unreadable videos in the train split: 2 of 8 (25.0%) > --data.max_bad_fraction 0.2" in message
    assert "\n" not in message
    ds.configure_loading(bad_videos.BadVideoPolicy("train", 0.2))  # a fresh memory of bad videos
    # spawn, not fork: this test process has decoded videos with threads, and a worker forked
    # from a process with live decoder threads can deadlock (vidzoo's main process decodes nothing)
    loader = torch.utils.data.DataLoader(ds, batch_size=8, num_workers=1, collate_fn=_as_list,
                                         multiprocessing_context="spawn")
    with pytest.raises(bad_videos.BadDataError) as info:
        next(iter(loader))
    assert "\n" not in str(info.value) and str(info.value).startswith("too many unreadable videos"), str(info.value)


def _as_list(batch):
    return batch


def _run(root: Path, tmp_path: Path, *extra: str):
    return run_cli(
        "run", "--dataset", "kinetics", "--backbone", "faultkit-tiny", "--dataset.data_path", str(root), *TINY_FK,
        "--data.batch_size", "8", "--data.num_workers", "2", "--output", str(tmp_path / "runs"), *extra,
        env=plugin_env(tmp_path / "site"),
    )


def test_training_and_validation_go_on_and_each_bad_video_is_reported_once(bad_root, tmp_path):
    root, kinds = bad_root
    bad = sorted([str(root / "train" / "grow" / n) for n, k in kinds.items() if k == "bad"]
                 + [str(root / "val" / "shrink" / "zero_bytes.mp4")])
    done = _run(root, tmp_path, "--trainer.max_epochs", "2", "--data.max_bad_fraction", "0.25")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "finished 2 epochs" in done.stdout
    warnings = [line for line in done.stderr.splitlines() if line.startswith("vidzoo: warning: bad video")]
    assert sorted(line.split(": ")[3] for line in warnings) == bad, warnings  # each once, across 2 workers x 2 epochs
    for line in warnings:
        assert EXPECTED_REASON[Path(line.split(": ")[3]).name] in line
    n_train = len([k for k in kinds.values() if k == "bad"])
    assert f"epoch 0: {len(bad)} bad videos so far (" in done.stderr
    assert f"train {n_train} of 31" in done.stderr and "val 1 of 9" in done.stderr
    assert f"bad videos (replaced by other clips): {len(bad)}" in done.stdout
    run_dir = next((tmp_path / "runs").iterdir())
    logged = {json.loads(line)["path"] for line in (run_dir / "bad_videos.jsonl").read_text().splitlines()}
    assert sorted(logged) == bad


def test_more_than_the_allowed_fraction_stops_the_run_with_one_line(bad_root, tmp_path):
    root, kinds = bad_root
    # train is more than 15% bad (5 or 6 of 31-32 videos: unreadable.mp4 exists only for non-root),
    # val is not (1 of 9, 11.1%): which split stops the run cannot depend on which loader reports first.
    done = _run(root, tmp_path, "--trainer.max_epochs", "1", "--data.max_bad_fraction", "0.15")
    assert done.returncode == 2, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("vidzoo run: error: too many unreadable videos in the train split:"), last
    assert "> --data.max_bad_fraction 0.15" in last and "vidzoo check-data" in last
    assert "Traceback" not in done.stderr


def test_the_default_bad_fraction_is_ten_percent():
    import yaml

    done = run_cli("run", "--dataset", "kinetics", "--backbone", "resnet3d50", "--print-config",
                   env={"VIDZOO_LOAD_PLUGINS": ""})
    assert yaml.safe_load(done.stdout)["data"]["max_bad_fraction"] == 0.1


def test_check_data_lists_unreadable_videos_class_balance_and_writes_clean_lists(bad_root, tmp_path):
    root, kinds = bad_root
    clean = tmp_path / "clean"
    done = run_cli("check-data", "--dataset", "kinetics", "--dataset.data_path", str(root), "--json",
                   "--write-clean", str(clean), env={"VIDZOO_LOAD_PLUGINS": ""})
    assert done.returncode == 1, done.stderr  # some videos are unreadable
    report = json.loads(done.stdout)
    train = report["splits"]["train"]
    bad = {n for n, k in kinds.items() if k == "bad"}
    assert {Path(u["path"]).name for u in train["unreadable"]} == bad
    for u in train["unreadable"]:
        assert EXPECTED_REASON[Path(u["path"]).name] in u["reason"]
    assert {Path(s["path"]).name for s in train["shorter_than_clip"]} == {"one_frame.mp4", "short.mp4"}
    assert train["classes"] == {"empty_class": 0, "grow": 8, "move_down": 6, "move_up": 6, "shrink": 6}
    assert train["empty_classes"] == ["empty_class"]
    assert [Path(u["path"]).name for u in report["splits"]["val"]["unreadable"]] == ["zero_bytes.mp4"]
    listed = [line.rsplit(" ", 1) for line in (clean / "train.txt").read_text().splitlines()]
    assert len(listed) == 26 and not {Path(p).name for p, _ in listed} & bad
    assert (clean / "classes.txt").read_text().split() == ["empty_class", "grow", "move_down", "move_up", "shrink"]
    # the clean lists are a dataset vidzoo reads, and they check clean
    from vidzoo.cli.commands import check_data

    assert check_data.main(["--dataset", "kinetics", "--dataset.data_path", str(clean), "--json"]) == 0
    text = run_cli("check-data", "--dataset", "kinetics", "--dataset.data_path", str(root),
                   env={"VIDZOO_LOAD_PLUGINS": ""}).stdout
    assert "train: 31 videos, 5 classes; " in text and "unreadable: " in text and "empty_class" in text
    assert os.path.exists(clean / "val.txt")


def test_a_mostly_bad_split_still_fills_every_sample_when_allowed(demo_dir, tmp_path, monkeypatch, capfd):
    from vidzoo.data.clips import ClipDataset

    good = str(next((demo_dir / "train" / "grow").glob("*.mp4")))
    bad = []
    for k in range(19):
        (tmp_path / f"b{k}.mp4").write_bytes(b"")
        bad.append((str(tmp_path / f"b{k}.mp4"), 0))
    ds = ClipDataset([(good, 0), *bad], ["grow"], clip_duration=1.0)
    ds.configure_loading(bad_videos.BadVideoPolicy("train", 1.0))  # 95% bad, allowed
    assert {ds[i]["video_name"] for i in range(len(ds))} == {good}
    assert len([line for line in capfd.readouterr().err.splitlines() if "bad video replaced" in line]) == 19
    only_bad = ClipDataset(bad, ["grow"], clip_duration=1.0)
    only_bad.configure_loading(bad_videos.BadVideoPolicy("train", 1.0))
    with pytest.raises(bad_videos.BadDataError, match="no video of the train split could be read"):
        only_bad[0]


def _as_unprivileged(cmd: list[str]) -> list[str]:
    """Root reads any file whatever its mode; without CAP_DAC_OVERRIDE/READ_SEARCH it obeys the mode bits."""
    if os.geteuid() != 0:
        return cmd
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and util-linux's setpriv is not installed")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--", *cmd]


def test_unreadable_permissions_are_reported_and_training_goes_on_even_as_root(demo_dir, tmp_path):
    import subprocess
    import sys

    root = tmp_path / "data"
    shutil.copytree(demo_dir, root)
    locked = root / "train" / "grow" / "locked.mp4"
    shutil.copy(next((root / "train" / "grow").glob("*.mp4")), locked)
    locked.chmod(0)
    env = {**os.environ, **plugin_env(tmp_path / "site")}  # the data is tested, not the model: a tiny backbone
    base = [sys.executable, "-m", "vidzoo"]
    check = subprocess.run(_as_unprivileged(base + ["check-data", "--dataset", "kinetics", "--dataset.data_path",
                                                    str(root), "--json"]), capture_output=True, text=True, env=env)
    assert check.returncode == 1, check.stderr
    (bad,) = json.loads(check.stdout)["splits"]["train"]["unreadable"]
    assert bad["path"] == str(locked) and "permission denied" in bad["reason"]
    run = subprocess.run(_as_unprivileged(base + [
        "run", "--dataset", "kinetics", "--backbone", "faultkit-tiny", "--dataset.data_path", str(root),
        *TINY_FK, "--data.batch_size", "25", "--data.num_workers", "0", "--trainer.max_epochs", "1",
        "--data.max_bad_fraction", "0.5", "--output", str(tmp_path / "runs")]), capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    reports = [line for line in run.stderr.splitlines() if f"{locked}:" in line]
    assert len(reports) == 1 and "permission denied" in reports[0], run.stderr[-3000:]
