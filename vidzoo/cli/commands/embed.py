"""vidzoo embed: the features a checkpoint's model computes before its classifier, into a folder."""

from __future__ import annotations

from pathlib import Path

from vidzoo.cli.commands import ArgumentParser, add_model_arguments, open_model, parse_model_args
from vidzoo.errors import VidzooError
from vidzoo.messages import warn

DESCRIPTION = """Write the features a trained model (--checkpoint) or a published one (--model NAME) computes
before its classifier (the head its checkpoint or spec declares) for videos: one row per video (its --views averaged, as predict averages them) or one
per window (--window SECONDS --stride SECONDS). Inputs: video files and folders, or a registered
dataset's split (--dataset NAME --dataset.data_path DIR --split val), whose labels go into the index.
The folder --out gets embeddings.npy (float32, rows x features) and index.csv (path, start, end,
label); numpy and pandas read them directly. A killed run continues where it stopped when the
same command is run again (with any --devices). --devices N runs N processes through Lightning's
predict loop (DDP: each process embeds its share of the videos). Unreadable videos are reported and skipped (exit status 1).
Train a head on the folder: vidzoo run --dataset features --dataset.data_path DIR --backbone linear.
Python: vidzoo.load(CKPT).embed(path)."""

EPILOG = """examples:
  vidzoo embed videos/ --checkpoint runs/RUN/checkpoints/best.ckpt --out feats/videos
  vidzoo embed long.mp4 --checkpoint best.ckpt --out feats/long --window 2 --stride 1
  vidzoo embed videos/ --model x3d_m --out feats/x3d              # a published model's features
  vidzoo embed videos/ --checkpoint best.ckpt --out feats/videos --accelerator gpu --devices 8   # 8 GPUs, DDP
  vidzoo embed videos/ --checkpoint best.ckpt --out feats/videos --accelerator cpu --devices 2   # 2 CPU processes
  vidzoo embed --dataset kinetics --dataset.data_path /data/k400 --split train --checkpoint best.ckpt --out feats/train
  vidzoo embed --dataset kinetics --dataset.data_path /data/k400 --split val --checkpoint best.ckpt \\
      --out feats/val --knn feats/train                 # and the kNN top-1 against the train split
"""


def _add_flags(p, dataset: bool) -> None:
    if dataset:  # jsonargparse (the dataset's options): --backbone.OPTION is taken out before it parses
        p.add_argument("--checkpoint", metavar="CKPT", help="a run's checkpoint (or its run directory)")
        p.add_argument("--model", metavar="NAME[:VARIANT]", help="a published model instead of a checkpoint")
        p.add_argument("--pretrained", metavar="SOURCE", help="with --model: its weights (default: the published ones)")
    else:
        add_model_arguments(p, "a run's checkpoint (or its run directory)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for embeddings.npy and index.csv")
    if dataset:
        p.add_argument("--split", default="val", help="the dataset split to embed (default: val)")
    else:
        p.add_argument("--dataset", metavar="NAME", help="embed a registered dataset's split instead of files "
                       "(with --dataset.data_path DIR --split SPLIT)")
    p.add_argument("--views", default=None, metavar="TxS",
                   help="clips x spatial crops averaged per row (default 5x1 per video, 1x1 per window)")
    p.add_argument("--window", type=float, default=None, metavar="SECONDS", help="one row per window of this length")
    p.add_argument("--stride", type=float, default=None, metavar="SECONDS", help="seconds between windows (default: --window)")
    p.add_argument("--knn", default=None, metavar="DIR", help="then print the kNN top-1 of these embeddings "
                   "against the labelled embeddings in DIR (another split)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="views per forward pass (default: 32 on a GPU; on the CPU as many as make about a "
                        "million input values, 1-2 for Kinetics models, as bigger batches are slower there)")
    p.add_argument("--flush-every", type=int, default=16, metavar="N",
                   help="videos per shard written to disk: at most this many are embedded again after a kill (default 16)")
    p.add_argument("--device", default="auto", help="one device: auto, cpu, cuda, cuda:1, ... (default auto)")
    p.add_argument("--devices", type=int, default=1, metavar="N",
                   help="N processes, one per device, through Lightning's predict loop (default 1: this process)")
    p.add_argument("--accelerator", default="auto", help="with --devices: auto, cpu, gpu, ... (default auto)")
    p.add_argument("--strategy", default=None, help="with --devices: Lightning's strategy (default ddp)")
    p.add_argument("--num-workers", type=int, default=0, metavar="N",
                   help="with --devices: DataLoader workers per process that decode the videos (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="vidzoo embed", description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("inputs", nargs="*", metavar="VIDEO_OR_DIR", help="video files and/or folders of videos")
    _add_flags(p, dataset=False)
    return p


def _dataset_parser(names: dict[str, str]):
    from vidzoo.cli.config import dataset_parser

    p = dataset_parser(names, "vidzoo embed", DESCRIPTION, EPILOG)
    _add_flags(p, dataset=True)
    return p


def main(argv: list[str]) -> int:
    from vidzoo.cli.config import split_argv

    if split_argv(list(argv))[2].get("dataset") is None or any(a in ("-h", "--help") for a in argv):
        args = parse_model_args(parser(), argv)
        if not args.inputs:
            raise VidzooError("give video files or folders, or --dataset NAME --dataset.data_path DIR --split SPLIT")
        from vidzoo.evaluation.embedding_folder import Item
        from vidzoo.evaluation.inference import find_videos

        paths = find_videos(args.inputs)
        if not paths:
            raise VidzooError(f"no video files found in {' '.join(args.inputs)}")
        items, class_names, source = [Item(p) for p in paths], None, {"inputs": list(args.inputs)}
    else:
        args = parse_model_args(_DatasetCommandLine(), argv)
        items, class_names = _dataset_items(args.dataset_name, args.dataset_options, args.split)
        source = {"dataset": args.dataset_name, "options": args.dataset_options, "split": args.split}
    return _embed(args, items, class_names, source)


class _DatasetCommandLine:
    """The dataset form's parser (jsonargparse, with the dataset's options), as parse_model_args calls one."""

    prog = "vidzoo embed"

    def parse_args(self, argv):
        from vidzoo.cli.config import parse_dataset_argv

        args, name, options = parse_dataset_argv(argv, "embed", _dataset_parser,
                                                 "vidzoo embed --dataset kinetics --dataset.data_path DIR --split val")
        args.dataset_name, args.dataset_options = name, options
        return args


def _dataset_items(name: str, options: dict, split: str):
    """The (path, class name) items of a dataset split, and its class names."""
    from vidzoo.evaluation.embedding_folder import Item
    from vidzoo.plugins import get_registry

    dataset = get_registry().get("dataset", name).factory(split, None, **options)
    videos, classes = getattr(dataset, "videos", None), getattr(dataset, "classes", None)
    if not videos or not classes:
        raise VidzooError(f"dataset {name!r} does not list its videos and classes (`videos` of (path, label) pairs "
                          f"and `classes`, as vidzoo.data.clips.ClipDataset has); vidzoo embed needs them")
    return [Item(str(p), classes[int(label)]) for p, label in videos], list(classes)


def _embed(args, items, class_names, source) -> int:
    from vidzoo.evaluation.embedding import check_window, knn_top1
    from vidzoo.evaluation.embedding_folder import embed_to_folder
    from vidzoo.evaluation.views import view_options

    views = view_options(args.views or ("1x1" if args.window else "5x1"), args.batch_size)
    check_window(args.window, args.stride)
    if args.flush_every < 1:
        raise VidzooError(f"--flush-every must be 1 or more, got {args.flush_every}")
    if args.knn and not Path(args.knn).is_dir():
        raise VidzooError(f"--knn {args.knn} is not a folder of embeddings (a `vidzoo embed --out` folder)")
    loop = _predict_loop(args)
    # several devices: built on the CPU, Lightning moves it to each process's device
    predictor = open_model(args, device="cpu" if loop else None if args.device == "auto" else args.device)
    published = None
    if args.model:  # how the head on these features rebuilds the model: its name and weights, not a file
        published = args.pretrained or args.model.partition(":")[2] or "default"
        source = {**source, "model": args.model}
    summary = embed_to_folder(predictor, items, args.out, views, args.window, args.stride, args.batch_size,
                              class_names, source, progress=not args.no_progress,
                              shard_size=args.flush_every, pretrained=published, loop=loop)
    if summary is None:  # another process of --devices N: the first one reports
        return 0
    done = len(items) - len(summary.skipped)
    print(f"{summary.out}: {summary.rows} rows x {summary.dim} features from {done} of {len(items)} videos "
          f"({views[0]}x{views[1]} views{f', {args.window:g}s windows' if args.window else ''})", flush=True)
    if args.knn:
        print(f"kNN top-1 (k=5, cosine) against {args.knn}: {100 * knn_top1(args.out, args.knn):.2f}%")
    if summary.skipped:
        warn(f"vidzoo embed: {done} of {len(items)} videos embedded, {len(summary.skipped)} skipped "
             f"(listed in {Path(summary.out) / 'progress.json'})")
    return 1 if summary.skipped else 0


def _predict_loop(args):
    """--devices N (N > 1): the Lightning predict loop that runs the N processes; None for one."""
    if args.devices < 1:
        raise VidzooError(f"--devices must be 1 or more, got {args.devices}")
    if args.num_workers < 0:
        raise VidzooError(f"--num-workers must be 0 or more, got {args.num_workers}")
    if args.devices == 1:
        return None
    if args.device != "auto":
        raise VidzooError(f"--device {args.device} picks one device; with --devices {args.devices} choose them "
                          f"with --accelerator (cpu, gpu, ...)")
    from vidzoo.cli import console
    from vidzoo.training.predicting import PredictLoop

    console.use_lightning()
    return PredictLoop(args.devices, args.accelerator, args.strategy, args.num_workers, progress=not args.no_progress)
