"""check_backbone: a backbone registration against the backbone contract."""

from __future__ import annotations

import io
from typing import Any, Sequence

from vidzoo.testing._subject import TINY_INPUT, Subject, resolve


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


def _build(subject: Subject, options: dict, nc: int, build_seed: int):
    import torch

    torch.manual_seed(build_seed)
    try:
        model = subject.factory(num_classes=nc, **options)
    except Exception as exc:
        subject.fail(f"factory(num_classes={nc}, **{options}) raised {type(exc).__name__}: {exc}")
    if not isinstance(model, torch.nn.Module):
        subject.fail(f"factory(num_classes={nc}) returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _run(subject: Subject, model, x, nc: int, what: str):
    import torch

    try:
        # A fresh list per call: some multi-pathway models (pytorchvideo's SlowFast) overwrite
        # the list they are given with their intermediate features.
        y = model(list(x) if isinstance(x, (list, tuple)) else x)
    except Exception as exc:
        subject.fail(f"{what}: forward on input {_describe_input(x)} raised {type(exc).__name__}: {exc}")
    if not isinstance(y, torch.Tensor):
        subject.fail(f"{what}: output is {type(y).__name__}, not a tensor of logits")
    batch = (x[0] if isinstance(x, (list, tuple)) else x).shape[0]
    if tuple(y.shape) != (batch, nc):
        subject.fail(f"{what}: output shape {tuple(y.shape)} for input {_describe_input(x)}, "
                     f"expected (batch, num_classes) = {(batch, nc)}")
    if not y.is_floating_point():
        subject.fail(f"{what}: logits have dtype {y.dtype}, expected a floating dtype")
    if not torch.isfinite(y).all():
        subject.fail(f"{what}: logits contain NaN or inf for input {_describe_input(x)}")
    return y


def _check_eval(subject, options, model, x, size, num_classes, batch_size, seed):
    """Logits shape for each num_classes, eval determinism, batch size 1; returns the reference logits."""
    import torch

    first = num_classes[0]
    with torch.no_grad():  # eval mode: no batch statistics, no dropout
        reference = _run(subject, model.eval(), x, first, f"num_classes={first}, eval, input {size}")
        for nc in num_classes[1:]:
            _run(subject, _build(subject, options, nc, seed).eval(), x, nc, f"num_classes={nc}, eval")
        again = _run(subject, model, x, first, "second eval forward")
        if not torch.allclose(reference, again, rtol=1e-4, atol=1e-5):
            diff = (reference - again).abs().max().item()
            subject.fail(f"two eval-mode forwards of the same input differ (max |diff| {diff:.3g}); eval mode must "
                         f"be deterministic (dropout or random ops active in eval?)")
        if batch_size > 1:  # inference on one clip
            one = [v[:1] for v in x] if isinstance(x, (list, tuple)) else x[:1]
            _run(subject, model, one, first, "batch size 1, eval")
    return reference


def _check_state_dict(subject, options, model, x, nc, seed, reference):
    """The state dict, through a file, rebuilds the same outputs in a model built with another seed."""
    import torch

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    try:
        state = torch.load(buffer, weights_only=True)
    except Exception as exc:
        subject.fail(f"its state dict cannot be read back with torch.load(weights_only=True): "
                     f"{type(exc).__name__}: {exc}")
    clone = _build(subject, options, nc, seed + 1)
    try:
        clone.load_state_dict(state, strict=True)
    except Exception as exc:
        subject.fail(f"a fresh model does not load its state dict strictly: {type(exc).__name__}: {str(exc)[:300]}")
    with torch.no_grad():
        after = _run(subject, clone.eval(), x, nc, "eval forward after the state-dict round trip")
    if not torch.allclose(reference, after, rtol=1e-4, atol=1e-5):
        subject.fail("a model rebuilt from the state dict gives other outputs: some state is not in the state dict "
                     "(a tensor attribute that is not a registered buffer or parameter?)")


def _check_classifier(subject, options, model, nc):
    """The classifier the spec declares is in the model and makes the num_classes outputs."""
    modules = subject.spec.classifier_for(options) if subject.spec is not None else ()
    if not modules:
        return
    names = dict(model.named_modules())
    absent = [m for m in modules if m not in names]
    if absent:
        subject.fail(f"its spec declares the classifier {', '.join(absent)}, which the model has no module of")
    shapes = [p.shape[:1] for m in modules for p in names[m].parameters()]
    if (nc,) not in shapes:
        subject.fail(f"its spec's classifier {', '.join(modules)} has no parameter with num_classes={nc} rows: "
                     f"it does not make the logits (the head is the last layer, e.g. ('fc',))")


def _check_backward(subject, model, x, nc, batch_size):
    import torch

    model.train()
    model.zero_grad(set_to_none=True)
    y = _run(subject, model, x, nc, "train-mode forward")
    labels = torch.arange(batch_size) % nc
    try:
        torch.nn.functional.cross_entropy(y.float(), labels).backward()
    except Exception as exc:
        subject.fail(f"backward through the logits raised {type(exc).__name__}: {exc}")
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not params:
        subject.fail("the model has no trainable parameters")
    with_grad = [(n, p) for n, p in params if p.grad is not None]
    if not with_grad:
        subject.fail("the backward pass reached none of the parameters (is the output detached from them?)")
    bad = [n for n, p in with_grad if not torch.isfinite(p.grad).all()]
    if bad:
        subject.fail(f"non-finite gradients in {len(bad)} parameters, e.g. {bad[0]}")


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
    round trip, strict load, same outputs); batch size 1 in eval mode; the spec's declared
    ``classifier`` is a module of the model with a num_classes-row parameter (the head).

    The input is ``(batch_size, 3, T, H, W)`` with ``(T, H, W) = input_size`` or else the
    tiny :data:`TINY_INPUT`, raised to the registration spec's ``min_input`` (or exactly
    ``min_input`` when ``fixed_input`` is set); with ``pathways`` it is a list, one
    tensor per pathway, each taking every ``step``-th frame.
    """
    subject = resolve("backbone", target)
    options = dict(options or {})
    x, size = _model_input(subject.spec, input_size, batch_size, seed)
    model = _build(subject, options, num_classes[0], seed)
    _check_classifier(subject, options, model, num_classes[0])
    reference = _check_eval(subject, options, model, x, size, num_classes, batch_size, seed)
    _check_state_dict(subject, options, model, x, num_classes[0], seed, reference)
    _check_backward(subject, model, x, num_classes[0], batch_size)
