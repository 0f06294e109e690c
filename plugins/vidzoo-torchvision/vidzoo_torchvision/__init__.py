"""vidzoo plugin: torchvision's video backbones and their preprocessing presets.

Registers the nine ``torchvision.models.video`` classifiers as vidzoo backbones (any
``num_classes``), each with the metadata of its torchvision ``Weights`` enum (clip
length, crop, mean/std, parameters, GFLOPs, Kinetics-400 accuracy, weights URL and the
400 categories), and one transform preset per preprocessing recipe (``tv_r3d``,
``tv_s3d``, ``tv_mvit``, ``tv_swin3d``). torch is imported only inside the factories.
"""

from __future__ import annotations

import dataclasses

from vidzoo import InputConfig, ModelSpec, Weights, hookimpl

__version__ = "0.1.0"

TV_MEAN = (0.43216, 0.394666, 0.37645)  # torchvision's VideoClassification preset
TV_STD = (0.22803, 0.22145, 0.216989)
PV_MEAN, PV_STD = (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
BASE = "https://download.pytorch.org/models"

# From torchvision.models.video.*_Weights.KINETICS400_V1 (tests/test_metadata.py checks them
# against the installed torchvision). frames / sampling_rate: the clip_len and frame_rate
# (of 30 fps video) its accuracy was measured with.
DESCRIPTIONS = {
    'r3d_18': 'ResNet3D-18 (torchvision, Tran et al. 2018)',
    'mc3_18': 'Mixed Convolution 3D ResNet-18 (torchvision)',
    'r2plus1d_18': 'R(2+1)D-18 (torchvision)',
    's3d': 'S3D (torchvision, separable 3D Inception)',
    'mvit_v1_b': 'MViT v1 base (torchvision); input exactly 16x224x224',
    'mvit_v2_s': 'MViT v2 small (torchvision); input exactly 16x224x224',
    'swin3d_t': 'Video Swin Transformer tiny (torchvision)',
    'swin3d_s': 'Video Swin Transformer small (torchvision)',
    'swin3d_b': 'Video Swin Transformer base (torchvision)',
}
MODELS = {
    'r3d_18': ModelSpec(
        classifier=('fc',),
        input=InputConfig(num_frames=16, sampling_rate=2, crop_size=112, resize_size=(128, 171),
                          mean=TV_MEAN, std=TV_STD, min_input=(2, 16, 16)),
        transform='tv_r3d', weights={'KINETICS400_V1': Weights(f"{BASE}/r3d_18-b3b3357e.pth")},
        figures=dict(params_m=33.37, gflops=40.697, kinetics400_top1=63.2, kinetics400_top5=83.479)),
    'mc3_18': ModelSpec(
        classifier=('fc',),
        input=InputConfig(num_frames=16, sampling_rate=2, crop_size=112, resize_size=(128, 171),
                          mean=TV_MEAN, std=TV_STD, min_input=(2, 16, 16)),
        transform='tv_r3d', weights={'KINETICS400_V1': Weights(f"{BASE}/mc3_18-a90a0ba3.pth")},
        figures=dict(params_m=11.7, gflops=43.343, kinetics400_top1=63.96, kinetics400_top5=84.13)),
    'r2plus1d_18': ModelSpec(
        classifier=('fc',),
        input=InputConfig(num_frames=16, sampling_rate=2, crop_size=112, resize_size=(128, 171),
                          mean=TV_MEAN, std=TV_STD, min_input=(2, 16, 16)),
        transform='tv_r3d', weights={'KINETICS400_V1': Weights(f"{BASE}/r2plus1d_18-91a641e6.pth")},
        figures=dict(params_m=31.51, gflops=40.519, kinetics400_top1=67.463, kinetics400_top5=86.175)),
    's3d': ModelSpec(
        classifier=('classifier.1',),
        input=InputConfig(num_frames=128, sampling_rate=2, crop_size=224, resize_size=(256, 256),
                          mean=TV_MEAN, std=TV_STD, min_input=(8, 32, 32)),
        transform='tv_s3d', weights={'KINETICS400_V1': Weights(f"{BASE}/s3d-d76dad2f.pth")},
        figures=dict(params_m=8.32, gflops=17.979, kinetics400_top1=68.368, kinetics400_top5=88.05)),
    'mvit_v1_b': ModelSpec(
        classifier=('head.1',),
        input=InputConfig(num_frames=16, sampling_rate=4, crop_size=224, resize_size=(256,),
                          mean=PV_MEAN, std=PV_STD, min_input=(16, 224, 224), fixed_input=True),
        transform='tv_mvit', weights={'KINETICS400_V1': Weights(f"{BASE}/mvit_v1_b-dbeb1030.pth")},
        figures=dict(params_m=36.61, gflops=70.599, kinetics400_top1=78.477, kinetics400_top5=93.582)),
    'mvit_v2_s': ModelSpec(
        classifier=('head.1',),
        input=InputConfig(num_frames=16, sampling_rate=4, crop_size=224, resize_size=(256,),
                          mean=PV_MEAN, std=PV_STD, min_input=(16, 224, 224), fixed_input=True),
        transform='tv_mvit', weights={'KINETICS400_V1': Weights(f"{BASE}/mvit_v2_s-ae3be167.pth")},
        figures=dict(params_m=34.54, gflops=64.224, kinetics400_top1=80.757, kinetics400_top5=94.665)),
    'swin3d_t': ModelSpec(
        classifier=('head',),
        input=InputConfig(num_frames=32, sampling_rate=2, crop_size=224, resize_size=(256,),
                          mean=IMAGENET_MEAN, std=IMAGENET_STD, min_input=(1, 1, 1)),
        transform='tv_swin3d', weights={'KINETICS400_V1': Weights(f"{BASE}/swin3d_t-7615ae03.pth")},
        figures=dict(params_m=28.16, gflops=43.882, kinetics400_top1=77.715, kinetics400_top5=93.519)),
    'swin3d_s': ModelSpec(
        classifier=('head',),
        input=InputConfig(num_frames=32, sampling_rate=2, crop_size=224, resize_size=(256,),
                          mean=IMAGENET_MEAN, std=IMAGENET_STD, min_input=(1, 1, 1)),
        transform='tv_swin3d', weights={'KINETICS400_V1': Weights(f"{BASE}/swin3d_s-da41c237.pth")},
        figures=dict(params_m=49.82, gflops=82.841, kinetics400_top1=79.521, kinetics400_top5=94.158)),
    'swin3d_b': ModelSpec(
        classifier=('head',),
        input=InputConfig(num_frames=32, sampling_rate=2, crop_size=224, resize_size=(256,),
                          mean=IMAGENET_MEAN, std=IMAGENET_STD, min_input=(1, 1, 1)),
        transform='tv_swin3d', weights={'KINETICS400_V1': Weights(f"{BASE}/swin3d_b_1k-24f7c7c6.pth"), 'KINETICS400_IMAGENET22K_V1': Weights(f"{BASE}/swin3d_b_22k-7c6ae6fa.pth")},
        figures=dict(params_m=88.05, gflops=140.667, kinetics400_top1=79.427, kinetics400_top5=94.386)),
}

# The evaluation recipe of each weights (issue 17), from torchvision's own code: its
# references/video_classification reads clip_len frames of the video resampled to frame_rate fps
# (every sampling_rate-th frame of 30 fps video, picked by time: "stride"), and
# Weights.transforms() (transforms/_presets.py VideoClassification) resizes to resize_size
# (fixed HxW, or the short side for one number) bilinearly without antialiasing, centre-crops and
# normalises. Views: the weights' _docs, clips_per_video clips x 1 crop.
VIEWS = {"r3d_18": "5x1", "mc3_18": "5x1", "r2plus1d_18": "5x1", "s3d": "1x1", "mvit_v1_b": "5x1",
         "mvit_v2_s": "5x1", "swin3d_t": "12x1", "swin3d_s": "12x1", "swin3d_b": "12x1"}
WEIGHTS_CLASS = {"r3d_18": "R3D_18", "mc3_18": "MC3_18", "r2plus1d_18": "R2Plus1D_18", "s3d": "S3D",
                 "mvit_v1_b": "MViT_V1_B", "mvit_v2_s": "MViT_V2_S", "swin3d_t": "Swin3D_T", "swin3d_s": "Swin3D_S",
                 "swin3d_b": "Swin3D_B"}
for _name, _spec in MODELS.items():
    MODELS[_name] = dataclasses.replace(_spec, input=dataclasses.replace(
        _spec.input, fps=30, temporal="stride", interpolation="bilinear", antialias=False, views=VIEWS[_name],
        source=f"torchvision {WEIGHTS_CLASS[_name]}_Weights.KINETICS400_V1.transforms() and "
               f"references/video_classification"))


def _finish(name: str, num_classes: int, **kwargs):
    from vidzoo_torchvision import models

    return models.build(name, num_classes, **kwargs)


def r3d_18(num_classes: int = 400):
    """ResNet3D-18 (torchvision), any input of at least 2x16x16.

    Args:
        num_classes: Number of output classes.
    """
    return _finish("r3d_18", num_classes)


def mc3_18(num_classes: int = 400):
    """Mixed Convolution 3D ResNet-18 (torchvision), any input of at least 2x16x16.

    Args:
        num_classes: Number of output classes.
    """
    return _finish("mc3_18", num_classes)


def r2plus1d_18(num_classes: int = 400):
    """R(2+1)D-18 (torchvision), any input of at least 2x16x16.

    Args:
        num_classes: Number of output classes.
    """
    return _finish("r2plus1d_18", num_classes)


def s3d(num_classes: int = 400, dropout: float = 0.2):
    """S3D (torchvision); the head pool shrinks to small inputs (at least 8x32x32).

    Args:
        num_classes: Number of output classes.
        dropout: Dropout rate before the classifier.
    """
    return _finish("s3d", num_classes, dropout=dropout)


def mvit_v1_b(num_classes: int = 400, dropout: float = 0.5, stochastic_depth_prob: float = 0.2):
    """MViT v1 base (torchvision); its positional embedding fixes the input to 16x224x224.

    Args:
        num_classes: Number of output classes.
        dropout: Dropout rate before the classifier.
        stochastic_depth_prob: Stochastic depth rate.
    """
    return _finish("mvit_v1_b", num_classes, dropout=dropout,
                   stochastic_depth_prob=stochastic_depth_prob)


def mvit_v2_s(num_classes: int = 400, dropout: float = 0.5, stochastic_depth_prob: float = 0.2):
    """MViT v2 small (torchvision); its relative positions fix the input to 16x224x224.

    Args:
        num_classes: Number of output classes.
        dropout: Dropout rate before the classifier.
        stochastic_depth_prob: Stochastic depth rate.
    """
    return _finish("mvit_v2_s", num_classes, dropout=dropout,
                   stochastic_depth_prob=stochastic_depth_prob)


def swin3d_t(num_classes: int = 400):
    """Video Swin Transformer tiny (torchvision), any input size.

    Args:
        num_classes: Number of output classes.
    """
    return _finish("swin3d_t", num_classes)


def swin3d_s(num_classes: int = 400):
    """Video Swin Transformer small (torchvision), any input size.

    Args:
        num_classes: Number of output classes.
    """
    return _finish("swin3d_s", num_classes)


def swin3d_b(num_classes: int = 400):
    """Video Swin Transformer base (torchvision), any input size.

    Args:
        num_classes: Number of output classes.
    """
    return _finish("swin3d_b", num_classes)


FACTORIES = {f.__name__: f for f in (r3d_18, mc3_18, r2plus1d_18, s3d, mvit_v1_b, mvit_v2_s,
                                     swin3d_t, swin3d_s, swin3d_b)}


# Transform presets: the core's Kinetics recipe with each weights' preprocessing as defaults
# (torchvision's VideoClassification preset: resize, center crop, its mean/std).
def _presets() -> dict:
    from vidzoo.plugins import kinetics_transform, preset

    return {
        "tv_r3d": preset(kinetics_transform,
                         "torchvision R3D/MC3/R(2+1)D preprocessing: 16 frames, short side 128, crop 112, torchvision mean/std.",
                         num_frames=16, crop_size=112, min_short_side=128, max_short_side=160, eval_short_side=128,
                         mean=TV_MEAN, std=TV_STD),
        "tv_s3d": preset(kinetics_transform,
                         "torchvision S3D preprocessing: 128 frames, short side 256, crop 224, torchvision mean/std.",
                         num_frames=128, mean=TV_MEAN, std=TV_STD),
        "tv_mvit": preset(kinetics_transform,
                          "torchvision MViT preprocessing: 16 frames, short side 256, crop 224, mean/std 0.45/0.225.",
                          num_frames=16, mean=PV_MEAN, std=PV_STD),
        "tv_swin3d": preset(kinetics_transform,
                            "torchvision Video Swin preprocessing: 32 frames, short side 256, crop 224, ImageNet mean/std.",
                            num_frames=32, mean=IMAGENET_MEAN, std=IMAGENET_STD),
    }


@hookimpl
def register_backbones(register):
    from vidzoo.plugins import label_set

    for name, factory in FACTORIES.items():  # every torchvision video weight is a Kinetics-400 head
        spec = dataclasses.replace(MODELS[name], categories=label_set("kinetics400"))
        register(name, factory, DESCRIPTIONS[name], spec=spec)


@hookimpl
def register_transforms(register):
    for name, factory in _presets().items():
        register(name, factory)
