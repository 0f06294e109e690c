"""vidzoo demo-data: write the built-in Kinetics-format demo sample."""

from __future__ import annotations

from pathlib import Path

from vidzoo.cli.commands import ArgumentParser
from vidzoo.errors import VidzooError

EXAMPLES = """example:
  vidzoo demo-data ./demo && vidzoo run --dataset kinetics --backbone resnet3d50 --dataset.data_path ./demo
"""


def main(argv: list[str]) -> int:
    p = ArgumentParser(prog="vidzoo demo-data", epilog=EXAMPLES,
                                description="Write the demo sample (real H.264 mp4, DIR/{train,val}/<class>/*.mp4).")
    p.add_argument("dir", help="folder to write (must not exist or be empty)")
    p.add_argument("--seed", type=int, default=0, help="content seed (default 0, the cached demo's)")
    from vidzoo.data import demo  # light: numpy and av are imported when videos are written

    p.add_argument("--train-per-class", type=int, default=demo.TRAIN_PER_CLASS)
    p.add_argument("--val-per-class", type=int, default=demo.VAL_PER_CLASS)
    args = p.parse_args(argv)
    root = Path(args.dir)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise VidzooError(f"{root} exists and is not an empty folder; choose a new folder")
    if min(args.train_per_class, args.val_per_class) <= 0:
        raise VidzooError("--train-per-class and --val-per-class must be positive")
    from vidzoo.data.demo import CLASSES, write_demo

    write_demo(root, seed=args.seed, train_per_class=args.train_per_class, val_per_class=args.val_per_class,
               progress=True)
    n = len(CLASSES) * (args.train_per_class + args.val_per_class)
    print(f"wrote {n} videos in {len(CLASSES)} classes to {root}")
    return 0
