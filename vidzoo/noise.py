"""Third-party lines a user cannot act on, and hiding them: one rule for the CLI and the Python API.

``NOISE`` lists them (tips, advertisements, warnings about Lightning's or torch's own internals).
The CLI installs the rule for a whole command (vidzoo.cli.console.configure, `-v` shows
everything); ``hidden()`` applies it around one API call (vidzoo.train, evaluate, export, load;
their ``verbose=True`` shows everything) and puts everything back afterwards, so that a program
using vidzoo keeps its own warning and logging setup. docs/cli.md lists the same lines.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings

# (pattern searched in the message, why it is hidden).
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
    (r"'set_vital' is deprecated",
     "a torch deprecation inside torchdata's StatefulDataLoader (the resumable training loader), "
     "printed with its source line"),
    (r"Your `IterableDataset` has `__len__` defined",
     "Lightning's caution for iterable datasets with workers: litdata's StreamingDataset (--dataset "
     "litdata) shards itself per worker and rank, so its length is exact"),
)
_PATTERNS = tuple(re.compile(p, re.M) for p, _ in NOISE)

# Loggers whose handlers print: Lightning's (it adds its own handlers when imported) and captured warnings.
LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "py.warnings", "vidzoo")


def is_noise(text: str) -> bool:
    return any(p.search(text) for p in _PATTERNS)


class NoiseFilter(logging.Filter):
    """Drops the log records (and captured warnings) whose message matches one of NOISE."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is not ours to judge: show it
            return True
        return not is_noise(message)


def import_lightning() -> None:
    # Lightning adds its handlers when imported: import it first, so that they exist and get the filter.
    try:
        import lightning.pytorch  # noqa: F401
    except ImportError:
        pass


@contextlib.contextmanager
def hidden(verbose: bool = False, lightning: bool = False):
    """While the block runs, the lines NOISE names are not printed (``verbose``: nothing is hidden).

    Warnings go to the ``warnings.showwarning`` in place (the program's, pytest's, or the CLI's),
    less the noisy ones; the printing handlers of Lightning's loggers get a NoiseFilter. Both are
    put back on exit. ``lightning``: the call trains, so Lightning is imported first (its handlers then
    exist and get the filter); inference and export never import it.
    """
    if verbose:
        yield
        return
    if lightning:
        import_lightning()
    filtered = []
    for name in LOGGERS:
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, NoiseFilter) for f in handler.filters):
                noise_filter = NoiseFilter()
                handler.addFilter(noise_filter)
                filtered.append((handler, noise_filter))
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if not is_noise(str(message)):
            previous(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        if warnings.showwarning is show:
            warnings.showwarning = previous
        for handler, noise_filter in filtered:
            handler.removeFilter(noise_filter)
