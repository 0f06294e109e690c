"""Building the transformers models, the layout adapter, and loading Hub / save_pretrained weights.

Imports torch and transformers; loaded from inside the factories.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from vidzoo.errors import VidzooError

# Files of a save_pretrained folder, in the order transformers prefers them.
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
# Config keys compared with the checkpoint's config: a difference changes what fits.
ARCH_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "mlp_ratio",
             "num_frames", "frames_per_clip", "image_size", "crop_size", "patch_size", "tubelet_size")


class VideoClassifier(nn.Module):
    """vidzoo's layout on a transformers video classifier: (B, C, T, H, W) in, logits out.

    transformers' video models take (B, T, C, H, W) under ``pixel_values`` (V-JEPA 2:
    ``pixel_values_videos``) and return a ModelOutput; the state dict is the transformers
    model's under ``model.``.
    """

    def __init__(self, model: nn.Module, input_name: str):
        super().__init__()
        self.model = model
        self.input_name = input_name

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.model(**{self.input_name: video.transpose(1, 2)}).logits

    def extra_repr(self) -> str:
        return f"input={self.input_name} (B, T, C, H, W)"


def make_config(meta: dict, family: dict, num_classes: int, options: dict):
    import transformers

    config_cls = getattr(transformers, family["config"])
    values = dict(meta["config"])
    options = dict(options)
    values[family["frames_key"]] = options.pop("num_frames")
    values[family["size_key"]] = options.pop("image_size")
    values.update(options)
    if family["model"] == "VJEPA2ForVideoClassification":
        # The predictor (self-supervised training only) is dropped after building: build it smallest.
        values.update(pred_hidden_size=values["num_attention_heads"] * 2, pred_num_hidden_layers=1,
                      pred_num_attention_heads=values["num_attention_heads"])
    if values["hidden_size"] % values["num_attention_heads"]:
        raise VidzooError(f"hidden_size {values['hidden_size']} is not a multiple of num_attention_heads "
                          f"{values['num_attention_heads']}")
    labels = {i: f"class_{i}" for i in range(num_classes)}
    return config_cls(num_labels=num_classes, id2label=labels, label2id={v: k for k, v in labels.items()}, **values)


def create(name: str, meta: dict, family: dict, num_classes: int, options: dict) -> nn.Module:
    import transformers

    if num_classes < 1:
        raise VidzooError(f"{name}: num_classes must be at least 1, got {num_classes}")
    config = make_config(meta, family, num_classes, options)
    hf = getattr(transformers, family["model"])(config)
    if family["model"] == "VJEPA2ForVideoClassification":
        # Classification runs the encoder only (skip_predictor=True); an unused predictor would
        # hold ~10% of the parameters and break DDP's every-parameter-gets-a-gradient rule.
        hf.vjepa2.predictor = None
    return VideoClassifier(hf, family["input"])


# ------------------------------------------------------------------------------ pretrained weights


def resolve(source: str, revision: str | None, default_repo: str) -> tuple[Path, str]:
    """(folder holding config.json and the weights, the name to report) for a folder or a Hub repo id."""
    if source == "default":
        source = default_repo
    path = Path(source).expanduser()
    if path.is_dir():
        if not any((path / f).is_file() for f in WEIGHT_FILES):
            raise VidzooError(f"pretrained folder {path} holds none of {', '.join(WEIGHT_FILES)}; "
                              f"pass a save_pretrained folder or a Hub repository id")
        return path, str(path)
    if path.exists() or source.count("/") != 1 or source.startswith((".", "/", "~")):
        raise VidzooError(f"pretrained {source!r} is neither a save_pretrained folder nor a Hub repository id "
                          f"(org/name, e.g. {default_repo})")
    return _from_hub(source, revision), f"hf://{source}" + (f"@{revision}" if revision else "")


def _from_hub(repo: str, revision: str | None) -> Path:
    """The snapshot folder of a Hub repository with config.json and its weights (cached or downloaded)."""
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError

    def get(filename):
        return Path(hf_hub_download(repo, filename, revision=revision))

    offline = constants.HF_HUB_OFFLINE
    try:
        config = get("config.json")
    except LocalEntryNotFoundError:
        where = f"the Hub cache {constants.HF_HUB_CACHE}"
        how = ("HF_HUB_OFFLINE is set: run once without it to download, or pass a save_pretrained folder"
               if offline else "the Hub could not be reached")
        raise VidzooError(f"{repo}{'@' + revision if revision else ''} is not in {where} ({how})") from None
    except (EntryNotFoundError, HfHubHTTPError, ValueError) as exc:
        raise VidzooError(f"cannot get {repo} from the Hugging Face Hub: {' '.join(str(exc).split())[:200]}") from None
    for filename in WEIGHT_FILES:
        try:
            weights = get(filename)
        except (EntryNotFoundError, LocalEntryNotFoundError):
            continue
        except HfHubHTTPError as exc:
            raise VidzooError(f"cannot get {repo}/{filename}: {' '.join(str(exc).split())[:200]}") from None
        if filename.endswith(".index.json"):
            for shard in sorted(set(json.loads(weights.read_text())["weight_map"].values())):
                get(shard)
        return config.parent
    raise VidzooError(f"{repo} has none of {', '.join(WEIGHT_FILES)}"
                      + (" in the Hub cache (HF_HUB_OFFLINE is set)" if offline else ""))


def read_weights(folder: Path, model: VideoClassifier) -> tuple[dict, list[str]]:
    """(the tensors of a save_pretrained folder named as the adapter's, the file's keys nothing uses).

    transformers reads the folder (safetensors or torch files, shards, and its renaming of old
    checkpoint keys, e.g. VideoMAE's q_bias) into a model of the folder's own config and of the
    adapter's class (a bare encoder checkpoint loads under the base model's prefix); only the
    tensors it found in the files are returned, so a head the file lacks is not passed off as
    pretrained.
    """
    import transformers

    cls = type(model.model)
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # vidzoo prints its own one-line report
    try:
        theirs, info = cls.from_pretrained(str(folder), output_loading_info=True, dtype=torch.float32)
    except Exception as exc:
        raise VidzooError(f"transformers cannot read {folder} as a {cls.__name__} checkpoint: "
                          f"{' '.join(str(exc).split())[:300]}") from None
    finally:
        transformers.logging.set_verbosity(verbosity)
    fresh = set(info.get("missing_keys") or ()) | {k[0] if isinstance(k, tuple) else k
                                                   for k in info.get("mismatched_keys") or ()}
    state = {f"model.{k}": v for k, v in theirs.state_dict().items() if k not in fresh}
    return state, [str(k) for k in info.get("unexpected_keys") or ()]


def config_differences(folder: Path, model: VideoClassifier) -> list[str]:
    path = folder / "config.json"
    if not path.is_file():
        return []
    theirs = json.loads(path.read_text())
    ours = model.model.config.to_dict()
    return [f"{k} {ours[k]} (checkpoint {theirs[k]})" for k in ARCH_KEYS
            if k in ours and k in theirs and ours[k] != theirs[k]]


def load(model: VideoClassifier, pretrained: str, revision: str | None, default_repo: str):
    """Load what fits of a Hub repository or save_pretrained folder; the LoadReport (vidzoo's model
    layer prints its line)."""
    from vidzoo.plugins import load_state_dict_into

    folder, name = resolve(pretrained, revision, default_repo)
    state, unused = read_weights(folder, model)
    report = load_state_dict_into(model, state, source=name, path=str(folder))
    report.unexpected = sorted(set(report.unexpected) | {f"model.{k}" for k in unused})
    differ = config_differences(folder, model)
    if differ:
        report.notes.append(f"config differs: {', '.join(differ)}")
    report.categories = class_names(folder)
    return report


def class_names(folder: Path) -> list[str] | None:
    """The head's class names in the folder's config.json (id2label, by index), None without them."""
    path = folder / "config.json"
    labels = json.loads(path.read_text()).get("id2label") if path.is_file() else None
    if not isinstance(labels, dict) or not labels:
        return None
    try:
        return [str(labels[str(i)]) for i in range(len(labels))]
    except KeyError:  # not the indices 0..N-1: no usable order
        return None
