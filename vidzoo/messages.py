"""Messages to the user: an error's reason in one line, and lines printed by the first process only.

- ``one_line(x)``: ``x`` (an exception or any text) with its whitespace folded into one line;
  an exception with no text gives its type name. Every "why it failed" vidzoo prints goes
  through it (video reads, downloads, config errors, bad videos).
- ``is_rank_zero()``: True in the first process of a job (``RANK`` / ``LOCAL_RANK`` unset or 0),
  the one that prints run-wide messages, so that a DDP job says each thing once.
- ``say(message, once=False)``: one line to stderr from the first process only; with ``once``
  a message already said in this process is not repeated.
"""

from __future__ import annotations

import os
import sys

_said: set[str] = set()


def one_line(x) -> str:
    """An exception's (or a text's) message in one line."""
    text = " ".join(str(x).split())
    if not text and isinstance(x, BaseException):
        return type(x).__name__
    return text


def is_rank_zero() -> bool:
    """True in the process that speaks for the job (the first DDP rank, or a single process)."""
    return os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) == "0"


def say(message: str, once: bool = False) -> None:
    """Print one line to stderr from the first process only (``once``: once per process)."""
    if not is_rank_zero() or (once and message in _said):
        return
    if once:
        _said.add(message)
    print(message, file=sys.stderr)
