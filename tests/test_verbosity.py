"""-q/--quiet and -v/--verbose on every command: vidzoo's messages go through the "vidzoo" logger."""

from __future__ import annotations

import logging
import re
import shlex

import pytest

from conftest import ROOT, run_cli
from vidzoo import messages
from vidzoo.cli import COMMANDS, console
from vidzoo.testing import write_test_video


def doc_commands() -> list[list[str]]:
    text = (ROOT / "docs" / "cli.md").read_text().split("## Quiet and verbose: every command", 1)[1]
    block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    return [shlex.split(line)[1:] for line in block.splitlines() if line.startswith("vidzoo ")]


def test_the_documented_commands_quiet_and_verbose(tmp_path):
    verbose, quiet = doc_commands()
    done = run_cli(*verbose)  # -v: the debug line of each plugin as it loads, and the listing
    assert done.returncode == 0, done.stderr
    assert "resnet3d50" in done.stdout
    assert re.search(r"^vidzoo: plugin 'kinetics' from vidzoo \S+ loaded", done.stderr, re.M), done.stderr
    plain = run_cli(*[a for a in verbose if a != "-v"])
    assert plain.returncode == 0 and plain.stdout == done.stdout and "loaded" not in plain.stderr

    data = tmp_path / "data"
    for label in ("left", "right"):
        write_test_video(data / "val" / label / f"{label}.mp4", seconds=0.5, width=32, height=32)
    argv = [str(data) if a == "DATA" else str(tmp_path / "out") if a == "OUT" else a for a in quiet]
    done = run_cli(*argv, "--workers", "1", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr  # -q: no "vidzoo prepare: ..." line
    assert "prepared 2 videos" in done.stdout  # results are never hidden
    again = run_cli(*[a for a in argv if a != "-q"], "--output", str(tmp_path / "out2"), "--workers", "1",
                    "--no-progress")
    assert again.returncode == 0 and again.stderr.startswith("vidzoo prepare: kinetics at "), again.stderr


def test_every_command_takes_the_flags_before_or_after_its_name():
    for i, name in enumerate(COMMANDS):
        flags = ["-q", name, "--help"] if i % 2 else [name, "--help", "--verbose"]
        done = run_cli(*flags, env={"VIDZOO_LOAD_PLUGINS": ""})
        assert done.returncode == 0 and "usage" in done.stdout.lower(), (flags, done.stderr)
    done = run_cli("-q", "list", "-v")
    assert done.returncode == 2 and done.stderr.strip() == (
        "vidzoo: error: -q/--quiet and -v/--verbose contradict each other; give one of them")


@pytest.fixture
def vidzoo_logging():
    yield
    logging.captureWarnings(False)  # leave this process's logging as it was
    for name in ("py.warnings", messages.LOGGER):
        log = logging.getLogger(name)
        for handler in [h for h in log.handlers if getattr(h, messages._MARK, False)]:
            log.removeHandler(handler)
        log.propagate = True
    for name in (messages.LOGGER, "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.NOTSET)


def test_levels_and_rank_zero(vidzoo_logging, capsys, monkeypatch):
    messages.say("an info line")  # library use, nothing configured: printed as before
    assert capsys.readouterr().err == "an info line\n"
    console.configure(quiet=True)
    messages.say("hidden info")
    messages.debug("hidden debug")
    messages.warn("vidzoo: warning: shown")
    assert capsys.readouterr().err == "vidzoo: warning: shown\n"
    console.configure(verbose=True)
    messages.debug("a debug line")
    messages.say("an info line")
    assert capsys.readouterr().err == "a debug line\nan info line\n"
    monkeypatch.setenv("RANK", "1")  # a second DDP rank says nothing, not even warnings
    messages.warn("vidzoo: warning: from rank 1")
    assert capsys.readouterr().err == ""
