"""Deprecated import path: pretrained weights now live in ``vidzoo.models.hub`` (finding, downloading,
locking, caching, hashing) and ``vidzoo.models.state_dict`` (loading what fits, the head, the report).

This module only re-exports their names, for plugins written against the older docs; nothing in
vidzoo imports it; new code imports from the two modules (or ``vidzoo``).
"""

from vidzoo.io import safe_load as _safe_load
from vidzoo.models.hub import cache_dir, cached_path, download, file_sha256, resolve_source  # noqa: F401
from vidzoo.models.state_dict import (  # noqa: F401
    STRIP_PREFIXES, WRAPPER_KEYS, LoadReport, extract_state_dict, head_parameter_names, last_linear_names,
    load_pretrained, load_state_dict_into, pretrained_skipped, say, skip_pretrained,
)


def read_checkpoint(path) -> dict:
    """``vidzoo.io.safe_load(path, what="pretrained weights")``."""
    return _safe_load(path, what="pretrained weights")
