"""vidzoo.data.presets.preset: a transform with other defaults, every option and its docs kept."""

from __future__ import annotations

import inspect

import pytest
import torch

from vidzoo.default_plugins.kinetics_transforms import kinetics_transform
from vidzoo.data.presets import preset


def test_preset_changes_defaults_only():
    small = preset(kinetics_transform, "Small clips.", num_frames=4, crop_size=32, eval_short_side=36)
    params, base = inspect.signature(small).parameters, inspect.signature(kinetics_transform).parameters
    assert list(params) == list(base)
    assert (params["num_frames"].default, params["crop_size"].default) == (4, 32)
    assert params["mean"].default == base["mean"].default
    assert small.__doc__.startswith("Small clips.") and "crop_size: Side of the square crop." in small.__doc__
    clip = {"video": torch.rand(3, 10, 48, 64) * 255, "label": 0}
    assert small("val")(dict(clip))["video"].shape == (3, 4, 32, 32)
    assert small("val", crop_size=16)(dict(clip))["video"].shape == (3, 4, 16, 16)  # still an option


def test_preset_of_an_unknown_option_is_refused():
    with pytest.raises(TypeError, match="no option"):
        preset(kinetics_transform, "x", num_frame=4)


def test_list_with_every_plugin_installed_still_imports_no_torch():
    import subprocess
    import sys

    code = "import sys; from vidzoo.cli import main; main(['list']); print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip().splitlines()[-1] == "False", done.stderr


def test_preset_then_adds_its_own_options_and_docs():
    def pack(transform, options, alpha: int = 4):
        """Wrap.

        Args:
            alpha: The ratio.
        """
        if options["num_frames"] < alpha:
            raise ValueError("alpha above num_frames")
        return ("packed", transform, alpha, options["num_frames"])

    packed = preset(kinetics_transform, "Packed clips.", then=pack, num_frames=32)
    names = list(inspect.signature(packed).parameters)
    assert names[-2:] == ["resize", "alpha"] and names[:2] == ["split", "num_frames"]
    tag, inner, alpha, frames = packed("val", alpha=8)
    assert (tag, alpha, frames) == ("packed", 8, 32) and callable(inner)
    assert "resize:" in packed.__doc__ and "alpha: The ratio." in packed.__doc__
    assert packed.__doc__.count("Args:") == 1
    with pytest.raises(ValueError, match="alpha above"):
        packed("val", num_frames=2)

    def clashing(transform, options, crop_size: int = 3):
        return transform

    with pytest.raises(TypeError, match="repeats option.*crop_size"):
        preset(kinetics_transform, "x", then=clashing)
