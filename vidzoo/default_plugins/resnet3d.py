"""Built-in backbone: the 3D ResNet-50 of the PyTorchVideo tutorial recipe (pytorchvideo's slow_r50)."""

from __future__ import annotations

from vidzoo.plugins.hookspecs import hookimpl
from vidzoo.plugins.labels import label_set
from vidzoo.plugins.specs import InputConfig, ModelSpec, Weights

SLOW_R50_URL = "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics/SLOW_8x8_R50.pyth"


def resnet3d50(num_classes: int = 400, dropout: float = 0.5):
    """3D ResNet-50 (pytorchvideo create_resnet, slow_r50 settings), any input size.

    Args:
        num_classes: Number of output classes.
        dropout: Dropout rate before the classifier.
    """
    import torch.nn as nn
    from pytorchvideo.models.resnet import create_resnet

    from vidzoo.models.layers import ClampedAvgPool3d

    # slow_r50's settings, its head pool included: (8, 7, 7) windows at stride 1, then their mean
    # (at the published 256 crop: the mean of four overlapping 7x7 windows of the 8x8 map, not a
    # global mean), clamped to smaller inputs so that any T x H x W works; no parameters, so
    # state dicts are identical.
    model = create_resnet(
        input_channel=3,
        model_depth=50,
        model_num_class=num_classes,
        norm=nn.BatchNorm3d,
        activation=nn.ReLU,
        dropout_rate=dropout,
        stem_conv_kernel_size=(1, 7, 7),
        head_pool=lambda kernel_size, stride, padding: ClampedAvgPool3d(kernel_size, stride),
        head_pool_kernel_size=(8, 7, 7),
    )
    return model


@hookimpl
def register_backbones(register):
    register(
        "resnet3d50",
        resnet3d50,
        "3D ResNet-50 (Slow 8x8 R50), the PyTorchVideo Kinetics recipe's model",
        spec=ModelSpec(
            classifier=("blocks.5.proj",),
            # The evaluation recipe (issue 17): PyTorchVideo's Torch Hub tutorial for slow_r50 (8 frames
            # of a 64-frame window at 30 fps, short side 256, centre crop 256) and SlowFast's test of
            # 10 clips x 3 crops of 256 (configs/Kinetics/SLOW_8x8_R50.yaml); training crops 224.
            input=InputConfig(num_frames=8, sampling_rate=8, crop_size=224, mean=(0.45, 0.45, 0.45),
                              std=(0.225, 0.225, 0.225), fps=30, short_side=256, eval_crop_size=256, views="10x3",
                              source="PyTorchVideo Torch Hub tutorial (slow_r50) and SlowFast's SLOW_8x8_R50 test config"),
            transform="kinetics",
            weights={"default": Weights(SLOW_R50_URL)},
            categories=label_set("kinetics400"),
            figures=dict(params_m=32.45, gflops=54.52, kinetics400_top1=74.58),
        ),
    )
