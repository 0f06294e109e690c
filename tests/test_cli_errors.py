"""CLI mistakes: one line saying what is wrong and how to fix it, exit code 2, no traceback, nothing written.

The table below is the one in docs/reliability.md. Most cases run in this process through
vidzoo.cli.main (the code path of the `vidzoo` command); a few run as real subprocesses.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import run_cli
from faultkit import TINY_FK, registered_in_process

RUN = ["run", "--dataset", "kinetics", "--backbone", "faultkit-tiny"]

# (case id, command line with {data} {empty} {mixed} {file} {bad_yaml} {unknown_key_yaml} {out} {tmp}, expected text)
CASES = [
    ("unknown-command", ["rnu"], "unknown command 'rnu'; did you mean 'run'?"),
    ("unknown-backbone", ["run", "--dataset", "kinetics", "--backbone", "resnet3d5", "--output", "{out}"],
     "unknown backbone 'resnet3d5'"),
    ("unknown-dataset", ["run", "--dataset", "kinetic", "--backbone", "faultkit-tiny", "--output", "{out}"],
     "unknown dataset 'kinetic'"),
    ("missing-backbone", ["run", "--dataset", "kinetics", "--output", "{out}"], "--backbone is required"),
    ("unknown-option", [*RUN, "--dataset.nope", "1", "--output", "{out}"], "unrecognized arguments: --dataset.nope 1"),
    ("unknown-option-in-yaml", [*RUN, "--config", "{unknown_key_yaml}", "--output", "{out}"],
     "unknown option 'data.nope' in the config file {unknown_key_yaml}"),
    ("wrong-type", [*RUN, "--data.batch_size", "abc", "--output", "{out}"],
     "--data.batch_size expects an integer, got 'abc'"),
    ("wrong-type-trainer", [*RUN, "--trainer.max_epochs", "many", "--output", "{out}"],
     "--trainer.max_epochs expects an integer or null, got 'many'"),
    ("zero-batch-size", [*RUN, "--dataset.data_path", "{data}", "--data.batch_size", "0", "--output", "{out}"],
     "--data.batch_size must be a positive integer, got 0"),
    ("negative-workers", [*RUN, "--dataset.data_path", "{data}", "--data.num_workers", "-1", "--output", "{out}"],
     "--data.num_workers must be 0 or more"),
    ("negative-crop", [*RUN, "--dataset.data_path", "{data}", "--transform.crop_size", "-1", "--output", "{out}"],
     "crop_size must be positive, got -1"),
    ("zero-clip-duration", [*RUN, "--dataset.data_path", "{data}", "--dataset.clip_duration", "0",
                            "--output", "{out}"], "clip_duration must be positive, got 0"),
    ("bad-fraction", [*RUN, "--dataset.data_path", "{data}", "--data.max_bad_fraction", "2", "--output", "{out}"],
     "--data.max_bad_fraction must be between 0 and 1, got 2"),
    ("bad-worker-start", [*RUN, "--dataset.data_path", "{data}", "--data.worker_start", "thread", "--output", "{out}"],
     "--data.worker_start must be one of spawn, forkserver, fork, not 'thread'"),
    ("zero-keep", [*RUN, "--dataset.data_path", "{data}", "--checkpoint.keep", "0", "--output", "{out}"],
     "--checkpoint.keep must be 1 or more, got 0"),
    ("negative-every-n-steps", [*RUN, "--dataset.data_path", "{data}", "--checkpoint.every_n_steps", "-3",
                                "--output", "{out}"], "--checkpoint.every_n_steps must be 0 (never) or more, got -3"),
    ("negative-skip-nonfinite", [*RUN, "--dataset.data_path", "{data}", "--trainer.skip_nonfinite", "-1",
                                 "--output", "{out}"], "--trainer.skip_nonfinite must be 0 or more, got -1"),
    ("zero-peer-timeout", [*RUN, "--dataset.data_path", "{data}", "--trainer.strategy", "ddp",
                           "--trainer.peer_timeout_s", "0", "--output", "{out}"],
     "--trainer.peer_timeout_s must be a positive number of seconds, got 0"),
    ("peer-timeout-without-ddp", [*RUN, "--dataset.data_path", "{data}", "--trainer.peer_timeout_s", "60",
                                  "--output", "{out}"],
     "--trainer.peer_timeout_s applies to DDP processes; --trainer.strategy auto has no process-group timeout"),
    ("negative-lr", [*RUN, "--dataset.data_path", "{data}", "--optimizer.lr", "-1", "--output", "{out}"],
     "--optimizer.lr must be positive"),
    ("negative-epochs", [*RUN, "--dataset.data_path", "{data}", "--trainer.max_epochs", "-5", "--output", "{out}"],
     "invalid --trainer options"),
    ("no-gpu", [*RUN, "--dataset.data_path", "{data}", "--trainer.accelerator", "cuda", "--output", "{out}"],
     "invalid --trainer options"),
    ("data-path-missing", [*RUN, "--dataset.data_path", "{tmp}/nowhere", "--output", "{out}"],
     "data_path {tmp}/nowhere does not exist"),
    ("data-path-is-a-file", [*RUN, "--dataset.data_path", "{file}", "--output", "{out}"], "is not a folder"),
    ("no-videos", [*RUN, "--dataset.data_path", "{empty}", "--output", "{out}"], "no videos found for the train split"),
    ("different-classes", [*RUN, "--dataset.data_path", "{mixed}", "--output", "{out}"],
     "train and val splits of 'kinetics' have different classes"),
    ("yaml-does-not-parse", [*RUN, "--config", "{bad_yaml}", "--output", "{out}"], "is not valid YAML at line 3"),
    ("config-missing", [*RUN, "--config", "{tmp}/nope.yaml", "--output", "{out}"], "config file {tmp}/nope.yaml does not exist"),
    ("output-is-a-file", [*RUN, "--dataset.data_path", "{data}", "--output", "{file}"],
     "--output {file} is a file, not a folder"),
    ("resume-nothing", ["run", "--resume", "--output", "{out}"], "--resume: no run to resume under {out}/"),
    ("resume-missing-path", ["run", "--resume", "{tmp}/nope"], "--resume {tmp}/nope: no such run directory or checkpoint"),
    ("check-data-no-dataset", ["check-data", "--dataset.data_path", "{data}"], "--dataset is required"),
    ("check-data-missing-path", ["check-data", "--dataset", "kinetics", "--dataset.data_path", "{tmp}/nowhere"],
     "does not exist"),
]


@pytest.fixture(scope="module")
def places(demo_dir, tmp_path_factory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("mistakes")
    video = next((demo_dir / "train" / "grow").glob("*.mp4"))
    empty = tmp / "empty"
    for split in ("train", "val"):
        (empty / split / "grow").mkdir(parents=True)
    mixed = tmp / "mixed"
    for split, classes in (("train", ("a", "b")), ("val", ("a", "c"))):
        for cls in classes:
            (mixed / split / cls).mkdir(parents=True)
            shutil.copy(video, mixed / split / cls / "v.mp4")
    (tmp / "a_file").write_text("not a folder\n")
    (tmp / "bad.yaml").write_text("dataset: kinetics\ndata: {batch_size: [1, 2\n")
    (tmp / "unknown_key.yaml").write_text("data:\n  nope: 1\n")
    return {"data": str(demo_dir), "empty": str(empty), "mixed": str(mixed), "file": str(tmp / "a_file"),
            "bad_yaml": str(tmp / "bad.yaml"), "unknown_key_yaml": str(tmp / "unknown_key.yaml"), "tmp": str(tmp)}


@pytest.fixture(scope="module")
def faultkit_plugin():
    with registered_in_process():
        yield


@pytest.mark.parametrize("case,argv,expected", CASES, ids=[c[0] for c in CASES])
def test_mistake_is_one_line_exit_2_nothing_written(case, argv, expected, places, faultkit_plugin, tmp_path,
                                                    capsys, monkeypatch):
    from vidzoo import plugins
    from vidzoo.cli import main

    monkeypatch.setenv("VIDZOO_LOAD_PLUGINS", "")  # the built-ins (+ the test plugin registered in Python)
    plugins.reset()
    fill = {**places, "out": str(tmp_path / "out")}
    argv = [a.format(**fill) for a in argv]
    before = sorted(Path(places["tmp"]).rglob("*"))
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"vidzoo {argv[0]}: error: " if argv[0] != "rnu" else "vidzoo: error: "), lines[0]
    assert expected.format(**fill) in lines[0], lines[0]
    assert not (tmp_path / "out").exists()  # nothing written
    assert sorted(Path(places["tmp"]).rglob("*")) == before


@pytest.mark.parametrize("case", ["unknown-backbone", "negative-crop", "yaml-does-not-parse", "output-is-a-file"])
def test_mistake_in_a_real_process(case, places, tmp_path):
    _, argv, expected = next(c for c in CASES if c[0] == case)
    fill = {**places, "out": str(tmp_path / "out")}
    argv = [a.format(**fill).replace("faultkit-tiny", "resnet3d50") for a in argv]
    done = run_cli(*argv, env={"VIDZOO_LOAD_PLUGINS": ""})
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert expected.format(**fill) in done.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_name_suggests_the_close_one(places, capsys, monkeypatch):
    from vidzoo import plugins
    from vidzoo.cli import main

    monkeypatch.setenv("VIDZOO_LOAD_PLUGINS", "")
    plugins.reset()
    assert main(["run", "--dataset", "kinetics", "--backbone", "resnet3d5"]) == 2
    assert "resnet3d50" in capsys.readouterr().err  # did you mean
