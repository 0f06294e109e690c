"""vidzoo plugin: the video transformers of Hugging Face transformers, with their zoo metadata.

Registers VideoMAE (small, base, large, huge), TimeSformer (base, HR, large), ViViT (base)
and V-JEPA 2 (large, huge, giant, giant at 384 px) as vidzoo backbones for any
``num_classes``, built from a transformers config (nothing is downloaded to build one), and
a transform preset per family. ``pretrained`` (vidzoo's model layer calls the spec's
``load_weights``) takes a Hub repository id (``default``: the model's own, e.g.
``MCG-NJU/videomae-base-finetuned-kinetics``) or a local ``save_pretrained`` folder. Every figure is in :data:`MODELS`; torch and transformers are
imported only inside the factories.
"""

from __future__ import annotations

import inspect

from vidzoo import InputConfig, ModelSpec, Weights, hookimpl

__version__ = "0.1.0"

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
K400_MEAN, K400_STD = (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)
HALF = (0.5, 0.5, 0.5)  # ViViT: pixels to -1..1
HUB = "https://huggingface.co"
VIDEOMAE_SRC = "model card (huggingface.co/{hub})"
TIMESFORMER_SRC = "TimeSformer README model zoo (github.com/facebookresearch/TimeSformer)"
VIVIT_SRC = "ViViT paper, Table 4 (arXiv 2103.15691); the model card gives none"

# Per family: the transformers classes, the name of the model's video input, the config keys
# that hold vidzoo's frames and crop size, and which size options the family has.
FAMILIES = {
    "videomae": dict(config="VideoMAEConfig", model="VideoMAEForVideoClassification", input="pixel_values",
                     frames_key="num_frames", size_key="image_size", transform="videomae"),
    "timesformer": dict(config="TimesformerConfig", model="TimesformerForVideoClassification",
                        input="pixel_values", frames_key="num_frames", size_key="image_size",
                        transform="timesformer"),
    "vivit": dict(config="VivitConfig", model="VivitForVideoClassification", input="pixel_values",
                  frames_key="num_frames", size_key="image_size", transform="vivit"),
    "vjepa2": dict(config="VJEPA2Config", model="VJEPA2ForVideoClassification", input="pixel_values_videos",
                   frames_key="frames_per_clip", size_key="crop_size", transform="vjepa2"),
}


def _m(family, description, hub, frames, sampling_rate, crop, mean, std, params_m, gflops, top1, top5, views,
       source, config, fixed_input=True, short_side=None, **extra):
    """One registration's metadata; ``config``: the transformers config of the Hub model (its size)."""
    meta = dict(description=description, family=family, hub_id=hub, weights_url=f"{HUB}/{hub}", num_frames=frames,
                sampling_rate=sampling_rate, crop_size=crop, short_side=short_side or crop, mean=mean, std=std,
                pathways=None, params_m=params_m, gflops=gflops, transform=FAMILIES[family]["transform"],
                config=config, **extra)
    if fixed_input:  # position embeddings sized for this many frames and pixels
        meta.update(min_input=[frames, crop, crop], fixed_input=True)
    else:
        meta["min_input"] = [2, 16, 16]  # one tubelet of 2x16x16; rotary positions fit any grid
    if top1 is not None:
        meta.update(kinetics400_top1=top1, kinetics400_views=views, kinetics400_source=source.format(hub=hub))
        if top5 is not None:
            meta["kinetics400_top5"] = top5
    return meta


def _vit(hidden, layers, heads, mlp):
    return dict(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=mlp)


# params_m: of the model this plugin builds with 400 classes (the tests count them);
# gflops: one view, as published (VideoMAE's model zoo; TimeSformer's paper: its TFLOPs over 3
# views / 3; ViViT's paper); V-JEPA 2: measured with torch's FlopCounterMode (multiply-adds)
# at 16 frames, since no fine-tuned Kinetics-400 figure is published for it.
MODELS = {
    "videomae_small": _m("videomae", "VideoMAE ViT-S/16, 16x4, fine-tuned on Kinetics-400",
                         "MCG-NJU/videomae-small-finetuned-kinetics", 16, 4, 224, IMAGENET_MEAN, IMAGENET_STD,
                         22.03, 57, 79.0, 93.8, "5 clips x 3 crops", VIDEOMAE_SRC,
                         dict(_vit(384, 12, 6, 1536), num_frames=16, image_size=224), short_side=224),
    "videomae_base": _m("videomae", "VideoMAE ViT-B/16, 16x4, fine-tuned on Kinetics-400",
                        "MCG-NJU/videomae-base-finetuned-kinetics", 16, 4, 224, IMAGENET_MEAN, IMAGENET_STD,
                        86.53, 180, 80.9, 94.7, "5 clips x 3 crops", VIDEOMAE_SRC,
                        dict(_vit(768, 12, 12, 3072), num_frames=16, image_size=224), short_side=224),
    "videomae_large": _m("videomae", "VideoMAE ViT-L/16, 16x4, fine-tuned on Kinetics-400",
                         "MCG-NJU/videomae-large-finetuned-kinetics", 16, 4, 224, IMAGENET_MEAN, IMAGENET_STD,
                         304.27, 597, 84.7, 96.5, "5 clips x 3 crops", VIDEOMAE_SRC,
                         dict(_vit(1024, 24, 16, 4096), num_frames=16, image_size=224), short_side=224),
    "videomae_huge": _m("videomae", "VideoMAE ViT-H/16, 16x4, fine-tuned on Kinetics-400",
                        "MCG-NJU/videomae-huge-finetuned-kinetics", 16, 4, 224, IMAGENET_MEAN, IMAGENET_STD,
                        632.12, 1192, 86.6, 97.1, "5 clips x 3 crops", VIDEOMAE_SRC,
                        dict(_vit(1280, 32, 16, 5120), num_frames=16, image_size=224), short_side=224),
    "timesformer_base": _m("timesformer", "TimeSformer (divided space-time), 8x32 at 224, Kinetics-400",
                           "facebook/timesformer-base-finetuned-k400", 8, 32, 224, K400_MEAN, K400_STD,
                           121.57, 196, 77.9, 93.2, "1 clip x 3 crops", TIMESFORMER_SRC,
                           dict(_vit(768, 12, 12, 3072), num_frames=8, image_size=224), fixed_input=False,
                           short_side=224),
    "timesformer_hr": _m("timesformer", "TimeSformer-HR, 16x16 at 448, Kinetics-400",
                         "facebook/timesformer-hr-finetuned-k400", 16, 16, 448, K400_MEAN, K400_STD,
                         122.02, 1703, 79.6, 94.0, "1 clip x 3 crops", TIMESFORMER_SRC,
                         dict(_vit(768, 12, 12, 3072), num_frames=16, image_size=448), fixed_input=False,
                         short_side=448),
    "timesformer_large": _m("timesformer", "TimeSformer-L, 96x4 at 224, Kinetics-400",
                            "facebook/timesformer-large-finetuned-k400", 96, 4, 224, K400_MEAN, K400_STD,
                            121.63, 2380, 80.6, 94.7, "1 clip x 3 crops", TIMESFORMER_SRC,
                            dict(_vit(768, 12, 12, 3072), num_frames=96, image_size=224), fixed_input=False,
                            short_side=224),
    "vivit_base": _m("vivit", "ViViT-B/16x2 (spatio-temporal attention), 32x2 at 224, Kinetics-400",
                     "google/vivit-b-16x2-kinetics400", 32, 2, 224, HALF, HALF,
                     88.95, 455.2, 80.0, None, "4 views", VIVIT_SRC,
                     dict(_vit(768, 12, 12, 3072), num_frames=32, image_size=224), short_side=256),
    "vjepa2_large": _m("vjepa2", "V-JEPA 2 ViT-L/16 encoder (self-supervised) + attentive probe, 256 px",
                       "facebook/vjepa2-vitl-fpc64-256", 16, 4, 256, IMAGENET_MEAN, IMAGENET_STD,
                       353.63, 935, None, None, None, "",
                       dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, mlp_ratio=4.0,
                            frames_per_clip=64, crop_size=256), fixed_input=False, short_side=292),
    "vjepa2_huge": _m("vjepa2", "V-JEPA 2 ViT-H/16 encoder (self-supervised) + attentive probe, 256 px",
                      "facebook/vjepa2-vith-fpc64-256", 16, 4, 256, IMAGENET_MEAN, IMAGENET_STD,
                      709.23, 1796, None, None, None, "",
                      dict(hidden_size=1280, num_hidden_layers=32, num_attention_heads=16, mlp_ratio=4.0,
                           frames_per_clip=64, crop_size=256), fixed_input=False, short_side=292),
    "vjepa2_giant": _m("vjepa2", "V-JEPA 2 ViT-g/16 encoder (self-supervised) + attentive probe, 256 px",
                       "facebook/vjepa2-vitg-fpc64-256", 16, 4, 256, IMAGENET_MEAN, IMAGENET_STD,
                       1105.99, 2734, None, None, None, "",
                       dict(hidden_size=1408, num_hidden_layers=40, num_attention_heads=22, mlp_ratio=48 / 11,
                            frames_per_clip=64, crop_size=256), fixed_input=False, short_side=292),
    "vjepa2_giant_384": _m("vjepa2", "V-JEPA 2 ViT-g/16 encoder (self-supervised) + attentive probe, 384 px",
                           "facebook/vjepa2-vitg-fpc64-384", 16, 4, 384, IMAGENET_MEAN, IMAGENET_STD,
                           1105.99, 7579, None, None, None, "",
                           dict(hidden_size=1408, num_hidden_layers=40, num_attention_heads=22, mlp_ratio=48 / 11,
                                frames_per_clip=64, crop_size=384), fixed_input=False, short_side=438),
}
_ARGS = """Args:
        num_classes: Number of output classes (the size of the new classification head).
        revision: Hub revision (branch, tag or commit) of the repository id given to pretrained
            (which takes a Hub repository id, "default" for {hub}, or a save_pretrained folder);
            "main" when None. Read by the weights loader; it does not change the model.
        num_frames: Frames per clip the model is built for{frames_note}.
        image_size: Side of the square input in pixels{size_note}.
        hidden_size: Transformer width (tiny values build tiny models, e.g. for tests).
        num_hidden_layers: Transformer depth.
        num_attention_heads: Attention heads (must divide hidden_size).
{extra}"""
_EXTRA = {
    "videomae": "        intermediate_size: Width of the MLP in each block.\n",
    "timesformer": "        intermediate_size: Width of the MLP in each block.\n",
    "vivit": "        intermediate_size: Width of the MLP in each block.\n",
    "vjepa2": "        mlp_ratio: MLP width as a multiple of hidden_size.\n"
              "        num_pooler_layers: Self-attention layers of the attentive pooler head.\n"
              "        drop_path_rate: Stochastic depth rate.\n",
}


def _family_factory(family):
    """The factory of a family: its options are the config's size keys, named alike across families."""
    extra = {"videomae": ["intermediate_size"], "timesformer": ["intermediate_size"],
             "vivit": ["intermediate_size"], "vjepa2": ["mlp_ratio", "num_pooler_layers", "drop_path_rate"]}[family]

    def build(name, num_classes, **options):
        from vidzoo_transformers import models

        return models.create(name, MODELS[name], FAMILIES[family], num_classes, options)

    return build, extra


def _factory(name: str):
    """A named factory whose option defaults are the size of its Hub model."""
    meta = MODELS[name]
    family = meta["family"]
    build, extra = _family_factory(family)
    config = dict(meta["config"])
    fam = FAMILIES[family]
    defaults = dict(num_frames=config.pop(fam["frames_key"]), image_size=config.pop(fam["size_key"]), **config)
    if family == "vjepa2":
        defaults.update(num_pooler_layers=3, drop_path_rate=0.0)
    P = inspect.Parameter
    params = [P("num_classes", P.POSITIONAL_OR_KEYWORD, default=400, annotation=int),
              P("revision", P.KEYWORD_ONLY, default=None, annotation=str | None)]
    for opt in ["num_frames", "image_size", "hidden_size", "num_hidden_layers", "num_attention_heads", *extra]:
        value = defaults[opt]
        params.append(P(opt, P.KEYWORD_ONLY, default=value, annotation=type(value)))

    def factory(num_classes: int = 400, **kwargs):
        bound = factory.__signature__.bind(num_classes, **kwargs)
        bound.apply_defaults()
        args = dict(bound.arguments)
        args.pop("revision")  # the weights loader's (load_weights), not the model's
        return build(name, args.pop("num_classes"), **args)

    factory.__name__ = factory.__qualname__ = name
    factory.__signature__ = inspect.Signature(params)
    frames_note = "" if not meta.get("fixed_input") else " (the input must have exactly this many)"
    size_note = "" if not meta.get("fixed_input") else " (the input must be exactly this size)"
    factory.__doc__ = (f"{meta['description']} (Hugging Face transformers); input "
                       f"{'exactly ' if meta.get('fixed_input') else ''}num_frames x image_size^2.\n\n"
                       + _ARGS.format(hub=meta["hub_id"], frames_note=frames_note, size_note=size_note,
                                      extra=_EXTRA[family])).strip()
    return factory


FACTORIES = {name: _factory(name) for name in MODELS}


# ------------------------------------------------------------------------------ transforms
# Each family's preprocessing (its Hub image processor's mean/std and its clip), as a preset of
# vidzoo's Kinetics recipe (random short side and crop for training, centre crop for eval).
_PRESETS = {
    "videomae": ("VideoMAE recipe: 16 frames, short side 256, crop 224, ImageNet mean/std.",
                 dict(num_frames=16, mean=IMAGENET_MEAN, std=IMAGENET_STD)),
    "timesformer": ("TimeSformer recipe: 8 frames, short side 256, crop 224, mean/std 0.45/0.225.",
                    dict(num_frames=8, mean=K400_MEAN, std=K400_STD)),
    "vivit": ("ViViT recipe: 32 frames, short side 256, crop 224, pixels scaled to -1..1 (mean/std 0.5).",
              dict(num_frames=32, mean=HALF, std=HALF)),
    "vjepa2": ("V-JEPA 2 recipe: 16 frames, short side 292, crop 256, ImageNet mean/std.",
               dict(num_frames=16, crop_size=256, min_short_side=292, max_short_side=365, eval_short_side=292,
                    mean=IMAGENET_MEAN, std=IMAGENET_STD)),
}


def _presets() -> dict:
    from vidzoo.plugins import kinetics_transform, preset

    return {name: preset(kinetics_transform, summary, **defaults) for name, (summary, defaults) in _PRESETS.items()}


_INPUT = ("num_frames", "sampling_rate", "crop_size", "short_side", "mean", "std", "min_input", "fixed_input", "pathways")
# The evaluation recipe (issue 17): each Hub model's preprocessor_config.json (the image/video
# processor: resize of the shortest edge, bilinear, torchvision's antialiased resize, centre crop,
# rescale, normalise; ViViT's rescale with offset is mean/std 0.5) on frames picked as the
# source's test loader picks them: VideoMAE and ViViT every sampling_rate-th frame ("stride"),
# TimeSformer (SlowFast's decoder) linspace over the window ("uniform"), at 30 fps.
RECIPES = {
    "videomae": dict(temporal="stride", processor="VideoMAEImageProcessor"),
    "timesformer": dict(temporal="uniform", processor="VideoMAEImageProcessor"),
    "vivit": dict(temporal="stride", processor="VivitImageProcessor"),
    "vjepa2": dict(temporal="uniform", processor="VJEPA2VideoProcessor"),
}
VIEWS = {"5 clips x 3 crops": "5x3", "1 clip x 3 crops": "1x3", "4 views": "4x1"}
_FIGURES = ("params_m", "gflops", "kinetics400_top1", "kinetics400_top5")
_SPEC_EXTRA = ("family", "hub_id", "kinetics400_views", "kinetics400_source")


def spec(name: str) -> ModelSpec:
    """The typed spec of a registration, from its row of MODELS."""
    meta = MODELS[name]
    family = meta["family"]
    # V-JEPA 2's head is its attentive probe: the pooler and the Linear (its checkpoints are encoders)
    head = ("model.pooler", "model.classifier") if family == "vjepa2" else ("model.classifier",)
    extra = {k: meta[k] for k in _SPEC_EXTRA if k in meta}
    if meta.get("kinetics400_top1") is not None:  # a fine-tuned head (V-JEPA 2's repositories are encoders)
        extra["labels"] = "Kinetics-400 (Hub id2label)"
    given = InputConfig(**{k: meta[k] for k in _INPUT if k in meta}, **recipe(meta))
    return ModelSpec(
        classifier=head, load_weights=_weights_loader(meta["hub_id"]),
        input=given, transform=meta["transform"], input_config=_input_for(given),
        weights={"default": Weights(meta["weights_url"])},  # the Hub repository hub_id; "default" loads it
        figures={k: meta[k] for k in _FIGURES if meta.get(k) is not None},
        extra=extra)


def _input_for(given: InputConfig):
    """The input of a model built at another size (num_frames, image_size options): its frames, and
    its crop and short side scaled alike (a smaller model saved with save_pretrained, or a test's)."""

    def input_config(options: dict) -> InputConfig:
        import dataclasses

        frames = options.get("num_frames", given.num_frames)
        crop = options.get("image_size", given.crop_size)
        side = given.short_side and round(given.short_side * crop / given.crop_size)
        eval_crop = given.eval_crop_size and round(given.eval_crop_size * crop / given.crop_size)
        return dataclasses.replace(given, num_frames=frames, crop_size=crop, short_side=side, eval_crop_size=eval_crop,
                                   min_input=(frames, crop, crop) if given.fixed_input else given.min_input)

    return input_config


def recipe(meta: dict) -> dict:
    """The InputConfig recipe fields of a MODELS row (RECIPES, its views, the source)."""
    family = dict(RECIPES[meta["family"]])
    processor = family.pop("processor")
    # the processors (torchvision backend) resize the uint8 frames, then rescale and normalise
    return dict(fps=30, interpolation="bilinear", antialias=True, uint8_resize=True, views=VIEWS.get(meta.get("kinetics400_views")),
                source=f"transformers {processor} with the preprocessor_config.json of {meta['hub_id']}", **family)


def _weights_loader(default_repo: str):
    """The spec's weights loader: a Hub repository id (``default``: ``default_repo``, the model's own)
    or a save_pretrained folder, read by transformers (vidzoo_transformers.models.load)."""

    def load_weights(model, pretrained, sha256, options: dict):
        from vidzoo.errors import VidzooError
        from vidzoo_transformers import models

        if sha256:
            raise VidzooError("--backbone.sha256 checks a file or URL; Hub repositories are checked by their revision")
        return models.load(model, pretrained, options.get("revision"), default_repo)

    return load_weights


@hookimpl
def register_backbones(register):
    for name, factory in FACTORIES.items():
        register(name, factory, MODELS[name]["description"], spec=spec(name))


@hookimpl
def register_transforms(register):
    for name, factory in _presets().items():
        register(name, factory)
