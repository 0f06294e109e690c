"""A quiet library: vidzoo.train / evaluate print what `vidzoo run` prints, without third-party noise.

The rule is vidzoo.noise.NOISE, one for the CLI and the API; `verbose=True` (the API) and `-v`
(the CLI) show everything. `foreign_lines` is the check: a line that is not vidzoo's, Lightning's
progress bar, device line or model summary, or the results table is someone else's, and fails.
tests/test_run_output.py applies it to the main job's output.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import warnings

from faultkit import plugin_path

ALLOWED = [re.compile(p) for p in (
    # vidzoo's own lines (vidzoo.messages.say and the commands' output) and the results table
    r"^vidzoo\b", r"^finished \d+ epochs: ", r"^training throughput", r"^run directory: ",
    r"^testing \S+ on \d+ videos", r"^testing: +\d+%",
    r"^  (epochs|val top-1|val top-5|time|clips/s|best checkpoint|last checkpoint|curves) ",
    # Lightning: the device line the CLI keeps, the model summary, the progress bar, the end of fit
    r"^GPU available: ", r"^\s*\|\s+Name\s+\|", r"^-{10,}$", r"^\d+\s+\| ", r"params$",
    r"total estimated model params size", r"Modules in (train|eval) mode", r"^Epoch \d+/\d+ ", r"^\s{20,}\S",
    r"^`Trainer.fit` stopped: ",
)]


def foreign_lines(output: str) -> list[str]:
    """The lines of output (progress bars' \\r-separated frames included) that nothing in ALLOWED explains."""
    lines = [line.rstrip() for line in re.split(r"[\r\n]", output)]
    return [line for line in lines if line.strip() and not any(p.search(line) for p in ALLOWED)]


SCRIPT = """
import sys
import vidzoo

if __name__ == "__main__":  # the guard a script needs: the default DataLoader workers start by spawn
    result = vidzoo.train(dataset={"name": "kinetics", "data_path": sys.argv[1]}, backbone="faultkit-tiny",
                          transform={"name": "kinetics", "num_frames": 4, "crop_size": 32, "min_short_side": 36,
                                     "max_short_side": 40, "eval_short_side": 36},
                          trainer={"max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 2},
                          output=sys.argv[2])
    print("top-1", vidzoo.evaluate(result.best_checkpoint, views="1x1").top1)
"""


def test_vidzoo_train_and_evaluate_print_no_third_party_line(demo_dir, tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "VIDZOO_LOAD_PLUGINS": "vidzoo-faultkit",
           "PYTHONPATH": os.pathsep.join(p for p in (plugin_path(tmp_path / "site"), os.environ.get("PYTHONPATH"))
                                         if p)}
    done = subprocess.run([sys.executable, str(script), str(demo_dir), str(tmp_path / "runs")], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    assert re.search(r"^top-1 [\d.]+$", done.stdout, re.M), done.stdout[-2000:]
    output = done.stdout.replace(re.search(r"^top-1 .*$", done.stdout, re.M).group(0), "") + done.stderr
    assert foreign_lines(output) == [], output[-4000:]
    assert "vidzoo: --data.num_workers auto = " in output and "| Name" in output  # vidzoo's and the summary stay


class _Collect(logging.Handler):  # stands for Lightning's own printing handler
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def test_hidden_drops_noise_only_verbose_shows_it_and_everything_is_put_back():
    from vidzoo import noise

    noise.import_lightning()
    lightning = logging.getLogger("lightning.pytorch")
    printed = _Collect()
    lightning.addHandler(printed)
    before = warnings.showwarning
    shown = []
    warnings.showwarning = lambda message, *rest, **kw: shown.append(str(message))
    try:
        for verbose in (False, True):
            with warnings.catch_warnings():
                warnings.simplefilter("always")
                with noise.hidden(verbose=verbose):
                    warnings.warn("'set_vital' is deprecated, please do not call")
                    warnings.warn("a real problem")
                    lightning.info("💡 Tip: For seamless cloud logging and experiment tracking, try litlogger")
                    lightning.info("GPU available: False, used: False")
        after = warnings.showwarning
    finally:
        warnings.showwarning = before
        lightning.removeHandler(printed)
    assert shown == ["a real problem", "'set_vital' is deprecated, please do not call", "a real problem"]
    assert [("Tip" in line, "GPU" in line) for line in printed.lines] == [(False, True), (True, False), (False, True)]
    assert after is not before and after.__name__ == "<lambda>"  # the program's own showwarning, back in place
    assert not any(isinstance(f, noise.NoiseFilter) for h in lightning.handlers for f in h.filters)
