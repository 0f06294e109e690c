"""vidzoo test: multi-view evaluation of a checkpoint or a published model, as the zoo tables are measured."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from vidzoo.cli.commands import ArgumentParser, add_model_arguments, parse_model_args
from vidzoo.errors import VidzooError

DESCRIPTION = """Evaluate a checkpoint the way pytorchvideo's and SlowFast's Kinetics tables are measured:
T uniformly spaced clips x S spatial crops per video (10x3 by default), softmax scores averaged
per video. Reports video-level top-1, top-5, mean per-class accuracy and the per-class table,
and writes metrics.json, per_class.csv, predictions.csv and confusion.png into the run
directory (RUN/test-<split>-<views>/). The checkpoint carries the model, its transforms, the
dataset and the class names: only the data location may be changed. With --model NAME (a
published model: its weights, class names and the evaluation recipe and views of its published
figure; docs/models.md) name the dataset: --dataset kinetics --dataset.data_path K400."""

EPILOG = """examples:
  vidzoo test --checkpoint runs/RUN/checkpoints/best.ckpt                  # 10x3 on the run's val split
  vidzoo test --checkpoint runs/RUN/checkpoints/best.ckpt --views 1x1      # fast single-view check
  vidzoo test --checkpoint best.ckpt --dataset.data_path /data/k400 --json k400-val.json
  vidzoo test --model x3d_m --dataset kinetics --dataset.data_path /data/k400   # its published figure
"""


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="vidzoo test", description=DESCRIPTION, epilog=EPILOG)
    add_model_arguments(p, "a run's checkpoint (or its run directory)")
    p.add_argument("--dataset", metavar="NAME", help="registered dataset to test on (needed with --model; "
                                                     "default: the checkpoint's)")
    p.add_argument("--dataset.data_path", dest="data_path", metavar="DIR",
                   help="test data in the run's dataset format (default: the data the run used)")
    p.add_argument("--split", default="val", help="split to evaluate (default: val)")
    p.add_argument("--views", default=None, metavar="TxS",
                   help="clips x spatial crops per video (default 10x3, or with --model the views of its published "
                        "figure; 1x1 = centre crop of the centre clip)")
    p.add_argument("--json", metavar="FILE", help="also write the metrics as JSON to FILE ('-': stdout)")
    p.add_argument("--output", metavar="DIR", help="where to write the report files (default: RUN/test-<split>-<views>, "
                                                   "with --model ./test-<model>-<split>-<views>)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="views per forward pass (default: 32 on a GPU; on the CPU as many as make about a "
                        "million input values, 1-2 for Kinetics models, as bigger batches are slower there)")
    p.add_argument("--num-workers", type=int, default=None,
                   help="decoding worker processes (default: the run's --data.num_workers)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ... (default auto)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str]) -> int:
    args = parse_model_args(parser(), argv)
    from vidzoo.evaluation.evaluate import prepare, report_dir
    from vidzoo.evaluation.views import view_options

    views = view_options(args.views or published_views(args.model) or "10x3", args.batch_size)
    if args.num_workers is not None and args.num_workers < 0:
        raise VidzooError(f"--num-workers must be 0 or more, got {args.num_workers}")
    if args.json and args.json != "-" and Path(args.json).is_dir():
        raise VidzooError(f"--json {args.json} is a folder; give a file name")
    if args.data_path and not Path(args.data_path).expanduser().exists():
        raise VidzooError(f"--dataset.data_path {args.data_path} does not exist")
    evaluation = prepare(args.model_ref, args.split, None if args.device == "auto" else args.device,
                         pretrained=args.pretrained, backbone_options=args.backbone_options, dataset=args.dataset,
                         data_path=args.data_path)
    if args.output:
        out_dir = Path(args.output)
    elif args.model:
        out_dir = Path(f"test-{args.model.replace(':', '-')}-{args.split}-{views[0]}x{views[1]}")
    else:
        out_dir = report_dir(evaluation.predictor.checkpoint, args.split, views)
    if out_dir.exists() and not out_dir.is_dir():
        raise VidzooError(f"--output {out_dir} is a file, not a folder")
    result = evaluation.run(views, args.batch_size, args.num_workers, progress=not args.no_progress)
    _print(result, result.write_reports(out_dir), args.json)
    return 0


def published_views(model: str | None) -> str | None:
    """The views a published model's figure was measured with (its spec's recipe), if it says."""
    if not model:
        return None
    from vidzoo.plugins import get_registry

    return get_registry().get("backbone", model.partition(":")[0]).spec.input.views


def _print(result, out_dir: Path, json_to: str | None) -> None:
    from vidzoo.evaluation.evaluate import format_report, write_json

    text = format_report(result.metrics, out_dir)
    if json_to == "-":
        print(text, file=sys.stderr)
        print(json.dumps(result.metrics, indent=2))
    else:
        print(text)
        if json_to:
            write_json(Path(json_to), result.metrics)
