"""The plugin contracts, written once: their text and the checks that the task and the conformance kit share.

``CONTRACTS`` is the one statement of each kind's contract: the conformance kit
(``vidzoo.testing``) quotes it in every failure, the hookspecs point to it, and
docs/plugins.md quotes it verbatim (tests/test_contracts.py keeps them in step).
``SUMMARIES`` are the short forms the training task puts in its first-batch errors.
Nothing here imports torch at module level.
"""

from __future__ import annotations

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

SUMMARIES = {
    "backbone": "input (B, C, T, H, W) -> logits (B, num_classes)",
    "dataset": "each sample a dict with 'video': float tensor (C, T, H, W) after the transform, "
               "'label': int class index",
}


def breach(kind: str, who: str, problem: str) -> str:
    """The task's one-line error for a registration (``who``) that broke its contract on a real batch."""
    return f"{who} broke the {kind} contract ({SUMMARIES[kind]}): {problem}"


def label_in_range(label, num_classes: int) -> bool:
    """A sample's label is a plain int (or a one-element integer tensor) in range(num_classes)."""
    if hasattr(label, "numel") and hasattr(label, "item"):
        if label.numel() != 1 or label.is_floating_point():
            return False
        label = label.item()
    return not isinstance(label, bool) and isinstance(label, int) and 0 <= label < num_classes


def batch_problem(batch, num_classes: int) -> str | None:
    """What is wrong with a dataset's first batch (before it reaches the backbone), or None."""
    import torch

    if not isinstance(batch, dict) or "video" not in batch or "label" not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        return f"samples need 'video' and 'label', got {keys}"
    video, labels = batch["video"], batch["label"]
    # Multi-pathway inputs (SlowFast's [slow, fast]) batch to a list of such tensors: passed through as they are.
    for v in (video if isinstance(video, (list, tuple)) and video else [video]):
        if not isinstance(v, torch.Tensor) or v.ndim != 5 or not v.is_floating_point():
            what = (f"{v.dtype} tensor of shape {tuple(v.shape)} per batch" if isinstance(v, torch.Tensor)
                    else type(v).__name__)
            return f"'video' batches to {what}, expected float (B, C, T, H, W) or a list of them (one per pathway)"
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or labels.is_floating_point():
        what = (f"{labels.dtype} tensor of shape {tuple(labels.shape)}" if isinstance(labels, torch.Tensor)
                else f"{type(labels).__name__}")
        return f"'label' batches to {what}, expected integer (B,)"
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        return (f"labels range {int(labels.min())}..{int(labels.max())}, outside 0..{num_classes - 1} "
                f"for its {num_classes} classes")
    return None


def logits_problem(logits, expected: tuple) -> str | None:
    """What is wrong with a backbone's logits for a batch (``expected`` = (batch, num_classes)), or None."""
    import torch

    if not isinstance(logits, torch.Tensor):
        return f"its output is {type(logits).__name__}, not a tensor"
    if tuple(logits.shape) != expected:
        return f"its output has shape {tuple(logits.shape)}, expected {expected}"
    return None


def classes_difference(first: str, first_classes, second: str, second_classes) -> str | None:
    """How two splits' class lists differ, as "(N vs M names; only in A: [...], only in B: [...])", or None."""
    a, b = list(first_classes), list(second_classes)
    if a == b:
        return None
    only_a = sorted(set(a) - set(b))[:3]
    only_b = sorted(set(b) - set(a))[:3]
    order = "; same names, other order" if not only_a and not only_b else ""
    return f"({len(a)} vs {len(b)} names; only in {first}: {only_a}, only in {second}: {only_b}{order})"


def no_classes(name: str, package: str, split: str) -> str:
    """The error for a dataset whose ``split`` came back without a ``classes`` list."""
    return (f"dataset {name!r} ({package}) broke the dataset contract: its {split} dataset "
            f"has no `classes` attribute listing the class names")
