"""timm's ImageNet weights for a TSN/TSM model: from timm's Hugging Face cache, a URL or a file.

``--backbone.pretrained true`` resolves the model's (or its tag's) ``PretrainedCfg`` as timm
does: its ``hf_hub_id`` through huggingface_hub's cache (``$HF_HOME/hub/models--timm--NAME/
snapshots/<rev>/model.safetensors``, honouring ``HF_HUB_OFFLINE``), else its ``url`` through
vidzoo's download cache, else its ``file``. The state dict then goes through vidzoo's loader,
which loads what fits, keeps a new head for another num_classes and reports it in one line.
The temporal shift adds no parameters and keeps timm's keys, so the same file fits tsn and tsm.
"""

from __future__ import annotations

import os
from pathlib import Path

from vidzoo.errors import VidzooError

TIMM_DEFAULT = ("true", "default", "timm", "imagenet")
HUB_FILES = ("model.safetensors", "pytorch_model.bin")


def read_weights(path) -> dict:
    """A state dict from a .safetensors file, or from a torch file (torch.load weights_only)."""
    from vidzoo.plugins import extract_state_dict, safe_load

    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as exc:
            raise VidzooError(f"{path} is not a readable safetensors file: {' '.join(str(exc).split())[:200]}") from None
    return extract_state_dict(safe_load(path, what="pretrained weights"))


def hub_file(repo_id: str, filename: str | None = None) -> Path:
    """The weights file of a timm Hub repository from huggingface_hub's cache (downloaded if allowed and missing)."""
    from huggingface_hub import hf_hub_download

    repo, _, revision = repo_id.partition("@")
    reasons = []
    for name in ([filename] if filename else HUB_FILES):
        try:
            return Path(hf_hub_download(repo_id=repo, filename=name, revision=revision or None))
        except Exception as exc:  # not in the cache and (offline, or no network), or not in the repository
            reasons.append(f"{name}: {type(exc).__name__}")
    from huggingface_hub import constants

    offline = " with HF_HUB_OFFLINE set" if constants.HF_HUB_OFFLINE else ""
    raise VidzooError(f"timm's weights {repo} are not in the Hugging Face cache {constants.HF_HUB_CACHE} and could "
                      f"not be downloaded{offline} ({'; '.join(reasons)}); fetch them once with network, or pass "
                      f"a weights file to --backbone.pretrained")


def timm_weights(name: str) -> tuple[dict, str, str]:
    """(state dict, where it came from, the file) of timm's default pretrained weights for ``name``."""
    from vidzoo.plugins import download_weights as download

    from vidzoo_timm.models import pretrained_cfg

    cfg = pretrained_cfg(name)
    if cfg is None or not (cfg.hf_hub_id or cfg.url or cfg.file):
        raise VidzooError(f"timm has no pretrained weights for {name!r} "
                          f"(`timm.list_pretrained('{name.partition('.')[0]}*')` lists those it has)")
    tag = f"{cfg.architecture}.{cfg.tag}" if cfg.tag else name
    if cfg.hf_hub_id:
        path = hub_file(cfg.hf_hub_id, getattr(cfg, "hf_hub_filename", None))
        return read_weights(path), f"timm {tag} (hf-hub:{cfg.hf_hub_id})", str(path)
    if cfg.url:
        path = download(cfg.url)
        return read_weights(path), f"timm {tag} ({cfg.url})", str(path)
    return read_weights(cfg.file), f"timm {tag} ({cfg.file})", str(cfg.file)


def load_pretrained(net, name: str, pretrained, sha256: str | None = None):
    """Load timm's weights (``pretrained`` true/default) or a file/URL into a TSN/TSM model; the LoadReport."""
    from vidzoo.plugins import LoadReport, load_state_dict_into, pretrained_skipped, say
    from vidzoo.plugins import resolve_weights as resolve_source

    if isinstance(pretrained, bool):
        pretrained = "true"
    if pretrained_skipped():  # rebuilt from a vidzoo checkpoint: its own weights follow, nothing to fetch
        net.vidzoo_pretrained = LoadReport(source=str(pretrained), skipped=True)
        return net.vidzoo_pretrained
    if str(pretrained).lower() in TIMM_DEFAULT:
        if sha256:
            raise VidzooError("--backbone.sha256 checks a file or URL; timm's own weights are found by name")
        state, source, path = timm_weights(name)
        digest = ""
    else:
        file, digest = resolve_source(os.path.expanduser(str(pretrained)), sha256)
        state, source, path = read_weights(file), str(pretrained), str(file)
    report = load_state_dict_into(net, state, source=source, path=path, sha256=digest)
    say(report.summary())
    return report
