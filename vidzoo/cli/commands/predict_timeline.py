"""`vidzoo predict --timeline`: the options and output of timelines (vidzoo.evaluation.timeline), kept
apart from predict.py's top-k path."""

from __future__ import annotations

import json
import sys

from vidzoo.errors import VidzooError
from vidzoo.messages import warn

EPILOG = """  vidzoo predict long.mp4 --checkpoint best.ckpt --timeline --window 2 --stride 1 --plot long.png
  vidzoo predict long.mp4 --checkpoint best.ckpt --timeline --smooth 3 --min-segment 4 --json > timeline.json
  vidzoo predict rtsp://camera/stream --checkpoint best.ckpt --timeline --output seen.json   # Ctrl-C ends it
"""


def add_options(p) -> None:
    g = p.add_argument_group("timelines (--timeline; see docs/predict.md)")
    g.add_argument("--timeline", action="store_true",
                   help="top-k over time and segments, instead of one top-k per video; inputs may also be "
                        "live URLs (rtsp://, http:// MPEG-TS, udp://) or a capture device (/dev/video0)")
    g.add_argument("--window", type=float, default=None, metavar="SECONDS",
                   help="seconds per window (default: the run's clip duration)")
    g.add_argument("--stride", type=float, default=None, metavar="SECONDS",
                   help="seconds between window starts (default: half a window)")
    g.add_argument("--smooth", type=int, default=1, metavar="N",
                   help="average the probabilities over N windows (centred) before labelling (default 1: none)")
    g.add_argument("--min-segment", type=float, default=0.0, metavar="SECONDS",
                   help="shorter runs of a label join the segment before them (default 0)")
    g.add_argument("--csv", action="store_true", help="print the windows' top-k as CSV instead of text")
    g.add_argument("--output", default=None, metavar="FILE.json|FILE.csv",
                   help="also write the timeline(s) to this file (JSON or CSV by its suffix), "
                        "also when Ctrl-C ends a live stream")
    g.add_argument("--plot", default=None, metavar="FILE.png", help="write a PNG strip of the labels over time (one input)")


def timeline_options_used(args) -> list[str]:
    used = [flag for flag, value, default in (("--window", args.window, None), ("--stride", args.stride, None),
                                              ("--smooth", args.smooth, 1), ("--min-segment", args.min_segment, 0.0),
                                              ("--csv", args.csv, False), ("--output", args.output, None),
                                              ("--plot", args.plot, None)) if value != default]
    return used


def main(args, load_predictor) -> int:
    from vidzoo.evaluation.inference import find_videos
    from vidzoo.evaluation.timeline import check_options, format_segment, is_live

    check_options(args.window, args.stride, args.smooth, args.min_segment, args.top_k)
    if args.batch_size is not None and args.batch_size < 1:
        raise VidzooError(f"--batch-size must be 1 or more, got {args.batch_size}")
    if args.json and args.csv:
        raise VidzooError("--json and --csv both print the timeline; pick one (and --output FILE for the other)")
    if args.output and not args.output.lower().endswith((".json", ".csv")):
        raise VidzooError(f"--output must end in .json or .csv, got {args.output}")
    if args.plot and not args.plot.lower().endswith(".png"):
        raise VidzooError(f"--plot must end in .png, got {args.plot}")
    sources = []
    for item in args.inputs:
        sources += [item] if is_live(item) else find_videos([item])
    if not sources:
        raise VidzooError(f"no video files found in {' '.join(args.inputs)}")
    if args.plot and len(sources) > 1:
        raise VidzooError(f"--plot draws one timeline; give one video, not {len(sources)}")
    predictor = load_predictor()
    text = not (args.json or args.csv)
    live_out = sys.stdout if text else sys.stderr  # JSON/CSV on stdout stay one document

    def on_segment(seg, latency):
        print(format_segment(seg, latency), file=live_out, flush=True)

    timelines, failed, interrupted = [], 0, False
    for source in sources:
        live = is_live(source)
        if text or live:
            window = args.window or predictor.clip_duration
            print(f"{source}  (windows of {window:g} s every {args.stride or window / 2:g} s"
                  f"{', live' if live else ''})", file=live_out, flush=True)
        try:
            tl = predictor.timeline(source, window=args.window, stride=args.stride, smooth=args.smooth,
                                    min_segment=args.min_segment, top_k=args.top_k, batch_size=args.batch_size,
                                    on_segment=on_segment if (text or live) else None)
        except VidzooError as exc:
            failed += 1
            warn(f"vidzoo predict: skipped {exc}")
            timelines.append({"path": source, "error": str(exc)})
            continue
        timelines.append(tl)
        if text or live:
            print(f"  {len(tl.windows)} windows, {len(tl.segments)} segments, {tl.duration:.1f} s read"
                  + (" (stopped)" if tl.interrupted else ""), file=live_out, flush=True)
        if tl.interrupted and live:
            interrupted = True
            break
    doc = {"checkpoint": predictor.checkpoint, "results": [t if isinstance(t, dict) else t.as_dict() for t in timelines]}
    done = [t for t in timelines if not isinstance(t, dict)]
    if args.json:
        print(json.dumps(doc, indent=2))
    elif args.csv:
        sys.stdout.write(_csv(done))
    if args.output:
        with open(args.output, "w") as f:
            f.write(json.dumps(doc, indent=2) + "\n" if args.output.lower().endswith(".json") else _csv(done))
    if args.plot and done:
        done[0].plot(args.plot, predictor.class_names)
    if interrupted:
        wrote = " and ".join(x for x in (args.output, args.plot) if x)
        warn("vidzoo predict: stopped by Ctrl-C; what was seen is above" + (f" and in {wrote}" if wrote else ""))
    if failed:
        warn(f"vidzoo predict: {len(sources) - failed} of {len(sources)} sources read, {failed} skipped")
    return 1 if failed else 0


def _csv(timelines) -> str:
    parts = [t.to_csv() for t in timelines]
    return parts[0] + "".join(p.split("\n", 1)[1] for p in parts[1:]) if parts else ""
