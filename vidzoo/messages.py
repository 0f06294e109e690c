"""Messages to the user: an error's reason in one line, and lines printed by the first process only.

- ``one_line(x)``: ``x`` (an exception or any text) with its whitespace folded into one line;
  an exception with no text gives its type name. Every "why it failed" vidzoo prints goes
  through it (video reads, downloads, config errors, bad videos).
- ``is_rank_zero()``: True in the first process of a job (``RANK`` / ``LOCAL_RANK`` unset or 0),
  the one that prints run-wide messages, so that a DDP job says each thing once.
- ``say(message, once=False, level=logging.INFO)``: one line from the first process only, as a
  record of the "vidzoo" logger; with ``once`` a message already said in this process is not
  repeated. The logger prints the bare message to stderr (its own handler, added on first use,
  so library use prints as the CLI does); the CLI's ``-q`` / ``-v`` set its level
  (vidzoo.cli.console.configure). A program of its own can replace the handler or the level.
"""

from __future__ import annotations

import logging
import os
import sys

LOGGER = "vidzoo"
_MARK = "_vidzoo_console"  # set on the handlers vidzoo added, so that none is added twice
_said: set[str] = set()


class StderrHandler(logging.StreamHandler):
    """Writes to sys.stderr as it is at each record, not as it was when the handler was made
    (pytest and embedding tools replace it; a stale stream is closed)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def own_handler(logger: logging.Logger) -> None:
    """A stderr handler printing the bare message, once, on a logger that propagates no further."""
    if not any(getattr(h, _MARK, False) for h in logger.handlers):
        handler = StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        setattr(handler, _MARK, True)
        logger.addHandler(handler)
    logger.propagate = False


def get_logger() -> logging.Logger:
    """The "vidzoo" logger, printing to stderr at INFO unless configured otherwise."""
    logger = logging.getLogger(LOGGER)
    if not logger.handlers:
        own_handler(logger)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    return logger


def one_line(x) -> str:
    """An exception's (or a text's) message in one line."""
    text = " ".join(str(x).split())
    if not text and isinstance(x, BaseException):
        return type(x).__name__
    return text


def is_rank_zero() -> bool:
    """True in the process that speaks for the job (the first DDP rank, or a single process)."""
    return os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) == "0"


def say(message: str, once: bool = False, level: int = logging.INFO) -> None:
    """Log one line from the first process only (``once``: once per process); see the module docstring."""
    if not is_rank_zero() or (once and message in _said):
        return
    if once:
        _said.add(message)
    get_logger().log(level, message)


def debug(message: str) -> None:
    """``say`` at DEBUG: shown by ``-v`` only."""
    say(message, level=logging.DEBUG)


def warn(message: str, once: bool = False) -> None:
    """``say`` at WARNING: shown by ``-q`` too."""
    say(message, once=once, level=logging.WARNING)
