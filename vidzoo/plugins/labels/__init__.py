"""The class names of the datasets published models were trained on, shipped once as package data
(one name a line, in the order of the published heads) so every plugin's spec points at the same list.

``label_set("kinetics400")`` -> tuple of names; ``label_set_of(categories)`` names the set a spec's
categories are (for `vidzoo list --pretrained`). Kinetics-600 and Something-Something v2 are not
here: no registered model has a published head trained on them (a transformers model's own labels
come from its Hub config).
"""

from __future__ import annotations

import functools
from importlib import resources

# file stem -> what `vidzoo list --pretrained` calls it
LABEL_SETS = {"kinetics400": "Kinetics-400"}


@functools.cache
def label_set(name: str) -> tuple[str, ...]:
    """The class names of a shipped label set, in the published heads' order."""
    if name not in LABEL_SETS:
        raise KeyError(f"no label set {name!r}; shipped: {', '.join(LABEL_SETS)}")
    text = resources.files(__package__).joinpath(f"{name}.txt").read_text(encoding="utf-8")
    return tuple(line for line in text.splitlines() if line)


def label_set_of(categories) -> str | None:
    """The display name of the shipped set ``categories`` equals, else None."""
    if categories:
        for name, title in LABEL_SETS.items():
            if tuple(categories) == label_set(name):
                return title
    return None


def published_labels(spec) -> str | None:
    """What a backbone's published classifier labels, in a few words: its shipped label set (or
    "N classes"), the plugin's own words when the names come with the weights (``extra["labels"]``,
    e.g. a Hub config's id2label), or None: no published classifier (a self-supervised encoder, an
    ImageNet image backbone)."""
    if spec is None:
        return None
    if spec.categories:
        return label_set_of(spec.categories) or f"{len(spec.categories)} classes"
    labels = spec.extra.get("labels")
    return labels if isinstance(labels, str) and labels else None
