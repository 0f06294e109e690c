"""`--trainer.logger`: where a run's metrics go, besides the CSV vidzoo always keeps.

``logs/metrics.csv`` is always written: the end-of-run table, ``curves.png`` and ``--resume``
read it. ``tensorboard`` adds TensorBoard event files under ``logs/tensorboard/``
(``tensorboard --logdir runs``), through Lightning's TensorBoardLogger.
"""

from __future__ import annotations

from pathlib import Path

from vidzoo.errors import VidzooError

CHOICES = ("csv", "tensorboard")
HELP = ("where metrics go: csv (RUN/logs/metrics.csv, always written) or tensorboard (also "
        "TensorBoard event files in RUN/logs/tensorboard; needs `pip install 'vidzoo[tensorboard]'`); "
        "comma-separated for several")


def parse(spec: str | None) -> list[str]:
    """The logger names of a --trainer.logger value, csv first; a one-line error for unknown ones."""
    names = [n.strip().lower() for n in str(spec or "csv").split(",") if n.strip()]
    unknown = [n for n in names if n not in CHOICES]
    if unknown:
        raise VidzooError(f"--trainer.logger {unknown[0]!r} is not a logger vidzoo knows; choose from "
                          f"{', '.join(CHOICES)} (comma-separated for several)")
    if "tensorboard" in names:
        from lightning.fabric.loggers.tensorboard import _TENSORBOARD_AVAILABLE, _TENSORBOARDX_AVAILABLE

        if not (_TENSORBOARD_AVAILABLE or _TENSORBOARDX_AVAILABLE):
            raise VidzooError("--trainer.logger tensorboard needs the tensorboard package: "
                              "pip install 'vidzoo[tensorboard]' (or use --trainer.logger csv)")
    return ["csv"] + [n for n in dict.fromkeys(names) if n != "csv"]


def build(spec: str | None, run_dir: str | Path) -> list:
    """Lightning loggers for a run directory (nothing is written until training logs)."""
    from vidzoo.training.checkpoint_io import ResumableCSVLogger

    loggers = []
    for name in parse(spec):
        if name == "csv":
            loggers.append(ResumableCSVLogger(str(run_dir), name="", version="logs"))
        else:
            from lightning.pytorch.loggers import TensorBoardLogger

            # default_hp_metric=False: no placeholder hp_metric scalar of -1 beside the real metrics.
            loggers.append(TensorBoardLogger(str(Path(run_dir) / "logs"), name="", version="tensorboard",
                                             default_hp_metric=False))
    return loggers
