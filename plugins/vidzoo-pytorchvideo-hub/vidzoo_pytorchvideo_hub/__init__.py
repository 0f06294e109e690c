"""vidzoo plugin: the Kinetics-400 models of PyTorchVideo's model zoo, with their zoo metadata.

Registers x3d_xs/s/m/l, slowfast_r50/r101, c2d_r50, i3d_r50, csn_r101, r2plus1d_r50,
mvit_base_16x4 and efficient_x3d_xs/s (the zoo's slow_r50 is vidzoo's built-in
``resnet3d50``) as backbones for any ``num_classes``, and a transform preset per zoo recipe,
among them ``slowfast``, which packs each clip into the ``[slow, fast]`` pathways SlowFast
takes. Metadata numbers are the zoo's (docs/source/model_zoo.md of pytorchvideo);
torch is imported only inside the factories.
"""

from __future__ import annotations

import dataclasses

from vidzoo import InputConfig, ModelSpec, Weights, hookimpl

__version__ = "0.1.0"

ZOO = "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics"
MEAN, STD = (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)


DESCRIPTIONS = {
    'x3d_xs': 'X3D-XS (PyTorchVideo zoo, 4x12)',
    'x3d_s': 'X3D-S (PyTorchVideo zoo, 13x6)',
    'x3d_m': 'X3D-M (PyTorchVideo zoo, 16x5)',
    'x3d_l': 'X3D-L (PyTorchVideo zoo, 16x5)',
    'slowfast_r50': 'SlowFast R50 (PyTorchVideo zoo, 8x8; input [slow, fast])',
    'slowfast_r101': 'SlowFast R101 (PyTorchVideo zoo, 8x8; input [slow, fast])',
    'c2d_r50': 'C2D R50 (PyTorchVideo zoo, 8x8)',
    'i3d_r50': 'I3D R50 (PyTorchVideo zoo, 8x8)',
    'csn_r101': 'CSN R101 (PyTorchVideo zoo, 32x2)',
    'r2plus1d_r50': 'R(2+1)D R50 (PyTorchVideo zoo, 16x4)',
    'mvit_base_16x4': 'MViT-B (PyTorchVideo zoo, 16x4); input = spatial_size/temporal_size options',
    'efficient_x3d_xs': 'EfficientX3D-XS for mobile CPU (PyTorchVideo zoo, 4x12)',
    'efficient_x3d_s': 'EfficientX3D-S for mobile CPU (PyTorchVideo zoo, 13x6)',
}

# frames x sampling_rate, crop, top-1, GFLOPs (one view) and params: PyTorchVideo's Kinetics-400 zoo table.
MODELS = {
    'x3d_xs': ModelSpec(
        classifier=('blocks.5.proj',),
        input=InputConfig(num_frames=4, sampling_rate=12, crop_size=182, short_side=182,
                          mean=MEAN, std=STD),
        transform='x3d_xs', weights={"default": Weights(f"{ZOO}/X3D_XS.pyth")},
        figures=dict(params_m=3.79, gflops=0.91, kinetics400_top1=69.12)),
    'x3d_s': ModelSpec(
        classifier=('blocks.5.proj',),
        input=InputConfig(num_frames=13, sampling_rate=6, crop_size=182, short_side=182,
                          mean=MEAN, std=STD),
        transform='x3d_s', weights={"default": Weights(f"{ZOO}/X3D_S.pyth")},
        figures=dict(params_m=3.79, gflops=2.96, kinetics400_top1=73.33)),
    'x3d_m': ModelSpec(
        classifier=('blocks.5.proj',),
        input=InputConfig(num_frames=16, sampling_rate=5, crop_size=224, short_side=256,
                          mean=MEAN, std=STD),
        transform='x3d_m', weights={"default": Weights(f"{ZOO}/X3D_M.pyth")},
        figures=dict(params_m=3.79, gflops=6.72, kinetics400_top1=75.94)),
    'x3d_l': ModelSpec(
        classifier=('blocks.5.proj',),
        input=InputConfig(num_frames=16, sampling_rate=5, crop_size=312, short_side=356,
                          mean=MEAN, std=STD),
        transform='x3d_l', weights={"default": Weights(f"{ZOO}/X3D_L.pyth")},
        figures=dict(params_m=6.15, gflops=26.64, kinetics400_top1=77.44)),
    'slowfast_r50': ModelSpec(
        classifier=('blocks.6.proj',),
        input=InputConfig(num_frames=32, sampling_rate=2, crop_size=224, short_side=256,
                          mean=MEAN, std=STD, pathways=(4, 1), min_input=(8, 32, 32)),
        transform='slowfast', weights={"default": Weights(f"{ZOO}/SLOWFAST_8x8_R50.pyth")},
        figures=dict(params_m=34.57, gflops=65.71, kinetics400_top1=76.94), extra=dict(alpha=4)),
    'slowfast_r101': ModelSpec(
        classifier=('blocks.6.proj',),
        input=InputConfig(num_frames=32, sampling_rate=2, crop_size=224, short_side=256,
                          mean=MEAN, std=STD, pathways=(4, 1), min_input=(8, 32, 32)),
        transform='slowfast', weights={"default": Weights(f"{ZOO}/SLOWFAST_8x8_R101.pyth")},
        figures=dict(params_m=62.83, gflops=127.2, kinetics400_top1=77.9), extra=dict(alpha=4)),
    'c2d_r50': ModelSpec(
        classifier=('blocks.6.proj',),
        input=InputConfig(num_frames=8, sampling_rate=8, crop_size=224, short_side=256,
                          mean=MEAN, std=STD, min_input=(2, 32, 32)),
        transform='kinetics', weights={"default": Weights(f"{ZOO}/C2D_8x8_R50.pyth")},
        figures=dict(params_m=24.33, gflops=25.89, kinetics400_top1=71.46)),
    'i3d_r50': ModelSpec(
        classifier=('blocks.6.proj',),
        input=InputConfig(num_frames=8, sampling_rate=8, crop_size=224, short_side=256,
                          mean=MEAN, std=STD, min_input=(2, 32, 32)),
        transform='kinetics', weights={"default": Weights(f"{ZOO}/I3D_8x8_R50.pyth")},
        figures=dict(params_m=28.04, gflops=37.53, kinetics400_top1=73.27)),
    'csn_r101': ModelSpec(
        classifier=('blocks.5.proj',),
        input=InputConfig(num_frames=32, sampling_rate=2, crop_size=224, short_side=256,
                          mean=MEAN, std=STD),
        transform='csn', weights={"default": Weights(f"{ZOO}/CSN_32x2_R101.pyth")},
        figures=dict(params_m=22.21, gflops=75.62, kinetics400_top1=77.0)),
    'r2plus1d_r50': ModelSpec(
        classifier=('blocks.5.proj',),
        input=InputConfig(num_frames=16, sampling_rate=4, crop_size=224, short_side=256,
                          mean=MEAN, std=STD),
        transform='r2plus1d_16x4', weights={"default": Weights(f"{ZOO}/R2PLUS1D_16x4_R50.pyth")},
        figures=dict(params_m=28.11, gflops=76.45, kinetics400_top1=76.01)),
    'mvit_base_16x4': ModelSpec(
        classifier=('head.proj',),
        input=InputConfig(num_frames=16, sampling_rate=4, crop_size=224, short_side=256,
                          mean=MEAN, std=STD, min_input=(16, 224, 224), fixed_input=True),
        transform='mvit_16x4', weights={"default": Weights(f"{ZOO}/MVIT_B_16x4.pyth")},
        figures=dict(params_m=36.61, gflops=70.8, kinetics400_top1=78.85)),
    # The zoo's mobile-CPU X3D variants (pytorchvideo.models.accelerator); the zoo table lists no accuracy for them.
    'efficient_x3d_xs': ModelSpec(
        classifier=('projection.model',),
        input=InputConfig(num_frames=4, sampling_rate=12, crop_size=160, short_side=160,
                          mean=MEAN, std=STD),
        transform='efficient_x3d_xs', weights={"default": Weights(f"{ZOO}/efficient_x3d_xs_original_form.pyth")},
        figures=dict(params_m=3.79)),
    'efficient_x3d_s': ModelSpec(
        classifier=('projection.model',),
        input=InputConfig(num_frames=13, sampling_rate=6, crop_size=160, short_side=160,
                          mean=MEAN, std=STD),
        transform='efficient_x3d_s', weights={"default": Weights(f"{ZOO}/efficient_x3d_s_original_form.pyth")},
        figures=dict(params_m=3.79)),
}


# The evaluation recipe of each model (issue 17): PyTorchVideo's Torch Hub tutorial
# (UniformTemporalSubsample of num_frames x sampling_rate frames of 30 fps video, /255, Normalize,
# ShortSideScale bilinear, CenterCrop of the whole short side: x3d_xs/s 182, x3d_m 256, slowfast
# and slow 256) and SlowFast's test configs (TEST_CROP_SIZE on a short side of the same size,
# NUM_ENSEMBLE_VIEWS x NUM_SPATIAL_CROPS: 10x3; MViT-B 16x4: 224, 5x1).
HUB_SOURCE = "PyTorchVideo Torch Hub tutorial transforms and SlowFast's test config ({config})"
RECIPES = {
    "x3d_xs": dict(eval_crop_size=182, short_side=182, views="10x3", config="X3D_XS"),
    "x3d_s": dict(eval_crop_size=182, short_side=182, views="10x3", config="X3D_S"),
    "x3d_m": dict(eval_crop_size=256, short_side=256, views="10x3", config="X3D_M"),
    "x3d_l": dict(eval_crop_size=356, short_side=356, views="10x3", config="X3D_L"),
    "slowfast_r50": dict(eval_crop_size=256, views="10x3", config="SLOWFAST_8x8_R50"),
    "slowfast_r101": dict(eval_crop_size=256, views="10x3", config="SLOWFAST_8x8_R101"),
    "c2d_r50": dict(eval_crop_size=256, views="10x3", config="C2D_8x8_R50"),
    "i3d_r50": dict(eval_crop_size=256, views="10x3", config="I3D_8x8_R50"),
    "csn_r101": dict(eval_crop_size=256, views="10x3", config="CSN_32x2_R101"),
    "r2plus1d_r50": dict(eval_crop_size=256, views="10x3", config="R2PLUS1D_16x4_R50"),
    "mvit_base_16x4": dict(eval_crop_size=224, views="5x1", config="MVIT_B_16x4_CONV"),
    "efficient_x3d_xs": dict(eval_crop_size=160, config="the accelerator tutorial's 160"),
    "efficient_x3d_s": dict(eval_crop_size=160, config="the accelerator tutorial's 160"),
}
for _name, _recipe in RECIPES.items():
    _recipe = dict(_recipe)
    _source = HUB_SOURCE.format(config=_recipe.pop("config"))
    MODELS[_name] = dataclasses.replace(MODELS[_name], input=dataclasses.replace(
        MODELS[_name].input, fps=30, temporal="uniform", interpolation="bilinear", source=_source, **_recipe))


def _build(name, num_classes, **kwargs):
    from vidzoo_pytorchvideo_hub import models

    return models.build(name, num_classes, **kwargs)


def x3d_xs(num_classes: int = 400, dropout: float = 0.5):
    """X3D-XS (4x12 at 182 px in the zoo); any input size.

    Args:
        num_classes: Number of output classes.
        dropout: Dropout rate before the classifier.
    """
    return _build("x3d_xs", num_classes, dropout_rate=dropout)


def x3d_s(num_classes: int = 400, dropout: float = 0.5):
    """X3D-S (13x6 at 182 px in the zoo); any input size.

    Args:
        num_classes: Number of output classes.
        dropout: Dropout rate before the classifier.
    """
    return _build("x3d_s", num_classes, dropout_rate=dropout)


def x3d_m(num_classes: int = 400, dropout: float = 0.5):
    """X3D-M (16x5 at 224 px in the zoo); any input size.

    Args:
        num_classes: Number of output classes.
        dropout: Dropout rate before the classifier.
    """
    return _build("x3d_m", num_classes, dropout_rate=dropout)


def x3d_l(num_classes: int = 400, dropout: float = 0.5):
    """X3D-L (16x5 at 312 px in the zoo); any input size.

    Args:
        num_classes: Number of output classes.
        dropout: Dropout rate before the classifier.
    """
    return _build("x3d_l", num_classes, dropout_rate=dropout)


def slowfast_r50(num_classes: int = 400, dropout: float = 0.5):
    """SlowFast R50 (8x8); takes [slow, fast] (the `slowfast` transform packs them), fast >= 8x32x32.

    Args:
        num_classes: Number of output classes.
        dropout: Dropout rate before the classifier.
    """
    return _build("slowfast_r50", num_classes, dropout_rate=dropout)


def slowfast_r101(num_classes: int = 400, dropout: float = 0.5):
    """SlowFast R101 (8x8); takes [slow, fast] (the `slowfast` transform packs them), fast >= 8x32x32.

    Args:
        num_classes: Number of output classes.
        dropout: Dropout rate before the classifier.
    """
    return _build("slowfast_r101", num_classes, dropout_rate=dropout)


def c2d_r50(num_classes: int = 400, dropout: float = 0.5):
    """C2D R50 (8x8); any input of at least 2 frames.

    Args:
        num_classes: Number of output classes.
        dropout: Dropout rate before the classifier.
    """
    return _build("c2d_r50", num_classes, dropout_rate=dropout)


def i3d_r50(num_classes: int = 400, dropout: float = 0.5):
    """I3D R50 (8x8); any input of at least 2 frames.

    Args:
        num_classes: Number of output classes.
        dropout: Dropout rate before the classifier.
    """
    return _build("i3d_r50", num_classes, dropout_rate=dropout)


def csn_r101(num_classes: int = 400, dropout: float = 0.5):
    """Channel-separated network R101 (32x2); any input size.

    Args:
        num_classes: Number of output classes.
        dropout: Dropout rate before the classifier.
    """
    return _build("csn_r101", num_classes, dropout_rate=dropout)


def r2plus1d_r50(num_classes: int = 400, dropout: float = 0.5):
    """R(2+1)D R50 (16x4); any input size.

    Args:
        num_classes: Number of output classes.
        dropout: Dropout rate before the classifier.
    """
    from vidzoo_pytorchvideo_hub import models

    # The hub builder fixes dropout_rate=0.5 itself; set the layer afterwards.
    model = models.build("r2plus1d_r50", num_classes)
    model.blocks[-1].dropout.p = dropout
    return model


def mvit_base_16x4(num_classes: int = 400, spatial_size: int = 224, temporal_size: int = 16, dropout: float = 0.5):
    """MViT-B 16x4; the input must be temporal_size x spatial_size^2 (the zoo weights: 16x224x224).

    Args:
        num_classes: Number of output classes.
        spatial_size: Input height and width (positional embeddings are sized for it).
        temporal_size: Input frames.
        dropout: Dropout rate before the classifier.
    """
    return _build("mvit_base_16x4", num_classes, spatial_size=spatial_size,
                  temporal_size=temporal_size, head_dropout_rate=dropout)


def efficient_x3d_xs(num_classes: int = 400, dropout: float = 0.5):
    """EfficientX3D-XS (mobile-CPU blocks, 4x12 at 160 px); any input size.

    Args:
        num_classes: Number of output classes.
        dropout: Dropout rate before the classifier.
    """
    return _build("efficient_x3d_xs", num_classes, dropout=dropout)


def efficient_x3d_s(num_classes: int = 400, dropout: float = 0.5):
    """EfficientX3D-S (mobile-CPU blocks, 13x6 at 160 px); any input size.

    Args:
        num_classes: Number of output classes.
        dropout: Dropout rate before the classifier.
    """
    return _build("efficient_x3d_s", num_classes, dropout=dropout)


FACTORIES = {f.__name__: f for f in (x3d_xs, x3d_s, x3d_m, x3d_l, slowfast_r50, slowfast_r101, c2d_r50, i3d_r50,
                                     csn_r101, r2plus1d_r50, mvit_base_16x4, efficient_x3d_xs, efficient_x3d_s)}


# ------------------------------------------------------------------------------ transforms
Triple = tuple[float, float, float]
# name: (summary, defaults) of presets of the core's Kinetics recipe (mean/std are the zoo's).
_PRESETS = {
    "x3d_xs": ("X3D-XS recipe: 4 frames (sampling rate 12), short side 182, crop 182.",
               dict(num_frames=4, crop_size=182, min_short_side=182, max_short_side=227, eval_short_side=182)),
    "x3d_s": ("X3D-S recipe: 13 frames (sampling rate 6), short side 182, crop 182.",
              dict(num_frames=13, crop_size=182, min_short_side=182, max_short_side=227, eval_short_side=182)),
    "x3d_m": ("X3D-M recipe: 16 frames (sampling rate 5), short side 256, crop 224.", dict(num_frames=16)),
    "x3d_l": ("X3D-L recipe: 16 frames (sampling rate 5), short side 356, crop 312.",
              dict(num_frames=16, crop_size=312, min_short_side=356, max_short_side=445, eval_short_side=356)),
    "csn": ("CSN recipe: 32 frames (sampling rate 2), short side 256, crop 224.", dict(num_frames=32)),
    "r2plus1d_16x4": ("R(2+1)D 16x4 recipe: 16 frames (sampling rate 4), short side 256, crop 224.",
                      dict(num_frames=16)),
    "mvit_16x4": ("MViT-B 16x4 recipe: 16 frames (sampling rate 4), short side 256, crop 224.", dict(num_frames=16)),
    "efficient_x3d_xs": ("EfficientX3D-XS recipe: 4 frames (sampling rate 12), short side 160, crop 160.",
                         dict(num_frames=4, crop_size=160, min_short_side=160, max_short_side=200,
                              eval_short_side=160)),
    "efficient_x3d_s": ("EfficientX3D-S recipe: 13 frames (sampling rate 6), short side 160, crop 160.",
                        dict(num_frames=13, crop_size=160, min_short_side=160, max_short_side=200,
                             eval_short_side=160)),
}


def _presets() -> dict:
    from vidzoo.plugins import kinetics_transform, preset

    return {name: preset(kinetics_transform, summary, mean=MEAN, std=STD, **defaults)
            for name, (summary, defaults) in _PRESETS.items()}


def _pack(transform, options: dict, alpha: int = 4):
    """Pack the Kinetics recipe's clip (the fast pathway) with its slow pathway.

    Args:
        alpha: Fast/slow frame-rate ratio; the slow pathway gets num_frames // alpha frames.
    """
    from vidzoo.errors import VidzooError
    from vidzoo_pytorchvideo_hub.models import PackPathways

    if alpha < 1 or options["num_frames"] < alpha:
        raise VidzooError(f"slowfast transform: need 1 <= alpha <= num_frames, got alpha={alpha}, "
                          f"num_frames={options['num_frames']}")
    return PackPathways(transform, alpha)


def slowfast_transform():
    """The `slowfast` preset: the Kinetics recipe (every option, `resize` too) at 32 frames, then packed."""
    from vidzoo.plugins import kinetics_transform, preset

    return preset(kinetics_transform, "SlowFast recipe, packed: `video` becomes [slow (num_frames/alpha "
                  "frames), fast (num_frames frames)]. The Kinetics recipe on num_frames frames (the fast "
                  "pathway), then the slow pathway keeps every alpha-th of them (pytorchvideo's PackPathway), "
                  "so the generic task feeds the list straight to the model.",
                  then=_pack, num_frames=32, mean=MEAN, std=STD)


@hookimpl
def register_backbones(register):
    import dataclasses

    from vidzoo.plugins import label_set

    for name, factory in FACTORIES.items():  # every zoo weight here is a Kinetics-400 head
        spec = dataclasses.replace(MODELS[name], categories=label_set("kinetics400"))
        register(name, factory, DESCRIPTIONS[name], spec=spec)


@hookimpl
def register_transforms(register):
    for name, factory in {**_presets(), "slowfast": slowfast_transform()}.items():
        register(name, factory)
