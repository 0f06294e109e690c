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

from vidzoo.testing._subject import CONTRACTS, TINY_INPUT, TINY_TRANSFORM, ConformanceError
from vidzoo.testing.backbone import check_backbone
from vidzoo.testing.dataset import check_dataset
from vidzoo.testing.transform import check_transform
from vidzoo.testing.video import write_test_video, write_video

__all__ = [
    "ConformanceError", "check_backbone", "check_dataset", "check_transform", "write_test_video", "write_video",
    "TINY_INPUT", "TINY_TRANSFORM", "private_cache",
]

try:  # the checks work without pytest; the fixture needs it
    from vidzoo.testing.fixtures import private_cache
except ImportError:  # pragma: no cover
    __all__.remove("private_cache")
