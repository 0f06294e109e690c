"""Issue 17 for transformers: a Hub folder in the ORIGINAL VideoMAE layout (q_bias / v_bias, no key
bias: what every published VideoMAE checkpoint holds) gives the logits of transformers' own model
read from it, q and v biases included; and `vidzoo predict --model videomae_base --pretrained FOLDER`
equals transformers' model fed by its own VideoMAEImageProcessor, with the class names of the
folder's id2label."""

import json

import pytest
import torch

import vidzoo
from vidzoo.testing import private_cache  # noqa: F401  (autouse: a cache of this module's, never the user's)
from vidzoo.testing.published import assert_same_top5, predict_cli, top5, write_clip
from vidzoo.testing.recipes import centre_window
from vidzoo_transformers.testing import tiny_options

LABELS = ["archery", "bowling", "juggling balls", "rock climbing", "yoga"]


@pytest.fixture(scope="module")
def original_layout(tmp_path_factory):
    """A tiny fine-tuned VideoMAE (5 named classes) saved as MCG-NJU's checkpoints are: config.json
    and model.safetensors whose attention biases are q_bias and v_bias (the key has none)."""
    from safetensors.torch import load_file, save_file
    from transformers import VideoMAEConfig, VideoMAEForVideoClassification

    opts = tiny_options("videomae_base")
    config = VideoMAEConfig(num_frames=opts["num_frames"], image_size=opts["image_size"], hidden_size=opts["hidden_size"],
                            num_hidden_layers=opts["num_hidden_layers"], num_attention_heads=opts["num_attention_heads"],
                            intermediate_size=opts["intermediate_size"], num_labels=len(LABELS),
                            id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)})
    torch.manual_seed(4)
    model = VideoMAEForVideoClassification(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("query.bias", "value.bias")):
                p.normal_(0, 0.5)  # biases that matter: zeros would pass unnoticed
        model.classifier.weight.mul_(3)  # a confident head: a preprocessing difference shows
    folder = tmp_path_factory.mktemp("hub") / "videomae-tiny-finetuned"
    model.save_pretrained(folder)
    state = load_file(folder / "model.safetensors")
    original = {k.replace("attention.attention.query.bias", "attention.attention.q_bias")
                 .replace("attention.attention.value.bias", "attention.attention.v_bias"): v for k, v in state.items()}
    assert sum(k.endswith(("q_bias", "v_bias")) for k in original) == 2 * opts["num_hidden_layers"]
    assert not any(k.endswith("key.bias") for k in original)
    save_file(original, folder / "model.safetensors", metadata={"format": "pt"})
    return folder, model


def test_original_videomae_layout_gives_transformers_logits_with_its_q_and_v_biases(original_layout):
    from transformers import VideoMAEForVideoClassification

    folder, written = original_layout
    theirs = VideoMAEForVideoClassification.from_pretrained(folder).eval()  # transformers' own reading
    ours = vidzoo.create_model("videomae_base", len(LABELS), pretrained=str(folder), **tiny_options("videomae_base"))
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        expected = written(pixel_values=x.transpose(1, 2)).logits
        assert torch.allclose(theirs(pixel_values=x.transpose(1, 2)).logits, expected, atol=1e-5)
        assert torch.allclose(ours.eval()(x), expected, atol=1e-5)  # the biases were read, not left at zero
    bias = "model.videomae.encoder.layer.0.attention.attention.query.bias"
    assert torch.equal(ours.state_dict()[bias], written.state_dict()[bias.removeprefix("model.")])


def test_predict_model_videomae_equals_transformers_with_its_image_processor(original_layout, tmp_path):
    from transformers import VideoMAEImageProcessor

    folder, written = original_layout
    options = [f"--backbone.{k}={v}" for k, v in tiny_options("videomae_base").items()]
    # the tiny model's window: 4 frames every 4 at 30 fps (the spec's recipe at num_frames 4): 16 frames
    clip = write_clip(tmp_path / "clip.mp4", frames=16, width=64, height=48, fps=30)
    frames, _, _ = centre_window("videomae_base", clip)
    # MCG-NJU's preprocessor_config.json at the tiny size: shortest edge = crop, ImageNet's mean/std
    processor = VideoMAEImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                                       image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    with torch.no_grad():
        pixels = processor(list(frames[::4].numpy()), return_tensors="pt")["pixel_values"]
        probs = torch.softmax(written(pixel_values=pixels).logits, -1)
        other = processor(list(frames[::4].numpy()), size={"shortest_edge": 36}, return_tensors="pt")["pixel_values"]
        before = torch.softmax(written(pixel_values=other).logits, -1)  # another short side: measurably other
    assert float((probs - before).abs().max()) > 3e-4
    expected = top5(probs, LABELS)
    assert_same_top5(predict_cli(clip, "videomae_base", folder, *options), expected, 1e-4)
    assert json.loads((folder / "config.json").read_text())["id2label"]["0"] == "archery"
