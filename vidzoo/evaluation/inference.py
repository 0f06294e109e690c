"""Using a trained model: rebuild it from a checkpoint, or a published one from its registry name,
and predict (its views: vidzoo.evaluation.views). One module (over 350 lines) on purpose: the
Predictor users get, whose predict, timeline and embed methods call into their own modules.

``vidzoo.load(CKPT)`` and ``vidzoo.load("x3d_m")`` return a ``Predictor``; ``vidzoo test``, ``vidzoo predict``,
``vidzoo export`` and ``vidzoo serve`` are built on it. A vidzoo checkpoint carries everything
needed: how to rebuild its model (a registry name and options, or a user's module's class path
and constructor arguments), the class names, and the whole run config (dataset and transform
names and options), so the model is rebuilt by the model layer (``vidzoo.models.builder``) and
its evaluation transform (the run's transform with split "val") through the registry; no other
flag is needed, and neither Lightning nor the training code is imported. ``model=`` gives the
module itself, for a class that cannot be imported here.
"""

from __future__ import annotations

import inspect
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from vidzoo.errors import UnknownNameError, VidzooError

from vidzoo.data import VIDEO_EXTENSIONS  # one list for every reader
from vidzoo.evaluation.views import ViewMaker, num_views, parse_views, read_error, select_views

DEFAULT_CLIP_DURATION = 2.0
CPU_BATCH_VALUES = 1_000_000  # input values per CPU forward pass when none is given (clips_per_forward)


def find_videos(inputs: list[str]) -> list[str]:
    """Files as given; folders walked (sorted) for video files."""
    out = []
    for item in inputs:
        p = Path(item).expanduser()
        if p.is_dir():
            for dirpath, dirnames, names in os.walk(p):
                dirnames.sort()
                out.extend(os.path.join(dirpath, n) for n in sorted(names)
                           if n.lower().endswith(VIDEO_EXTENSIONS) and not n.startswith("."))
        else:
            out.append(str(p))
    return out


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# ---------------------------------------------------------------- checkpoints


def read_vidzoo_checkpoint(path) -> dict:
    """The checkpoint dict of a vidzoo run (torch.load weights_only=True), checked."""
    from vidzoo.io import safe_load

    p = Path(path).expanduser()
    if not p.exists():
        raise VidzooError(f"checkpoint {p} does not exist; pass the best.ckpt of a run (RUN_DIR/checkpoints/best.ckpt)")
    if p.is_dir():
        for candidate in (p / "checkpoints" / "best.ckpt", p / "best.ckpt"):
            if candidate.is_file():
                p = candidate
                break
        else:
            raise VidzooError(f"{p} is a folder without checkpoints/best.ckpt; pass a checkpoint file")
    ckpt = safe_load(p, what="checkpoint")
    hp = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
    if (not isinstance(hp, dict) or not ({"model", "backbone"} & set(hp)) or "class_names" not in hp
            or "state_dict" not in ckpt):
        raise VidzooError(f"{p} is not a vidzoo checkpoint (no backbone/class names in it); "
                          f"use the checkpoints/best.ckpt or last.ckpt of a `vidzoo run`")
    ckpt["_path"] = str(p)
    return ckpt


def _options(section: dict | None) -> dict:
    return {k: v for k, v in (section or {}).items() if k != "name"}


def _clip_duration(config: dict) -> float:
    dataset = config.get("dataset") or {}
    if "clip_duration" in dataset:
        return float(dataset["clip_duration"])
    try:  # a dataset plugin's own default
        from vidzoo.plugins import get_registry

        factory = get_registry().get("dataset", dataset["name"]).factory
        default = inspect.signature(factory).parameters["clip_duration"].default
        if isinstance(default, (int, float)):
            return float(default)
    except Exception:
        pass
    return DEFAULT_CLIP_DURATION


def eval_transform(config: dict) -> tuple[str, dict, object]:
    """(name, options, transform) of a run config's evaluation transform (split "val"), rebuilt
    through the registry: the run's transform, else its dataset's default transform."""
    from vidzoo.plugins import get_registry

    transform = (config or {}).get("transform") or {}
    if "name" not in transform:
        dataset = ((config or {}).get("dataset") or {}).get("name")
        if dataset is None:
            raise VidzooError("the checkpoint's config names no transform or dataset; cannot rebuild its input transform")
        transform = {"name": get_registry().get("dataset", dataset).spec.transform or dataset}
    options = _options(transform)
    return transform["name"], options, get_registry().get("transform", transform["name"]).factory("val", **options)


def no_classifier(name: str) -> str:
    return (f"{name} has no published classifier to label videos with (its published weights, if any, are a "
            f"backbone without a video classification head); fine-tune it on your classes with "
            f"`vidzoo run --backbone {name} --backbone.pretrained default --dataset ...`")


def published_config(spec, options: dict | None = None) -> dict:
    """The config a published Predictor rebuilds its input from: the spec's evaluation recipe (for
    these backbone options) as the transform, and its clip duration."""
    given = spec.input_config(options) if options and spec.input_config is not None else spec.input
    name, transform_options = given.eval_transform()
    config = {"transform": {"name": name, **transform_options}}
    duration = given.clip_duration()
    if duration:
        config["dataset"] = {"clip_duration": float(duration)}
    return config


def is_model_name(ref) -> bool:
    """Whether ``vidzoo.load``'s first argument names a registered model (NAME or NAME:VARIANT)
    rather than a checkpoint: a plain word that is not an existing file or folder."""
    text = str(ref)
    return (isinstance(ref, str) and not Path(text).expanduser().exists()
            and re.fullmatch(r"[A-Za-z0-9_.+-]+(:[A-Za-z0-9_.+-]+)?", text) is not None
            and not text.endswith((".ckpt", ".pt", ".pth", ".pyth", ".onnx", ".bin", ".safetensors")))


def open_predictor(ref, device: str | None = None, model=None, pretrained: str | None = None,
                   options: dict | None = None) -> "Predictor":
    """A checkpoint's Predictor, or a registered model's published one (see :func:`is_model_name`)."""
    if is_model_name(ref):
        if model is not None:
            raise VidzooError(f"model= is for a checkpoint whose class cannot be imported; {ref} is a registered model")
        return Predictor.from_published(ref, pretrained, device=device, **(options or {}))
    if pretrained is not None or options:
        raise VidzooError(f"pretrained= and backbone options go with a registered model name, not a checkpoint ({ref})")
    return Predictor.from_checkpoint(ref, device=device, model=model)


@dataclass
class Prediction:
    """One video's result: ``top`` is [(class name, probability)], best first."""

    path: str
    top: list[tuple[str, float]] = field(default_factory=list)
    probs: object = None  # torch tensor (num_classes,) of averaged probabilities
    views: int = 0

    def as_dict(self) -> dict:
        return {"path": self.path, "views": self.views,
                "top": [{"class": c, "probability": round(p, 6)} for c, p in self.top]}


class Predictor:
    """A trained vidzoo model ready to use: ``vidzoo.load(CKPT).predict("video.mp4")``.

    Attributes: ``model`` (torch.nn.Module, eval mode), ``class_names``, ``config`` (the run
    config), ``recipe`` (how the checkpoint rebuilds its model), ``model_name`` (its registry
    name or class name), ``transform`` (the run's evaluation transform, on sample dicts),
    ``clip_duration``, ``device``, ``checkpoint`` (path).
    """

    def __init__(self, model, class_names, config: dict, checkpoint: str = "", device: str | None = None,
                 recipe: dict | None = None, classifier: list[str] | None = None):
        from vidzoo.models.builder import module_recipe, recipe_classifier, recipe_label

        self.model = model
        self.class_names = list(class_names)
        self.config = dict(config or {})
        self.checkpoint = checkpoint
        self.recipe = dict(recipe or module_recipe(model))
        self.model_name = recipe_label(self.recipe)
        # the head's parameter names (a checkpoint's hparams) or module paths: what embed() taps
        self.classifier = list(classifier) if classifier else recipe_classifier(self.recipe, model)
        self.device = device or default_device()
        self.model.to(self.device).eval()
        self._channels_last = _use_channels_last(self.model, self.device)
        self._clip_values = None  # input values of one clip (clips_per_forward), found once
        # A model that carries its own video input (a head trained on cached features, with the model
        # that computed them) is fed that model's clips, not the feature run's.
        video_input = getattr(model, "video_input", None) or self.config
        self.transform_name, self.transform_options, self.transform = eval_transform(video_input)
        self.clip_duration = _clip_duration(video_input)

    @classmethod
    def from_checkpoint(cls, path, device: str | None = None, model=None) -> "Predictor":
        """The checkpoint's model, rebuilt from its recipe (or ``model``, given) with its weights."""
        from vidzoo.models.builder import ModelNotImportable, build_model, load_exactly, model_state, recipe_of

        ckpt = read_vidzoo_checkpoint(path)
        hp = ckpt["hyper_parameters"]
        where = ckpt["_path"]
        recipe = recipe_of(hp)
        if model is None:
            try:
                model = build_model(recipe, len(hp["class_names"])).model
            except ModelNotImportable as exc:
                raise VidzooError(f"checkpoint {where} holds a {exc.name} (module {exc.module}), which "
                                  f"{str(exc).partition(') ')[2]}; pass the model: "
                                  f"vidzoo.load({where}, model={exc.name}(...))") from None
            except UnknownNameError as exc:  # e.g. a user's module that an earlier vidzoo.train named module-X
                raise VidzooError(f"checkpoint {where}: {exc}; install its plugin, or pass the model: "
                                  f"vidzoo.load({where}, model=...)") from None
        load_exactly(model, model_state(ckpt), f"checkpoint {where}")
        return cls(model, hp["class_names"], hp.get("config") or {}, checkpoint=where, device=device, recipe=recipe,
                   classifier=hp.get("classifier"))

    @classmethod
    def from_published(cls, name: str, pretrained: str | None = None, device: str | None = None,
                       **options) -> "Predictor":
        """A registered model with its published weights and classifier, used as published.

        ``name``: a backbone name, ``NAME:VARIANT`` for another of the spec's weights; ``pretrained``:
        the weights (default: the spec's default), a file, URL or Hub id as ``--backbone.pretrained``
        takes them; ``options``: the backbone's options (its size, for a model saved at another one).
        Its class names are the spec's categories (or those the weights carry, a Hub config's
        id2label), its transform and clip duration the spec's evaluation recipe.
        """
        from vidzoo.models.builder import build_model
        from vidzoo.plugins import get_registry
        from vidzoo.plugins.labels import published_labels

        base, _, variant = name.partition(":")
        spec = get_registry().get("backbone", base).spec  # an unknown name: one line with close matches
        if published_labels(spec) is None:
            raise VidzooError(no_classifier(base))
        if variant and pretrained:
            raise VidzooError(f"{name} names the weights variant {variant!r} and pretrained names {pretrained!r}; "
                              f"give one of them")
        if variant and variant not in spec.weights:
            raise VidzooError(f"{base} has no weights variant {variant!r}; its variants: {', '.join(spec.weights)}")
        source = pretrained or variant or "default"
        categories = spec.categories
        ref = {"name": base, "options": options}
        built = build_model(ref, len(categories) if categories else None, pretrained=source)
        report = built.report
        if report.head and not categories:  # the names come with the weights: a head of their size
            built = build_model(ref, report.skipped_shape[0][1][0], pretrained=source)
            report = built.report
        if report.not_loaded:
            raise VidzooError(f"{report.source} is not the whole of {base}'s published model: {len(report.not_loaded)} "
                              f"of its {report.total} tensors are not in it or have another shape (e.g. "
                              f"{report.not_loaded[0]}); pass {base}'s own weights, or fine-tune them with "
                              f"`vidzoo run --backbone {base} --backbone.pretrained ...`")
        class_names = report.categories or categories
        return cls(built.model, class_names, published_config(spec, options), checkpoint=report.source,
                   device=device, recipe=built.recipe)

    def forward(self, video):
        """The model on a batch of clips (a list of pathways is copied: pytorchvideo's SlowFast overwrites it).

        On the CPU a 3D CNN runs in channels_last_3d (NDHWC, oneDNN's native layout): its weights once
        and each batch here; the same fp32 arithmetic, at 2 threads x3d_xs in about half the CPU time,
        at 1 thread even (docs/performance.md#timelines).
        A model whose code needs contiguous input (``.view`` on it) raises, and from then on gets
        contiguous input and weights."""
        if self._channels_last:
            import torch

            try:
                return self.model(_to_format(video, torch.channels_last_3d))
            except RuntimeError:
                self._channels_last = False
                _conv3d_format(self.model, torch.contiguous_format)
        return self.model(list(video) if isinstance(video, list) else video)

    # -- views and scores

    def view_maker(self, views: tuple[int, int] | str = (1, 1)) -> ViewMaker:
        if isinstance(views, str):
            views = parse_views(views)
        return ViewMaker(self.transform, self.clip_duration, tuple(views))

    def views(self, path: str, views: tuple[int, int] | str = (1, 1)):
        """The transformed views of one video: tensor (T*S, C, F, H, W) (a list of them, one per
        pathway, for multi-pathway transforms such as SlowFast's)."""
        return self.view_maker(views)(str(path))

    def scores(self, views_tensor, batch_size: int | None = None):
        """Softmax probabilities per view: tensor (N, num_classes), on the CPU; ``batch_size`` views a
        forward pass (default :meth:`clips_per_forward`)."""
        import torch

        batch_size = batch_size or self.clips_per_forward()
        outs = []
        with torch.inference_mode():
            for i in range(0, num_views(views_tensor), batch_size):
                batch = select_views(views_tensor, i, i + batch_size, self.device)
                logits = self.forward(batch).float()
                outs.append(torch.softmax(logits, dim=-1).cpu())
        return torch.cat(outs)

    def logits(self, clips):
        """Raw model output for a batch of transformed clips (B, C, F, H, W) (or a list of pathways)."""
        import torch

        with torch.inference_mode():
            return self.forward(select_views(clips, 0, num_views(clips), self.device)).float().cpu()

    def top(self, probs, k: int = 5) -> list[tuple[str, float]]:
        import torch

        k = max(1, min(k, len(self.class_names)))
        values, indices = torch.topk(probs, k)
        return [(self.class_names[i], float(v)) for v, i in zip(values.tolist(), indices.tolist())]

    def predict(self, path, top_k: int = 5, views: tuple[int, int] | str = "5x1",
                batch_size: int | None = None) -> Prediction:
        """Top-k classes of one video (probabilities averaged over its views).

        Raises VidzooError when the file cannot be read.
        """
        path = str(path)
        try:
            v = self.views(path, views)
        except VidzooError:
            raise
        except Exception as exc:
            raise VidzooError(read_error(path, exc)) from None
        probs = self.scores(v, batch_size).mean(0)
        return Prediction(path, self.top(probs, top_k), probs, views=num_views(v))

    def timeline(self, path, window: float | None = None, stride: float | None = None, smooth: int = 1,
                 min_segment: float = 0.0, top_k: int = 5, batch_size: int | None = None, on_segment=None):
        """Top-k over time of a video file or a live URL (rtsp://, http://, udp://, a device):
        windows of ``window`` seconds (default the run's clip duration) every ``stride`` seconds
        (default half a window), smoothed over ``smooth`` windows and merged into segments of at
        least ``min_segment`` seconds. Returns a vidzoo.evaluation.timeline.Timeline (``windows``,
        ``segments``, ``as_dict()``, ``to_csv()``, ``plot(png)``); one decoding pass, memory flat
        in the video's length. ``on_segment(segment, latency)`` is called as segments close.
        ``batch_size``: windows per forward pass (default :meth:`clips_per_forward`).

        Raises VidzooError when the source cannot be read.
        """
        from vidzoo.evaluation.timeline import run_timeline

        try:
            return run_timeline(self, str(path), window, stride, smooth, min_segment, top_k, batch_size,
                                on_segment=on_segment)
        except VidzooError:
            raise
        except Exception as exc:
            raise VidzooError(read_error(str(path), exc)) from None

    def embed(self, path, views: tuple[int, int] | str = "5x1", window: float | None = None,
              stride: float | None = None, batch_size: int | None = None):
        """The features the model computes before its classifier (the head its checkpoint declares):
        one row for the whole video (its views averaged, as predict() averages), or with ``window``
        (seconds) one row per window every ``stride`` seconds (default: ``window``), each the mean
        of its views. Returns vidzoo.evaluation.embedding.Embedding; VidzooError when unreadable."""
        from vidzoo.evaluation.embedding import check_window, embed_windows, video_windows

        check_window(window, stride)
        return embed_windows(self, str(path), video_windows(self.view_maker(views), str(path), window, stride),
                             batch_size)

    def clips_per_forward(self, most: int = 32, device=None) -> int:
        """Clips (views, windows) per forward pass on ``device`` (default the predictor's) when the
        caller gives none: ``most`` on an accelerator; on the CPU as many as make about a million
        input values, at most ``most`` (x3d_xs 2, resnet3d50 1), because bigger batches were slower
        there, not faster (docs/performance.md#timelines)."""
        if not str(device or self.device).startswith("cpu"):
            return most
        if self._clip_values is None:
            shapes = self.input_shape()
            self._clip_values = sum(math.prod(s) for s in (shapes if isinstance(shapes, list) else [shapes]))
        return max(1, min(most, CPU_BATCH_VALUES // self._clip_values))

    def input_shape(self) -> tuple[int, int, int, int] | list[tuple[int, int, int, int]]:
        """(C, T, H, W) the model takes (one per pathway for multi-pathway transforms), found by
        running the eval transform on a 320x256 clip of 64 frames."""
        import torch

        clip = torch.zeros(3, 64, 256, 320)
        out = self.transform({"video": clip, "label": 0, "video_index": 0, "video_name": "", "clip_start": 0.0})
        video = out["video"]
        if isinstance(video, (list, tuple)):
            return [tuple(v.shape) for v in video]
        return tuple(video.shape)

    def preprocessing(self) -> dict:
        """What a server needs to feed the model without vidzoo (for the built-in kinetics transform)."""
        o = self.transform_options
        d = {"transform": self.transform_name, "transform_options": o, "clip_duration": self.clip_duration}
        if {"mean", "std"} <= set(o):
            d.update(mean=list(o["mean"]), std=list(o["std"]), scale=1 / 255)
        return d

    def __repr__(self) -> str:
        return (f"Predictor({self.model_name!r}, {len(self.class_names)} classes, "
                f"checkpoint={self.checkpoint!r}, device={self.device!r})")


def _use_channels_last(model, device: str) -> bool:
    """Put a 3D CNN's Conv3d weights in channels_last_3d on the CPU (see Predictor.forward); whether it was."""
    import torch

    if str(device) != "cpu" or not any(isinstance(m, torch.nn.Conv3d) for m in model.modules()):
        return False
    _conv3d_format(model, torch.channels_last_3d)
    return True


def _conv3d_format(model, memory_format) -> None:
    import torch

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv3d):  # module.to(memory_format=) would also reach 4D weights
                m.weight.data = m.weight.data.contiguous(memory_format=memory_format)


def _to_format(video, memory_format):
    """A batch (or list of pathways, copied) with its 5D tensors in ``memory_format``."""
    if isinstance(video, (list, tuple)):
        return [_to_format(v, memory_format) for v in video]
    return video.contiguous(memory_format=memory_format) if getattr(video, "dim", lambda: 0)() == 5 else video


def load(checkpoint, device: str | None = None, model=None, pretrained: str | None = None,
         options: dict | None = None) -> Predictor:
    """Load a trained vidzoo checkpoint (``model``: the module, for a class that cannot be imported
    here), or a registered model with its published weights (``pretrained``: other weights) for inference.

    >>> model = vidzoo.load("runs/RUN/checkpoints/best.ckpt")
    >>> model.predict("video.mp4").top      # [("move_up", 0.93), ...]
    >>> vidzoo.load("x3d_m").predict("video.mp4").top      # Kinetics-400 names
    """
    return open_predictor(checkpoint, device=device, model=model, pretrained=pretrained, options=options)
