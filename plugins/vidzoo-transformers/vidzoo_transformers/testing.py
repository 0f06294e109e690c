"""Test helpers: tiny configurations and a fake Hugging Face Hub cache (no network)."""

from __future__ import annotations

from pathlib import Path

# Factory options that make every family tiny (4 frames at 32 px, width 32, 2 layers).
TINY = {"num_frames": 4, "image_size": 32, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2}
TINY_EXTRA = {"videomae": {"intermediate_size": 64}, "timesformer": {"intermediate_size": 64},
              "vivit": {"intermediate_size": 64}, "vjepa2": {"num_pooler_layers": 1}}


# The Hub repositories' preprocessor_config.json, as written there (MCG-NJU/videomae-base-finetuned-kinetics,
# facebook/timesformer-base-finetuned-k400): shortest edge 224, bilinear (resample 2), centre crop 224;
# what the recipe tests and benchmarks/recipes.py build transformers' own image processor from.
_HUB_PROCESSOR = {"crop_size": {"height": 224, "width": 224}, "do_center_crop": True, "do_normalize": True,
                  "do_rescale": True, "do_resize": True, "image_processor_type": "VideoMAEImageProcessor",
                  "resample": 2, "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": 224}}
PREPROCESSOR_CONFIGS = {
    "videomae_base": {**_HUB_PROCESSOR, "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]},
    "timesformer_base": {**_HUB_PROCESSOR, "image_mean": [0.45, 0.45, 0.45], "image_std": [0.225, 0.225, 0.225]},
}


def hub_image_processor(name: str, folder: Path):
    """transformers' own processor of a Hub model, from its preprocessor_config.json written to ``folder``."""
    import json

    from transformers import AutoImageProcessor

    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR_CONFIGS[name]))
    return AutoImageProcessor.from_pretrained(str(folder))


def tiny_options(name: str) -> dict:
    """The TINY factory options of a registered name of this package."""
    from vidzoo_transformers import MODELS

    return {**TINY, **TINY_EXTRA[MODELS[name]["family"]]}


def save_to_hub_cache(model, cache: Path, repo_id: str, revision: str = "0" * 40) -> Path:
    """Save a built backbone's transformers model as huggingface_hub caches a download.

    ``cache/models--ORG--NAME/snapshots/REVISION/`` (config.json, model.safetensors) and
    ``refs/main`` naming REVISION: what ``hf_hub_download`` reads with ``HF_HUB_OFFLINE=1`` and
    ``HF_HUB_CACHE=cache``. Returns the snapshot folder.
    """
    repo = Path(cache) / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    model.model.save_pretrained(snapshot)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return snapshot
