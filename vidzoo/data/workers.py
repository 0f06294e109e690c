"""How many DataLoader workers fit this machine: ``--data.num_workers auto``.

The cores a process may use are fewer than ``os.cpu_count()`` whenever a scheduler or container
limits it: CPU affinity (taskset, SLURM's --cpus-per-task, numactl) and the cgroup CPU quota
(docker --cpus, Kubernetes CPU limits, systemd CPUQuota). ``auto`` gives each local rank
(process on this machine) its share of those cores, one decoding worker per core: decoding is
the data path's cost, and one decoder thread per worker is its most efficient use of a core.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

AUTO = "auto"
CGROUP_ROOT = Path("/sys/fs/cgroup")


def affinity_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        return os.cpu_count() or 1


def cgroup_cores(root: Path = CGROUP_ROOT) -> float | None:
    """The cgroup CPU quota in cores (e.g. 2.5), or None when there is none.

    cgroup v2: ``cpu.max`` holds "QUOTA PERIOD" or "max PERIOD"; cgroup v1:
    ``cpu/cpu.cfs_quota_us`` (-1: no limit) and ``cpu/cpu.cfs_period_us``.
    """
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    for folder in (root / "cpu", root / "cpu,cpuacct"):
        try:
            quota = int((folder / "cpu.cfs_quota_us").read_text())
            period = int((folder / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        return None if quota <= 0 or period <= 0 else quota / period
    return None


def available_cores(root: Path = CGROUP_ROOT) -> int:
    """Cores this process may use: its affinity, capped by the cgroup quota (rounded up)."""
    cores = affinity_cores()
    quota = cgroup_cores(root)
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota - 1e-9)))
    return max(1, cores)


def resolve_num_workers(value, local_ranks: int = 1, root: Path = CGROUP_ROOT) -> tuple[int, str | None]:
    """(workers per rank, the line that says how ``auto`` chose it; None for a number)."""
    if value != AUTO:
        return int(value), None
    local_ranks = max(1, int(local_ranks))
    affinity, quota = affinity_cores(), cgroup_cores(root)
    cores = available_cores(root)
    workers = max(1, cores // local_ranks)
    limits = f"affinity {affinity}" + (f", cgroup quota {quota:g}" if quota is not None else ", no cgroup quota")
    line = (f"vidzoo: --data.num_workers auto = {workers} per rank ({cores} cores available: {limits}; "
            f"{local_ranks} rank{'s' if local_ranks != 1 else ''} on this machine)")
    return workers, line


# Imported once by the forkserver (--data.worker_start forkserver, the default), so that a worker is a
# fork of that server with them loaded, not a fresh interpreter importing them again (about 2 CPU-s
# each, per worker, split and rank). The server is a fresh, single-threaded interpreter started for
# this purpose, not a fork of the training process: no DDP, gloo or CUDA thread's lock is copied.
FORKSERVER_PRELOAD = ("__main__", "vidzoo", "torch", "torchvision.transforms", "av", "vidzoo.data.clips")


def worker_context(start: str | None, *objects):
    """The multiprocessing context for DataLoader workers started as ``start`` (None: no workers).
    For forkserver, the server also preloads the modules of ``objects`` (the dataset and what it
    holds, which every worker unpickles); it reads the list when it starts, at the first loader."""
    if start is None:
        return None
    import multiprocessing

    context = multiprocessing.get_context(start)
    if start == "forkserver":
        modules = [*FORKSERVER_PRELOAD, *(type(o).__module__ for o in objects if o is not None)]
        context.set_forkserver_preload(list(dict.fromkeys(m for m in modules if m != "builtins")))
    return context
