"""The LitServe parts of `vidzoo serve` (see vidzoo.evaluation.serving): the API, the token/size gate, the server.
One module (over 350 lines) on purpose: LitServe's spawned workers unpickle the API from this one module.

Imported only when serving (it needs litserve); classes at module level so that LitServe's
spawned inference workers can unpickle the API.
"""

from __future__ import annotations

import hmac
import os
import re
import uuid
from pathlib import Path

import litserve as ls
from fastapi import Depends, HTTPException, Request, Response
from litserve.callbacks.base import EventTypes
from litserve.server import RegularRequestHandler

from vidzoo.errors import VidzooError

VIEWS_PER_FORWARD = 64  # largest forward pass of an inference worker (views of all requests in a batch)


def _http_error(status: int, detail: str) -> HTTPException:
    return HTTPException(status_code=status, detail=detail)


def _views_option(text, max_views: int) -> tuple[int, int]:
    from vidzoo.evaluation.views import parse_views

    try:
        views = parse_views(text)
    except VidzooError as exc:
        raise _http_error(400, str(exc).replace("--views", "views")) from None
    if views[0] * views[1] > max_views:
        raise _http_error(400, f"views {text} is {views[0] * views[1]} views; this server allows at most {max_views} "
                               f"(its --max-views)")
    return views


def _top_k_option(text) -> int:
    try:
        k = int(text)
    except (TypeError, ValueError):
        k = 0
    if k < 1:
        raise _http_error(400, f"top_k must be a whole number, 1 or more, got {text!r}")
    return k


TIMELINE_WINDOWS = 64  # most windows of an upload's timeline (a longer video gets a wider stride)


def _timeline_options(form) -> dict | None:
    """``timeline=1`` and its options (``window``, ``stride`` seconds; ``smooth`` windows;
    ``min_segment`` seconds) from the form, checked; None without ``timeline``."""
    if str(form.get("timeline", "")).strip().lower() not in ("1", "true", "yes", "on"):
        return None
    from vidzoo.evaluation.timeline import check_options

    options = {}
    for name, kind in (("window", float), ("stride", float), ("smooth", int), ("min_segment", float)):
        try:
            if form.get(name) not in (None, ""):
                options[name] = kind(form.get(name))
        except ValueError:
            raise _http_error(400, f"{name} must be a number, got {form.get(name)!r}") from None
    try:
        check_options(options.get("window"), options.get("stride"), options.get("smooth", 1),
                      options.get("min_segment", 0.0), 1)
    except VidzooError as exc:
        raise _http_error(400, str(exc).replace("--min-segment", "min_segment").replace("--", "")) from None
    return options


def _safe_suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ".video"


class VideoClassifierAPI(ls.LitAPI):
    """POST /predict: a multipart upload (field ``video``; ``views``, ``top_k``) -> top-k classes.

    ``prepare`` runs in the API server (see the module docstring); ``setup``/``predict`` in
    the inference workers, ``predict`` on a list of prepared requests when batching.
    """

    def __init__(self, card, upload_dir: str, default_views: str = "1x1",
                 max_views: int = 30, decode_threads: int = 2, cpu_threads: int | None = None,
                 max_batch_size: int = 1, batch_timeout: float = 0.0, transform=None):
        super().__init__(max_batch_size=max_batch_size, batch_timeout=batch_timeout)
        self.card = card
        self.upload_dir = upload_dir
        self.default_views = default_views
        self.max_views = max_views
        self.decode_threads = decode_threads
        self.cpu_threads = cpu_threads
        self._view_makers: dict = {}
        self._pool = None
        self._transform = transform  # the evaluation transform; rebuilt from card.config when not given

    def __getstate__(self):
        # Spawned inference workers get the description, not the API server's decoding state.
        state = dict(self.__dict__)
        state.update(_view_makers={}, _pool=None, _transform=None)
        return state

    # -- the API server

    def view_maker(self, views: tuple[int, int]):
        from vidzoo.evaluation.inference import eval_transform
        from vidzoo.evaluation.views import ViewMaker

        if self._transform is None:
            self._transform = eval_transform(self.card.config)[2]
        if views not in self._view_makers:
            self._view_makers[views] = ViewMaker(self._transform, self.card.clip_duration, views)
        return self._view_makers[views]

    def decode_video(self, data: bytes, filename: str, views: tuple[int, int], timeline: dict | None = None):
        """The views of one uploaded video as numpy arrays (one per model input), read from a file
        of the upload folder that is deleted before returning; 400 if it is not a readable video.
        With ``timeline`` (options), the views are its timeline's windows, and ``timeline`` gets
        their times and the stride used."""
        from vidzoo.evaluation.views import read_error

        path = os.path.join(self.upload_dir, uuid.uuid4().hex + _safe_suffix(filename))
        try:
            with open(path, "wb") as f:
                f.write(data)
            if timeline is not None:  # one full-frame view (1x1) per window
                from vidzoo.evaluation.timeline import window_clips

                self.view_maker((1, 1))  # builds the transform
                times, out, stride = window_clips(path, self._transform, self.card.clip_duration,
                                                  timeline.get("window"), timeline.get("stride"), TIMELINE_WINDOWS)
                timeline.update(times=times, stride=stride,
                                window=timeline.get("window") or self.card.clip_duration)
            else:
                out = self.view_maker(views)(path)
        except Exception as exc:
            raise _http_error(400, read_error(path, exc).replace(path, filename)) from None
        finally:
            if os.path.exists(path):
                os.unlink(path)
        tensors = out if isinstance(out, (list, tuple)) else [out]
        return [t.contiguous().numpy() for t in tensors]

    async def prepare(self, request) -> dict:
        import asyncio

        from starlette.datastructures import UploadFile

        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            raise _http_error(400, "send the video as a multipart upload: curl -F video=@clip.mp4 URL/predict")
        form = await request.form()
        try:
            upload = form.get("video", form.get("file"))
            if not isinstance(upload, UploadFile):
                raise _http_error(400, "no video in the upload; send it as the file field `video` "
                                       "(curl -F video=@clip.mp4 URL/predict)")
            views = _views_option(form.get("views") or self.default_views, self.max_views)
            top_k = _top_k_option(form.get("top_k", 5))
            timeline = _timeline_options(form)
            filename = os.path.basename(upload.filename or "upload") or "upload"
            data = await upload.read()
        finally:
            await form.close()
        if not data:
            raise _http_error(400, f"cannot read video {filename}: the upload is empty")
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=self.decode_threads, thread_name_prefix="vidzoo-decode")
        arrays = await asyncio.get_running_loop().run_in_executor(
            self._pool, self.decode_video, data, filename, views, timeline)
        return {"inputs": arrays, "top_k": top_k, "file": filename,
                "views": "1x1" if timeline is not None else f"{views[0]}x{views[1]}", "timeline": timeline}

    # -- the inference workers

    def setup(self, device):
        if str(device).startswith("cpu") and self.cpu_threads:
            import torch

            torch.set_num_threads(self.cpu_threads)
        if self.card.kind == "onnx":
            self.session = _onnx_session(self.card.path, str(device), self.cpu_threads)
            self.predictor = None
        else:
            from vidzoo.evaluation.inference import Predictor

            if self.card.kind == "published":
                self.predictor = Predictor.from_published(self.card.path, self.card.pretrained, device=str(device),
                                                          **self.card.options)
            else:
                self.predictor = Predictor.from_checkpoint(self.card.path, device=str(device))

    def decode_request(self, request, **kwargs):
        return request  # decoded in the API server (prepare)

    def scores(self, inputs: list):
        """Softmax probabilities (N, num_classes) of N views, numpy float32."""
        import numpy as np

        n = inputs[0].shape[0]
        outs = []
        for i in range(0, n, VIEWS_PER_FORWARD):
            chunk = [x[i:i + VIEWS_PER_FORWARD] for x in inputs]
            if self.predictor is None:
                logits = self.session.run(None, dict(zip(self.card.input_names, chunk)))[0]
                logits = logits - logits.max(-1, keepdims=True)
                p = np.exp(logits)
                outs.append(p / p.sum(-1, keepdims=True))
            else:
                import torch

                clips = [torch.from_numpy(x) for x in chunk]
                outs.append(self.predictor.scores(clips if len(clips) > 1 else clips[0],
                                                    self.predictor.clips_per_forward(VIEWS_PER_FORWARD)).numpy())
        return np.concatenate(outs)

    def predict(self, x, **kwargs):
        import numpy as np

        requests = x if isinstance(x, list) else [x]
        inputs = [np.concatenate([r["inputs"][i] for r in requests]) for i in range(len(requests[0]["inputs"]))]
        probs = self.scores(inputs)
        out, start = [], 0
        for r in requests:
            n = r["inputs"][0].shape[0]
            p = probs[start:start + n].mean(0)
            start += n
            top = np.argsort(-p, kind="stable")[:min(r["top_k"], len(p))]
            answer = {"file": r["file"], "views": r["views"], "num_views": n,
                      "top": [{"class": self.card.class_names[i], "probability": round(float(p[i]), 6)}
                              for i in top]}
            if r.get("timeline") is not None:  # the windows' scores, smoothed and merged as `predict --timeline`
                from vidzoo.evaluation.timeline import timeline_of_scores

                t = r["timeline"]
                tl = timeline_of_scores(self.card.class_names, t["times"], probs[start - n:start], t["window"],
                                        t["stride"], t.get("smooth", 1), t.get("min_segment", 0.0), r["top_k"])
                answer["timeline"] = {k: v for k, v in tl.as_dict().items() if k not in ("path", "interrupted")}
            out.append(answer)
        return out if isinstance(x, list) else out[0]

    def encode_response(self, output, **kwargs):
        return output


def _onnx_session(path: str, device: str, threads: int | None):
    try:
        import onnxruntime as ort
    except ImportError:
        raise VidzooError("serving an ONNX file needs onnxruntime: pip install onnxruntime") from None
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        index = int(device.split(":")[1]) if ":" in device else 0
        providers = [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    return ort.InferenceSession(path, options, providers=providers)


class Gate:
    """ASGI middleware in front of every route: the bearer token (when one is set; the health
    check stays open for load balancers, and the page at / holds nothing but HTML: it sends the
    token the person types with its requests) and the upload size (413, from Content-Length before
    anything is read, and counted while reading for uploads without one)."""

    def __init__(self, app, api_key: str | None = None, max_bytes: int | None = None,
                 open_paths: tuple[str, ...] = ("/health", "/")):
        self.app = app
        self.api_key = api_key.encode() if api_key else None
        self.max_bytes = max_bytes
        self.open_paths = open_paths

    async def _refuse(self, scope, receive, send, status: int, detail: str, headers: dict | None = None):
        from starlette.responses import JSONResponse

        await JSONResponse({"detail": detail}, status_code=status, headers=headers)(scope, receive, send)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        if self.api_key is not None and scope.get("path") not in self.open_paths:
            auth = headers.get(b"authorization", b"")
            token = auth[7:].strip() if auth[:7].lower() == b"bearer " else b""
            if not hmac.compare_digest(token, self.api_key):
                return await self._refuse(scope, receive, send, 401, "missing or wrong token; send the header "
                                          "`Authorization: Bearer TOKEN` with the server's --api-key",
                                          {"WWW-Authenticate": "Bearer"})
        if self.max_bytes is None:
            return await self.app(scope, receive, send)
        limit = self.max_bytes
        too_large = f"the upload is larger than this server's limit of {limit / 2**20:g} MB (its --max-upload-mb)"
        try:
            declared = int(headers.get(b"content-length", b"0"))
        except ValueError:
            declared = 0
        if declared > limit:
            return await self._refuse(scope, receive, send, 413, too_large)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _http_error(413, too_large)
            return message

        return await self.app(scope, counted, send)


class UploadHandler(RegularRequestHandler):
    """LitServe's request handler, whose payload is the API's prepared (decoded) upload."""

    async def _prepare_request(self, request, request_type) -> dict:
        return await self.lit_api.prepare(request)


class Server(ls.LitServer):
    """LitServer whose predict route prepares (decodes) the upload in the API server, and whose
    ``GET /`` is the page to try the model (vidzoo.evaluation.page)."""

    def _register_internal_endpoints(self):
        super()._register_internal_endpoints()
        from starlette.responses import HTMLResponse

        from vidzoo.evaluation.page import PAGE

        # LitServe's own "/" answers "litserve running"; the page takes its place
        self.app.router.routes = [r for r in self.app.router.routes if getattr(r, "path", None) != "/"]

        async def page() -> Response:
            return HTMLResponse(PAGE)

        self.app.add_api_route("/", page, methods=["GET"], include_in_schema=False)

    def _register_api_endpoints(self, lit_api, request_type, response_type):
        self._callback_runner.trigger_event(EventTypes.ON_SERVER_START.value, litserver=self)
        handler = UploadHandler(lit_api, self)

        async def predict(request: Request) -> Response:
            return await handler.handle_request(request, Request)

        self.app.add_api_route(lit_api.api_path, predict, methods=["POST"],
                               dependencies=[Depends(self.setup_auth(lit_api))])

