"""vidzoo run: train and validate a model assembled from registry names."""

from __future__ import annotations

import os
import sys
from pathlib import Path


DESCRIPTION = """Train and validate: dataset, transform and backbone by registry name, their options
as --dataset.<opt>, --transform.<opt>, --backbone.<opt>; Lightning Trainer options as
--trainer.<arg>. Config files (--config) take the same keys; --print-config prints the
resolved config, which --config accepts back. Add --dataset NAME --backbone NAME before
--help to see the options of those plugins. --resume [RUN_DIR | CKPT] continues a killed
or finished run (the latest under --output when no path is given) from its last checkpoint,
with its config.yaml; flags given with it override that config. -v/--verbose also shows the
third-party tips and internal warnings a run hides (docs/cli.md lists them); -q/--quiet shows
warnings and errors only. At the end: a
results table, and curves.png (loss and top-1 per epoch) in the run directory."""

EPILOG = """examples:
  vidzoo run --dataset kinetics --backbone resnet3d50
  vidzoo run --dataset kinetics --backbone resnet3d50 --dataset.data_path /data/k400 \\
      --trainer.accelerator gpu --trainer.devices 8 --trainer.strategy ddp --trainer.precision 16-mixed
  vidzoo run --dataset kinetics --backbone resnet3d50 -v --trainer.logger tensorboard
  vidzoo run --dataset kinetics --backbone resnet3d50 --print-config > run.yaml
  vidzoo run --config run.yaml --trainer.max_epochs 2
  vidzoo run --resume                                   # the latest run under ./runs, from last.ckpt
  vidzoo run --resume runs/20260101-120000-kinetics-resnet3d50 --trainer.max_epochs 20
"""

def main(argv: list[str]) -> int:
    from vidzoo.cli import config as cli_config

    # -q/-v: taken by the `vidzoo` dispatcher (vidzoo.cli), which configured the console for them.
    print_config = "--print-config" in argv
    argv = [a for a in argv if a != "--print-config"]
    argv, run_dir, resume_ckpt = _resume(argv)
    config = cli_config.resolve(argv, DESCRIPTION, EPILOG)
    if print_config:
        import yaml

        print(yaml.safe_dump(config.to_dict(), sort_keys=False), end="")
        return 0
    return train(config, resume_ckpt, run_dir)


def _resume(argv: list[str]) -> tuple[list[str], Path | None, Path | None]:
    """Handle ``--resume [RUN_DIR | CKPT]``: the run's config.yaml goes first (flags still override);
    (argv, run directory, checkpoint)."""
    from vidzoo.training import checkpoint as ckpt_mod
    from vidzoo.training.runner import RUN_DIR_ENV

    rest, resume = [], None
    i = 0
    while i < len(argv):
        key, eq, value = argv[i].partition("=")
        if key == "--resume":
            if not eq and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                value = argv[i + 1]
                i += 1
            resume = value
        else:
            rest.append(argv[i])
        i += 1
    if resume is None:
        return argv, None, None
    output = next((rest[j + 1] for j, a in enumerate(rest[:-1]) if a == "--output"), None)
    output = output or next((a.split("=", 1)[1] for a in rest if a.startswith("--output=")), "runs")
    shared = os.environ.get(RUN_DIR_ENV)  # a DDP child process: the parent already chose the run
    if shared and not Path(resume).is_file():
        resume = shared
    run_dir, ckpt = ckpt_mod.find_resume(resume, output)
    ckpt_mod.checkpoint_epoch(ckpt)  # refuses an unsafe or damaged file before anything else
    return ["--config", str(run_dir / "config.yaml"), *rest], run_dir, (ckpt or run_dir / "checkpoints" / "last.ckpt")


def train(config, resume_ckpt: Path | None = None, run_dir: Path | None = None) -> int:
    from vidzoo.training.preemption import RunStopped
    from vidzoo.training.runner import fit

    try:
        result = fit(config, resume_ckpt, run_dir)
    except RunStopped as stop:  # a signal: one line naming the checkpoint and the command that goes on
        if getattr(stop, "rank", 0) == 0:
            print(stop, file=sys.stderr, flush=True)
        return stop.exit_code
    if result.rank == 0:
        summary = ", ".join(f"{k} {result.metrics[k]:.4f}" for k in ("val/top1", "val/top5", "val/loss")
                            if k in result.metrics)
        print(f"\nfinished {result.epochs} epochs: {summary}")
        for line in result.notes:
            print(line)
        from vidzoo.training.run_summary import read_epochs, results_table

        epochs = read_epochs(result.run_dir / "logs" / "metrics.csv")
        print(results_table(epochs, result.seconds, str(result.best_checkpoint or ""),
                            str(result.last_checkpoint or ""), str(result.curves) if result.curves else None))
        print(f"run directory: {result.run_dir}")
    return 0
