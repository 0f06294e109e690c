"""vidzoo export: a checkpoint as TorchScript or ONNX, with the metadata needed to serve it."""

from __future__ import annotations

import argparse
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
    p = argparse.ArgumentParser(prog="vidzoo export", description=DESCRIPTION, epilog=EPILOG,
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

    from vidzoo.inference import Predictor

    predictor = Predictor.from_checkpoint(args.checkpoint, device="cpu")
    shape = predictor.input_shape()
    if args.sample:
        from vidzoo.inference import read_error

        try:
            example = predictor.views(args.sample, (1, 1))
        except VidzooError:
            raise
        except Exception as exc:
            raise VidzooError(read_error(args.sample, exc)) from None
    else:
        example = torch.randn(1, *shape, generator=torch.Generator().manual_seed(0))
    model = predictor.model.eval()
    with torch.inference_mode():
        expected = model(example).float()
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        if args.format == "torchscript":
            export_torchscript(model, example, tmp)
            got = run_torchscript(tmp, example)
        else:
            export_onnx(model, example, tmp, args.opset)
            got = run_onnx(tmp, example)
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
    print(f"input (batch, {', '.join(map(str, shape))}) float32, normalised; output logits (batch, "
          f"{len(predictor.class_names)})")
    print(f"checked: max |logit difference| vs the checkpoint {diff:.2e}"
          + ("" if diff != diff else f" ({'a clip of ' + args.sample if args.sample else 'a random clip'})"))
    print(f"metadata: {meta_file}")
    return 0


def _ext(fmt: str) -> str:
    return "pt" if fmt == "torchscript" else "onnx"


def export_torchscript(model, example, path: Path) -> None:
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, example, check_trace=False)
        traced = torch.jit.freeze(traced.eval()) if hasattr(torch.jit, "freeze") else traced
        torch.jit.save(traced, str(path))


def run_torchscript(path: Path, example):
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = torch.jit.load(str(path), map_location="cpu")
        with torch.inference_mode():
            return loaded(example).float()


def export_onnx(model, example, path: Path, opset: int) -> None:
    import contextlib
    import io
    import warnings

    import torch

    kwargs = dict(input_names=["video"], output_names=["logits"], opset_version=opset,
                  dynamic_axes={"video": {0: "batch"}, "logits": {0: "batch"}})
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(model, (example,), str(path), dynamo=False, **kwargs)
        except TypeError:  # a torch without the dynamo switch
            torch.onnx.export(model, (example,), str(path), **kwargs)


def run_onnx(path: Path, example):
    try:
        import onnxruntime as ort
    except ImportError:
        print("vidzoo export: onnxruntime is not installed, so the ONNX file was not checked "
              "(pip install onnxruntime)", file=sys.stderr)
        return float("nan")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"video": example.numpy()})[0]


def metadata(predictor, fmt: str, out: Path, shape, diff: float, opset: int) -> dict:
    import vidzoo
    from vidzoo.weights import file_sha256

    pre = predictor.preprocessing()
    o = pre.get("transform_options", {})
    recipe = {
        "clip_duration": pre["clip_duration"],
        "num_frames": o.get("num_frames", shape[1]),
        "frame_sampling": "num_frames uniformly spaced frames of the clip (pytorchvideo UniformTemporalSubsample)",
        "short_side": o.get("eval_short_side"),
        "crop_size": o.get("crop_size", shape[2]),
        "crop": "centre (or S crops along the long side, as vidzoo test)",
        "scale": pre.get("scale", 1 / 255),
        "mean": pre.get("mean"),
        "std": pre.get("std"),
        "channel_order": "RGB",
        "formula": "x = (frame_rgb_uint8 / 255 - mean) / std, frames (C, T, H, W)",
    }
    return {
        "format": fmt,
        "file": out.name,
        "input": {"name": "video", "shape": ["batch", *shape], "dtype": "float32", "layout": "NCTHW"},
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
