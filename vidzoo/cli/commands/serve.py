"""vidzoo serve: a checkpoint (or an exported ONNX file) behind HTTP, on LitServe."""

from __future__ import annotations

import os

from vidzoo.cli.commands import ArgumentParser, add_model_arguments, parse_model_args

DESCRIPTION = """Serve a trained checkpoint (or an ONNX file written by `vidzoo export`, with its FILE.json)
over HTTP, on LitServe. POST /predict takes a multipart upload (file field `video`; optional
`views`, e.g. 1x1 or 10x3, and `top_k`) and answers the top-k classes with probabilities as
JSON, with the same preprocessing and views as `vidzoo predict`; GET /health answers `ok` when
the model is loaded; GET /info describes the model, its classes and input. Requests are
batched dynamically (--max-batch-size, --batch-timeout). Listens on 127.0.0.1 unless --host
says otherwise; with --api-key (or VIDZOO_API_KEY) every request but /health needs
`Authorization: Bearer TOKEN`. Stops cleanly on SIGTERM or Ctrl+C. --model NAME serves a published
model (its weights, class names and evaluation recipe; docs/models.md). See docs/serve.md."""

EPILOG = """examples:
  vidzoo serve --checkpoint runs/RUN/checkpoints/best.ckpt
  curl -F video=@clip.mp4 http://127.0.0.1:8000/predict
  curl -F video=@clip.mp4 -F views=10x3 -F top_k=3 http://127.0.0.1:8000/predict
  VIDZOO_API_KEY=secret vidzoo serve --checkpoint best.ckpt --host 0.0.0.0 --max-batch-size 8 --batch-timeout 0.05
  vidzoo serve --checkpoint model.onnx --port 8080                # onnxruntime; model.onnx.json beside it
  vidzoo serve --model x3d_s                                       # a published Kinetics-400 model
"""


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="vidzoo serve", description=DESCRIPTION, epilog=EPILOG)
    add_model_arguments(p, "a run's checkpoint (or its run directory), or an exported .onnx file")
    p.add_argument("--host", default="127.0.0.1",
                   help="127.0.0.1 (default: this machine only), 0.0.0.0 (every IPv4 interface) or ::")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--views", default="1x1", metavar="TxS",
                   help="views when a request names none (default 1x1, the fast single view)")
    p.add_argument("--max-views", type=int, default=30, help="most views a request may ask for (default 30 = 10x3)")
    p.add_argument("--max-batch-size", type=int, default=1,
                   help="requests per forward pass (default 1: no batching)")
    p.add_argument("--batch-timeout", type=float, default=0.0,
                   help="seconds to wait for a batch to fill (default 0)")
    p.add_argument("--workers-per-device", type=int, default=1, help="model copies per device (default 1)")
    p.add_argument("--accelerator", default="auto", choices=("auto", "cpu", "cuda", "mps"),
                   help="where the model runs (default auto: cuda if there is one)")
    p.add_argument("--devices", default="auto", help="how many devices (default auto: all)")
    p.add_argument("--api-key", default=os.environ.get("VIDZOO_API_KEY") or None, metavar="TOKEN",
                   help="require `Authorization: Bearer TOKEN` on every request but /health "
                        "(default: $VIDZOO_API_KEY, else none)")
    p.add_argument("--max-upload-mb", type=float, default=100.0, help="largest upload, MB (default 100; 413 above)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds a request may wait (default 30; 504 after)")
    p.add_argument("--decode-threads", type=int, default=None,
                   help="videos decoded at once by each API server (default: CPU cores, at most 4)")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"),
                   help="server log level (default info: one line per request)")
    return p


def main(argv: list[str]) -> int:
    args = parse_model_args(parser(), argv)
    from vidzoo.errors import VidzooError
    from vidzoo.evaluation.serving import serve

    devices = args.devices
    if devices != "auto":
        try:
            devices = int(devices)
        except ValueError:
            raise VidzooError(f"--devices must be auto or a number, got {devices!r}") from None
    if args.decode_threads is not None and args.decode_threads < 1:
        raise VidzooError(f"--decode-threads must be 1 or more, got {args.decode_threads}")
    return serve(args.model_ref, pretrained=args.pretrained, backbone_options=args.backbone_options, host=args.host, port=args.port, views=args.views, max_views=args.max_views,
                 max_batch_size=args.max_batch_size, batch_timeout=args.batch_timeout,
                 workers_per_device=args.workers_per_device, accelerator=args.accelerator, devices=devices,
                 api_key=args.api_key, max_upload_mb=args.max_upload_mb, timeout=args.timeout,
                 decode_threads=args.decode_threads, log_level=args.log_level)
