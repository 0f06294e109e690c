"""vidzoo bench: measure your own data pipeline and model, and say which one is the bottleneck."""

from __future__ import annotations

import json
from pathlib import Path

from vidzoo.cli.commands import ArgumentParser
from vidzoo.errors import VidzooError

USAGE = """usage: vidzoo bench {data,train} [OPTIONS]

Measure throughput on this machine.
  data   clips/s of one worker (one core) for each stage of a sample of your dataset:
         decoding alone (the decoder's limit), the reader, the whole sample with its
         transform; and a training step of the backbone; then which stage is the
         bottleneck and how many DataLoader workers keep the model fed.
  train  clips/s of vidzoo's Lightning task vs a plain PyTorch loop on the same model
         and batches (the framework's overhead), plus channels_last_3d.

examples:
  vidzoo bench data --dataset kinetics --dataset.data_path /data/k400
  vidzoo bench data --dataset kinetics --backbone resnet3d50 --split val --clips 50 --json bench.json
  vidzoo bench train --backbone resnet3d50 --batch-shape 4x3x8x64x64 --steps 5

`vidzoo bench data --help` and `vidzoo bench train --help` list the options.
"""

DATA_EPILOG = """Dataset, transform and backbone options are those of `vidzoo run` (--dataset.<opt>,
--transform.<opt>, --backbone.<opt>, --data.batch_size, --data.num_workers);
`vidzoo run --dataset D --backbone B --help` lists them.

examples:
  vidzoo bench data --dataset kinetics --dataset.data_path /data/k400
  vidzoo bench data --dataset kinetics --dataset.data_path /data/k400 --device cuda --data.num_workers 8
  vidzoo bench data --dataset kinetics --no-model --clips 100 --json data.json
"""

TRAIN_EPILOG = """examples:
  vidzoo bench train --backbone resnet3d50 --batch-shape 4x3x8x64x64 --steps 5
  vidzoo bench train --backbone resnet3d50 --batch-shape 8x3x8x224x224 --compile    # on a GPU
"""


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    sub, rest = argv[0], argv[1:]
    if sub == "data":
        return bench_data(rest)
    if sub == "train":
        return bench_train(rest)
    raise VidzooError(f"unknown benchmark {sub!r}; choose data or train (`vidzoo bench --help`)")


def _data_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="vidzoo bench data", description=USAGE.split("\n\n")[1],
                                     epilog=DATA_EPILOG)
    parser.add_argument("--dataset", required=True, help="registered dataset name (`vidzoo list --kind dataset`)")
    parser.add_argument("--backbone", default="resnet3d50", help="backbone whose training step is compared (default resnet3d50)")
    parser.add_argument("--split", default="train", help="split to read (default train: random clips and scales)")
    parser.add_argument("--clips", type=int, default=24, help="clips timed per stage (default 24)")
    parser.add_argument("--no-model", action="store_true", help="skip the model step (data stages only)")
    parser.add_argument("--model-steps", type=int, default=2, help="timed training steps of the model (default 2)")
    parser.add_argument("--device", default=None, help="device for the model step (default: cuda if available, else cpu)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    return parser


def bench_data(argv: list[str]) -> int:
    parser = _data_parser()
    if any(a in ("-h", "--help") for a in argv):
        parser.print_help()
        return 0
    args, rest = parser.parse_known_args(argv)  # bad flags: ArgumentParser's one-line error
    if args.clips <= 0:
        raise VidzooError(f"--clips must be positive, got {args.clips}")
    if args.json is not None and args.json.parent and not args.json.parent.exists():
        raise VidzooError(f"--json {args.json}: folder {args.json.parent} does not exist")
    import torch

    from vidzoo.training import benchmarking
    from vidzoo.cli.config import resolve
    from vidzoo.data.datamodule import build_dataset
    from vidzoo.plugins import get_registry

    d = resolve(["--dataset", args.dataset, "--backbone", args.backbone, *rest]).to_dict()
    opts = lambda section: {k: v for k, v in d[section].items() if k != "name"}  # noqa: E731
    dataset = build_dataset(d["dataset"]["name"], opts("dataset"), args.split, d["transform"]["name"], opts("transform"))
    if len(dataset) == 0:
        raise VidzooError(f"the {args.split} split of {args.dataset!r} is empty")
    from vidzoo.data.workers import resolve_num_workers

    workers = max(1, resolve_num_workers(d["data"]["num_workers"])[0])
    print(f"vidzoo bench data: {args.dataset} ({args.split}, {len(dataset)} items), transform {d['transform']['name']}, "
          f"one worker = one core (1 torch thread, 1 decoder thread), {args.clips} clips per stage", flush=True)
    if hasattr(dataset, "clip_times") and hasattr(dataset, "videos"):
        rates = benchmarking.measure_data(dataset, args.clips)
    else:  # a dataset that is not a ClipDataset: only whole samples can be timed
        benchmarking.single_core()
        rates = {"sample": benchmarking.timed("whole sample", lambda i: dataset[i % len(dataset)],
                                              range(args.clips + 2))}
    from vidzoo.data.decode_plan import available_cpus

    torch.set_num_threads(available_cpus())  # the model step uses the whole machine, as training does
    sample = dataset[0]
    video = sample["video"]
    model_rate = None
    if not args.no_model:
        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        model = get_registry().get("backbone", d["backbone"]["name"]).factory(
            num_classes=len(dataset.classes), **opts("backbone"))
        shape = (d["data"]["batch_size"], *tuple(video.shape))
        model_rate = benchmarking.measure_model(model, shape, steps=args.model_steps, device=device)
        model_rate.name = f"{d['backbone']['name']} train step ({device}, batch {'x'.join(map(str, shape))})"
    rows = [[r.name, r.clips_per_s, 1000 * r.wall_s / r.clips, r.clips_per_cpu_s] for r in rates.values()]
    if model_rate is not None:
        rows.append([model_rate.name, model_rate.clips_per_s, 1000 * model_rate.wall_s / model_rate.clips,
                     model_rate.clips_per_cpu_s])
    print(benchmarking.table(rows, ["stage", "clips/s", "ms/clip", "clips/CPU-s"]))
    lines = benchmarking.verdict(rates, model_rate, workers)
    for line in lines:
        print(line)
    if args.json is not None:
        args.json.write_text(json.dumps({
            "dataset": args.dataset, "split": args.split, "workers": workers,
            "stages": {k: r.as_dict() for k, r in rates.items()},
            "model": model_rate.as_dict() if model_rate else None, "verdict": lines,
        }, indent=2))
    return 0


def bench_train(argv: list[str]) -> int:
    parser = ArgumentParser(prog="vidzoo bench train", description=USAGE.split("\n\n")[1],
                                     epilog=TRAIN_EPILOG)
    parser.add_argument("--backbone", default="resnet3d50")
    parser.add_argument("--batch-shape", default="4x3x8x64x64", help="BxCxTxHxW of the random clips")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per arm (after 2 warm-up steps)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds; the best of each arm counts")
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile (slow to compile on CPU)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    try:
        shape = tuple(int(v) for v in args.batch_shape.lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) != 5 or min(shape) <= 0:
        raise VidzooError(f"--batch-shape must be BxCxTxHxW positive integers, e.g. 4x3x8x64x64, not {args.batch_shape!r}")
    if args.steps <= 0 or args.rounds <= 0:
        raise VidzooError("--steps and --rounds must be positive")
    from vidzoo.plugins import get_registry

    get_registry().get("backbone", args.backbone)  # unknown names: one line with close matches
    from vidzoo.training import benchmarking

    arms = [("plain PyTorch loop", benchmarking.train_plain, {}), ("vidzoo Lightning task", benchmarking.train_lightning, {}),
            ("vidzoo + channels_last_3d", benchmarking.train_lightning, {"channels_last_3d": True})]
    if args.compile:
        arms.append(("vidzoo + torch.compile", benchmarking.train_lightning, {"compile": True}))
    import torch

    if not torch.cuda.is_available():
        torch.set_num_threads(1)  # steadier on a shared CPU; the framework's per-step cost is the same
    best: dict[str, float] = {}
    best_cpu: dict[str, float] = {}
    for r in range(args.rounds):
        for name, fn, perf in (arms if r % 2 == 0 else arms[::-1]):
            if perf.get("compile") and r > 0:
                continue
            rate = fn(args.backbone, shape, args.steps, warmup=3 if perf.get("compile") else 2, perf=perf)
            best[name] = max(best.get(name, 0.0), shape[0] / rate.median_step_s)  # median step: steadier
            best_cpu[name] = max(best_cpu.get(name, 0.0), rate.clips_per_cpu_s)
            print(f"  round {r}: {name:28s} {shape[0] / rate.median_step_s:.2f} clips/s (median step)", flush=True)
    plain, plain_cpu = best["plain PyTorch loop"], best_cpu["plain PyTorch loop"]
    print(benchmarking.table([[n, v, f"{v / plain:.3f}", best_cpu[n], f"{best_cpu[n] / plain_cpu:.3f}"]
                              for n, v in best.items()], ["arm", "clips/s", "vs plain", "clips/CPU-s", "CPU vs plain"]))
    overhead = plain / best["vidzoo Lightning task"] - 1
    overhead_cpu = plain_cpu / best_cpu["vidzoo Lightning task"] - 1
    print(f"Lightning task overhead vs plain loop: {100 * overhead:+.1f}% wall clock, {100 * overhead_cpu:+.1f}% "
          f"CPU time (goal <= 5%)")
    if args.json is not None:
        args.json.write_text(json.dumps({"backbone": args.backbone, "batch_shape": shape, "clips_per_s": best,
                                         "clips_per_cpu_s": best_cpu, "overhead": overhead,
                                         "overhead_cpu": overhead_cpu}, indent=2))
    return 0
