"""Serve benchmark: requests/s and p50/p95 latency of `vidzoo serve` at 1, 4 and 16 concurrent clients.

The real server (`python -m vidzoo serve`, a subprocess on 127.0.0.1) is started twice, with
batching off (--max-batch-size 1) and on (--max-batch-size 8 --batch-timeout 0.02), and
each time gets, per client count, a fixed number of POST /predict requests (one demo-sample
mp4 each, 1x1 views) from that many client threads, after two warm-up requests. Latency is
the client's (upload to answer); a request that fails (e.g. a 504 past the server's
--timeout, here 600 s) is counted as an error, not timed. The model is a checkpoint given with --checkpoint, or one
trained here for one step at the demo's sizes (the figures measure serving, not accuracy).

    python -m benchmarks.serve                              # JSON to benchmarks/results/serve.json
    python -m benchmarks.serve --requests 16 --clients 1 4  # quicker
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from benchmarks import RESULTS, write_results

ARMS = {"batching off": ["--max-batch-size", "1"],
        "batching on": ["--max-batch-size", "8", "--batch-timeout", "0.02"]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _body(video: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="video"; filename="clip.mp4"\r\n'
            f"Content-Type: video/mp4\r\n\r\n").encode() + video + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def post(port: int, body: bytes, content_type: str, timeout: float = 300) -> float:
    """Seconds for one POST /predict to 127.0.0.1 (raises unless 200)."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/predict", body=body, headers={"Content-Type": content_type})
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"POST /predict answered {response.status}: {data[:200]!r}")
        json.loads(data)
    finally:
        conn.close()
    return time.perf_counter() - start


def load(port: int, body: bytes, content_type: str, clients: int, requests: int) -> dict:
    """`requests` requests from `clients` threads (each takes the next until all are sent)."""
    latencies, errors, lock, left = [], [], threading.Lock(), [requests]

    def client():
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            try:
                seconds = post(port, body, content_type)
            except Exception as exc:  # counted and shown, not a crash of the whole benchmark
                with lock:
                    errors.append(str(exc)[:200])
                continue
            with lock:
                latencies.append(seconds)

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    ordered = sorted(latencies) or [float("nan")]
    return {"clients": clients, "requests": len(latencies), "errors": len(errors), "error_examples": errors[:3],
            "wall_s": wall, "requests_per_s": len(latencies) / wall, "p50_ms": 1000 * statistics.median(ordered),
            "p95_ms": 1000 * ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]}


def start_server(checkpoint: str, args: list[str], folder: Path) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    log = open(folder / f"serve-{port}.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "vidzoo", "serve", "--checkpoint", checkpoint, "--port", str(port),
                             "--log-level", "warning", "--timeout", "600", *args], stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"vidzoo serve exited with {proc.returncode}: {(folder / log.name).read_text()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/health")
            if conn.getresponse().read() == b"ok":
                return proc, port
        except OSError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("vidzoo serve did not become healthy in 300 s")


def stop_server(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def tiny_checkpoint(folder: Path) -> tuple[str, Path]:
    """A checkpoint trained here for one step on the demo sample at the demo's sizes, and a val video."""
    from vidzoo.data.demo import write_demo

    demo = write_demo(folder / "demo", train_per_class=2, val_per_class=1)
    subprocess.run([sys.executable, "-m", "vidzoo", "run", "--dataset", "kinetics", "--backbone", "resnet3d50",
                    "--dataset.data_path", str(demo), "--output", str(folder / "runs"), "--data.batch_size", "4",
                    "--data.num_workers", "0", "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1",
                    "--trainer.limit_val_batches", "1", "--trainer.enable_progress_bar", "false",
                    "--trainer.enable_model_summary", "false"], check=True, capture_output=True)
    (ckpt,) = (folder / "runs").glob("*/checkpoints/best.ckpt")
    return str(ckpt), sorted((demo / "val").glob("*/*.mp4"))[0]


def run(checkpoint: str | None = None, video: str | None = None, clients=(1, 4, 16), requests: int = 32,
        out: Path | None = None) -> dict:
    from benchmarks.data import machine

    os.environ.setdefault("VIDZOO_LOAD_PLUGINS", "")
    with tempfile.TemporaryDirectory(prefix="vidzoo-bench-serve-") as tmp:
        folder = Path(tmp)
        if checkpoint is None:
            checkpoint, default_video = tiny_checkpoint(folder)
            video = video or str(default_video)
        if video is None:
            raise SystemExit("--video is needed with --checkpoint")
        body, content_type = _body(Path(video).read_bytes())
        rows = []
        for arm, args in ARMS.items():
            proc, port = start_server(checkpoint, args, folder)
            try:
                for _ in range(2):
                    post(port, body, content_type)
                for c in clients:
                    row = {"arm": arm, **load(port, body, content_type, c, requests)}
                    rows.append(row)
                    print(f"{arm}, {c} clients: {row['requests_per_s']:.2f} requests/s, p50 {row['p50_ms']:.0f} ms, "
                          f"p95 {row['p95_ms']:.0f} ms", flush=True)
            finally:
                code = stop_server(proc)
            if code != 0:
                raise RuntimeError(f"vidzoo serve exited with {code} on SIGTERM")
    import torch

    results = {"machine": machine(), "device": "cuda" if torch.cuda.is_available() else "cpu",
               "checkpoint": checkpoint, "video": Path(video).name, "views": "1x1", "requests": requests,
               "arms": {arm: args for arm, args in ARMS.items()}, "rows": rows,
               "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    out = write_results(results, out or RESULTS / "serve.json")
    print(render(results))
    print(f"\nwrote {out}")
    return results


def render(results: dict) -> str:
    from vidzoo.training.benchmarking import table

    rows = [[r["arm"], r["clients"], r["requests"], r.get("errors", 0), r["requests_per_s"], f"{r['p50_ms']:.0f}",
             f"{r['p95_ms']:.0f}"] for r in results["rows"]]
    on = " ".join(results["arms"]["batching on"])
    return (f"vidzoo serve on {results['device']}, POST /predict of {results['video']} ({results['views']} views), "
            f"{results['requests']} requests per row; batching on = {on}; {results['machine']}\n"
            + table(rows, ["batching", "clients", "answered", "errors", "requests/s", "p50 ms", "p95 ms"]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=None, help="serve this checkpoint (default: train a tiny one)")
    parser.add_argument("--video", default=None, help="the video every request sends (default: a demo one)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--requests", type=int, default=32, help="requests per row (default 32)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    run(args.checkpoint, args.video, tuple(args.clients), args.requests, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
