"""Backbones: pretrained weight files (hub), fitting state dicts into models (state_dict), shared layers, export."""
