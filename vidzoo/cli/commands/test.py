"""vidzoo test: multi-view evaluation of a checkpoint, as the zoo tables are measured."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from vidzoo.cli.commands import ArgumentParser
from vidzoo.errors import VidzooError

DESCRIPTION = """Evaluate a checkpoint the way pytorchvideo's and SlowFast's Kinetics tables are measured:
T uniformly spaced clips x S spatial crops per video (10x3 by default), softmax scores averaged
per video. Reports video-level top-1, top-5, mean per-class accuracy and the per-class table,
and writes metrics.json, per_class.csv, predictions.csv and confusion.png into the run
directory (RUN/test-<split>-<views>/). The checkpoint carries the model, its transforms, the
dataset and the class names: only the data location may be changed."""

EPILOG = """examples:
  vidzoo test --checkpoint runs/RUN/checkpoints/best.ckpt                  # 10x3 on the run's val split
  vidzoo test --checkpoint runs/RUN/checkpoints/best.ckpt --views 1x1      # fast single-view check
  vidzoo test --checkpoint best.ckpt --dataset.data_path /data/k400 --json k400-val.json
"""


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="vidzoo test", description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("--checkpoint", required=True, metavar="CKPT", help="a run's checkpoint (or its run directory)")
    p.add_argument("--dataset.data_path", dest="data_path", metavar="DIR",
                   help="test data in the run's dataset format (default: the data the run used)")
    p.add_argument("--split", default="val", help="split to evaluate (default: val)")
    p.add_argument("--views", default="10x3", metavar="TxS",
                   help="clips x spatial crops per video (default 10x3; 1x1 = centre crop of the centre clip)")
    p.add_argument("--json", metavar="FILE", help="also write the metrics as JSON to FILE ('-': stdout)")
    p.add_argument("--output", metavar="DIR", help="where to write the report files (default: RUN/test-<split>-<views>)")
    p.add_argument("--batch-size", type=int, default=32, help="views per forward pass (default 32)")
    p.add_argument("--num-workers", type=int, default=None,
                   help="decoding worker processes (default: the run's --data.num_workers)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ... (default auto)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from vidzoo.evaluation.evaluate import prepare, report_dir
    from vidzoo.evaluation.views import view_options

    views = view_options(args.views, args.batch_size)
    if args.num_workers is not None and args.num_workers < 0:
        raise VidzooError(f"--num-workers must be 0 or more, got {args.num_workers}")
    if args.json and args.json != "-" and Path(args.json).is_dir():
        raise VidzooError(f"--json {args.json} is a folder; give a file name")
    if args.data_path and not Path(args.data_path).expanduser().exists():
        raise VidzooError(f"--dataset.data_path {args.data_path} does not exist")
    evaluation = prepare(args.checkpoint, args.split, None if args.device == "auto" else args.device,
                         data_path=args.data_path)
    out_dir = Path(args.output) if args.output else report_dir(evaluation.predictor.checkpoint, args.split, views)
    if out_dir.exists() and not out_dir.is_dir():
        raise VidzooError(f"--output {out_dir} is a file, not a folder")
    result = evaluation.run(views, args.batch_size, args.num_workers, progress=not args.no_progress)
    _print(result, result.write_reports(out_dir), args.json)
    return 0


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
