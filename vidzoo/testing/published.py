"""For the tests that check a published model against its source library: a short clip both sides
read the same frames of, and the probabilities `vidzoo predict --json` printed."""

from __future__ import annotations

import json
from pathlib import Path


def write_clip(path, frames: int, width: int = 320, height: int = 240, fps: int = 30, seed: int = 0) -> Path:
    """Write an mp4 of ``frames`` frames (a moving square on smooth colours, which x264 keeps nearly as
    they are and a resize treats alike on both sides); as long as the model's clip window, it is one
    window: :func:`vidzoo.testing.recipes.centre_window` gives the frames the source is fed."""
    import numpy as np

    from vidzoo.data.video import write_video
    from vidzoo.testing.video import _moving_square

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1),
                     rng.integers(0, 256) + 0 * x], -1).astype(np.uint8)
    path = Path(path)
    write_video(path, _moving_square(base, frames), fps, width, height)
    return path


def predict_cli(video, name: str, pretrained, *options: str) -> dict[str, float]:
    """`vidzoo predict VIDEO --model NAME --pretrained FILE --top-k 5 --views 1x1` as a user types it
    (a subprocess); {class name: probability} of its JSON, best first."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "vidzoo", "predict", str(video), "--model", name, "--pretrained",
                             str(pretrained), "--top-k", "5", "--views", "1x1", "--json", *options],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return predicted(result.stdout)


def top5(probs, names) -> dict[str, float]:
    """{class name: probability} of the 5 best of a probability vector, best first."""
    import torch

    top = torch.topk(torch.as_tensor(probs).flatten(), 5)
    return {names[i]: float(p) for p, i in zip(top.values.tolist(), top.indices.tolist())}


def assert_same_top5(got: dict, expected: dict, tolerance: float = 1e-4) -> None:
    """The same class names in the same order, each probability within ``tolerance``."""
    assert list(got) == list(expected), (got, expected)
    for name, p in expected.items():
        assert abs(got[name] - p) <= tolerance, (name, got[name], p)


def predicted(stdout: str) -> dict[str, float]:
    """{class name: probability} of the one video of `vidzoo predict ... --json`'s output."""
    (result,) = json.loads(stdout)["results"]
    return {row["class"]: row["probability"] for row in result["top"]}
