"""Published models used as published (issue 17): `--model NAME --pretrained FILE` on predict, test and
export with the built-in resnet3d50 and a file in PyTorchVideo's own layout (the shared slow_r50 zoo
file), against PyTorchVideo's own slow_r50 fed by its hub tutorial's preprocessing; the one-line
errors; `vidzoo list --pretrained`; the label sets shipped as package data."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import run_cli
from vidzoo.testing.published import assert_same_top5, predicted, top5, write_clip
from vidzoo.testing.recipes import centre_window, hub_tutorial_transform

NO_PLUGINS = {"VIDZOO_LOAD_PLUGINS": ""}


def test_predict_model_resnet3d50_equals_pytorchvideo_from_the_same_model_state_file(slow_r50_zoo, tmp_path):
    import vidzoo
    from pytorchvideo.models.hub import slow_r50

    from vidzoo.plugins.labels import label_set

    path, state = slow_r50_zoo
    model = slow_r50(pretrained=False).eval()  # PyTorchVideo's own, from the same model_state
    model.load_state_dict(torch.load(path, weights_only=True)["model_state"])
    clip = write_clip(tmp_path / "clip.mp4", frames=64, width=320, height=240, fps=30)  # 8 x 8 frames: one window
    frames, _, _ = centre_window("resnet3d50", clip)
    video = frames.permute(3, 0, 1, 2).float()
    mean, std = (0.45,) * 3, (0.225,) * 3
    with torch.no_grad():  # the hub tutorial's slow_r50: 8 frames, short side 256, centre crop 256
        probs = torch.softmax(model(hub_tutorial_transform(256, 256, 8, mean, std)(video)[None]), -1)
        before = torch.softmax(model(hub_tutorial_transform(256, 224, 8, mean, std)(video)[None]), -1)  # vidzoo's 224
    names = label_set("kinetics400")
    expected = top5(probs, names)
    assert float((probs - before).abs().max()) > 3e-4  # another recipe would show

    result = run_cli("predict", str(clip), "--model", "resnet3d50", "--pretrained", str(path), "--top-k", "5",
                     "--views", "1x1", "--json", env=NO_PLUGINS)
    assert result.returncode == 0, result.stderr[-2000:]
    assert_same_top5(predicted(result.stdout), expected, 1e-4)
    assert "loaded 320/320 tensors" in result.stderr  # the whole published model, head included

    # Python: the same Predictor a checkpoint gives, by name
    predictor = vidzoo.load("resnet3d50", pretrained=str(path), device="cpu")
    assert type(predictor).__name__ == "Predictor" and predictor.model_name == "resnet3d50"
    assert predictor.class_names == list(names) and predictor.clip_duration == pytest.approx(64 / 30)
    assert_same_top5(dict(predictor.predict(clip, top_k=5, views="1x1").top), expected, 1e-4)


def test_model_flag_errors_are_one_line(x3d_xs_zoo, tmp_path, capsys):
    from vidzoo.cli import main

    partial = tmp_path / "encoder.pth"  # a file without the head: not the published classifier
    torch.save({k: v for k, v in torch.load(x3d_xs_zoo, weights_only=True)["model_state"].items()
                if not k.startswith("blocks.5.proj")}, partial)
    cases = {
        ("predict", "x.mp4"): "give --checkpoint CKPT (a run's) or --model NAME",
        ("predict", "x.mp4", "--model", "x3d_xs", "--checkpoint", "best.ckpt"): "not both",
        ("predict", "x.mp4", "--model", "x3d_xz"): "unknown backbone 'x3d_xz'; did you mean 'x3d_xs'",
        ("test", "--model", "x3d_xs:NOPE", "--dataset", "kinetics"): "x3d_xs has no weights variant 'NOPE'; its variants: default",
        ("export", "--checkpoint", "best", "--format", "onnx", "--output", "m.onnx"):
            "checkpoint best does not exist; pass a run's checkpoints/best.ckpt (or --model best",
        ("predict", "x.mp4", "--checkpoint", "a.ckpt", "--pretrained", "f.pth"):
            "--pretrained and --backbone.OPTION go with --model",
        ("predict", "x.mp4", "--model", "x3d_xs", "--pretrained", str(partial)):
            f"{partial} is not the whole of x3d_xs's published model: 2 of its",
        ("test", "--model", "x3d_xs", "--pretrained", str(x3d_xs_zoo)): "name the dataset to test x3d_xs on",
        # a model without a published classifier (timm's ImageNet backbone under tsn): said, with what to do
        ("predict", "x.mp4", "--model", "tsn"): "tsn has no published classifier to label videos with",
        ("export", "--model", "vjepa2_large", "--format", "onnx", "--output", "m.onnx"): "fine-tune it on your classes with `vidzoo run --backbone vjepa2_large "
                                               "--backbone.pretrained default",
    }
    for args, message in cases.items():
        assert main(list(args)) == 2, args
        lines = capsys.readouterr().err.strip().splitlines()
        assert lines[-1].startswith(f"vidzoo {args[0]}: error: ") and message in lines[-1], (args, lines)
        assert len(lines) == 1 or (len(lines) == 2 and "loaded 561/563 tensors" in lines[0]), lines  # the weights' line


def test_list_pretrained_marks_published_classifiers_and_their_label_sets():
    result = run_cli("list", "--pretrained", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row["labels"] for row in json.loads(result.stdout)}
    assert rows["resnet3d50"] == rows["r3d_18"] == rows["x3d_m"] == "Kinetics-400"
    assert rows["videomae_base"].startswith("Kinetics-400") and "id2label" in rows["videomae_base"]
    assert "tsn" not in rows and "vjepa2_large" not in rows  # an ImageNet backbone, a self-supervised encoder
    text = run_cli("list", "--pretrained", "x3d*").stdout
    assert text.splitlines()[0].split() == ["NAME", "LABELS", "PACKAGE", "PUBLISHED"] and "x3d_m" in text


def test_label_sets_are_package_data_in_the_wheel(tmp_path):
    """`pip wheel` of vidzoo carries the label files its plugins point at (package-data)."""
    import subprocess
    import sys
    import zipfile

    from conftest import ROOT

    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                             "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = tmp_path.glob("vidzoo-*.whl")
    with zipfile.ZipFile(wheel) as z:
        text = z.read("vidzoo/plugins/labels/kinetics400.txt").decode()
    assert len(text.splitlines()) == 400 and text.splitlines()[0] == "abseiling"


@pytest.fixture(scope="module")
def kinetics_named_demo(demo_dir, tmp_path_factory):
    """The demo sample's val videos of two classes under Kinetics-400 class names (links), so that a
    Kinetics-400 model's `vidzoo test` can score them."""
    root = tmp_path_factory.mktemp("k400demo")
    for demo_class, k400_class in (("move_up", "abseiling"), ("move_down", "air drumming")):
        folder = root / "val" / k400_class
        folder.mkdir(parents=True)
        for video in sorted((demo_dir / "val" / demo_class).glob("*.mp4")):
            (folder / video.name).symlink_to(video)
    return root


def test_test_and_export_a_published_model_on_the_demo_sample(x3d_xs_zoo, kinetics_named_demo, tmp_path):
    result = run_cli("test", "--model", "x3d_xs", "--pretrained", str(x3d_xs_zoo), "--dataset", "kinetics",
                     "--dataset.data_path", str(kinetics_named_demo), "--views", "1x1", "--num-workers", "0",
                     "--no-progress", "--json", "-", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(result.stdout)
    assert metrics["videos"] == metrics["tested"] == 4 and metrics["backbone"] == "x3d_xs"
    assert metrics["views"] == "1x1" and 0 <= metrics["top1"] <= 1
    assert (tmp_path / "test-x3d_xs-val-1x1" / "metrics.json").is_file()  # ./test-<model>-<split>-<views>

    out = tmp_path / "x3d_xs.pt"
    result = run_cli("export", "--model", "x3d_xs", "--pretrained", str(x3d_xs_zoo), "--format", "torchscript",
                     "--output", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    meta = json.loads(out.with_name(out.name + ".json").read_text())
    assert len(meta["class_names"]) == 400 and meta["class_names"][0] == "abseiling"
    assert meta["backbone"] == "x3d_xs" and meta["checkpoint"] == str(x3d_xs_zoo)
    assert "checked: max |logit difference| vs the model" in result.stdout
