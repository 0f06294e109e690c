"""Evaluation and inference on trained checkpoints (inference: views, Predictor, vidzoo.load)."""
