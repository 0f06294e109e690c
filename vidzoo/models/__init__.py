"""Backbone weights: download, cache and fit pretrained state dicts (weights)."""
