"""A checkpoint as TorchScript or ONNX, with the metadata needed to serve it (`vidzoo export`,
``vidzoo.export``): tracing, ONNX export, the check against the checkpoint, the sidecar JSON."""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from vidzoo.errors import VidzooError
from vidzoo.io import atomic_write_bytes

FORMATS = ("torchscript", "onnx")


def metadata_path(output: Path) -> Path:
    return output.with_name(output.name + ".json")


@dataclass
class ExportResult:
    """What export() wrote and how close it is to the checkpoint's model."""

    path: Path
    metadata_path: Path
    metadata: dict
    max_abs_diff: float  # largest |logit difference| on the check clip (NaN: not comparable)
    shapes: list  # input shape(s) without the batch dimension, one per pathway
    backbone: str
    num_classes: int


def export(checkpoint, format: str, path, opset: int = 17, tolerance: float = 1e-4,
           sample: str | None = None, model=None, pretrained: str | None = None,
           backbone_options: dict | None = None) -> ExportResult:
    """Export a checkpoint's model to TorchScript or ONNX at ``path`` (metadata beside it, in
    ``path.json``), loaded back and checked against the checkpoint on a clip first. ``model``: the
    checkpoint's module, for a class that cannot be imported here. ``checkpoint`` may be a
    registered model's name: its published weights (``pretrained``: others), classes and recipe."""
    if format not in FORMATS:
        raise VidzooError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
    out = Path(path).expanduser()
    if out.is_dir():
        raise VidzooError(f"--output {out} is a folder; give a file name such as {out / ('model.' + _ext(format))}")
    if not out.parent.exists():
        raise VidzooError(f"--output folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK):
        raise VidzooError(f"--output folder {out.parent} is not writable")
    if format == "onnx":
        try:
            import onnx  # noqa: F401
        except ImportError:
            raise VidzooError("ONNX export needs the onnx package: pip install onnx onnxruntime") from None
    import torch

    from vidzoo.evaluation.inference import open_predictor

    predictor = open_predictor(checkpoint, "cpu", model, pretrained, backbone_options)
    shape = predictor.input_shape()
    shapes = shape if isinstance(shape, list) else [shape]  # one per pathway (SlowFast: [slow, fast])
    if sample:
        from vidzoo.evaluation.views import read_error

        try:
            example = predictor.views(sample, (1, 1))
        except VidzooError:
            raise
        except Exception as exc:
            raise VidzooError(read_error(sample, exc)) from None
    else:
        gen = torch.Generator().manual_seed(0)
        example = [torch.randn(1, *s, generator=gen) for s in shapes]
        example = example if isinstance(shape, list) else example[0]
    inputs = tuple(example) if isinstance(example, list) else (example,)
    net = exportable(predictor.model.eval(), multi=isinstance(example, list))
    with torch.inference_mode():
        expected = net(*inputs).float()
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        names = input_names(len(inputs))
        if format == "torchscript":
            export_torchscript(net, inputs, tmp)
            got = run_torchscript(tmp, inputs)
        else:
            export_onnx(net, inputs, names, tmp, opset)
            got = run_onnx(tmp, inputs, names)
        diff = float((torch.as_tensor(got) - expected).abs().max())
        if not diff <= tolerance:
            raise VidzooError(f"the exported model's logits differ from the checkpoint's by {diff:.3g} "
                              f"(> --tolerance {tolerance}); not written")
        meta = metadata(predictor, format, out, shape, diff, opset)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    meta_file = metadata_path(out)
    atomic_write_bytes(meta_file, (json.dumps(meta, indent=2) + "\n").encode())
    return ExportResult(out, meta_file, meta, diff, shapes, predictor.model_name, len(predictor.class_names))


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
            torch.jit.save(traced, str(path))  # a traced Python autograd Function fails only here
        except Exception as exc:
            first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
            raise VidzooError(f"TorchScript export (torch.jit.trace) failed ({type(exc).__name__}: {first[:300]})") from None


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
        from vidzoo.messages import warn

        warn("vidzoo export: onnxruntime is not installed, so the ONNX file was not checked (pip install onnxruntime)")
        return float("nan")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["logits"], {n: x.numpy() for n, x in zip(names, inputs)})[0]


def metadata(predictor, fmt: str, out: Path, shape, diff: float, opset: int) -> dict:
    from vidzoo._version import __version__
    from vidzoo.models.hub import file_sha256

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
        "backbone": predictor.model_name,
        "backbone_options": _plain(dict(predictor.recipe.get("options") or predictor.recipe.get("init_args") or {})),
        **({"class_path": predictor.recipe["class_path"]} if "class_path" in predictor.recipe else {}),
        "checkpoint": predictor.checkpoint,
        # a published model's weights may be a URL, a Hub id or a folder: no one file to hash
        "checkpoint_sha256": file_sha256(predictor.checkpoint) if Path(predictor.checkpoint).is_file() else None,
        "checked_max_abs_diff": None if math.isnan(diff) else diff,
        **({"onnx_opset": opset} if fmt == "onnx" else {}),
        "vidzoo_version": __version__,
    }


def _plain(d: dict) -> dict:
    return json.loads(json.dumps(d, default=str))
