"""Two nodes on one machine: two `torchrun --nnodes 2` launches (c10d rendezvous on 127.0.0.1, gloo).

Each clip of the epoch is trained on once across the nodes; when node 1's worker is SIGKILLed,
`torchrun --max-restarts 1` restarts both nodes' workers and they continue from the newest
checkpoint; a node whose peer is gone for good fails within a bounded time instead of hanging, and one
whose peer froze (alive, connections open, never answering) fails after --trainer.peer_timeout_s."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest

from faultkit import TINY_FK, plugin_env, wait_for

FAIL_WITHIN_S = 180  # a node whose peer died stops within this (gloo sees the closed connection)
PEER_TIMEOUT_S = 8  # --trainer.peer_timeout_s of the frozen-peer test: small, so that the test is short


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node(rank: int, port: int, data: Path, out: Path, env: dict, log: Path, restarts: int,
          extra: tuple[str, ...] = ()) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
           "--node-rank", str(rank), "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}",
           "--rdzv-id", "twonodes", "--max-restarts", str(restarts), "--monitor-interval", "1",
           "-m", "vidzoo", "run", "--dataset", "faultkit", "--backbone", "faultkit-tiny",
           "--dataset.data_path", str(data), "--dataset.stamp", "true", *TINY_FK, "--data.batch_size", "4",
           "--data.num_workers", "0", "--trainer.max_epochs", "1", "--trainer.num_sanity_val_steps", "0",
           "--trainer.accelerator", "cpu", "--trainer.devices", "1", "--trainer.num_nodes", "2",
           "--trainer.strategy", "ddp", "--checkpoint.every_n_steps", "1", "--output", str(out), *extra]
    return subprocess.Popen(cmd, stdout=open(log, "ab"), stderr=subprocess.STDOUT, env={**os.environ, **env},
                            start_new_session=True)


def _listens(pid: int, port: int) -> bool:
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port
               for c in psutil.Process(pid).net_connections(kind="tcp"))


def _ended(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE  # exited, not yet reaped by its agent
    except psutil.NoSuchProcess:
        return True


def _seen(path: Path) -> dict[str, list[list[int]]]:
    out: dict[str, list[list[int]]] = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        rank, *indices = line.split()
        out.setdefault(rank, []).append([int(i) for i in indices])
    return out


def test_two_torchrun_nodes_a_killed_worker_restarts_and_resumes(demo_dir, tmp_path):
    out, port = tmp_path / "runs", _port()
    # One file per training process: node 0's agent restarts its healthy worker without counting a
    # restart, so torchrun's restart count does not tell the attempts apart.
    seen = tmp_path / "seen-{pid}"
    env = plugin_env(tmp_path / "site", VIDZOO_FAULTKIT_SLEEP="0.5", VIDZOO_FAULTKIT_SEEN=str(seen))
    logs = [tmp_path / "node0.log", tmp_path / "node1.log"]
    nodes = [_node(r, port, demo_dir, out, env, logs[r], restarts=1) for r in (0, 1)]
    try:
        wait_for(lambda: list(out.glob("*/checkpoints/step-00000002.ckpt")), nodes[0], timeout=400,
                 what="step 2 of the two-node run")
        # node 1's training process (the agent may also have helper children, e.g. a resource tracker)
        (worker,) = [c for c in psutil.Process(nodes[1].pid).children() if "vidzoo" in " ".join(c.cmdline())]
        worker.send_signal(signal.SIGKILL)
        for node in nodes:
            assert node.wait(timeout=600) == 0, "".join(log.read_text()[-3000:] for log in logs)
    finally:
        for node in nodes:
            if node.poll() is None:
                os.killpg(node.pid, signal.SIGKILL)
    (run_dir,) = list(out.iterdir())
    assert run_dir.name.startswith("torchrun-twonodes-")
    text = "".join(log.read_text() for log in logs)
    assert "resuming" in text and "(epoch 0, step" in text, text[-3000:]
    # each process's file, oldest last write first: the killed attempt's, then the restarted one's
    files = sorted(tmp_path.glob("seen-*"), key=lambda p: p.stat().st_mtime)
    assert len(files) == 4, files  # two ranks, each started twice
    first, second = {}, {}
    for path in files:
        for rank, batches in _seen(path).items():
            (second if rank in first else first)[rank] = batches
    assert sorted(first) == ["r0", "r1"] and sorted(second) == ["r0", "r1"]
    from vidzoo.io import safe_load

    resumed = next(line for line in text.splitlines() if line.startswith("resuming"))
    step = int(resumed.rsplit("step ", 1)[1].rstrip(")"))
    trained = Counter(i for r in ("r0", "r1") for batch in first[r][:step] + second[r] for i in batch)
    assert sorted(trained) == list(range(24)) and set(trained.values()) == {1}, trained  # once, across nodes
    assert safe_load(run_dir / "checkpoints" / "last.ckpt")["global_step"] == 3  # 24 clips / (2 nodes x batch 4)


def test_a_node_whose_peer_is_killed_fails_within_a_bounded_time(demo_dir, tmp_path):
    out, port = tmp_path / "runs", _port()
    env = plugin_env(tmp_path / "site", VIDZOO_FAULTKIT_SLEEP="0.5")
    logs = [tmp_path / "node0.log", tmp_path / "node1.log"]
    nodes = [_node(r, port, demo_dir, out, env, logs[r], restarts=0) for r in (0, 1)]
    try:
        wait_for(lambda: list(out.glob("*/checkpoints/step-00000001.ckpt")), nodes[0], timeout=400, what="step 1")
        # The whole node: its agent and its worker (torchrun starts workers in their own session,
        # so killing the agent's process group alone leaves the worker running).
        agent = psutil.Process(nodes[1].pid)
        for proc in [*agent.children(recursive=True), agent]:
            proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        code = nodes[0].wait(timeout=FAIL_WITHIN_S)
        assert code != 0 and time.monotonic() - killed < FAIL_WITHIN_S
    finally:
        for node in nodes:
            if node.poll() is None:
                os.killpg(node.pid, signal.SIGKILL)
    text = logs[0].read_text()
    lines = [line for line in text.splitlines() if line.startswith("vidzoo run: error: rank 0 lost another process")]
    assert len(lines) == 1 and "start the job again (torchrun --max-restarts N does it by itself)" in lines[0], \
        text[-3000:]


def test_a_node_whose_peer_freezes_fails_after_the_peer_timeout_with_one_line(demo_dir, tmp_path):
    """Node 1 stopped (SIGSTOP: a frozen machine or a cut network; its sockets stay open, so gloo sees no
    closed connection): node 0 fails at its next collective once --trainer.peer_timeout_s has passed."""
    out, port = tmp_path / "runs", _port()
    env = plugin_env(tmp_path / "site", VIDZOO_FAULTKIT_SLEEP="0.25")
    logs = [tmp_path / "node0.log", tmp_path / "node1.log"]
    extra = ("--trainer.peer_timeout_s", str(PEER_TIMEOUT_S))
    # Node 0's agent hosts the rendezvous store (it binds the endpoint before node 1 starts): the node that
    # freezes is another one. (When the store's host freezes, the other agents also wait for the store,
    # up to torchrun's read_timeout per operation, before they exit.)
    nodes = [_node(0, port, demo_dir, out, env, logs[0], restarts=0, extra=extra)]
    wait_for(lambda: _listens(nodes[0].pid, port), nodes[0], timeout=120, what="node 0's rendezvous store")
    nodes.append(_node(1, port, demo_dir, out, env, logs[1], restarts=0, extra=extra))
    frozen: list[psutil.Process] = []
    prefix = "vidzoo run: error: rank "
    try:
        wait_for(lambda: list(out.glob("*/checkpoints/step-00000001.ckpt")), nodes[0], timeout=400, what="step 1")
        # node 0's training process (the agent may also have helper children, e.g. a resource tracker)
        (worker,) = [c for c in psutil.Process(nodes[0].pid).children() if "vidzoo" in " ".join(c.cmdline())]
        agent = psutil.Process(nodes[1].pid)
        frozen = [*agent.children(recursive=True), agent]
        for proc in frozen:
            proc.send_signal(signal.SIGSTOP)
        stopped = time.monotonic()
        wait_for(lambda: prefix in logs[0].read_text(), nodes[0], timeout=PEER_TIMEOUT_S + 120,
                 what="node 0's one-line error")
        waited = time.monotonic() - stopped
        # The timeout fired (node 0 may have been waiting a moment already), within it plus one step.
        assert PEER_TIMEOUT_S / 2 < waited < PEER_TIMEOUT_S + 30, waited
        wait_for(lambda: _ended(worker), nodes[0], timeout=30, what="node 0's worker to exit")
        # Its agent then ends the node (non-zero); it may first wait for torchrun's stores, whose host
        # can be the frozen node, up to their read timeout: torchrun's part, not vidzoo's.
        with contextlib.suppress(subprocess.TimeoutExpired):
            assert nodes[0].wait(timeout=90) != 0
    finally:
        for proc in frozen:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signal.SIGKILL)
        for node in nodes:
            if node.poll() is None:
                os.killpg(node.pid, signal.SIGKILL)
    text = logs[0].read_text()
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, text[-3000:]
    assert (f"got no answer from another process of this job within --trainer.peer_timeout_s {PEER_TIMEOUT_S} s "
            f"(a node froze or became unreachable") in lines[0], lines[0]
    assert "the newest checkpoint is " in lines[0] and "start the job again" in lines[0], lines[0]


@pytest.mark.parametrize("message, silent", [
    # gloo (transport/tcp/unbound_buffer.cc) on a timed-out operation: the waiter's own error, and what
    # every other pair of the group then raises (either can surface first; CI once met the second)
    ("[../gloo/transport/tcp/unbound_buffer.cc:81] Timed out waiting 8000ms for recv operation to complete", True),
    ("Application timeout caused pair closure", True),
    ("[../gloo/transport/tcp/pair.cc:534] Connection closed by peer [127.0.0.1]:29500", False),
])
def test_gloo_peer_errors_become_one_line(message, silent, tmp_path):
    from vidzoo.training.preemption import lost_peer_error

    error = lost_peer_error(RuntimeError(message), tmp_path, PEER_TIMEOUT_S)
    assert error is not None and "\n" not in str(error) and f"vidzoo run --resume {tmp_path}" in str(error)
    assert (f"--trainer.peer_timeout_s {PEER_TIMEOUT_S} s" in str(error)) == silent
    assert lost_peer_error(RuntimeError("shapes cannot be multiplied"), tmp_path) is None
