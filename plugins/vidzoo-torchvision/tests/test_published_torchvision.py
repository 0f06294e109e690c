"""A published torchvision model used as published: `vidzoo predict --model r3d_18 --pretrained FILE`
against torchvision's own r3d_18 loaded from FILE and fed by its weights' own transforms()."""

import subprocess
import sys

import pytest
import torch

from vidzoo.testing import private_cache  # noqa: F401  (autouse: a cache of this module's, never the user's)
from vidzoo.testing.published import predicted, write_clip


@pytest.fixture(scope="module")
def r3d_file(tmp_path_factory):
    """torchvision's r3d_18 with a random but confident head, saved as torchvision's weights files are
    (a plain state dict), and the module itself."""
    from torchvision.models.video import r3d_18

    torch.manual_seed(0)
    model = r3d_18(num_classes=400).eval()
    with torch.no_grad():
        model.fc.weight.mul_(40)  # peaked probabilities: a preprocessing difference moves them
    path = tmp_path_factory.mktemp("tv") / "r3d_18-b3b3357e.pth"
    torch.save(model.state_dict(), path)
    return path, model


def test_predict_model_r3d_18_equals_torchvision_with_its_transforms(r3d_file, tmp_path):
    from torchvision.models.video import R3D_18_Weights

    path, model = r3d_file
    weights = R3D_18_Weights.KINETICS400_V1
    frames = write_clip(tmp_path / "clip.mp4", frames=16, width=160, height=120)  # 4:3, all 16 frames used
    with torch.no_grad():
        x = weights.transforms()(torch.from_numpy(frames).permute(0, 3, 1, 2))  # (T, C, H, W) -> (C, T, H, W)
        probs = torch.softmax(model(x[None]), -1)[0]
    top = torch.topk(probs, 5)
    expected = {weights.meta["categories"][i]: float(p) for p, i in zip(top.values, top.indices)}
    assert max(expected.values()) > 0.2  # confident enough that another recipe would show

    result = subprocess.run([sys.executable, "-m", "vidzoo", "predict", str(tmp_path / "clip.mp4"), "--model",
                             "r3d_18", "--pretrained", str(path), "--top-k", "5", "--views", "1x1", "--json"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    got = predicted(result.stdout)
    assert list(got) == list(expected), (got, expected)
    for name, p in expected.items():
        assert got[name] == pytest.approx(p, abs=1e-4), (name, got[name], p)
    assert "loaded 62/62 tensors" in result.stderr or "loaded" in result.stderr
