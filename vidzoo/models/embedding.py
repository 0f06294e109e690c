"""The features a model computes before its classifier: its classifier's input, caught by a forward
pre-hook on the module the checkpoint or spec declares (`vidzoo embed`, a head on cached features)."""

from __future__ import annotations

from vidzoo.errors import VidzooError


def classifier_module(model, classifier) -> str:
    """The module path of the first classifier module (in model order) of ``classifier``: parameter
    names (a checkpoint's hparams) or module paths (a spec's); its input is the embedding."""
    names = dict(model.named_modules())
    wanted = set(classifier or ())
    for name, module in model.named_modules():
        if name and (name in wanted or any(f"{name}.{p}" in wanted for p, _ in module.named_parameters(recurse=False))):
            return name
    if not wanted:
        raise VidzooError("this model declares no classifier (its spec's `classifier`), so vidzoo cannot tell which "
                          "features come before it; embeddings need a backbone whose spec names its head")
    raise VidzooError(f"the model has no module of its declared classifier ({', '.join(sorted(wanted)[:3])}); "
                      f"known modules: {', '.join(list(names)[:5])}...")


def pool(x, module):
    """One vector per clip from a classifier's input: a Linear's last axis is the feature axis (other
    axes, such as pytorchvideo's (B, T, H, W, C) head input, are averaged); a convolution's is axis 1."""
    import torch

    if isinstance(x, (list, tuple)):
        x = x[0]
    x = x.float()
    if isinstance(module, torch.nn.Linear) or not isinstance(module, torch.nn.modules.conv._ConvNd):
        features = getattr(module, "in_features", None) or x.shape[-1]
        return x.reshape(x.shape[0], -1, features).mean(1)
    return x.flatten(2).mean(2)


class FeatureTap:
    """``with FeatureTap(model, classifier) as tap: model(x); tap.features`` -> (B, D): the classifier's
    input, caught by a forward pre-hook (removed on exit)."""

    def __init__(self, model, classifier):
        self.name = classifier_module(model, classifier)
        self.module = dict(model.named_modules())[self.name]
        self.features = None

    def _hook(self, module, args):
        self.features = pool(args[0], module)

    def __enter__(self) -> "FeatureTap":
        self._handle = self.module.register_forward_pre_hook(self._hook)
        return self

    def __exit__(self, *exc) -> None:
        self._handle.remove()
