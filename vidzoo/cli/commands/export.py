"""vidzoo export: a checkpoint as TorchScript or ONNX, with the metadata needed to serve it."""

from __future__ import annotations

import argparse

from vidzoo.cli.commands import ArgumentParser
import json
import os
import sys
from pathlib import Path

from vidzoo.errors import VidzooError

FORMATS = ("torchscript", "onnx")

DESCRIPTION = """Export a checkpoint's model for serving without vidzoo: TorchScript (torch.jit.trace) or
ONNX. Input: float32 clips (batch, 3, T, H, W), already normalised; output: logits (batch,
num_classes), softmax gives probabilities. Beside FILE, FILE.json records the input shape,
the preprocessing (clip duration, frames, short side, crop, mean/std) and the class names.
The export is loaded back and checked against the checkpoint's model on a clip (max
absolute difference of the logits must be within --tolerance)."""

EPILOG = """examples:
  vidzoo export --checkpoint runs/RUN/checkpoints/best.ckpt --format torchscript --output model.pt
  vidzoo export --checkpoint runs/RUN/checkpoints/best.ckpt --format onnx --output model.onnx
"""


def parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="vidzoo export", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, metavar="CKPT", help="a run's checkpoint (or its run directory)")
    p.add_argument("--format", required=True, choices=FORMATS, help="torchscript or onnx")
    p.add_argument("--output", required=True, metavar="FILE", help="file to write (its metadata goes to FILE.json)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--tolerance", type=float, default=1e-4, help="largest allowed |logit difference| (default 1e-4)")
    p.add_argument("--sample", metavar="VIDEO", help="check the export on this video's centre clip "
                                                     "(default: a random clip of the input shape)")
    return p


def metadata_path(output: Path) -> Path:
    return output.with_name(output.name + ".json")


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    out = Path(args.output).expanduser()
    if out.is_dir():
        raise VidzooError(f"--output {out} is a folder; give a file name such as {out / ('model.' + _ext(args.format))}")
    if not out.parent.exists():
        raise VidzooError(f"--output folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK):
        raise VidzooError(f"--output folder {out.parent} is not writable")
    if args.format == "onnx":
        for module in ("onnx",):
            try:
                __import__(module)
            except ImportError:
                raise VidzooError("ONNX export needs the onnx package: pip install onnx onnxruntime") from None
    import torch

    from vidzoo.evaluation.inference import Predictor

    predictor = Predictor.from_checkpoint(args.checkpoint, device="cpu")
    shape = predictor.input_shape()
    shapes = shape if isinstance(shape, list) else [shape]  # one per pathway (SlowFast: [slow, fast])
    if args.sample:
        from vidzoo.evaluation.inference import read_error

        try:
            example = predictor.views(args.sample, (1, 1))
        except VidzooError:
            raise
        except Exception as exc:
            raise VidzooError(read_error(args.sample, exc)) from None
    else:
        gen = torch.Generator().manual_seed(0)
        example = [torch.randn(1, *s, generator=gen) for s in shapes]
        example = example if isinstance(shape, list) else example[0]
    inputs = tuple(example) if isinstance(example, list) else (example,)
    model = exportable(predictor.model.eval(), multi=isinstance(example, list))
    with torch.inference_mode():
        expected = model(*inputs).float()
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        names = input_names(len(inputs))
        if args.format == "torchscript":
            export_torchscript(model, inputs, tmp)
            got = run_torchscript(tmp, inputs)
        else:
            export_onnx(model, inputs, names, tmp, args.opset)
            got = run_onnx(tmp, inputs, names)
        diff = float((torch.as_tensor(got) - expected).abs().max())
        if not diff <= args.tolerance:
            raise VidzooError(f"the exported model's logits differ from the checkpoint's by {diff:.3g} "
                              f"(> --tolerance {args.tolerance}); not written")
        meta = metadata(predictor, args.format, out, shape, diff, args.opset)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    meta_file = metadata_path(out)
    meta_file.write_text(json.dumps(meta, indent=2) + "\n")
    size = out.stat().st_size / 2**20
    print(f"exported {predictor.task.hparams.backbone} ({len(predictor.class_names)} classes) to {out} "
          f"({args.format}, {size:.1f} MiB)")
    described = "; ".join(f"{n} (batch, {', '.join(map(str, s))})" for n, s in zip(input_names(len(shapes)), shapes))
    print(f"input {described} float32, normalised; output logits (batch, {len(predictor.class_names)})")
    print(f"checked: max |logit difference| vs the checkpoint {diff:.2e}"
          + ("" if diff != diff else f" ({'a clip of ' + args.sample if args.sample else 'a random clip'})"))
    print(f"metadata: {meta_file}")
    return 0


def _ext(fmt: str) -> str:
    return "pt" if fmt == "torchscript" else "onnx"


def input_names(n: int) -> list[str]:
    """ "video" for one input; "video_0", "video_1", ... for the pathways of multi-pathway models."""
    return ["video"] if n == 1 else [f"video_{i}" for i in range(n)]


def exportable(model, multi: bool):
    """The model with one tensor argument per input: multi-pathway models (which take a list,
    like pytorchvideo's SlowFast) get a wrapper that takes the pathways as separate arguments."""
    if not multi:
        return model
    import torch

    class Pathways(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.model = inner

        def forward(self, *pathways):
            return self.model(list(pathways))

    return Pathways(model).eval()


def export_torchscript(model, inputs: tuple, path: Path) -> None:
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            traced = torch.jit.trace(model, inputs, check_trace=False)
            traced = torch.jit.freeze(traced.eval()) if hasattr(torch.jit, "freeze") else traced
        except Exception as exc:
            first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
            raise VidzooError(f"TorchScript export (torch.jit.trace) failed ({type(exc).__name__}: {first[:300]})") from None
        torch.jit.save(traced, str(path))


def run_torchscript(path: Path, inputs: tuple):
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = torch.jit.load(str(path), map_location="cpu")
        with torch.inference_mode():
            return loaded(*inputs).float()


def export_onnx(model, inputs: tuple, names: list[str], path: Path, opset: int) -> None:
    import contextlib
    import io
    import warnings

    import torch

    axes = {name: {0: "batch"} for name in names}
    kwargs = dict(input_names=names, output_names=["logits"], opset_version=opset,
                  dynamic_axes={**axes, "logits": {0: "batch"}})
    log = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(log), contextlib.redirect_stderr(log), _quiet_fds():
            warnings.simplefilter("ignore")
            try:
                torch.onnx.export(model, inputs, str(path), dynamo=False, **kwargs)
            except TypeError as exc:  # a torch without the dynamo switch
                if "dynamo" not in str(exc):
                    raise
                torch.onnx.export(model, inputs, str(path), **kwargs)
    except VidzooError:
        raise
    except Exception as exc:
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise VidzooError(f"ONNX export failed ({type(exc).__name__}: {first[:160]}...); the TorchScript format "
                          f"may work for this backbone: --format torchscript") from None
    if not path.is_file():
        raise VidzooError(f"torch.onnx.export wrote no file for this model ({path})")


class _quiet_fds:
    """Send what C++ code writes to stdout/stderr (torch.onnx dumps whole graphs on errors) to a file."""

    def __enter__(self):
        import tempfile

        sys.stdout.flush()
        sys.stderr.flush()
        self.sink = tempfile.TemporaryFile()
        self.saved = [os.dup(1), os.dup(2)]
        os.dup2(self.sink.fileno(), 1)
        os.dup2(self.sink.fileno(), 2)
        return self

    def __exit__(self, *exc):
        for fd, saved in zip((1, 2), self.saved):
            os.dup2(saved, fd)
            os.close(saved)
        self.sink.close()
        return False


def run_onnx(path: Path, inputs: tuple, names: list[str]):
    try:
        import onnxruntime as ort
    except ImportError:
        print("vidzoo export: onnxruntime is not installed, so the ONNX file was not checked "
              "(pip install onnxruntime)", file=sys.stderr)
        return float("nan")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["logits"], {n: x.numpy() for n, x in zip(names, inputs)})[0]


def metadata(predictor, fmt: str, out: Path, shape, diff: float, opset: int) -> dict:
    import vidzoo
    from vidzoo.models.weights import file_sha256

    pre = predictor.preprocessing()
    o = pre.get("transform_options", {})
    shapes = shape if isinstance(shape, list) else [shape]
    last = shapes[-1]
    recipe = {
        "clip_duration": pre["clip_duration"],
        "num_frames": o.get("num_frames", last[1]),
        "frame_sampling": "num_frames uniformly spaced frames of the clip (pytorchvideo UniformTemporalSubsample)",
        "short_side": o.get("eval_short_side"),
        "crop_size": o.get("crop_size", last[2]),
        "crop": "centre (or S crops along the long side, as vidzoo test)",
        "scale": pre.get("scale", 1 / 255),
        "mean": pre.get("mean"),
        "std": pre.get("std"),
        "channel_order": "RGB",
        "formula": "x = (frame_rgb_uint8 / 255 - mean) / std, frames (C, T, H, W)",
    }
    inputs = [{"name": n, "shape": ["batch", *s], "dtype": "float32", "layout": "NCTHW"}
              for n, s in zip(input_names(len(shapes)), shapes)]
    return {
        "format": fmt,
        "file": out.name,
        **({"input": inputs[0]} if len(inputs) == 1 else {
            "inputs": inputs, "pathways": "one input per pathway, in the order the transform packs them "
                                          "(SlowFast: [slow, fast]); see transform"}),
        "output": {"name": "logits", "shape": ["batch", len(predictor.class_names)],
                   "note": "softmax over the last axis gives probabilities; average them over views"},
        "preprocessing": recipe,
        "transform": {"name": pre["transform"], "options": _plain(o)},
        "class_names": predictor.class_names,
        "recommended_views": "10x3",
        "backbone": predictor.task.hparams.backbone,
        "backbone_options": _plain(dict(predictor.task.hparams.backbone_options or {})),
        "checkpoint": predictor.checkpoint,
        "checkpoint_sha256": file_sha256(predictor.checkpoint),
        "checked_max_abs_diff": None if diff != diff else diff,
        **({"onnx_opset": opset} if fmt == "onnx" else {}),
        "vidzoo_version": vidzoo.__version__,
    }


def _plain(d: dict) -> dict:
    return json.loads(json.dumps(d, default=str))
