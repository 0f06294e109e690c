"""vidzoo plugin: any timm image model as a video backbone, as TSN or TSM.

- ``tsn``: Temporal Segment Networks (Wang et al. 2016): the image model runs on every frame
  and the clip's score is the average over time of the frames' logits (or of their feature
  maps, before one run of the head).
- ``tsm``: Temporal Shift Module (Lin et al. 2019): the same, with the input of every residual
  block's branch shifted in time: ``C // shift_div`` channels come from the next frame and as
  many from the previous one (the paper's residual shift, ``shift_div`` 8: 1/8 each way).

``--backbone.model`` takes a timm model name (``timm.list_models``; ``name.tag`` picks a
pretrained tag), and that model's pretrained configuration (input size, crop, mean/std) sets
the transform's defaults through the registration's ``input_config``. torch and timm are
imported only inside the factories and ``input_config``.
"""

from __future__ import annotations

from vidzoo import InputConfig, ModelSpec, hookimpl

__version__ = "0.1.0"

DEFAULT_MODEL = "resnet50"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
MIN_INPUT = (1, 32, 32)  # what the tests run; smaller inputs depend on the timm model
DESCRIPTIONS = {
    "tsn": "TSN: a timm image model per frame, average of the frames' scores (default resnet50)",
    "tsm": "TSM: Temporal Shift Module over a timm ResNet/ResNeXt, RegNet or ConvNeXt (default resnet50)",
}


def _spec(top1: float) -> ModelSpec:
    # The spec of the default options (resnet50, 8 segments): `input` is what input_config returns
    # for them (timm's resnet50.a1_in1k: 224 px, crop_pct 0.95, ImageNet mean/std; the tests check
    # it). Figures: params for 400 classes and GFLOPs (multiply-adds, as the zoo counts them) per
    # 8x224^2 view, both measured by the tests (the TSM paper says 33G); Kinetics-400 top-1 of
    # ResNet-50 with 8 segments as the TSM repository publishes it (mit-han-lab/temporal-shift-module
    # README: dense sampling, 10 clips, full resolution).
    return ModelSpec(
        classifier=classifier, load_weights=load_weights,
        input=InputConfig(num_frames=8, crop_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, crop_pct=0.95,
                          interpolation="bicubic", antialias=True, min_input=MIN_INPUT, **RECIPE),
        transform="kinetics", figures={"params_m": 24.33, "gflops": 32.7, "kinetics400_top1": top1},
        extra={"kinetics400_views": "8 frames x 10 clips, full resolution", "timm_model": DEFAULT_MODEL},
        input_config=input_config)


# The evaluation recipe (issue 17): per frame, timm's resolve_data_config + create_transform of the
# model (Resize of the short side to floor(crop / crop_pct) with its interpolation, PIL's antialiased
# kernel, CenterCrop, normalise); in time, TSM's dense sampling: 8 frames, every 8th of 30 fps video
# ("stride"), 10 clips x 3 crops as its README's figure.
RECIPE = dict(sampling_rate=8, fps=30, temporal="stride", views="10x3",
              source="timm resolve_data_config + create_transform (per frame); TSM's dense sampling")


def input_config(options: dict) -> InputConfig:
    """The input for the chosen backbone options: the timm model's size, crop and mean/std.

    `vidzoo run` calls it with the parsed backbone options; the result sets the transform's
    defaults as a static input config does (flags and config files still win).
    """
    from vidzoo_timm import models

    fields = models.input_fields(options.get("model") or DEFAULT_MODEL)
    return InputConfig(num_frames=int(options.get("num_segments") or 8), min_input=MIN_INPUT, antialias=True,
                       **RECIPE, **fields)


def classifier(options: dict) -> tuple[str, ...]:
    """The head of the chosen timm model, as timm's pretrained config names it (``fc``, ``head.fc``),
    inside the video wrapper (``model.``)."""
    from vidzoo_timm import models

    cfg = models.pretrained_cfg(options.get("model") or DEFAULT_MODEL)
    head = getattr(cfg, "classifier", None) if cfg is not None else None
    return tuple(f"model.{h}" for h in ([head] if isinstance(head, str) else head or ()))


def load_weights(model, pretrained, sha256, options: dict):
    """The spec's weights loader: timm's weights by model name, or a file / URL (vidzoo_timm.pretrained)."""
    from vidzoo_timm import pretrained as weights

    return weights.load_weights(model, pretrained, sha256, options)


_COMMON_DOC = """model: timm model name (`timm.list_models()`), optionally with a pretrained tag
            (resnet50.a1_in1k); its pretrained configuration sets the transform's crop,
            short sides and mean/std.
        num_segments: Frames per clip (TSN's segments); sets the transform's num_frames.
        consensus: How frames become one clip score: "logits" (average of the frames'
            logits, as TSN and TSM) or "features" (average of the frames' feature maps,
            then timm's head once: pool, norm, dropout, classifier).
        dropout: Dropout before the classifier (timm's drop_rate)."""


def tsn(num_classes: int = 400, model: str = DEFAULT_MODEL, num_segments: int = 8, consensus: str = "logits",
        dropout: float = 0.5):
    """TSN over any timm image model: the model on every frame, the clip's score the average over time.

    Args:
        num_classes: Number of output classes.
        {common}
    """
    from vidzoo_timm import models

    return models.build("tsn", model, num_classes, num_segments, consensus, dropout)


def tsm(num_classes: int = 400, model: str = DEFAULT_MODEL, num_segments: int = 8, shift_div: int = 8,
        consensus: str = "logits", dropout: float = 0.5):
    """TSM (Temporal Shift Module) over a timm ResNet/ResNeXt, RegNet or ConvNeXt.

    Args:
        num_classes: Number of output classes.
        shift_div: Each residual block's input shifts C // shift_div channels one frame back
            and as many one frame forward in time (8: a quarter of the channels move).
        {common}
    """
    from vidzoo_timm import models

    return models.build("tsm", model, num_classes, num_segments, consensus, dropout, shift_div=shift_div)


FACTORIES = {"tsn": tsn, "tsm": tsm}
for _f in FACTORIES.values():
    _f.__doc__ = _f.__doc__.replace("{common}", _COMMON_DOC)


MODELS = {"tsn": _spec(70.6), "tsm": _spec(74.1)}


@hookimpl
def register_backbones(register):
    for name, factory in FACTORIES.items():
        register(name, factory, DESCRIPTIONS[name], spec=MODELS[name])
