"""vidzoo predict: top-k classes of videos with a trained checkpoint or a published model."""

from __future__ import annotations

import json

from vidzoo.cli.commands import ArgumentParser, add_model_arguments, open_model, parse_model_args
from vidzoo.cli.commands import predict_timeline as _timeline
from vidzoo.errors import VidzooError
from vidzoo.messages import warn

DESCRIPTION = """Label videos with a trained checkpoint or a published model (--model NAME: its published
weights, class names and evaluation recipe; see docs/models.md): for each video, the top-k
class names with their probabilities, averaged over T clips uniformly spaced over the whole video x S spatial crops
(--views, default 5x1), so videos of any length work. Folders are walked for video files.
A file that cannot be read is reported on stderr and skipped; the others are still predicted
(exit status 1 when any was skipped). Python: vidzoo.load(CKPT or NAME).predict(path)."""

EPILOG = """examples:
  vidzoo predict clip.mp4 --checkpoint runs/RUN/checkpoints/best.ckpt
  vidzoo predict videos/ more.mp4 --checkpoint best.ckpt --top-k 3 --json > predictions.json
  vidzoo predict clip.mp4 --checkpoint best.ckpt --views 10x3          # as `vidzoo test` measures
  vidzoo predict clip.mp4 --model x3d_m                                # Kinetics-400 labels, published weights
  vidzoo predict clip.mp4 --model r3d_18 --pretrained r3d_18-b3b3357e.pth --top-k 5
""" + _timeline.EPILOG


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="vidzoo predict", description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("inputs", nargs="+", metavar="VIDEO_OR_DIR", help="video files and/or folders of videos")
    add_model_arguments(p, "a run's checkpoint (or its run directory)")
    p.add_argument("--top-k", type=int, default=5, help="classes shown per video (default 5)")
    p.add_argument("--views", default="5x1", metavar="TxS", help="clips x spatial crops per video (default 5x1)")
    p.add_argument("--json", action="store_true", help="print JSON (one document) instead of text")
    p.add_argument("--batch-size", type=int, default=None,
                   help="views (a timeline's windows) per forward pass (default: 32 on a GPU; on the CPU as "
                        "many as make about a million input values, 1-2 for Kinetics models, as bigger "
                        "batches are slower there)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ... (default auto)")
    _timeline.add_options(p)
    return p


def main(argv: list[str]) -> int:
    p = parser()
    args = parse_model_args(p, argv)
    device = None if args.device == "auto" else args.device
    if args.timeline:
        return _timeline.main(args, lambda: open_model(args, device=device))
    used = _timeline.timeline_options_used(args)
    if used:
        raise VidzooError(f"{', '.join(used)}: only with --timeline")
    from vidzoo.evaluation.inference import find_videos
    from vidzoo.evaluation.views import view_options

    views = view_options(args.views, args.batch_size)
    if args.top_k < 1:
        raise VidzooError(f"--top-k must be 1 or more, got {args.top_k}")
    paths = find_videos(args.inputs)
    if not paths:
        raise VidzooError(f"no video files found in {' '.join(args.inputs)}")

    predictor = open_model(args, device=device)
    results, failed = [], 0
    for path in paths:
        try:
            pred = predictor.predict(path, top_k=args.top_k, views=views, batch_size=args.batch_size)
        except VidzooError as exc:
            failed += 1
            warn(f"vidzoo predict: skipped {exc}")
            results.append({"path": path, "error": str(exc)})
            continue
        results.append(pred.as_dict())
        if not args.json:
            print(format_prediction(pred), flush=True)
    if args.json:
        print(json.dumps({**({"model": args.model} if args.model else {}), "checkpoint": predictor.checkpoint, "views": f"{views[0]}x{views[1]}",
                          "results": results}, indent=2))
    if failed:
        warn(f"vidzoo predict: {len(paths) - failed} of {len(paths)} videos predicted, {failed} skipped")
    return 1 if failed else 0


def format_prediction(pred) -> str:
    width = max(len(c) for c, _ in pred.top)
    lines = [f"{pred.path}  ({pred.views} views)"]
    lines += [f"  {c:<{width}}  {100 * p:6.2f}%" for c, p in pred.top]
    return "\n".join(lines)
