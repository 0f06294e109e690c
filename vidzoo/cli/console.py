"""What a run prints: vidzoo's lines, the progress bar and real errors, without third-party noise.

Lightning speaks through `logging` and `warnings`. `configure()` routes warnings into logging
(as `logging.captureWarnings` does) and puts one `NoiseFilter` on the handlers that print, which drops
the records matching `NOISE`: tips, advertisements and warnings about Lightning's own
internals that a user cannot act on. `configure(verbose=True)` (`-v` on any command) installs no
filter, so everything is shown; the `vidzoo` logger then also shows DEBUG records.
`configure(quiet=True)` (`-q`) shows warnings and errors only. `reset()` undoes it (for
programs and tests that call `configure()` in-process).
"""

from __future__ import annotations

import logging
import re
import warnings

from vidzoo import messages

# (pattern searched in the message, why it is hidden). docs/cli.md lists the same lines.
NOISE: tuple[tuple[str, str], ...] = (
    (r"Tip: For seamless cloud logging", "Lightning's advertisement for its LitLogger cloud service"),
    (r"`?isinstance\(treespec, LeafSpec\)`? is deprecated",
     "a torch deprecation inside Lightning's own code (lightning/pytorch/utilities/_pytree.py)"),
    (r"is smaller than the logging interval",
     "Lightning's note that an epoch has fewer batches than log_every_n_steps: the per-epoch "
     "metrics vidzoo reads are logged anyway"),
    (r"^Loading `train_dataloader` to estimate number of stepping batches",
     "Lightning saying how it counts the steps for vidzoo's learning-rate schedule"),
    (r"^(TPU|HPU) available: False", "accelerators this machine does not have (the GPU line stays)"),
    (r"^Trainer already configured with model summary callbacks",
     "Lightning noting that vidzoo's model summary (without the FLOPs column) replaces its own"),
)
_PATTERNS = tuple(re.compile(p) for p, _ in NOISE)


class NoiseFilter(logging.Filter):
    """Drops the log records (and captured warnings) whose message matches one of NOISE."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is not ours to judge: show it
            return True
        return not any(p.search(message) for p in _PATTERNS)


def is_noise(line: str) -> bool:
    return any(p.search(line) for p in _PATTERNS)


# Loggers whose handlers print: Lightning's (it adds its own handlers when imported) and captured warnings.
LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "py.warnings", "vidzoo")


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """warnings.showwarning that logs to "py.warnings", as logging.captureWarnings(True) installs."""
    text = warnings.formatwarning(message, category, filename, lineno, line)
    if file is not None:  # an explicit file (warnings.showwarning's own contract): write there
        file.write(text)
        return
    logging.getLogger("py.warnings").warning("%s", text)


_previous_showwarning = []  # what configure() replaced, for reset()


def _capture_warnings() -> None:
    # Not logging.captureWarnings(True): a second call does nothing, even when warnings.showwarning
    # was put back since (warnings.catch_warnings and pytest do), and warnings would then bypass the filter.
    if warnings.showwarning is not _show_warning:
        _previous_showwarning.append(warnings.showwarning)
        warnings.showwarning = _show_warning


def reset() -> None:
    """Undo configure(): vidzoo's handlers and filters go, warnings print as they did before."""
    if warnings.showwarning is _show_warning and _previous_showwarning:
        warnings.showwarning = _previous_showwarning[-1]
    _previous_showwarning.clear()
    for name in LOGGERS:
        log = logging.getLogger(name)
        for handler in log.handlers:
            for f in [f for f in handler.filters if isinstance(f, NoiseFilter)]:
                handler.removeFilter(f)
        for handler in [h for h in log.handlers if getattr(h, messages._MARK, False)]:
            log.removeHandler(handler)
            log.propagate = True
    logging.getLogger(messages.LOGGER).setLevel(logging.NOTSET)


def configure(verbose: bool = False, quiet: bool = False, lightning: bool = False) -> None:
    """Set up printing for a command; call it before the work starts.

    ``quiet`` (-q): warnings and errors only (vidzoo's and Lightning's loggers at WARNING).
    ``verbose`` (-v): vidzoo's DEBUG records too, and no noise filter. ``lightning``: import
    Lightning first (a command that trains needs it anyway), so that its handlers exist and get
    the filter; without it `vidzoo list` and friends stay torch-free.
    """
    if lightning:
        try:
            import lightning.pytorch  # noqa: F401
        except ImportError:
            pass
    _capture_warnings()  # warnings become records of the "py.warnings" logger
    messages.own_handler(logging.getLogger("py.warnings"))
    messages.own_handler(logging.getLogger(messages.LOGGER))
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.getLogger(messages.LOGGER).setLevel(level)
    if quiet or verbose:  # else Lightning's own level stands (INFO: its device lines)
        for name in ("lightning.pytorch", "lightning.fabric"):
            logging.getLogger(name).setLevel(logging.WARNING if quiet else logging.INFO)
    for name in LOGGERS:
        for handler in logging.getLogger(name).handlers:
            for f in [f for f in handler.filters if isinstance(f, NoiseFilter)]:
                handler.removeFilter(f)
            if not verbose:
                handler.addFilter(NoiseFilter())


def take_verbosity(argv: list[str]) -> tuple[list[str], bool, bool]:
    """(argv without them, verbose, quiet) for the -v/--verbose and -q/--quiet every command takes."""
    verbose = any(a in ("-v", "--verbose") for a in argv)
    quiet = any(a in ("-q", "--quiet") for a in argv)
    if verbose and quiet:
        from vidzoo.errors import VidzooError

        raise VidzooError("-q/--quiet and -v/--verbose contradict each other; give one of them")
    return [a for a in argv if a not in ("-v", "--verbose", "-q", "--quiet")], verbose, quiet
