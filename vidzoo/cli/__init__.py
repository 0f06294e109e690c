"""The `vidzoo` command: dispatches to vidzoo.cli.commands.* (imported lazily, so --help is instant)."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "run": ("vidzoo.cli.commands.run", "train and validate a model (the main job)"),
    "test": ("vidzoo.cli.commands.test", "multi-view evaluation of a checkpoint (10x3 views, per-class, confusion)"),
    "predict": ("vidzoo.cli.commands.predict", "top-k classes of videos (files or folders) with a checkpoint"),
    "embed": ("vidzoo.cli.commands.embed", "features before the classifier, per video or window, into a folder"),
    "export": ("vidzoo.cli.commands.export", "export a checkpoint to TorchScript or ONNX, with its metadata"),
    "serve": ("vidzoo.cli.commands.serve", "serve a checkpoint or ONNX file over HTTP (LitServe): POST /predict"),
    "list": ("vidzoo.cli.commands.list_", "list registered datasets, transforms and backbones"),
    "plugins": ("vidzoo.cli.commands.plugins", "list installed plugin packages and what they registered"),
    "new-plugin": ("vidzoo.cli.commands.new_plugin", "write a ready plugin package (entry point, registration, tests)"),
    "demo-data": ("vidzoo.cli.commands.demo_data", "write the built-in Kinetics-format demo sample"),
    "check-data": ("vidzoo.cli.commands.check_data", "find unreadable videos, report class balance, write clean lists"),
    "prepare": ("vidzoo.cli.commands.prepare", "re-encode a dataset once into a copy that trains fast (short GOP, 256 px)"),
    "bench": ("vidzoo.cli.commands.bench", "measure data loading and training speed; name the bottleneck"),
}

USAGE = """usage: vidzoo COMMAND [ARGS]

vidzoo: a plugin-style model zoo for video classification.

commands:
{commands}

examples:
  vidzoo run --dataset kinetics --backbone resnet3d50          # demo sample, CPU
  vidzoo run --dataset kinetics --backbone resnet3d50 --dataset.data_path /data/k400 \\
      --trainer.accelerator gpu --trainer.devices 8 --trainer.strategy ddp
  vidzoo list 'x3d*'
  vidzoo COMMAND --help                                       # options of one command

every command also takes -q/--quiet (warnings and errors only) and -v/--verbose (debug
messages, and the third-party lines a command hides)
"""


def usage() -> str:
    width = max(len(c) for c in COMMANDS)
    lines = "\n".join(f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items())
    return USAGE.format(commands=lines)


def main(argv: list[str] | None = None) -> int:
    from vidzoo.cli import console
    from vidzoo.errors import VidzooError

    argv = list(sys.argv[1:] if argv is None else argv)
    try:  # -q/-v go before or after the command's name
        argv, verbose, quiet = console.take_verbosity(argv)
    except VidzooError as exc:
        print(f"vidzoo: error: {exc}", file=sys.stderr)
        return 2
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] == "--version":
        from vidzoo._version import __version__

        print(f"vidzoo {__version__}")
        return 0
    name = argv[0]
    if name not in COMMANDS:
        import difflib

        close = difflib.get_close_matches(name, list(COMMANDS), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        print(f"vidzoo: error: unknown command {name!r}; {hint}`vidzoo --help` lists the commands", file=sys.stderr)
        return 2
    try:
        # Lightning is imported first, so that its handlers get the noise filter, by the commands that use it.
        console.configure(verbose=verbose, quiet=quiet, lightning=name == "run")  # embed --devices N: use_lightning()
        module = importlib.import_module(COMMANDS[name][0])
        return module.main(argv[1:]) or 0
    except VidzooError as exc:
        print(f"vidzoo {name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"vidzoo {name}: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:  # a command's argparse --help (0) or usage error: main() returns its code
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2


def entry() -> None:
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # `vidzoo list | head`: the reader left early. Python's documented recipe: no traceback,
        # and stdout pointed at devnull so that the flush at exit does not fail again.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    sys.exit(code)
