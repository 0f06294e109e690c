"""What a run prints: vidzoo's lines, the progress bar and real errors, without third-party noise.

Lightning speaks through `logging` and `warnings`. `configure()` routes warnings into logging
(as `logging.captureWarnings` does) and puts one `NoiseFilter` on the handlers that print, which drops
the records matching `NOISE` (vidzoo.noise, the rule the Python API applies too): tips,
advertisements and warnings about third-party internals that a user cannot act on.
`configure(verbose=True)` (`-v` on any command) installs no filter, so everything is shown;
the `vidzoo` logger then also shows DEBUG records.
`configure(quiet=True)` (`-q`) shows warnings and errors only. `reset()` undoes it (for
programs and tests that call `configure()` in-process).
"""

from __future__ import annotations

import logging
import warnings

from vidzoo import messages
from vidzoo.noise import LOGGERS, NOISE, NoiseFilter, import_lightning, is_noise  # noqa: F401 (the rule, one place)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """warnings.showwarning that logs to "py.warnings", as logging.captureWarnings(True) installs."""
    text = warnings.formatwarning(message, category, filename, lineno, line)
    if file is not None:  # an explicit file (warnings.showwarning's own contract): write there
        file.write(text)
        return
    logging.getLogger("py.warnings").warning("%s", text)


_previous_showwarning = []  # what configure() replaced, for reset()
_settings = {"verbose": False, "quiet": False}  # the command's -v/-q, for use_lightning()


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
    _settings.update(verbose=verbose, quiet=quiet)
    if lightning:
        import_lightning()
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


def use_lightning() -> None:
    """configure() again with Lightning, keeping the command's -v/-q: for a command that learns from
    its own options that it runs Lightning (`vidzoo embed --devices N`)."""
    configure(**_settings, lightning=True)


def take_verbosity(argv: list[str]) -> tuple[list[str], bool, bool]:
    """(argv without them, verbose, quiet) for the -v/--verbose and -q/--quiet every command takes."""
    verbose = any(a in ("-v", "--verbose") for a in argv)
    quiet = any(a in ("-q", "--quiet") for a in argv)
    if verbose and quiet:
        from vidzoo.errors import VidzooError

        raise VidzooError("-q/--quiet and -v/--verbose contradict each other; give one of them")
    return [a for a in argv if a not in ("-v", "--verbose", "-q", "--quiet")], verbose, quiet
