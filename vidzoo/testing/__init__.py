"""Conformance kit for plugin authors: one line per registration in a plugin's own tests.

    from vidzoo.testing import check_backbone, check_dataset, check_transform

    def test_my_backbone():
        check_backbone("my_backbone")                    # a registered name, or a factory

    def test_my_transform():
        check_transform("my_transform", options=TINY_TRANSFORM)

    def test_my_dataset(tmp_path):
        check_dataset("my_dataset", options={"data_path": str(make_data(tmp_path))},
                      transform_options=TINY_TRANSFORM)

Each check runs the contract of its kind (docs/plugins.md, "Contracts") on tiny inputs
and raises :class:`ConformanceError` (an ``AssertionError``, so pytest reports it as a
failure) whose message names the registration, the contract and how it was broken.
Nothing here imports torch at module level.
"""

from __future__ import annotations

import pickle
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Sequence

__all__ = [
    "ConformanceError", "check_backbone", "check_dataset", "check_transform", "write_test_video",
    "TINY_INPUT", "TINY_TRANSFORM", "private_cache",
]

try:  # the checks work without pytest; the fixture below needs it
    import pytest
except ImportError:  # pragma: no cover
    pytest = None

if pytest is not None:

    @pytest.fixture(autouse=True, scope="module")
    def private_cache(tmp_path_factory):
        """Weights downloads and demo data go to a cache of the test module, never the user's.

        Import it into a test module (``from vidzoo.testing import private_cache``): it is autouse.
        """
        import os

        old = os.environ.get("VIDZOO_CACHE")
        os.environ["VIDZOO_CACHE"] = str(tmp_path_factory.mktemp("vidzoo-cache"))
        yield
        if old is None:
            os.environ.pop("VIDZOO_CACHE", None)
        else:
            os.environ["VIDZOO_CACHE"] = old


# (T, H, W) of the clip check_backbone feeds when the backbone states no larger min_input.
TINY_INPUT = (4, 32, 32)
# Options that make the Kinetics-style presets tiny (4 frames, 32 px).
TINY_TRANSFORM = {"num_frames": 4, "crop_size": 32, "min_short_side": 36, "max_short_side": 40,
                  "eval_short_side": 36}

CONTRACTS = {
    "backbone": "factory(num_classes, **options) returns a torch.nn.Module mapping a float tensor (B, C, T, H, W) "
                "(or a list of them, one per pathway) to float logits (B, num_classes), deterministic in eval mode, "
                "trainable, and rebuilt exactly from its state dict",
    "dataset": "factory(split, transform, **options) returns a picklable torch Dataset of dicts with 'video' (float "
               "tensor (C, T, H, W), or a list of them, after the transform) and 'label' (int in range(len(classes))), "
               "a `classes` list that is the same for every split, and every video exactly once per epoch across "
               "DataLoader workers",
    "transform": "factory(split, **options) returns a callable mapping a sample dict with 'video' (float (C, T, H, W) "
                 "in 0..255) to a sample dict with a float 'video' of one fixed shape for train and eval, "
                 "deterministic for eval, leaving the other keys and the input tensor as they were",
}


class ConformanceError(AssertionError):
    """A registration broke its kind's contract; the message says which part and how."""

    def __init__(self, kind: str, name: str, problem: str, package: str = ""):
        self.kind, self.name, self.problem, self.package = kind, name, problem, package
        where = f" ({package})" if package else ""
        super().__init__(
            f"{kind} {name!r}{where} breaks the {kind} contract: {problem}\n"
            f"  contract: {CONTRACTS[kind]}"
        )


def _resolve(kind: str, target) -> tuple[str, Callable, object, str]:
    """(name, factory, spec, package) of a registered name or a bare factory (whose spec is empty)."""
    from vidzoo.plugins.specs import SPEC_TYPES

    if isinstance(target, str):
        from vidzoo.plugins import get_registry

        reg = get_registry().get(kind, target)
        return reg.name, reg.factory, reg.spec, f"{reg.package} {reg.version}"
    if not callable(target):
        raise TypeError(f"expected a registered {kind} name or a factory, got {type(target).__name__}")
    return getattr(target, "__name__", repr(target)), target, SPEC_TYPES[kind](), ""


def write_test_video(path, seconds: float = 1.0, fps: int = 8, width: int = 64, height: int = 48,
                     seed: int = 0) -> Path:
    """Write a small real H.264 mp4 (moving square on noise) for a plugin's tests; returns the path."""
    import numpy as np

    from vidzoo.data.demo import write_video

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n = max(1, int(round(seconds * fps)))
    base = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    side = max(2, min(width, height) // 4)

    def frames():
        for i in range(n):
            frame = base.copy()
            x = int((width - side) * i / max(n - 1, 1))
            frame[height // 2 - side // 2: height // 2 + side // 2, x:x + side] = 255
            yield frame

    write_video(path, frames(), fps, width, height)
    return path


# ---------------------------------------------------------------------------- backbones

def _model_input(spec, input_size, batch_size: int, seed: int):
    import torch

    if input_size is None:
        minimum = spec.input.min_input or (1, 1, 1)
        input_size = tuple(max(a, int(b)) for a, b in zip(TINY_INPUT, minimum))
        if spec.input.fixed_input:
            input_size = tuple(int(v) for v in minimum)
    t, h, w = (int(v) for v in input_size)
    g = torch.Generator().manual_seed(seed)
    clip = torch.randn(batch_size, 3, t, h, w, generator=g)
    pathways = spec.input.pathways
    if pathways:  # e.g. SlowFast: [alpha, 1]: the slow pathway takes every alpha-th frame
        return [clip[:, :, :: int(step)].contiguous() for step in pathways], (t, h, w)
    return clip, (t, h, w)


def _describe_input(x) -> str:
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(tuple(v.shape).__repr__() for v in x) + "]"
    return repr(tuple(x.shape))


def check_backbone(
    target,
    options: dict[str, Any] | None = None,
    num_classes: Sequence[int] = (3, 7),
    input_size: Sequence[int] | None = None,
    batch_size: int = 2,
    seed: int = 0,
) -> None:
    """Check a backbone registration (name) or factory against the backbone contract.

    Checks: a ``torch.nn.Module`` for each of ``num_classes``; logits of shape
    ``(batch_size, num_classes)``, float and finite; a backward pass that reaches the
    parameters with finite gradients; identical outputs for the same input in eval mode;
    a state dict that rebuilds the same model (``torch.save``/``torch.load(weights_only=True)``
    round trip, strict load, same outputs); batch size 1 in eval mode.

    The input is ``(batch_size, 3, T, H, W)`` with ``(T, H, W) = input_size`` or else the
    tiny :data:`TINY_INPUT`, raised to the registration spec's ``min_input`` (or exactly
    ``min_input`` when ``fixed_input`` is set); with ``pathways`` it is a list, one
    tensor per pathway, each taking every ``step``-th frame.
    """
    import io

    import torch

    name, factory, spec, package = _resolve("backbone", target)
    options = dict(options or {})

    def fail(problem):
        raise ConformanceError("backbone", name, problem, package)

    def build(nc: int, build_seed: int):
        torch.manual_seed(build_seed)
        try:
            model = factory(num_classes=nc, **options)
        except Exception as exc:
            fail(f"factory(num_classes={nc}, **{options}) raised {type(exc).__name__}: {exc}")
        if not isinstance(model, torch.nn.Module):
            fail(f"factory(num_classes={nc}) returned {type(model).__name__}, not a torch.nn.Module")
        return model

    def run(model, x, nc: int, what: str):
        try:
            # A fresh list per call: some multi-pathway models (pytorchvideo's SlowFast) overwrite
            # the list they are given with their intermediate features.
            y = model(list(x) if isinstance(x, (list, tuple)) else x)
        except Exception as exc:
            fail(f"{what}: forward on input {_describe_input(x)} raised {type(exc).__name__}: {exc}")
        if not isinstance(y, torch.Tensor):
            fail(f"{what}: output is {type(y).__name__}, not a tensor of logits")
        batch = (x[0] if isinstance(x, (list, tuple)) else x).shape[0]
        if tuple(y.shape) != (batch, nc):
            fail(f"{what}: output shape {tuple(y.shape)} for input {_describe_input(x)}, "
                 f"expected (batch, num_classes) = {(batch, nc)}")
        if not y.is_floating_point():
            fail(f"{what}: logits have dtype {y.dtype}, expected a floating dtype")
        if not torch.isfinite(y).all():
            fail(f"{what}: logits contain NaN or inf for input {_describe_input(x)}")
        return y

    x, size = _model_input(spec, input_size, batch_size, seed)
    first = num_classes[0]
    model = build(first, seed)

    # Logits shape for several num_classes (eval mode: no batch statistics, no dropout).
    with torch.no_grad():
        reference = run(model.eval(), x, first, f"num_classes={first}, eval, input {size}")
        for nc in num_classes[1:]:
            run(build(nc, seed).eval(), x, nc, f"num_classes={nc}, eval")

        # Eval-mode determinism.
        again = run(model, x, first, "second eval forward")
        if not torch.allclose(reference, again, rtol=1e-4, atol=1e-5):
            diff = (reference - again).abs().max().item()
            fail(f"two eval-mode forwards of the same input differ (max |diff| {diff:.3g}); eval mode must be "
                 f"deterministic (dropout or random ops active in eval?)")

        # Batch size 1 (inference on one clip).
        if batch_size > 1:
            one = [v[:1] for v in x] if isinstance(x, (list, tuple)) else x[:1]
            run(model, one, first, "batch size 1, eval")

    # State dict round trip through a file, into a model built with another seed.
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    try:
        state = torch.load(buffer, weights_only=True)
    except Exception as exc:
        fail(f"its state dict cannot be read back with torch.load(weights_only=True): {type(exc).__name__}: {exc}")
    clone = build(first, seed + 1)
    try:
        clone.load_state_dict(state, strict=True)
    except Exception as exc:
        fail(f"a fresh model does not load its state dict strictly: {type(exc).__name__}: {str(exc)[:300]}")
    with torch.no_grad():
        after = run(clone.eval(), x, first, "eval forward after the state-dict round trip")
    if not torch.allclose(reference, after, rtol=1e-4, atol=1e-5):
        fail("a model rebuilt from the state dict gives other outputs: some state is not in the state dict "
             "(a tensor attribute that is not a registered buffer or parameter?)")
    del clone

    # Backward pass.
    model.train()
    model.zero_grad(set_to_none=True)
    y = run(model, x, first, "train-mode forward")
    labels = torch.arange(batch_size) % first
    try:
        torch.nn.functional.cross_entropy(y.float(), labels).backward()
    except Exception as exc:
        fail(f"backward through the logits raised {type(exc).__name__}: {exc}")
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not params:
        fail("the model has no trainable parameters")
    with_grad = [(n, p) for n, p in params if p.grad is not None]
    if not with_grad:
        fail("the backward pass reached none of the parameters (is the output detached from them?)")
    bad = [n for n, p in with_grad if not torch.isfinite(p.grad).all()]
    if bad:
        fail(f"non-finite gradients in {len(bad)} parameters, e.g. {bad[0]}")


# ---------------------------------------------------------------------------- transforms

def _fake_sample(shape, seed: int) -> dict:
    import torch

    g = torch.Generator().manual_seed(seed)
    video = torch.randint(0, 256, tuple(shape), generator=g).float()
    return {"video": video, "label": 1, "video_index": 0, "video_name": "fake.mp4", "clip_start": 0.0}


def _videos(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _shapes(value) -> list[tuple]:
    return [tuple(v.shape) for v in _videos(value)]


def check_transform(
    target,
    options: dict[str, Any] | None = None,
    input_shape: Sequence[int] = (3, 16, 48, 64),
    expected_shape: Sequence[int] | None = None,
    seed: int = 0,
) -> None:
    """Check a transform registration (name) or factory against the transform contract.

    Checks: ``factory("train", **options)`` and ``factory("val", **options)`` return callables;
    on a sample dict with a float ``video`` of ``input_shape`` (C, T, H, W) in 0..255 both
    return a dict whose ``video`` is a float tensor (C, T, H, W) (or a list of them, one per
    pathway) with the same shapes for train and eval; ``label`` and the other keys pass
    unchanged; eval is deterministic; the input tensor is not modified in place. The output
    shape must equal ``expected_shape`` when given, else ``num_frames`` x ``crop_size``^2
    when the factory takes those options.
    """
    import inspect

    import torch

    name, factory, _, package = _resolve("transform", target)
    options = dict(options or {})

    def fail(problem):
        raise ConformanceError("transform", name, problem, package)

    variants = {}
    for split in ("train", "val"):
        try:
            variants[split] = factory(split, **options)
        except Exception as exc:
            fail(f"factory({split!r}, **{options}) raised {type(exc).__name__}: {exc}")
        if not callable(variants[split]):
            fail(f"factory({split!r}) returned {type(variants[split]).__name__}, which is not callable")

    def apply(split, sample):
        try:
            out = variants[split](sample)
        except Exception as exc:
            fail(f"the {split} variant raised {type(exc).__name__} on a video of shape "
                 f"{tuple(sample['video'].shape)}: {exc}")
        if not isinstance(out, dict):
            fail(f"the {split} variant returned {type(out).__name__}, not the sample dict")
        if "video" not in out:
            fail(f"the {split} variant's output has no 'video' key (keys: {sorted(out)})")
        for key in ("label", "video_index", "video_name"):
            if out.get(key) != sample[key]:
                fail(f"the {split} variant changed or dropped {key!r} ({sample[key]!r} -> {out.get(key)!r})")
        for v in _videos(out["video"]):
            if not isinstance(v, torch.Tensor) or v.dim() != 4:
                fail(f"the {split} variant's 'video' is {type(v).__name__} "
                     f"{tuple(getattr(v, 'shape', ()))}, expected a 4-D (C, T, H, W) tensor")
            if not v.is_floating_point():
                fail(f"the {split} variant's 'video' has dtype {v.dtype}, expected a floating dtype")
            if v.shape[0] != input_shape[0]:
                fail(f"the {split} variant's 'video' has {v.shape[0]} channels in dim 0, expected "
                     f"{input_shape[0]}: the layout must stay (C, T, H, W)")
            if not torch.isfinite(v).all():
                fail(f"the {split} variant's 'video' contains NaN or inf")
        return out

    sample = _fake_sample(input_shape, seed)
    original = sample["video"].clone()
    evals = [apply("val", dict(sample)) for _ in range(2)]
    if not torch.equal(sample["video"], original):
        fail("the eval variant modified the input video tensor in place (the next epoch would see other data)")
    for a, b in zip(_videos(evals[0]["video"]), _videos(evals[1]["video"])):
        if not torch.equal(a, b):
            fail("the eval variant gave two different outputs for the same sample; eval must be deterministic")
    trains = [apply("train", _fake_sample(input_shape, seed + i)) for i in range(3)]
    eval_shapes = _shapes(evals[0]["video"])
    for out in trains:
        if _shapes(out["video"]) != eval_shapes:
            fail(f"train output shapes {_shapes(out['video'])} differ from eval output shapes {eval_shapes}; "
                 f"train and eval batches must fit the same model")
    if expected_shape is None:
        params = inspect.signature(factory).parameters
        if "num_frames" in params and "crop_size" in params and len(eval_shapes) == 1:
            get = lambda k: options.get(k, params[k].default)  # noqa: E731
            expected_shape = (input_shape[0], get("num_frames"), get("crop_size"), get("crop_size"))
    if expected_shape is not None and len(eval_shapes) == 1 and eval_shapes[0] != tuple(expected_shape):
        fail(f"output video shape {eval_shapes[0]}, expected {tuple(expected_shape)} (C, num_frames, crop, crop)")


# ---------------------------------------------------------------------------- datasets

def _fresh_unpickle_error(obj) -> str | None:
    """The last line of the error a fresh interpreter (as a spawned worker) gets unpickling obj, or None."""
    import os
    import subprocess
    import sys

    code = "import pickle, sys; pickle.loads(sys.stdin.buffer.read())"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(obj), capture_output=True, env=env,
                          timeout=300)
    if done.returncode == 0:
        return None
    lines = [ln for ln in done.stderr.decode(errors="replace").splitlines() if ln.strip()]
    return lines[-1] if lines else f"exit code {done.returncode}"


def _collate_ids(batch):
    """DataLoader collate that keeps only what identifies each item (module level: picklable)."""
    out = []
    for sample in batch:
        key = sample.get("video_name", sample.get("video_index")) if isinstance(sample, dict) else None
        out.append(str(key))
    return out


def _build_transform(spec, split: str, options: dict, dataset_spec):
    if spec is None:
        spec = dataset_spec.transform
        if spec is None:
            return None
    if isinstance(spec, str):
        from vidzoo.plugins import get_registry

        return get_registry().get("transform", spec).factory(split, **options)
    return spec(split, **options)


def check_dataset(
    target,
    options: dict[str, Any] | None = None,
    transform: str | Callable | None = None,
    transform_options: dict[str, Any] | None = None,
    splits: Sequence[str] = ("train", "val"),
    num_workers: int = 2,
    batch_size: int = 2,
    worker_timeout: float = 120.0,
    worker_start: str = "spawn",
) -> None:
    """Check a dataset registration (name) or factory against the dataset contract.

    ``transform`` is a registered transform name or a transform factory (default: the
    dataset spec's ``transform``), built per split with ``transform_options``. Checks,
    per split: the dataset has a non-empty ``classes`` list of strings and a length; its
    first sample has ``video`` (float (C, T, H, W), or a list of them) and an integer
    ``label`` in range; it survives ``pickle`` (DataLoader workers with spawn, DDP); one
    epoch through a DataLoader with ``num_workers`` workers, started as `vidzoo run` starts
    them (``worker_start``, default spawn: each worker unpickles the dataset in a fresh
    interpreter, so its classes must be importable by name), yields every video as often as
    a single-process pass does (no video twice, none missing), identified by the
    samples' ``video_name`` (or ``video_index``). Then: ``classes`` is the same for all splits.
    """
    import torch

    name, factory, spec, package = _resolve("dataset", target)
    options = dict(options or {})
    transform_options = dict(transform_options or {})

    def fail(problem):
        raise ConformanceError("dataset", name, problem, package)

    classes_by_split = {}
    for split in splits:
        try:
            split_transform = _build_transform(transform, split, transform_options, spec)
        except Exception as exc:
            fail(f"building its transform for {split!r} raised {type(exc).__name__}: {exc}")
        try:
            dataset = factory(split, split_transform, **options)
        except Exception as exc:
            fail(f"factory({split!r}, transform, **{options}) raised {type(exc).__name__}: {exc}")
        classes = getattr(dataset, "classes", None)
        if not classes or not all(isinstance(c, str) for c in classes):
            fail(f"the {split} dataset's `classes` is {classes!r:.80}; expected a non-empty list of class names")
        classes_by_split[split] = list(classes)
        iterable = isinstance(dataset, torch.utils.data.IterableDataset)
        if not iterable:
            try:
                length = len(dataset)
            except Exception as exc:
                fail(f"len() of the {split} dataset raised {type(exc).__name__}: {exc}")
            if length == 0:
                fail(f"the {split} dataset is empty")
        try:
            sample = next(iter(dataset)) if iterable else dataset[0]
        except Exception as exc:
            fail(f"reading the first {split} sample raised {type(exc).__name__}: {exc}")
        if not isinstance(sample, dict):
            fail(f"{split} samples are {type(sample).__name__}, expected dicts")
        for key in ("video", "label"):
            if key not in sample:
                fail(f"{split} samples have no {key!r} key (keys: {sorted(sample)})")
        for v in _videos(sample["video"]):
            if not isinstance(v, torch.Tensor) or v.dim() != 4 or not v.is_floating_point():
                fail(f"{split} sample 'video' is {type(v).__name__} {getattr(v, 'dtype', '')} "
                     f"{tuple(getattr(v, 'shape', ()))} after the transform; expected a float (C, T, H, W) tensor")
            if v.shape[0] not in (1, 3):
                fail(f"{split} sample 'video' has shape {tuple(v.shape)}: dim 0 must be the channels (C, T, H, W)")
        label = sample["label"]
        if isinstance(label, torch.Tensor):
            label = label.item() if label.numel() == 1 else None
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(classes):
            fail(f"{split} sample 'label' is {sample['label']!r}; expected an int in range(len(classes)) = "
                 f"range({len(classes)})")
        if "video_name" not in sample and "video_index" not in sample:
            fail(f"{split} samples carry neither 'video_name' nor 'video_index', so nothing tells which video a "
                 f"sample came from (vidzoo's ClipDataset provides both)")

        try:
            restored = pickle.loads(pickle.dumps(dataset))
        except Exception as exc:
            fail(f"the {split} dataset is not picklable ({type(exc).__name__}: {exc}); DataLoader workers started "
                 f"with spawn and DDP processes receive it pickled: keep lambdas, open files and decoders out of "
                 f"its attributes, or open them lazily in __getitem__")
        if not iterable and len(restored) != len(dataset):
            fail(f"the unpickled {split} dataset has {len(restored)} items instead of {len(dataset)}")

        def epoch(workers: int) -> Counter:
            # A timeout, so that a worker that hangs (fork-unsafe state such as a decoder's or
            # scaler's threads inherited from the parent) is a failure, not a stuck test run.
            loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                                 num_workers=workers, collate_fn=_collate_ids,
                                                 timeout=worker_timeout if workers else 0,
                                                 multiprocessing_context=worker_start if workers else None)
            try:
                return Counter(key for batch in loader for key in batch)
            except RuntimeError as exc:
                problem = _fresh_unpickle_error(dataset) if workers and worker_start != "fork" else None
                if problem:
                    fail(f"a DataLoader worker ({worker_start}: a fresh interpreter) cannot unpickle the {split} "
                         f"dataset: {problem}. Define its classes at module level, importable by name (a class "
                         f"built lazily can come from a module-level __getattr__)")
                if workers and "timed out" in str(exc):
                    fail(f"a DataLoader worker produced nothing for {worker_timeout:g} s in one {split} epoch with "
                         f"num_workers={workers} ({worker_start}) (a worker hung: state inherited through fork, "
                         f"such as a decoder or scaler with threads or an open handle, or a lock it waits on?)")
                fail(f"one {split} epoch with num_workers={workers} raised {type(exc).__name__}: {exc}")
            except Exception as exc:
                fail(f"one {split} epoch with num_workers={workers} raised {type(exc).__name__}: {exc}")

        single = epoch(0)
        parallel = epoch(num_workers) if num_workers > 0 else single
        if parallel != single:
            extra = sorted((k, parallel[k], single[k]) for k in parallel if parallel[k] > single[k])
            missing = sorted((k, single[k], parallel[k]) for k in single if parallel[k] < single[k])
            bits = []
            if extra:
                k, got, want = extra[0]
                bits.append(f"{len(extra)} videos delivered too often, e.g. {k} {got} times instead of {want} "
                            f"(each worker yields every video? shard by torch.utils.data.get_worker_info(), or use "
                            f"a map-style dataset)")
            if missing:
                k, want, got = missing[0]
                bits.append(f"{len(missing)} videos missing, e.g. {k} ({got} of {want} times)")
            fail(f"one {split} epoch with {num_workers} DataLoader workers does not yield every video exactly as "
                 f"often as one process does: " + "; ".join(bits))

    first = splits[0]
    for split in splits[1:]:
        if classes_by_split[split] != classes_by_split[first]:
            only_a = sorted(set(classes_by_split[first]) - set(classes_by_split[split]))[:3]
            only_b = sorted(set(classes_by_split[split]) - set(classes_by_split[first]))[:3]
            fail(f"`classes` differs between the {first} and {split} splits ({len(classes_by_split[first])} vs "
                 f"{len(classes_by_split[split])} names; only in {first}: {only_a}, only in {split}: {only_b}"
                 f"{'; same names, other order' if not only_a and not only_b else ''}); label i must mean the "
                 f"same class in every split")
