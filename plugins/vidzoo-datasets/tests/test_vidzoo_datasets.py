"""vidzoo-datasets: official split formats, conformance of every dataset, the ssv2 preset."""

import pytest

from vidzoo.errors import VidzooError
from vidzoo.plugins import get_registry
from vidzoo.testing import TINY_TRANSFORM, check_dataset, check_transform
from vidzoo_datasets import fake, readers


# A cache of this test module for weights and demo data, never the user's (autouse; no
# conftest.py here: CI runs these tests in one pytest session with vidzoo's own tests/).
from vidzoo.testing import private_cache  # noqa: E402,F401


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    return {
        "ucf101": fake.write_ucf101(root / "ucf"),
        "hmdb51": fake.write_hmdb51(root / "hmdb"),
        "ssv2": fake.write_ssv2(root / "ssv2"),
        "csv": fake.write_video_csv(root / "own"),
    }


def test_ucf101_reads_the_official_split_files(trees):
    train, classes = readers.ucf101(str(trees["ucf101"]), "train", fold=1)
    test, test_classes = readers.ucf101(str(trees["ucf101"]), "test", fold=1)
    assert classes == test_classes == ["ApplyEyeMakeup", "Basketball", "YoYo"]  # classInd.txt order
    assert len(train) == 6 and len(test) == 3
    assert not {p for p, _ in train} & {p for p, _ in test}
    assert all(p.endswith(".avi") and f"/{classes[label]}/" in p for p, label in train + test)
    fold2, _ = readers.ucf101(str(trees["ucf101"]), "test", fold=2)
    assert {p for p, _ in fold2} != {p for p, _ in test}
    with pytest.raises(VidzooError, match="fold must be 1, 2 or 3"):
        readers.ucf101(str(trees["ucf101"]), "train", fold=4)


def test_hmdb51_reads_ids_1_train_2_test_0_unused(trees):
    train, classes = readers.hmdb51(str(trees["hmdb51"]), "train", fold=1)
    test, _ = readers.hmdb51(str(trees["hmdb51"]), "val", fold=1)
    assert classes == ["brush_hair", "cartwheel", "wave"]
    assert len(train) == 6 and len(test) == 3  # the unused (id 0) video of each class is in neither
    assert not {p for p, _ in train} & {p for p, _ in test}


def test_ssv2_labels_from_templates_and_no_test_labels(trees):
    train, classes = readers.ssv2(str(trees["ssv2"]), "train")
    assert classes[0] == "Pushing something from left to right" and len(classes) == 3
    assert len(train) == 6 and all(p.endswith(".webm") for p, _ in train)
    with pytest.raises(VidzooError, match="not public"):
        readers.ssv2(str(trees["ssv2"]), "test")


def test_video_csv_classes_from_train_file_and_relative_paths(trees, tmp_path):
    videos, classes = readers.video_csv("val", {"train": str(trees["csv"]["train"]), "val": str(trees["csv"]["val"])})
    assert classes == ["bird", "cat", "dog"]
    assert all(p.startswith(str(trees["csv"]["val"].parent)) for p, _ in videos)
    bad = tmp_path / "bad.csv"
    bad.write_text(f"path,label\n{videos[0][0]},fish\n")
    with pytest.raises(VidzooError, match="fish"):
        readers.video_csv("val", {"train": str(trees["csv"]["train"]), "val": str(bad)})
    missing = tmp_path / "missing.csv"
    missing.write_text("nothere.mp4,cat\n")
    with pytest.raises(VidzooError, match="missing, e.g."):
        readers.video_csv("train", {"train": str(missing)})


def test_errors_name_the_missing_pieces(tmp_path):
    with pytest.raises(VidzooError, match="ucfTrainTestlist"):
        readers.ucf101(str(tmp_path), "train")
    with pytest.raises(VidzooError, match="data_path is required"):
        get_registry().get("dataset", "hmdb51").factory("train", None)


@pytest.mark.parametrize("name", ["ucf101", "hmdb51", "ssv2", "video-csv"])
def test_dataset_conformance(name, trees):
    if name == "video-csv":
        options = {"train_csv": str(trees["csv"]["train"]), "val_csv": str(trees["csv"]["val"])}
    else:
        options = {"data_path": str(trees[name])}
    check_dataset(name, options=options, transform_options=TINY_TRANSFORM)


def test_ssv2_preset_does_not_flip():
    import inspect

    factory = get_registry().get("transform", "ssv2").factory
    assert inspect.signature(factory).parameters["flip_prob"].default == 0.0
    check_transform("ssv2", options=TINY_TRANSFORM)


def test_plugin_module_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, vidzoo_datasets; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
