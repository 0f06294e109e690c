"""Typed specs that travel with a registration, in the spirit of timm's PretrainedCfg and
torchvision's Weights: what a backbone expects as input, where its weights are, its published
figures; which transform a dataset wants and the settings it recommends.

A plugin passes one to ``register(name, factory, description, spec=ModelSpec(...))``; without one a
registration gets the kind's empty spec.

``validate()`` raises ValueError with a one-line reason; the registry turns it into a
PluginError naming the plugin. ``extra`` holds display-only facts vidzoo does not interpret.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable

# Published figures vidzoo knows how to show (`vidzoo list`); others may go in `figures` too.
FIGURES = ("params_m", "gflops", "kinetics400_top1", "kinetics400_top5")
TEMPORAL = ("uniform", "stride")  # InputConfig.temporal: how a clip's frames are picked
INTERPOLATIONS = ("bilinear", "bicubic")


@dataclass(frozen=True)
class InputConfig:
    """What a backbone's weights were trained on, and the smallest input it accepts.

    Names are the transform's (``num_frames``, ``crop_size``, ``mean``, ``std``), so that
    :meth:`transform_options` is the one mapping from a spec to transform options:

    - num_frames / sampling_rate: clip length and frame stride the published figures used
      (sampling_rate is shown by the zoo table; the transform samples num_frames uniformly
      from the dataset's clip_duration window);
    - crop_size: the centre crop; short_side: the short side the eval resize scales to
      (the transform's ``eval_short_side``; training draws it from short_side to 1.25x, as
      the Kinetics recipe's 256..320 for 224); without short_side, crop_pct (timm's crop
      fraction) gives it as crop_size / crop_pct; resize_size: a fixed (H, W) resize the
      source applies instead (torchvision's 128x171), shown by the zoo table;
    - mean / std: per-channel normalisation (0..1 scale);
    - min_input: the smallest (T, H, W) the model runs on, exactly that when fixed_input;
    - pathways: frame-rate divisors of a multi-pathway model's inputs (SlowFast: (4, 1) = [slow, fast]).

    The evaluation recipe of the published weights (issue 17; :meth:`eval_transform` turns it into
    the core ``published`` transform, :meth:`clip_duration` into the clip window):

    - fps: the frame rate the temporal window assumes (num_frames every sampling_rate-th frame of
      fps-frame video), so that a 25 fps video gets the same seconds as the source's 30 fps one;
    - temporal: how the num_frames are picked from the window's frames: "uniform" (PyTorchVideo's
      UniformTemporalSubsample, linspace over the window) or "stride" (frame i at i/num_frames of
      the window, as torchvision's VideoClips resamples to fps / sampling_rate);
    - interpolation ("bilinear" | "bicubic") and antialias of the eval resize (None: not stated,
      no antialiasing, as torch's interpolate); uint8_resize: the source resizes uint8 frames
      (torchvision's uint8 kernels, whole levels out), as transformers' image processors do;
    - eval_crop_size: the evaluation crop when it differs from the training crop_size (SlowFast's
      test crops the whole 256 short side where training crops 224);
    - views: the clips x crops its published figure used ("10x3");
    - source: one line naming the code the recipe was taken from.
    """

    num_frames: int | None = None
    sampling_rate: int | None = None
    crop_size: int | None = None
    short_side: int | None = None
    resize_size: tuple[int, ...] | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    min_input: tuple[int, int, int] | None = None
    fixed_input: bool = False
    pathways: tuple[int, ...] | None = None
    crop_pct: float | None = None
    fps: float | None = None
    temporal: str = "uniform"
    interpolation: str = "bilinear"
    antialias: bool | None = None
    uint8_resize: bool = False
    eval_crop_size: int | None = None
    views: str | None = None
    source: str | None = None

    def __post_init__(self):
        for name in ("resize_size", "mean", "std", "min_input", "pathways"):
            value = getattr(self, name)
            if isinstance(value, list):  # plugins write lists and tuples alike
                object.__setattr__(self, name, tuple(value))

    def validate(self) -> None:
        for name in ("num_frames", "sampling_rate", "crop_size", "short_side", "eval_crop_size"):
            _positive_int(name, getattr(self, name), optional=True)
        if self.fps is not None and not (_is_number(self.fps) and self.fps > 0):
            raise ValueError(f"fps must be a positive number, got {self.fps!r}")
        if self.temporal not in TEMPORAL:
            raise ValueError(f"temporal must be one of {', '.join(TEMPORAL)}, got {self.temporal!r}")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {self.interpolation!r}")
        if not isinstance(self.uint8_resize, bool):
            raise ValueError(f"uint8_resize must be True or False, got {self.uint8_resize!r}")
        if self.antialias is not None and not isinstance(self.antialias, bool):
            raise ValueError(f"antialias must be True, False or None, got {self.antialias!r}")
        if self.views is not None:
            import re

            if not isinstance(self.views, str) or not re.fullmatch(r"[1-9]\d*x[1-9]\d*", self.views):
                raise ValueError(f"views must look like 10x3 (clips x crops), got {self.views!r}")
        if self.source is not None and (not isinstance(self.source, str) or "\n" in self.source):
            raise ValueError(f"source must be one line of text, got {self.source!r}")
        for name in ("resize_size", "min_input", "pathways"):
            value = getattr(self, name)
            if value is not None:
                if not isinstance(value, tuple) or not value:
                    raise ValueError(f"{name} must be a non-empty tuple of ints, got {value!r}")
                for v in value:
                    _positive_int(name, v)
        if self.min_input is not None and len(self.min_input) != 3:
            raise ValueError(f"min_input must be (T, H, W), got {self.min_input!r}")
        for name in ("mean", "std"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, tuple) or len(value) != 3
                                      or not all(_is_number(v) for v in value)):
                raise ValueError(f"{name} must be 3 numbers (one per RGB channel), got {value!r}")
        if self.std is not None and any(v <= 0 for v in self.std):
            raise ValueError(f"std must be positive, got {self.std!r}")
        if not isinstance(self.fixed_input, bool):
            raise ValueError(f"fixed_input must be True or False, got {self.fixed_input!r}")
        if self.fixed_input and self.min_input is None:
            raise ValueError("fixed_input needs min_input (the one input size the model takes)")
        if self.crop_pct is not None and not (_is_number(self.crop_pct) and 0 < self.crop_pct <= 1):
            raise ValueError(f"crop_pct must be a number in (0, 1], got {self.crop_pct!r}")

    def transform_options(self) -> dict[str, Any]:
        """The transform options this input config sets (names of the `kinetics` recipe): the one
        mapping from a spec to a transform (`vidzoo run`'s defaults and resolve_input_config)."""
        out = {"num_frames": self.num_frames, "crop_size": self.crop_size, "mean": self.mean, "std": self.std,
               "pathways": self.pathways}
        side = self.short_side
        if side is None and self.crop_pct is not None and self.crop_size is not None:
            side = math.floor(self.crop_size / self.crop_pct)  # timm's eval resize
        if side is not None:
            # train draws the short side from it to 1.25x (256..320 for 256, the Kinetics recipe's range)
            out.update(eval_short_side=side, min_short_side=side, max_short_side=math.floor(side * 1.25))
        return {k: v for k, v in out.items() if v is not None}

    def eval_transform(self) -> tuple[str, dict[str, Any]]:
        """(registered transform name, its options) reproducing the source's evaluation
        preprocessing: the core ``published`` transform with this recipe (the factory's own
        defaults for what the spec leaves unset)."""
        out = {"num_frames": self.num_frames, "crop_size": self.eval_crop_size or self.crop_size,
               "eval_short_side": self.short_side,
               "resize_size": self.resize_size, "crop_pct": self.crop_pct, "interpolation": self.interpolation,
               "antialias": self.antialias, "temporal": self.temporal, "mean": self.mean, "std": self.std,
               "pathways": self.pathways, "uint8_resize": self.uint8_resize or None}
        if self.temporal == "stride":  # the kept frames' spacing in seconds, for the video's own frame rate
            out.update(sampling_rate=self.sampling_rate, fps=self.fps)
        return "published", {k: v for k, v in out.items() if v is not None}

    def clip_duration(self) -> float | None:
        """Seconds of one clip: num_frames * sampling_rate / fps (None without a temporal recipe)."""
        if self.num_frames is None or self.sampling_rate is None or self.fps is None:
            return None
        return self.num_frames * self.sampling_rate / self.fps


@dataclass(frozen=True)
class Weights:
    """One set of pretrained weights: where to get it and, if known, its sha256 (the model layer
    checks the file against it, downloaded or cached; a sha256 the user gives wins)."""

    url: str
    sha256: str | None = None

    def validate(self) -> None:
        if not isinstance(self.url, str) or not self.url:
            raise ValueError(f"weights url must be a non-empty string, got {self.url!r}")
        if self.sha256 is not None and (not isinstance(self.sha256, str) or len(self.sha256) != 64):
            raise ValueError(f"weights sha256 must be 64 hex digits, got {self.sha256!r}")


@dataclass(frozen=True)
class ModelSpec:
    """What comes with a backbone: its classifier, input config, preferred transform, weights,
    published figures.

    classifier: the module path(s) of the classification head inside the model the factory
    builds (``("blocks.5.proj",)``, like timm's ``pretrained_cfg["classifier"]``), or a
    callable(options) -> paths for backbones whose head depends on their options (a timm
    model's). The model layer reads it: the head that pretrained weights of another
    num_classes leave new, and what freezing and backbone_lr_mult keep apart; an empty
    classifier means the model has no declared head (those options then refuse it).

    weights maps a variant name (torchvision's ``KINETICS400_V1``, or ``default``) to its
    Weights; default_weights names the one ``pretrained="default"`` means (the first when
    unset). load_weights(model, source, sha256, options) -> LoadReport | None is a plugin's own
    loader (a Hub id, timm's Hugging Face cache), which the model layer calls first; None
    from it means "a file or URL: vidzoo's loader". categories are the class names of the
    published head (a published model's labels, issue 17). input_config(options) ->
    InputConfig, for backbones whose input depends on their options (a timm model's size and
    mean/std): `vidzoo run` applies it to the parsed backbone options, with the precedence of
    ``input``; ``input`` stays what it returns for the default options.
    """

    classifier: tuple[str, ...] | Callable[[dict], tuple[str, ...]] = ()
    input: InputConfig = field(default_factory=InputConfig)
    transform: str | None = None
    weights: dict[str, Weights] = field(default_factory=dict)
    default_weights: str | None = None
    categories: tuple[str, ...] | None = None
    figures: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    input_config: Callable[[dict], InputConfig] | None = None
    load_weights: Callable[..., Any] | None = None

    def __post_init__(self):
        if isinstance(self.categories, list):
            object.__setattr__(self, "categories", tuple(self.categories))
        if isinstance(self.classifier, (list, str)):
            object.__setattr__(self, "classifier", (self.classifier,) if isinstance(self.classifier, str)
                               else tuple(self.classifier))

    def classifier_for(self, options: dict | None = None) -> tuple[str, ...]:
        """The classifier's module paths for these backbone options."""
        return tuple(self.classifier(dict(options or {})) if callable(self.classifier) else self.classifier)

    def validate(self) -> None:
        if not isinstance(self.input, InputConfig):
            raise ValueError(f"input must be a vidzoo InputConfig, got {type(self.input).__name__}")
        self.input.validate()
        _optional_name("transform", self.transform)
        if not isinstance(self.weights, dict):
            raise ValueError(f"weights must be a dict of variant name -> Weights, got {type(self.weights).__name__}")
        for variant, weights in self.weights.items():
            if not isinstance(weights, Weights):
                raise ValueError(f"weights[{variant!r}] must be a vidzoo Weights, got {type(weights).__name__}")
            weights.validate()
        if self.default_weights is not None and self.default_weights not in self.weights:
            raise ValueError(f"default_weights {self.default_weights!r} is not one of the weights "
                             f"({', '.join(self.weights) or 'none'})")
        if self.categories is not None and not all(isinstance(c, str) for c in self.categories):
            raise ValueError("categories must be strings (the class names)")
        for key, value in self.figures.items():
            if not _is_number(value):
                raise ValueError(f"figure {key!r} must be a number, got {value!r} (text goes in extra)")
        if self.input_config is not None and not callable(self.input_config):
            raise ValueError(f"input_config must be callable(options) -> InputConfig, got {self.input_config!r}")
        if self.load_weights is not None and not callable(self.load_weights):
            raise ValueError(f"load_weights must be callable(model, source, sha256, options), got {self.load_weights!r}")
        if not callable(self.classifier) and not all(isinstance(c, str) and c for c in self.classifier):
            raise ValueError(f"classifier must be module paths (strings) or callable(options), got {self.classifier!r}")

    @property
    def default(self) -> Weights | None:
        """The weights ``pretrained="default"`` loads, or None without weights."""
        if not self.weights:
            return None
        return self.weights[self.default_weights or next(iter(self.weights))]


@dataclass(frozen=True)
class DatasetSpec:
    """What comes with a dataset: its transform preset and the run settings it recommends.

    run_defaults(options) -> dict of settings for what the dataset's options point at (the
    demo sample gets small crops); any config value or flag wins over them.
    """

    transform: str | None = None
    run_defaults: Callable[[dict], dict] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        _optional_name("transform", self.transform)
        if self.run_defaults is not None and not callable(self.run_defaults):
            raise ValueError(f"run_defaults must be callable(options) -> dict, got {self.run_defaults!r}")


@dataclass(frozen=True)
class TransformSpec:
    """What comes with a transform: display-only facts for now."""

    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        pass


SPEC_TYPES = {"backbone": ModelSpec, "dataset": DatasetSpec, "transform": TransformSpec}


def spec_as_json(spec) -> dict[str, Any]:
    """A JSON-friendly dict of a spec (callables become their qualified names)."""
    out = {}
    for f in dataclasses.fields(spec):
        value = getattr(spec, f.name)
        if dataclasses.is_dataclass(value):
            value = spec_as_json(value)
        elif isinstance(value, dict):
            value = {k: spec_as_json(v) if dataclasses.is_dataclass(v) else _json_value(v) for k, v in value.items()}
        else:
            value = _json_value(value)
        out[f.name] = value
    return out


def _json_value(value):
    if callable(value):
        return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', repr(value))}"
    if isinstance(value, tuple):
        return list(value)
    return value


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _positive_int(name: str, value, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _optional_name(name: str, value) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError(f"{name} must be a registered name (a non-empty string), got {value!r}")
