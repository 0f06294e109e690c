"""Published recipes: vidzoo's evaluation input against each source library's own preprocessing.

For each family's model, the same decoded frames of a 1280x720 video (one frame repeated, so only
the spatial recipe differs, as issue 17 measured it) go through

- before: what `vidzoo test` fed a model before issue 17: resolve_input_config -> the `kinetics`
  transform (short side, bilinear, no antialias) on a 2 s clip;
- after: the spec's recipe (InputConfig.eval_transform(), the `published` transform) on its clip;
- the source: torchvision's Weights.transforms(), transformers' image processor from the Hub's
  preprocessor_config.json, PyTorchVideo's Torch Hub tutorial transform, timm's resolve_data_config
  + create_transform (per PIL frame);

and the differences from the source, in levels of 0..255 (mean, max), are printed as a table and
written to benchmarks/results/recipes.json (docs/zoo.md shows them: `python -m vidzoo.plugins.zoo_table`).

    python -m benchmarks.recipes            # about a minute on 2 cores
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks import RESULTS, write_results

# model -> (family, the source's preprocessing named as in docs/zoo.md)
MODELS = {
    "x3d_s": ("pytorchvideo-hub", "PyTorchVideo hub tutorial (side 182, crop 182)"),
    "resnet3d50": ("vidzoo (slow_r50)", "PyTorchVideo hub tutorial (side 256, crop 256)"),
    "r3d_18": ("torchvision", "R3D_18_Weights.KINETICS400_V1.transforms()"),
    "videomae_base": ("transformers", "VideoMAEImageProcessor, Hub config"),
    "timesformer_base": ("transformers", "VideoMAEImageProcessor, Hub config"),
    "tsn": ("timm", "resolve_data_config + create_transform (resnet50)"),
}


def write_frame_video(path: Path, width: int = 1280, height: int = 720, seconds: float = 3.0, fps: int = 30) -> Path:
    """A real 1280x720 H.264 video of one photo-like frame repeated: smooth shading, sharp edges, fine texture."""
    import numpy as np

    from vidzoo.data.video import write_video

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    frame = np.zeros((height, width, 3), np.float32)
    for c in range(3):  # low-frequency shading
        for _ in range(4):
            fx, fy, phase = rng.uniform(0.5, 4) / width, rng.uniform(0.5, 4) / height, rng.uniform(0, 6.3)
            frame[..., c] += 40 * np.sin(2 * np.pi * (fx * x + fy * y) + phase)
    frame += 128
    for _ in range(12):  # objects with sharp edges
        x0, y0 = rng.integers(0, width - 200), rng.integers(0, height - 150)
        frame[y0:y0 + rng.integers(30, 150), x0:x0 + rng.integers(30, 200)] = rng.uniform(0, 255, 3)
    frame += rng.normal(0, 12, frame.shape)  # texture
    frame = frame.clip(0, 255).astype(np.uint8)
    n = int(seconds * fps)
    write_video(path, (frame for _ in range(n)), fps, width, height)
    return path


def source_input(name: str, frames, folder: Path):
    """The source library's preprocessing of uint8 frames (T, H, W, C): a normalised (C, T, H, W) clip."""
    import torch

    from vidzoo.plugins import get_registry

    spec = get_registry().get("backbone", name).spec.input
    if name == "r3d_18":
        from torchvision.models.video import R3D_18_Weights

        return R3D_18_Weights.KINETICS400_V1.transforms()(frames.permute(0, 3, 1, 2)), R3D_18_Weights.KINETICS400_V1.transforms().std
    if name in ("videomae_base", "timesformer_base"):
        from vidzoo_transformers.testing import hub_image_processor

        processor = hub_image_processor(name, folder / name)
        out = processor(list(frames.numpy()), return_tensors="pt")["pixel_values"][0].permute(1, 0, 2, 3)
        return out, processor.image_std
    if name == "tsn":
        from PIL import Image
        from timm.data import create_transform, resolve_data_config
        from timm.models import get_pretrained_cfg

        config = resolve_data_config({}, pretrained_cfg=get_pretrained_cfg("resnet50").to_dict())
        transform = create_transform(**config)
        return torch.stack([transform(Image.fromarray(f.numpy())) for f in frames], dim=1), config["std"]
    from vidzoo.testing.recipes import hub_tutorial_transform

    side = spec.eval_crop_size or spec.crop_size
    tutorial = hub_tutorial_transform(side, side, len(frames), spec.mean, spec.std)
    return tutorial(frames.permute(3, 0, 1, 2).float()), spec.std


def before_input(name: str, path: Path):
    """vidzoo's eval input before issue 17: resolve_input_config -> `kinetics` transform, 2 s clips, 1x1."""
    import vidzoo
    from vidzoo.evaluation.views import ViewMaker

    transform = vidzoo.create_transform("kinetics", "val", **vidzoo.resolve_input_config(name))
    return ViewMaker(transform, clip_duration=2.0, views=(1, 1))(str(path))[0]


def measure(folder: Path) -> dict:
    import vidzoo
    from vidzoo.data.decode_plan import uniform_indices
    from vidzoo.testing.recipes import centre_window, eval_transform, levels, published_input

    path = write_frame_video(folder / "frame_1280x720.mp4")
    results = {}
    for name, (family, source) in MODELS.items():
        row = {"family": family, "source": source}
        # each side against the source's preprocessing of the very frames it kept
        window, _, fps = centre_window(name, path)
        after_frames = window[eval_transform(name).steps.frame_indices(len(window), fps)]
        window, _, _ = centre_window(name, path, clip_duration=2.0)
        before_frames = window[uniform_indices(len(window), vidzoo.resolve_input_config(name)["num_frames"])]
        for label, ours, frames in (("before", before_input(name, path), before_frames),
                                    ("after", published_input(name, path), after_frames)):
            theirs, std = source_input(name, frames, folder)
            if tuple(ours.shape) != tuple(theirs.shape):
                row[label] = {"shape": list(ours.shape), "source_shape": list(theirs.shape)}
                continue
            mean, worst = levels(ours, theirs, std)
            row[label] = {"mean": round(mean, 2), "max": round(worst, 1)}
        results[name] = row
    return results


def cell(entry: dict) -> str:
    if "mean" in entry:
        return f"mean {entry['mean']:.2f}, max {entry['max']:.1f}"
    return f"{entry['shape'][-1]} px crop vs {entry['source_shape'][-1]} px"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.recipes", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(RESULTS / "recipes.json"), help="the JSON to write")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        results = measure(Path(tmp))
    print(f"{'model':18} {'source':52} {'before':28} after")
    for name, row in results.items():
        print(f"{name:18} {row['source']:52} {cell(row['before']):28} {cell(row['after'])}")
    write_results({"frame": "1280x720, one frame repeated", "levels": "0..255", "models": results}, Path(args.out))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
