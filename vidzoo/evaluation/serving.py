"""Serve a trained model over HTTP, on LitServe: ``vidzoo.evaluation.serving.serve(CKPT)`` or ``vidzoo serve``.

The model is a vidzoo checkpoint (run through vidzoo's Predictor) or an ONNX file exported by
``vidzoo export`` with its ``FILE.json`` sidecar (run through onnxruntime). Either way a video
is turned into views exactly as ``vidzoo predict`` does (the run's evaluation transform, T
clips x S crops, softmax averaged over the views).

Where the work happens (LitServe's processes):

- the main process reads the model's metadata, binds the port, starts the others and stops
  them on SIGTERM/Ctrl+C, then removes the upload folder;
- the API server (uvicorn, forked) checks the token and the upload size, reads the multipart
  upload into the upload folder and decodes it into views in a thread pool; the file is
  deleted as soon as it is decoded. Decoding here rather than in LitServe's
  ``decode_request`` (which runs in the inference worker, one request after another, right
  before the batch's forward pass) keeps the model busy while the next videos decode, and a
  file that is not a video is refused with 400 before it can join a batch (an exception in
  ``decode_request`` fails every request of its batch);
- the inference workers (``workers_per_device`` per device, spawned) hold the model and run
  dynamic batches of up to ``max_batch_size`` requests (views of all requests in one forward
  pass), waiting at most ``batch_timeout`` seconds for a batch to fill.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from vidzoo.errors import VidzooError

DEFAULT_VIEWS = "1x1"  # the fast single view (`vidzoo test --views 1x1`): the centre clip, centre crop
HOSTS = ("127.0.0.1", "0.0.0.0", "::")  # what LitServe binds


# ---------------------------------------------------------------- the model's description (main process)


@dataclass
class ModelCard:
    """What the server needs to know about a model before loading it: read from the checkpoint's
    hyper-parameters or the ONNX sidecar, small and picklable (it travels to every process)."""

    kind: str  # "checkpoint", "onnx" or "published" (a registered model: path is its NAME[:VARIANT])
    path: str
    backbone: str
    class_names: list[str]
    config: dict  # the run config (at least its transform) to rebuild the evaluation transform
    clip_duration: float
    input_shapes: list[list[int]] = field(default_factory=list)  # (C, T, H, W) per input
    input_names: list[str] = field(default_factory=lambda: ["video"])
    pretrained: str | None = None  # a published model's weights (None: its published ones)
    options: dict = field(default_factory=dict)  # a published model's backbone options


def read_published(name: str, pretrained: str | None = None, options: dict | None = None) -> ModelCard:
    """The ModelCard of a registered model with its published weights: built once here, for its class
    names (a Hub config's come with the weights) and to fail before the server starts."""
    from vidzoo.evaluation.inference import Predictor

    predictor = Predictor.from_published(name, pretrained, device="cpu", **(options or {}))
    return ModelCard("published", name, predictor.model_name, predictor.class_names, predictor.config,
                     predictor.clip_duration, pretrained=pretrained, options=dict(options or {}))


def read_model(path) -> ModelCard:
    """The ModelCard of a vidzoo checkpoint (file or run directory) or of an exported ONNX file."""
    p = Path(path).expanduser()
    if p.suffix.lower() == ".onnx":
        return _read_onnx(p)
    from vidzoo.evaluation.inference import _clip_duration, read_vidzoo_checkpoint
    from vidzoo.models.builder import recipe_label, recipe_of

    ckpt = read_vidzoo_checkpoint(p)
    hp = ckpt["hyper_parameters"]
    config = dict(hp.get("config") or {})
    return ModelCard("checkpoint", ckpt["_path"], recipe_label(recipe_of(hp)), list(hp["class_names"]),
                     config, _clip_duration(config))


def _read_onnx(p: Path) -> ModelCard:
    sidecar = p.with_name(p.name + ".json")
    if not p.is_file():
        raise VidzooError(f"ONNX file {p} does not exist; write one with `vidzoo export --format onnx --output {p}`")
    if not sidecar.is_file():
        raise VidzooError(f"{p} has no metadata file {sidecar}; serve an ONNX file written by `vidzoo export`, "
                          f"which writes both")
    try:
        meta = json.loads(sidecar.read_text())
        inputs = meta["inputs"] if "inputs" in meta else [meta["input"]]
        transform = meta["transform"]
        return ModelCard("onnx", str(p), str(meta.get("backbone", "onnx")), list(meta["class_names"]),
                         {"transform": {"name": transform["name"], **transform.get("options", {})}},
                         float(meta["preprocessing"]["clip_duration"]),
                         [list(i["shape"][1:]) for i in inputs], [i["name"] for i in inputs])
    except (ValueError, KeyError, TypeError) as exc:
        raise VidzooError(f"{sidecar} is not the metadata of `vidzoo export` ({type(exc).__name__}: {exc})") from None


def model_info(card: ModelCard, transform_name: str, transform_options: dict, default_views: str,
               max_views: int) -> dict:
    """What GET /info shows under "model": the model, its classes, its input, vidzoo's version."""
    from vidzoo._version import __version__

    info = {"backbone": card.backbone, "format": card.kind, "file": card.path, "classes": card.class_names,
            "num_classes": len(card.class_names),
            "input": {"shapes": card.input_shapes, "names": card.input_names, "layout": "NCTHW",
                      "transform": transform_name, "transform_options": transform_options,
                      "clip_duration": card.clip_duration, "default_views": default_views,
                      "max_views": max_views},
            "vidzoo_version": __version__}
    return json.loads(json.dumps(info, default=str))


def input_shapes(transform) -> list[list[int]]:
    """(C, T, H, W) the transform makes of a clip (one per pathway), from a 320x256 clip of 64 frames."""
    import torch

    out = transform({"video": torch.zeros(3, 64, 256, 320), "label": 0, "video_index": 0, "video_name": "",
                     "clip_start": 0.0})["video"]
    return [list(v.shape) for v in out] if isinstance(out, (list, tuple)) else [list(out.shape)]


def _litserve_app():
    """vidzoo.evaluation.litserve_app (LitServe's API, gate and server classes), or a one-line error without LitServe."""
    try:
        import multipart  # noqa: F401  (python-multipart: Starlette's form parser)

        from vidzoo.evaluation import litserve_app
    except ImportError:
        raise VidzooError("vidzoo serve needs LitServe: pip install 'vidzoo[serve]' "
                          "(litserve and python-multipart)") from None
    return litserve_app


# ---------------------------------------------------------------- serve()


def check_port(host: str, port: int) -> None:
    """One-line error if the port cannot be bound (uvicorn would log and exit instead)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise VidzooError(f"cannot listen on {host}:{port} ({reason}); is another server using it? "
                              f"pick a free one with --port") from None


def serve(checkpoint, *, pretrained: str | None = None, backbone_options: dict | None = None,
          host: str = "127.0.0.1", port: int = 8000, views: str = DEFAULT_VIEWS,
          max_views: int = 30, max_batch_size: int = 1, batch_timeout: float = 0.0,
          workers_per_device: int = 1, accelerator: str = "auto", devices="auto", api_key: str | None = None,
          max_upload_mb: float = 100.0, timeout: float = 30.0, decode_threads: int | None = None,
          log_level: str = "info") -> int:
    """Serve a checkpoint (or an ONNX file exported by `vidzoo export`, or a registered model's name:
    its published weights, ``pretrained`` others) until SIGTERM or Ctrl+C.

    POST /predict (multipart: ``video`` file, ``views`` such as ``1x1`` or ``10x3``, ``top_k``)
    answers ``{"file", "views", "num_views", "top": [{"class", "probability"}]}``; GET /health
    answers ``ok`` when the workers are ready; GET /info describes the model and the server.
    Returns 0 after a clean shutdown.
    """
    if host not in HOSTS:
        raise VidzooError(f"--host must be 127.0.0.1 (this machine only, the default), 0.0.0.0 (every IPv4 "
                          f"interface) or :: (every IPv6 interface), got {host!r}")
    if not 1024 <= int(port) <= 65535:
        raise VidzooError(f"--port must be from 1024 to 65535, got {port}")
    checks = {"--max-batch-size": (max_batch_size, 1), "--workers-per-device": (workers_per_device, 1),
              "--max-views": (max_views, 1)}
    for flag, (value, least) in checks.items():
        if int(value) < least:
            raise VidzooError(f"{flag} must be {least} or more, got {value}")
    if batch_timeout < 0 or timeout <= 0 or max_upload_mb <= 0:
        raise VidzooError("--batch-timeout must be 0 or more, --timeout and --max-upload-mb more than 0")
    if batch_timeout >= timeout:
        raise VidzooError(f"--batch-timeout ({batch_timeout}) must be less than --timeout ({timeout})")
    if accelerator not in ("auto", "cpu", "cuda", "mps"):
        raise VidzooError(f"--accelerator must be auto, cpu, cuda or mps, got {accelerator!r}")
    from vidzoo.evaluation.inference import eval_transform
    from vidzoo.evaluation.views import parse_views

    view_tuple = parse_views(views)
    if view_tuple[0] * view_tuple[1] > max_views:
        raise VidzooError(f"--views {views} is more than --max-views {max_views} views")
    app = _litserve_app()
    from vidzoo.evaluation.inference import is_model_name

    card = (read_published(checkpoint, pretrained, backbone_options) if is_model_name(checkpoint)
            else read_model(checkpoint))
    import torch

    # This process only describes the model; the API servers forked from it decode in threads,
    # one torch thread each (and no OpenMP pool is started before the fork).
    torch.set_num_threads(1)
    name, options, transform = eval_transform(card.config)
    if not card.input_shapes:
        card.input_shapes = input_shapes(transform)
    check_port(host, int(port))
    cpus = os.cpu_count() or 1
    upload_dir = tempfile.mkdtemp(prefix="vidzoo-serve-")
    api = app.VideoClassifierAPI(card, upload_dir, default_views=f"{view_tuple[0]}x{view_tuple[1]}",
                                 max_views=max_views, decode_threads=decode_threads or min(4, cpus),
                                 cpu_threads=max(1, cpus // int(workers_per_device)),
                                 max_batch_size=int(max_batch_size), batch_timeout=float(batch_timeout),
                                 transform=transform)
    main_pid = os.getpid()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    server = None

    def on_stop(signum, frame):
        if os.getpid() != main_pid:  # a forked API server before uvicorn installs its own handlers
            raise SystemExit(0)
        event = getattr(server, "_shutdown_event", None)
        if event is None:  # nothing started yet
            raise KeyboardInterrupt
        # LitServe's own shutdown (API servers, then inference workers), as its /shutdown route
        # starts it; from a thread, because the main thread is inside a call on the same
        # manager connection (event.wait). Its KeyboardInterrupt path would leave its
        # worker-monitoring thread polling the stopped manager.
        threading.Thread(target=event.set, daemon=True).start()

    for sig in previous:
        signal.signal(sig, on_stop)
    try:
        server = app.Server(api, accelerator=accelerator, devices=devices, workers_per_device=int(workers_per_device),
                                 timeout=float(timeout), model_metadata=model_info(card, name, options, api.default_views,
                                                                                    max_views),
                                 middlewares=[(app.Gate, {"api_key": api_key or None,
                                                      "max_bytes": int(max_upload_mb * 2**20)})])
        where = f"http://{'[::]' if host == '::' else host}:{port}"
        print(f"vidzoo serve: {card.backbone} ({len(card.class_names)} classes, {card.kind}) at {where}: "
              f"POST /predict, GET /info, GET /health; batches of up to {max_batch_size} "
              f"(wait {batch_timeout:g} s), {workers_per_device} worker(s) per device"
              + ("; token required" if api_key else ""), flush=True)
        if host != "127.0.0.1" and not api_key:
            print(f"vidzoo serve: warning: listening on {host} without a token: anyone who can reach this machine "
                  f"can use the model; set --api-key (or VIDZOO_API_KEY)", file=sys.stderr, flush=True)
        try:
            server.run(host=host, port=int(port), log_level=log_level, generate_client_file=False)
        except RuntimeError as exc:
            if "workers failed to start" in str(exc):
                raise VidzooError("the inference worker could not load the model (see its error above)") from None
            raise
        except KeyboardInterrupt:  # before LitServe's own handling started (workers still loading)
            pass
    finally:
        _stop_workers(server)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        shutil.rmtree(upload_dir, ignore_errors=True)
    print("vidzoo serve: stopped", flush=True)
    return 0


def _stop_workers(server) -> None:
    for proc in getattr(server, "inference_workers", None) or []:
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
