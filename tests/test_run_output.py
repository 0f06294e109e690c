"""What `vidzoo run` prints and leaves: no third-party noise (all of it with -v), the model summary
without a FLOPs column, the results table, curves.png, and TensorBoard event files on request."""

from __future__ import annotations

import logging
import re
import shlex
import struct
import warnings
from pathlib import Path

import pytest

from conftest import ROOT, TINY, run_cli
from vidzoo import messages
from vidzoo.cli import console
from vidzoo.training.run_summary import read_epochs, results_table

# Two epochs of two batches, the model summary on (TINY turns it off): 2 batches < log_every_n_steps 10.
OPTIONS = list(TINY)
_at = OPTIONS.index("--trainer.enable_model_summary")
del OPTIONS[_at:_at + 2]
OPTIONS[OPTIONS.index("--trainer.max_epochs") + 1] = "2"
# Lines Lightning prints in every such run on CPU, whatever its version within vidzoo's range.
ALWAYS_NOISE = ("Tip: For seamless cloud logging", "is smaller than the logging interval",
                "Loading `train_dataloader` to estimate number of stepping batches", "TPU available: False")


def doc_commands() -> list[list[str]]:
    """The `vidzoo run` commands of docs/cli.md's "What a run prints" block, as argument lists."""
    text = (ROOT / "docs" / "cli.md").read_text().split("## What a run prints", 1)[1]
    block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    return [shlex.split(line)[1:] for line in block.splitlines() if line.startswith("vidzoo run")]


def _run(demo_dir, out: Path, command: list[str]):
    # The documented command, on the small demo sample, cut down to two epochs of two batches.
    done = run_cli(*command, "--dataset.data_path", str(demo_dir), "--output", str(out), *OPTIONS,
                   env={"VIDZOO_LOAD_PLUGINS": ""}, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return done.stdout + done.stderr, run_dir


@pytest.fixture(scope="module")
def quiet(demo_dir, tmp_path_factory):
    command = doc_commands()[0]
    assert command == ["run", "--dataset", "kinetics", "--backbone", "resnet3d50"]
    return _run(demo_dir, tmp_path_factory.mktemp("quiet"), command)


@pytest.fixture(scope="module")
def verbose(demo_dir, tmp_path_factory):
    command = doc_commands()[1]
    assert "-v" in command and "tensorboard" in command
    return _run(demo_dir, tmp_path_factory.mktemp("verbose"), command)


def test_the_docs_list_every_hidden_line():
    text = (ROOT / "docs" / "cli.md").read_text().split("## What a run prints", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) == len(console.NOISE)
    for row in rows:
        assert any(console.is_noise(part.strip(" `")) for part in row.split("|")[1].split(" / ")), row


def test_a_run_hides_third_party_noise_and_verbose_shows_it(quiet, verbose):
    quiet_out, verbose_out = quiet[0], verbose[0]
    for line in ALWAYS_NOISE:
        assert line in verbose_out, line
    shown = [p for p, _ in console.NOISE if re.search(p, verbose_out, re.M)]
    assert len(shown) >= len(ALWAYS_NOISE)
    for pattern in shown:  # every noise line -v shows (the torch deprecation too, where this torch raises it)
        assert not re.search(pattern, quiet_out, re.M), pattern
    for out in (quiet_out, verbose_out):  # what stays: vidzoo's lines and the real Lightning ones
        assert "GPU available: False" in out
        assert re.search(r"^finished 2 epochs: val/top1 [\d.]+", out, re.M)


def test_the_main_job_prints_no_third_party_line(quiet):
    from test_quiet_library import foreign_lines

    assert foreign_lines(quiet[0]) == [], quiet[0][-4000:]


def test_the_model_summary_has_real_figures_and_no_flops_column(quiet):
    out = quiet[0]
    header = next(line for line in out.splitlines() if line.lstrip().startswith("| Name"))
    assert "Params" in header and "FLOPs" not in header
    assert "Total Flops" not in out
    assert re.search(r"^31\.6 M\s+trainable params", out, re.M)  # resnet3d50 with 4 classes


def test_the_end_table_states_the_results_and_where_the_files_are(quiet):
    out, run_dir = quiet
    table = out[out.index("finished 2 epochs"):]
    epochs = read_epochs(run_dir / "logs" / "metrics.csv")
    best = max(epochs, key=lambda r: r["val/top1"])
    assert re.search(r"^  epochs\s+2$", table, re.M)
    assert f"best {best['val/top1']:.4f} (epoch {best['epoch'] + 1}), final {epochs[-1]['val/top1']:.4f}" in table
    assert re.search(rf"^  val top-5\s+best [\d.]+, final {epochs[-1]['val/top5']:.4f}$", table, re.M)
    assert re.search(r"^  time\s+\d+(\.\d)? s$|^  time\s+\d+ min \d\d s$", table, re.M)
    assert re.search(r"^  clips/s\s+[\d.e+-]+ \(training, last epoch\)$", table, re.M)
    assert f"best checkpoint  {run_dir / 'checkpoints' / 'best.ckpt'}" in table
    assert f"last checkpoint  {run_dir / 'checkpoints' / 'last.ckpt'}" in table
    assert f"curves           {run_dir / 'curves.png'}" in table


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_curves_png_plots_the_runs_loss_and_top1_per_epoch(quiet):
    _, run_dir = quiet
    assert _png_size(run_dir / "curves.png") == (900, 360)
    epochs = read_epochs(run_dir / "logs" / "metrics.csv")
    assert [r["epoch"] for r in epochs] == [0, 1]
    for row in epochs:  # the four curves' values exist for every epoch
        assert {"train/loss_epoch", "val/loss", "train/top1", "val/top1"} <= set(row)


def test_curves_are_drawn_from_the_metrics_given(tmp_path):
    import matplotlib.image

    from vidzoo.training.curves import plot_curves

    rows = [{"epoch": e, "train/loss_epoch": 1.4 - 0.3 * e, "val/loss": 1.5 - 0.3 * e,
             "train/top1": 0.2 * e, "val/top1": 0.25 * e} for e in range(4)]
    path = plot_curves(rows, tmp_path / "curves.png", title="t", chance=0.25)
    assert matplotlib.image.imread(path).shape[:2] == (360, 900)
    assert plot_curves([{"epoch": 0}], tmp_path / "none.png") is None and not (tmp_path / "none.png").exists()


def test_tensorboard_logger_writes_event_files_with_the_metrics(verbose):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, run_dir = verbose
    (events,) = (run_dir / "logs" / "tensorboard").glob("events.out.tfevents.*")
    acc = EventAccumulator(str(events))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"val/top1", "val/loss", "train/loss_epoch", "train/top1"} <= tags
    assert len(acc.Scalars("val/top1")) == 2  # one per epoch
    assert (run_dir / "logs" / "metrics.csv").is_file()  # the CSV is kept beside it
    assert "tensorboard" in (run_dir / "config.yaml").read_text()


def test_an_unknown_logger_is_a_one_line_error(demo_dir, tmp_path):
    done = run_cli("run", "--dataset", "kinetics", "--backbone", "resnet3d50", "--dataset.data_path", str(demo_dir),
                   "--output", str(tmp_path / "runs"), "--trainer.logger", "wandb")
    assert done.returncode == 2
    assert done.stderr.strip() == ("vidzoo run: error: --trainer.logger 'wandb' is not a logger vidzoo knows; "
                                   "choose from csv, tensorboard (comma-separated for several)")
    assert not (tmp_path / "runs").exists()


def test_the_noise_filter_drops_matching_log_records_and_warnings_only(capsys):
    logger = logging.getLogger("vidzoo.test_console")
    try:
        console.configure(verbose=False)
        logger.info("💡 Tip: For seamless cloud logging and experiment tracking, try installing litlogger")
        logger.info("a real line")
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use ...", FutureWarning)
            warnings.warn("a real warning", UserWarning)
        err = capsys.readouterr().err
        assert "a real line" in err and "a real warning" in err
        assert "Tip" not in err and "LeafSpec" not in err
        console.configure(verbose=True)
        logger.info("💡 Tip: For seamless cloud logging")
        logger.debug("a debug line")
        err = capsys.readouterr().err
        assert "Tip" in err and "a debug line" in err
    finally:  # leave this process's logging as it was
        console.reset()


def test_results_table_reads_an_unfinished_or_empty_run(tmp_path):
    assert read_epochs(tmp_path / "missing.csv") == []
    table = results_table([], 3.04, "", "", None)
    assert "epochs           0" in table and "best -, final -" in table and "(none)" in table
    csv = tmp_path / "metrics.csv"
    csv.write_text("epoch,step,train/loss_step,train/top1,val/top1,val/top5\n0,1,1.2,,,\n0,1,,0.5,,\n"
                   "0,1,,,0.25,1.0\n1,3,,0.75,,\n1,3,,,0.5,1.0\n")
    rows = read_epochs(csv)
    assert rows == [{"epoch": 0, "train/loss_step": 1.2, "train/top1": 0.5, "val/top1": 0.25, "val/top5": 1.0},
                    {"epoch": 1, "train/top1": 0.75, "val/top1": 0.5, "val/top5": 1.0}]
    assert "best 0.5000 (epoch 2), final 0.5000" in results_table(rows, 75, "b.ckpt", "l.ckpt", "c.png")


def test_warnings_are_filtered_after_showwarning_was_put_back(capsys):
    # pytest and warnings.catch_warnings put warnings.showwarning back after configure() replaced
    # it; configure() in the next in-process command must route warnings through the filter again.
    try:
        before = warnings.showwarning
        console.configure(verbose=False)
        warnings.showwarning = before  # what catch_warnings / pytest do at the end of a block
        console.configure(verbose=False)
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use ...", FutureWarning)
            warnings.warn("a real warning", UserWarning)
        err = capsys.readouterr().err
        assert "a real warning" in err and "LeafSpec" not in err
    finally:
        console.reset()
    assert warnings.showwarning is not console._show_warning
