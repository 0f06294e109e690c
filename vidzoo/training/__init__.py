"""Training: the Lightning task, optimizers, run configuration, checkpoints, throughput and benchmarking."""
