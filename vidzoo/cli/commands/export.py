"""vidzoo export: a checkpoint as TorchScript or ONNX, with the metadata needed to serve it."""

from __future__ import annotations

import math

from vidzoo.cli.commands import ArgumentParser, add_model_arguments, parse_model_args

FORMATS = ("torchscript", "onnx")

DESCRIPTION = """Export a checkpoint's model for serving without vidzoo: TorchScript (torch.jit.trace) or
ONNX. Input: float32 clips (batch, 3, T, H, W), already normalised; output: logits (batch,
num_classes), softmax gives probabilities. Beside FILE, FILE.json records the input shape,
the preprocessing (clip duration, frames, short side, crop, mean/std) and the class names.
The export is loaded back and checked against the checkpoint's model on a clip (max
absolute difference of the logits must be within --tolerance). --model NAME exports a published
model instead (its weights, class names and evaluation recipe; docs/models.md)."""

EPILOG = """examples:
  vidzoo export --checkpoint runs/RUN/checkpoints/best.ckpt --format torchscript --output model.pt
  vidzoo export --checkpoint runs/RUN/checkpoints/best.ckpt --format onnx --output model.onnx
  vidzoo export --model x3d_s --format onnx --output x3d_s.onnx           # published weights, Kinetics-400
"""


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="vidzoo export", description=DESCRIPTION, epilog=EPILOG)
    add_model_arguments(p, "a run's checkpoint (or its run directory)")
    p.add_argument("--format", required=True, choices=FORMATS, help="torchscript or onnx")
    p.add_argument("--output", required=True, metavar="FILE", help="file to write (its metadata goes to FILE.json)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--tolerance", type=float, default=1e-4, help="largest allowed |logit difference| (default 1e-4)")
    p.add_argument("--sample", metavar="VIDEO", help="check the export on this video's centre clip "
                                                     "(default: a random clip of the input shape)")
    return p


def main(argv: list[str]) -> int:
    args = parse_model_args(parser(), argv)
    from vidzoo.evaluation.export import export, input_names

    result = export(args.model_ref, args.format, args.output, opset=args.opset, tolerance=args.tolerance,
                    sample=args.sample, pretrained=args.pretrained, backbone_options=args.backbone_options)
    out, diff = result.path, result.max_abs_diff
    size = out.stat().st_size / 2**20
    print(f"exported {result.backbone} ({result.num_classes} classes) to {out} ({args.format}, {size:.1f} MiB)")
    described = "; ".join(f"{n} (batch, {', '.join(map(str, s))})"
                          for n, s in zip(input_names(len(result.shapes)), result.shapes))
    print(f"input {described} float32, normalised; output logits (batch, {result.num_classes})")
    print(f"checked: max |logit difference| vs the {'model' if args.model else 'checkpoint'} {diff:.2e}"
          + ("" if math.isnan(diff) else f" ({'a clip of ' + args.sample if args.sample else 'a random clip'})"))
    print(f"metadata: {result.metadata_path}")
    return 0
