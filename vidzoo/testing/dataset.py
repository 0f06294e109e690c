"""check_dataset: a dataset registration against the dataset contract."""

from __future__ import annotations

import pickle
from collections import Counter
from typing import Any, Callable, Sequence

from vidzoo.data.workers import worker_context
from vidzoo.plugins.contracts import classes_difference, label_in_range
from vidzoo.testing._subject import Subject, resolve, videos


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


def _build_split(subject: Subject, split, options, transform, transform_options):
    try:
        split_transform = _build_transform(transform, split, transform_options, subject.spec)
    except Exception as exc:
        subject.fail(f"building its transform for {split!r} raised {type(exc).__name__}: {exc}")
    try:
        return subject.factory(split, split_transform, **options)
    except Exception as exc:
        subject.fail(f"factory({split!r}, transform, **{options}) raised {type(exc).__name__}: {exc}")


def _check_classes_and_length(subject: Subject, split, dataset, iterable: bool) -> list:
    classes = getattr(dataset, "classes", None)
    if not classes or not all(isinstance(c, str) for c in classes):
        subject.fail(f"the {split} dataset's `classes` is {classes!r:.80}; expected a non-empty list of class names")
    if not iterable:
        try:
            length = len(dataset)
        except Exception as exc:
            subject.fail(f"len() of the {split} dataset raised {type(exc).__name__}: {exc}")
        if length == 0:
            subject.fail(f"the {split} dataset is empty")
    return list(classes)


def _check_first_sample(subject: Subject, split, dataset, iterable: bool, classes: list):
    import torch

    try:
        sample = next(iter(dataset)) if iterable else dataset[0]
    except Exception as exc:
        subject.fail(f"reading the first {split} sample raised {type(exc).__name__}: {exc}")
    if not isinstance(sample, dict):
        subject.fail(f"{split} samples are {type(sample).__name__}, expected dicts")
    for key in ("video", "label"):
        if key not in sample:
            subject.fail(f"{split} samples have no {key!r} key (keys: {sorted(sample)})")
    for v in videos(sample["video"]):
        if not isinstance(v, torch.Tensor) or v.dim() != 4 or not v.is_floating_point():
            subject.fail(f"{split} sample 'video' is {type(v).__name__} {getattr(v, 'dtype', '')} "
                         f"{tuple(getattr(v, 'shape', ()))} after the transform; expected a float (C, T, H, W) tensor")
        if v.shape[0] not in (1, 3):
            subject.fail(f"{split} sample 'video' has shape {tuple(v.shape)}: dim 0 must be the channels "
                         f"(C, T, H, W)")
    if not label_in_range(sample["label"], len(classes)):
        subject.fail(f"{split} sample 'label' is {sample['label']!r}; expected an int in range(len(classes)) = "
                     f"range({len(classes)})")
    if "video_name" not in sample and "video_index" not in sample:
        subject.fail(f"{split} samples carry neither 'video_name' nor 'video_index', so nothing tells which video a "
                     f"sample came from (vidzoo's ClipDataset provides both)")


def _check_pickle(subject: Subject, split, dataset, iterable: bool):
    try:
        restored = pickle.loads(pickle.dumps(dataset))
    except Exception as exc:
        subject.fail(f"the {split} dataset is not picklable ({type(exc).__name__}: {exc}); DataLoader workers "
                     f"started with spawn and DDP processes receive it pickled: keep lambdas, open files and "
                     f"decoders out of its attributes, or open them lazily in __getitem__")
    if not iterable and len(restored) != len(dataset):
        subject.fail(f"the unpickled {split} dataset has {len(restored)} items instead of {len(dataset)}")


def _epoch(subject: Subject, split, dataset, workers: int, batch_size, worker_timeout, worker_start) -> Counter:
    """How often each video comes out of one DataLoader epoch with ``workers`` workers."""
    import torch

    # A timeout, so that a worker that hangs (fork-unsafe state such as a decoder's or
    # scaler's threads inherited from the parent) is a failure, not a stuck test run.
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                         num_workers=workers, collate_fn=_collate_ids,
                                         timeout=worker_timeout if workers else 0,
                                         multiprocessing_context=worker_context(worker_start if workers else None,
                                                                                dataset))
    try:
        return Counter(key for batch in loader for key in batch)
    except RuntimeError as exc:
        problem = _fresh_unpickle_error(dataset) if workers and worker_start != "fork" else None
        if problem:
            subject.fail(f"a DataLoader worker ({worker_start}: another interpreter) cannot unpickle the {split} "
                         f"dataset: {problem}. Define its classes at module level, importable by name (a class "
                         f"built lazily can come from a module-level __getattr__)")
        if workers and "timed out" in str(exc):
            subject.fail(f"a DataLoader worker produced nothing for {worker_timeout:g} s in one {split} epoch with "
                         f"num_workers={workers} ({worker_start}) (a worker hung: state inherited through fork, "
                         f"such as a decoder or scaler with threads or an open handle, or a lock it waits on?)")
        subject.fail(f"one {split} epoch with num_workers={workers} raised {type(exc).__name__}: {exc}")
    except Exception as exc:
        subject.fail(f"one {split} epoch with num_workers={workers} raised {type(exc).__name__}: {exc}")


def _compare_epochs(subject: Subject, split, single: Counter, parallel: Counter, num_workers: int):
    if parallel == single:
        return
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
    subject.fail(f"one {split} epoch with {num_workers} DataLoader workers does not yield every video exactly as "
                 f"often as one process does: " + "; ".join(bits))


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
    them (``worker_start``: forkserver, `vidzoo run`'s default, or spawn, the kit's default and
    the strictest: each worker unpickles the dataset in a fresh interpreter, so its classes must
    be importable by name, and a failure shows at once), yields every video as often as
    a single-process pass does (no video twice, none missing), identified by the
    samples' ``video_name`` (or ``video_index``). Then: ``classes`` is the same for all splits.
    """
    import torch

    subject = resolve("dataset", target)
    options = dict(options or {})
    transform_options = dict(transform_options or {})
    classes_by_split = {}
    for split in splits:
        dataset = _build_split(subject, split, options, transform, transform_options)
        iterable = isinstance(dataset, torch.utils.data.IterableDataset)
        classes = classes_by_split[split] = _check_classes_and_length(subject, split, dataset, iterable)
        _check_first_sample(subject, split, dataset, iterable, classes)
        _check_pickle(subject, split, dataset, iterable)
        single = _epoch(subject, split, dataset, 0, batch_size, worker_timeout, worker_start)
        parallel = (_epoch(subject, split, dataset, num_workers, batch_size, worker_timeout, worker_start)
                    if num_workers > 0 else single)
        _compare_epochs(subject, split, single, parallel, num_workers)

    first = splits[0]
    for split in splits[1:]:
        difference = classes_difference(first, classes_by_split[first], split, classes_by_split[split])
        if difference:
            subject.fail(f"`classes` differs between the {first} and {split} splits {difference}; "
                         f"label i must mean the same class in every split")
