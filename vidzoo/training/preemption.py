"""Stopping on a signal with a checkpoint to continue from: Ctrl-C, SIGTERM, SIGUSR1.

- SIGINT (Ctrl-C), SIGTERM (cloud preemption, ``scancel``, ``docker stop``, torchrun passing on
  its own) and SIGUSR1 (SLURM's warning before the time limit: ``#SBATCH --signal=USR1@120``)
  ask the run to stop. At the end of the current training step every rank agrees (one boolean
  all-reduce per step under DDP, so all stop at the same step), the run writes
  ``checkpoints/step-<step>.ckpt`` (with the data loader's position: ``--resume`` continues at
  the next batch), and it exits with one line naming the checkpoint and the command that goes
  on, exit code 128 + the signal's number (130, 143, 138), as a process ended by that signal.
- Under SLURM, SIGUSR1 also requeues the job (``scontrol requeue``, as Lightning's
  auto-requeue does); the requeued job runs the same command, in the same run directory, and
  continues from that checkpoint by itself (``SLURM_RESTART_COUNT`` > 0; see distributed.md).
- A second Ctrl-C stops at once: the process exits without writing anything more. Checkpoints
  are written atomically (vidzoo.checkpoint), so the last good ones stay whole; a half-written
  temporary is removed on resume.

Lightning's own SIGTERM handling (stop after the step, no checkpoint, no message) is replaced
while the training loop runs, and restored afterwards. The callback that does it is
vidzoo.training.graceful_stop.GracefulStop; this module stays Lightning-free for the CLI.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

SIGNALS = {signal.SIGINT: "Ctrl-C (SIGINT)", signal.SIGTERM: "SIGTERM", signal.SIGUSR1: "SIGUSR1"}


class RunStopped(Exception):
    """Raised on every rank after the stop checkpoint is written; ``vidzoo run`` prints it and exits."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def resume_command(run_dir: Path) -> str:
    return f"vidzoo run --resume {run_dir}"


def requeue_slurm_job() -> str:
    """``scontrol requeue`` this SLURM job (Lightning's auto-requeue does the same); returns what happened."""
    array = os.environ.get("SLURM_ARRAY_JOB_ID")
    job = f"{array}_{os.environ['SLURM_ARRAY_TASK_ID']}" if array else os.environ.get("SLURM_JOB_ID", "")
    if not job:
        return "not a SLURM job: not requeued"
    try:
        done = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"requeueing SLURM job {job} failed ({exc})"
    return f"SLURM job {job} requeued" if done.returncode == 0 else \
        f"requeueing SLURM job {job} failed: {' '.join(done.stderr.split())[:200]}"



# What gloo and NCCL say when a peer process is gone (killed, its node lost).
_LOST_PEER = ("Connection closed by peer", "Connection reset by peer", "Broken pipe", "NCCL communicator was aborted",
              "Socket Timeout", "connection refused")
# ... and when a peer is there but never answers (frozen, unreachable) within the process-group timeout
# (gloo closes every pair of the group on a timeout: an operation on another pair may be the one that says so).
_SILENT_PEER = ("Timed out waiting", "collective operation timeout", "Application timeout caused pair closure")
DEFAULT_PEER_TIMEOUT_S = 1800  # torch's default process-group timeout


def lost_peer_error(exc: BaseException, run_dir: Path | None = None, peer_timeout_s: float | None = None):
    """A one-line VidzooError for a collective that failed because another process of the job is gone."""
    text = str(exc)
    lost = any(s.lower() in text.lower() for s in _LOST_PEER)
    silent = not lost and any(s.lower() in text.lower() for s in _SILENT_PEER)
    if not (lost or silent):
        return None
    from vidzoo.errors import VidzooError
    from vidzoo.training.midepoch import newest_checkpoint

    newest = newest_checkpoint(Path(run_dir) / "checkpoints") if run_dir else None
    kept = f"the newest checkpoint is {newest}" if newest else "no checkpoint was written yet"
    rank = os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))
    first = " ".join(text.split())[:160]
    if silent:
        seconds = peer_timeout_s or DEFAULT_PEER_TIMEOUT_S
        what = (f"got no answer from another process of this job within --trainer.peer_timeout_s {seconds:g} s "
                f"(a node froze or became unreachable: {first})")
    else:
        what = f"lost another process of this job (a node or process died: {first})"
    return VidzooError(
        f"rank {rank} {what}; {kept}; start the job again (torchrun --max-restarts N does it by itself) or continue "
        f"with `vidzoo run --resume {run_dir}`")
