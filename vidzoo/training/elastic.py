"""The process group of a DDP job: how long a rank waits for the others, and torchrun restarts.

``--trainer.peer_timeout_s S`` becomes the DDP strategy's process-group timeout (torch's default
is 30 minutes): a collective that a frozen or unreachable peer never joins fails after S seconds
(vidzoo.training.preemption.lost_peer_error says so in one line) instead of hanging.

The process group of a torchrun worker that the elastic agent may have restarted:

torchrun's c10d rendezvous shares one TCPStore (the agent's, at MASTER_ADDR:MASTER_PORT) with every
round of workers, and torch's env:// init reads it without a per-attempt prefix. A restarted
worker then finds the addresses of the killed attempt's gloo pairs in it, fails with "Connection
refused" and the restart is lost. Each worker here joins the store under a prefix of its round.
"""

from __future__ import annotations

import os


def init_restartable_process_group(strategy) -> int:
    """Initialise torch.distributed for STRATEGY (Lightning DDP) under a per-round store prefix.

    Returns the round (1 for the first start, 2 after a restart...), or 0 outside a torchrun agent
    store (nothing done: Lightning initialises it as usual).
    """
    import torch.distributed as dist

    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True" or dist.is_initialized():
        return 0
    if not hasattr(strategy, "_get_process_group_backend") or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0
    from datetime import timedelta

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    timeout = getattr(strategy, "_timeout", None) or timedelta(minutes=30)
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world, is_master=False,
                          timeout=timeout)
    # Every round of a fixed-size job starts each rank once, so the count of starts of this rank is
    # the round number on every rank, whichever node holds it and whatever each agent's restart count.
    round_ = store.add(f"vidzoo/starts/rank_{rank}", 1)
    dist.init_process_group(strategy._get_process_group_backend(), rank=rank, world_size=world, timeout=timeout,
                            store=dist.PrefixStore(f"vidzoo/round_{round_}", store))
    return round_


def strategy_with_timeout(strategy, seconds: float | None):
    """``--trainer.strategy`` with ``--trainer.peer_timeout_s`` applied (a DDP-family strategy object)."""
    if seconds is None:
        return strategy
    from vidzoo.errors import VidzooError

    if not seconds > 0:
        raise VidzooError(f"--trainer.peer_timeout_s must be a positive number of seconds, got {seconds:g}")
    import inspect
    from datetime import timedelta

    from lightning.pytorch.strategies import StrategyRegistry

    entry = StrategyRegistry[strategy] if isinstance(strategy, str) and strategy in StrategyRegistry else None
    if entry is None or "timeout" not in inspect.signature(entry["strategy"]).parameters:
        raise VidzooError(f"--trainer.peer_timeout_s applies to DDP processes; --trainer.strategy {strategy} has no "
                          f"process-group timeout (use --trainer.strategy ddp)")
    return entry["strategy"](**{**entry["init_params"], "timeout": timedelta(seconds=seconds)})
