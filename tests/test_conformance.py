"""vidzoo.testing: the built-ins pass the conformance kit, and deliberately broken plugins fail it with a
message that names the problem."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vidzoo.testing import TINY_TRANSFORM, ConformanceError, check_backbone, check_dataset, check_transform

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


# ------------------------------------------------------------------ the built-ins pass
def test_builtin_backbone_conforms():
    check_backbone("resnet3d50", num_classes=(3,), batch_size=2)


def test_builtin_transform_conforms():
    check_transform("kinetics", options=TINY_TRANSFORM)


def test_builtin_dataset_conforms(demo_dir):
    check_dataset("kinetics", options={"data_path": str(demo_dir)}, transform_options=TINY_TRANSFORM)


# ------------------------------------------------------------------ broken backbones
class _Tiny(nn.Module):
    def __init__(self, num_classes, out=None):
        super().__init__()
        self.conv = nn.Conv3d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, out if out is not None else num_classes)

    def forward(self, x):
        return self.fc(self.conv(x).mean(dim=(2, 3, 4)))


def wrong_shape(num_classes: int = 400):
    return _Tiny(num_classes, out=num_classes + 1)


def not_a_module(num_classes: int = 400):
    return lambda x: x


class _AlwaysDropout(_Tiny):
    def forward(self, x):
        return nn.functional.dropout(super().forward(x), p=0.5, training=True)


def random_in_eval(num_classes: int = 400):
    return _AlwaysDropout(num_classes)


class _HiddenState(_Tiny):
    def __init__(self, num_classes):
        super().__init__(num_classes)
        self.scale = torch.rand(1) + 1  # a plain attribute: not saved in the state dict

    def forward(self, x):
        return super().forward(x) * self.scale


def state_outside_state_dict(num_classes: int = 400):
    return _HiddenState(num_classes)


class _Detached(_Tiny):
    def forward(self, x):
        return super().forward(x).detach().requires_grad_()


def detached(num_classes: int = 400):
    return _Detached(num_classes)


@pytest.mark.parametrize("factory, message", [
    (wrong_shape, r"output shape \(2, 4\) .* expected \(batch, num_classes\) = \(2, 3\)"),
    (not_a_module, "returned function, not a torch.nn.Module"),
    (random_in_eval, "two eval-mode forwards of the same input differ"),
    (state_outside_state_dict, "rebuilt from the state dict gives other outputs"),
    (detached, "backward pass reached none of the parameters"),
])
def test_broken_backbone_is_caught_with_a_message_naming_the_problem(factory, message):
    with pytest.raises(ConformanceError, match=message) as info:
        check_backbone(factory)
    text = str(info.value)
    assert f"backbone {factory.__name__!r}" in text and "contract:" in text and "(B, num_classes)" in text


def test_conforming_backbone_factory_passes():
    check_backbone(lambda num_classes: _Tiny(num_classes))


# ------------------------------------------------------------------ broken datasets
def _videos(demo_dir, split):
    import vidzoo.default_plugins.kinetics as k

    items, classes = k.read_split(demo_dir, split)
    return [(p, classes.index(c)) for p, c in items], classes


def unpicklable(split, transform=None, data_path=""):
    from vidzoo.data.clips import ClipDataset
    from pathlib import Path

    videos, classes = _videos(Path(data_path), split)
    dataset = ClipDataset(videos, classes, clip_duration=1.0, transform=transform)
    dataset.label_fn = lambda x: x  # a lambda attribute: workers started with spawn cannot receive it
    return dataset


class _EveryWorkerYieldsAll(torch.utils.data.IterableDataset):
    """The classic iterable-dataset bug: no sharding by worker."""

    def __init__(self, inner):
        self.inner, self.classes = inner, inner.classes

    def __iter__(self):
        for i in range(len(self.inner)):
            yield self.inner[i]


def duplicates_across_workers(split, transform=None, data_path=""):
    from vidzoo.data.clips import ClipDataset
    from pathlib import Path

    videos, classes = _videos(Path(data_path), split)
    return _EveryWorkerYieldsAll(ClipDataset(videos[:4], classes, clip_duration=1.0, transform=transform))


def classes_differ(split, transform=None, data_path=""):
    from vidzoo.data.clips import ClipDataset
    from pathlib import Path

    videos, classes = _videos(Path(data_path), split)
    if split == "val":
        classes = list(reversed(classes))
    return ClipDataset(videos[:4], classes, clip_duration=1.0, transform=transform)


def label_out_of_range(split, transform=None, data_path=""):
    from vidzoo.data.clips import ClipDataset
    from pathlib import Path

    videos, classes = _videos(Path(data_path), split)
    return ClipDataset([(p, label + 10) for p, label in videos[:2]], classes, clip_duration=1.0, transform=transform)


@pytest.mark.parametrize("factory, message", [
    (unpicklable, "not picklable .*lambda"),
    (duplicates_across_workers, r"delivered too often, e\.g\. .*\.mp4 2 times instead of 1"),
    (classes_differ, "`classes` differs between the train and val splits .*same names, other order"),
    (label_out_of_range, r"'label' is 1\d; expected an int in range\(len\(classes\)\) = range\(4\)"),
])
def test_broken_dataset_is_caught_with_a_message_naming_the_problem(factory, message, demo_dir):
    with pytest.raises(ConformanceError, match=message) as info:
        check_dataset(factory, options={"data_path": str(demo_dir)}, transform="kinetics",
                      transform_options=TINY_TRANSFORM)
    assert f"dataset {factory.__name__!r} breaks the dataset contract" in str(info.value)


# ------------------------------------------------------------------ broken transforms
class _Resize:
    def __init__(self, size, inplace=False):
        self.size, self.inplace = size, inplace

    def __call__(self, sample):
        video = sample["video"]
        if self.inplace:
            video.div_(255.0)
        out = torch.nn.functional.interpolate(video.permute(1, 0, 2, 3), size=(self.size, self.size))
        return {**sample, "video": out.permute(1, 0, 2, 3)[:, :4].contiguous()}


def shape_differs(split, crop: int = 32):
    return _Resize(crop + (8 if split == "train" else 0))


def modifies_input(split):
    return _Resize(32, inplace=True)


def drops_label(split):
    return lambda sample: {"video": sample["video"].float()}


def wrong_layout(split):
    return lambda sample: {**sample, "video": sample["video"].permute(1, 0, 2, 3).contiguous()}


@pytest.mark.parametrize("factory, message", [
    (shape_differs, r"train output shapes \[\(3, 4, 40, 40\)\] differ from eval output shapes \[\(3, 4, 32, 32\)\]"),
    (modifies_input, "modified the input video tensor in place"),
    (drops_label, "changed or dropped 'label'"),
    (wrong_layout, "the layout must stay \\(C, T, H, W\\)"),
])
def test_broken_transform_is_caught_with_a_message_naming_the_problem(factory, message):
    with pytest.raises(ConformanceError, match=message):
        check_transform(factory)


def test_transform_output_shape_is_checked_against_its_options():
    def preset(split, num_frames: int = 4, crop_size: int = 32):
        return _Resize(crop_size * 2)

    with pytest.raises(ConformanceError, match=r"expected \(3, 4, 32, 32\)"):
        check_transform(preset)


class _HangsInWorkers(torch.utils.data.Dataset):
    """Fine in the main process; blocks forever in a forked worker (like a scaler whose threads did not survive)."""

    classes = ["a", "b"]

    def __init__(self):
        import os

        self.parent = os.getpid()

    def __len__(self):
        return 2

    def __getitem__(self, i):
        import os
        import threading

        if os.getpid() != self.parent:
            threading.Event().wait()
        return {"video": torch.zeros(3, 2, 4, 4), "label": i, "video_index": i}


def hangs_in_workers(split, transform=None):
    return _HangsInWorkers()


def test_a_worker_that_hangs_is_a_failure_not_a_stuck_run():
    with pytest.raises(ConformanceError, match="a DataLoader worker produced nothing for 3 s"):
        check_dataset(hangs_in_workers, transform=lambda split: None, worker_timeout=3)


_Lazy = None


def _lazy_class():
    # Built on first use and put in the module's globals (to keep torch out of an import), with no
    # module-level __getattr__: pickling works here, unpickling in a fresh interpreter cannot find it.
    global _Lazy
    if _Lazy is None:
        class LazyDataset(torch.utils.data.Dataset):
            classes = ["a", "b"]

            def __len__(self):
                return 2

            def __getitem__(self, i):
                return {"video": torch.zeros(3, 2, 4, 4), "label": i, "video_index": i}

        LazyDataset.__qualname__ = "LazyDataset"
        globals()["LazyDataset"] = _Lazy = LazyDataset
    return _Lazy


def lazy_dataset(split, transform=None):
    return _lazy_class()()


def test_a_dataset_class_a_fresh_interpreter_cannot_import_is_named():
    with pytest.raises(ConformanceError, match=r"cannot unpickle the train dataset: .*LazyDataset.*module level"):
        check_dataset(lazy_dataset, transform=lambda split: None, splits=("train",))
    check_dataset(lazy_dataset, transform=lambda split: None, splits=("train",), worker_start="fork")  # fork: fine
