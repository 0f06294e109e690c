"""`vidzoo serve`: the real LitServe server in a subprocess on 127.0.0.1, talked to over HTTP.

One server with a token, batching and a 1 MB upload limit answers the security, error,
concurrency and shutdown tests; a second one, without a token, serves the exported ONNX file
and runs the curl commands of docs/serve.md as written.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from tests.conftest import ROOT, run_cli

pytest.importorskip("litserve")

TOKEN = "s3cret-token"
ENV = {"VIDZOO_LOAD_PLUGINS": ""}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def multipart(fields: dict, files: dict) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def request(url: str, path: str, *, token: str | None = None, video: Path | bytes | None = None,
            filename: str | None = None, fields: dict | None = None, timeout: float = 120) -> tuple[int, object]:
    """(status, JSON or text) of one HTTP request; POST multipart when a video is given."""
    headers, body = {}, None
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if video is not None:
        data = video if isinstance(video, bytes) else Path(video).read_bytes()
        name = filename or (Path(video).name if not isinstance(video, bytes) else "upload.mp4")
        body, headers["Content-Type"] = multipart(fields or {}, {"video": (name, data)})
    req = urllib.request.Request(url + path, data=body, headers=headers, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


class Served:
    def __init__(self, args: list[str], tmp: Path, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # The server's TMPDIR (its upload folder lives here): short, as LitServe's multiprocessing manager
        # listens on a unix socket inside it, whose path may not exceed 107 bytes (a test's tmp_path can)
        self.tmp = Path(tempfile.mkdtemp(prefix="vzs-"))
        self.log_path = tmp / "serve.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "vidzoo", "serve", *args, "--port", str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT, cwd=tmp,
                                     env={**os.environ, **(ENV if env is None else env), "TMPDIR": str(self.tmp)})
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.output()
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=5) as r:
                    if r.read() == b"ok":
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError("the server did not become healthy in 300 s\n" + self.output())

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text()

    def upload_dirs(self) -> list[Path]:
        return sorted(self.tmp.glob("vidzoo-serve-*"))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


@pytest.fixture(scope="module")
def ckpt(trained_run) -> Path:
    return trained_run / "checkpoints" / "best.ckpt"


@pytest.fixture(scope="module")
def predictor(ckpt):
    import vidzoo

    return vidzoo.load(ckpt, device="cpu")


@pytest.fixture(scope="module")
def server(ckpt, tmp_path_factory):
    s = Served(["--checkpoint", str(ckpt), "--api-key", TOKEN, "--max-upload-mb", "1", "--max-batch-size", "4",
                "--batch-timeout", "0.05", "--timeout", "600"], tmp_path_factory.mktemp("serve"))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def videos(demo_dir) -> list[Path]:
    return sorted((demo_dir / "val").glob("*/*.mp4"))


def as_probs(answer: dict) -> dict:
    return {t["class"]: t["probability"] for t in answer["top"]}


def test_predict_gives_the_top_classes_of_vidzoo_predict(server, videos, predictor):
    status, answer = request(server.url, "/predict", token=TOKEN, video=videos[0], fields={"top_k": "4"})
    assert status == 200, answer
    assert answer["file"] == videos[0].name and answer["views"] == "1x1" and answer["num_views"] == 1
    expected = predictor.predict(videos[0], top_k=4, views="1x1")
    assert [t["class"] for t in answer["top"]] == [c for c, _ in expected.top]
    for (c, p), got in zip(expected.top, answer["top"]):
        assert got["probability"] == pytest.approx(p, abs=1e-4)
    assert sum(as_probs(answer).values()) == pytest.approx(1, abs=1e-4)
    # more views and fewer classes, as `vidzoo predict --views 5x3 --top-k 2`
    status, answer = request(server.url, "/predict", token=TOKEN, video=videos[1],
                             fields={"views": "5x3", "top_k": "2"})
    assert status == 200, answer
    expected = predictor.predict(videos[1], top_k=2, views="5x3")
    assert answer["views"] == "5x3" and answer["num_views"] == expected.views and len(answer["top"]) == 2
    assert [t["class"] for t in answer["top"]] == [c for c, _ in expected.top]
    assert answer["top"][0]["probability"] == pytest.approx(expected.top[0][1], abs=1e-4)


def test_health_is_open_info_needs_the_token(server, ckpt):
    assert request(server.url, "/health") == (200, "ok")
    status, info = request(server.url, "/info", token=TOKEN)
    assert status == 200
    model = info["model"]
    assert model["backbone"] == "resnet3d50" and model["format"] == "checkpoint"
    assert model["classes"] == ["grow", "move_down", "move_up", "shrink"]
    assert model["input"]["shapes"] == [[3, 4, 32, 32]] and model["input"]["transform"] == "kinetics"
    assert model["input"]["default_views"] == "1x1" and model["vidzoo_version"]
    assert info["server"]["devices"] == ["cpu"]


@pytest.mark.parametrize("token", [None, "wrong-token", TOKEN + "x", ""])
def test_every_route_but_health_refuses_a_missing_or_wrong_token(server, videos, token):
    for path in ("/info", "/docs", "/openapi.json", "/nowhere"):
        status, answer = request(server.url, path, token=token)
        assert status == 401, (path, answer)
        assert "Authorization: Bearer" in answer["detail"]
    status, answer = request(server.url, "/predict", token=token, video=videos[0])
    assert status == 401


def test_bad_files_get_400_with_predicts_reason_and_the_server_keeps_serving(server, videos, predictor, tmp_path):
    from vidzoo.errors import VidzooError

    bad = tmp_path / "notes.mp4"
    bad.write_bytes(b"this is not a video\n" * 20)
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(videos[0].read_bytes()[:300])
    for path in (bad, truncated):
        status, answer = request(server.url, "/predict", token=TOKEN, video=path)
        assert status == 400, answer
        with pytest.raises(VidzooError) as exc:
            predictor.predict(path, views="1x1")
        assert answer["detail"] == str(exc.value).replace(str(path), path.name)
        assert "\n" not in answer["detail"] and answer["detail"].startswith(f"cannot read video {path.name}: ")
    cases = [
        ({"views": "ten"}, "views must look like 10x3"),
        ({"views": "20x3"}, "at most 30"),
        ({"top_k": "0"}, "top_k must be"),
    ]
    for fields, message in cases:
        status, answer = request(server.url, "/predict", token=TOKEN, video=videos[0], fields=fields)
        assert status == 400 and message in answer["detail"], answer
    status, answer = request(server.url, "/predict", token=TOKEN, video=b"", filename="empty.mp4")
    assert status == 400 and "empty" in answer["detail"]
    req = urllib.request.Request(server.url + "/predict", data=b'{"video": 1}', method="POST",
                                 headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=60)
    assert err.value.code == 400 and "multipart" in json.loads(err.value.read())["detail"]
    # still serving, and no upload is left in the upload folder
    status, answer = request(server.url, "/predict", token=TOKEN, video=videos[2])
    assert status == 200 and len(answer["top"]) == 4
    (upload_dir,) = server.upload_dirs()
    assert list(upload_dir.iterdir()) == []


def test_uploads_over_the_limit_get_413(server, videos, tmp_path):
    import shutil

    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom(1536 * 1024))  # 1.5 MB, the limit is 1 MB
    # curl, as the docs use it: it waits for `100 Continue` before a large body, so it reads the
    # 413 (sent from Content-Length, before the body) instead of writing into a closed socket.
    # The chunked upload has no Content-Length: it is counted while read.
    for extra in ([], ["-H", "Transfer-Encoding: chunked"]):
        result = subprocess.run(["curl", "-sS", "-H", f"Authorization: Bearer {TOKEN}", *extra, "-F",
                                 f"video=@{big}", "-w", "\n%{http_code}", server.url + "/predict"],
                                capture_output=True, text=True, timeout=300)
        body, _, code = result.stdout.rpartition("\n")
        assert code == "413", (extra, result.stdout, result.stderr)
        assert "larger than this server's limit of 1 MB" in json.loads(body)["detail"]
    status, answer = request(server.url, "/predict", token=TOKEN, video=videos[0])
    assert status == 200


def test_16_concurrent_clients_all_get_their_own_answer(server, videos):
    jobs = [videos[i % len(videos)] for i in range(16)]
    alone = {v: request(server.url, "/predict", token=TOKEN, video=v)[1] for v in videos}
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda v: request(server.url, "/predict", token=TOKEN, video=v, timeout=240), jobs))
    for video, (status, answer) in zip(jobs, answers):
        assert status == 200, answer
        assert answer["file"] == video.name
        assert [t["class"] for t in answer["top"]] == [t["class"] for t in alone[video]["top"]]
        for got, want in zip(answer["top"], alone[video]["top"]):
            assert got["probability"] == pytest.approx(want["probability"], abs=1e-4)


# ---------------------------------------------------------------- the command's mistakes (no server)


def test_bad_command_lines_are_one_line_errors(ckpt, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cases = [
            (["--checkpoint", str(tmp_path / "missing.ckpt")], "does not exist"),
            (["--checkpoint", str(ckpt), "--port", str(port)], f"cannot listen on 127.0.0.1:{port}"),
            (["--checkpoint", str(ckpt), "--host", "10.1.2.3"], "--host must be 127.0.0.1"),
            (["--checkpoint", str(tmp_path / "model.onnx")], "does not exist"),
            (["--checkpoint", str(ckpt), "--views", "2by2"], "--views must look like 10x3"),
        ]
        for args, message in cases:
            result = run_cli("serve", *args, env=ENV, cwd=tmp_path)
            assert result.returncode == 2, result.stderr
            assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written (no client.py)
    help_ = run_cli("serve", "--help")
    assert help_.returncode == 0 and "examples:" in help_.stdout and "curl -F video=@" in help_.stdout


# ---------------------------------------------------------------- ONNX, and the docs' curl commands


@pytest.fixture(scope="module")
def onnx_server(ckpt, tmp_path_factory):
    pytest.importorskip("onnxruntime")
    folder = tmp_path_factory.mktemp("onnx")
    result = run_cli("export", "--checkpoint", str(ckpt), "--format", "onnx", "--output", str(folder / "model.onnx"),
                     env=ENV)
    assert result.returncode == 0, result.stderr
    s = Served(["--checkpoint", str(folder / "model.onnx"), "--timeout", "600"], folder)
    yield s
    s.stop()


def test_onnx_file_is_served_through_onnxruntime(onnx_server, videos, predictor):
    status, info = request(onnx_server.url, "/info")
    assert status == 200 and info["model"]["format"] == "onnx" and info["model"]["input"]["shapes"] == [[3, 4, 32, 32]]
    status, answer = request(onnx_server.url, "/predict", video=videos[3], fields={"views": "3x3", "top_k": "4"})
    assert status == 200, answer
    expected = predictor.predict(videos[3], top_k=4, views="3x3")
    assert answer["num_views"] == expected.views
    for (c, p), got in zip(expected.top, answer["top"]):
        assert (got["class"], got["probability"]) == (c, pytest.approx(p, abs=1e-4))


def doc_commands() -> list[str]:
    """The `curl` lines of docs/serve.md's bash blocks (continuations joined)."""
    text = (ROOT / "docs" / "serve.md").read_text()
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip().startswith("curl "):
                lines.append(line.split("  #")[0].strip())
    return lines


def test_the_docs_curl_commands_work_as_written(onnx_server, server, videos, tmp_path):
    import shutil

    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    commands = doc_commands()
    assert len(commands) >= 5 and any("Bearer" in c for c in commands) and any("views=" in c for c in commands)
    (tmp_path / "clip.mp4").write_bytes(videos[0].read_bytes())
    (tmp_path / "notes.txt").write_text("not a video\n")
    for command in commands:
        # The docs' server is on 127.0.0.1:8000; the token commands go to the test server with a token.
        target = server if "Bearer" in command else onnx_server
        line = command.replace("http://127.0.0.1:8000", target.url)
        env = {**os.environ, "VIDZOO_API_KEY": TOKEN}
        result = subprocess.run(["bash", "-c", line], capture_output=True, text=True, cwd=tmp_path, env=env,
                                timeout=120)
        assert result.returncode == 0, (command, result.stderr)
        out = result.stdout.strip()
        if "/health" in command:
            assert out == "ok"
        elif "notes.txt" in command:
            assert json.loads(out)["detail"].startswith("cannot read video notes.txt: "), out
        elif "/info" in command:
            assert json.loads(out)["model"]["classes"] == ["grow", "move_down", "move_up", "shrink"]
        else:
            answer = json.loads(out)
            assert answer["file"] == "clip.mp4" and answer["top"], (command, out)
            k = re.search(r"top_k=(\d+)", command)
            assert len(answer["top"]) == (int(k.group(1)) if k else 4)
            v = re.search(r"views=(\d+x\d+)", command)
            assert answer["views"] == (v.group(1) if v else "1x1")


def test_predict_with_timeline_gives_the_timeline_of_vidzoo_predict(server, predictor, tmp_path):
    from vidzoo.testing import write_test_video

    video = write_test_video(tmp_path / "six.mp4", seconds=6)
    status, answer = request(server.url, "/predict", token=TOKEN, video=video,
                             fields={"timeline": "1", "window": "2", "stride": "1", "top_k": "2"})
    assert status == 200, answer
    expected = predictor.timeline(video, window=2, stride=1, top_k=2)
    t = answer["timeline"]
    assert answer["num_views"] == len(expected.windows) == len(t["windows"]) == 5 and t["stride"] == 1
    for (s, e, top), got in zip(expected.windows, t["windows"]):
        assert (got["start"], got["end"]) == (s, e) and [x["class"] for x in got["top"]] == [c for c, _ in top]
        assert got["top"][0]["probability"] == pytest.approx(top[0][1], abs=1e-4)
    assert [(x["start"], x["end"], x["class"]) for x in t["segments"]] == [
        (g.start, g.end, g.label) for g in expected.segments]
    status, answer = request(server.url, "/predict", token=TOKEN, video=video, fields={"timeline": "1", "stride": "-1"})
    assert status == 400 and answer["detail"] == "stride must be more than 0 seconds, got -1.0"


def _chromium():
    """A headless Chromium driven by Selenium (Debian's chromium and chromium-driver), or skip."""
    import shutil

    webdriver = pytest.importorskip("selenium.webdriver")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not (browser and driver_path):
        pytest.skip("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=900,900"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(driver_path), options=options)


def test_the_page_in_a_real_browser_shows_bars_and_timeline(server, tmp_path):
    """GET / is the page: a person uploads a video (a wrong token first), and sees the top-k bars and the
    timeline the server computed."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from vidzoo.testing import write_test_video

    status, html = request(server.url, "/")  # the page itself needs no token (it holds no model data)
    assert status == 200 and "<title>vidzoo: try the model</title>" in html
    video = write_test_video(tmp_path / "six.mp4", seconds=6)
    browser = _chromium()
    try:
        browser.get(server.url + "/")
        wait = WebDriverWait(browser, 120)
        browser.find_element(By.ID, "token").send_keys("wrong")
        browser.find_element(By.ID, "file").send_keys(str(video))
        wait.until(lambda b: "401" in b.find_element(By.ID, "status").text)
        assert "missing or wrong token" in browser.find_element(By.ID, "status").text
        token = browser.find_element(By.ID, "token")
        token.clear()
        token.send_keys(TOKEN)
        browser.execute_script("document.getElementById('file').value = ''")
        browser.find_element(By.ID, "file").send_keys(str(video))
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#bars .bar-row"))
        rows = browser.find_elements(By.CSS_SELECTOR, "#bars .bar-row")
        classes = [r.get_attribute("data-class") for r in rows]
        assert sorted(classes) == ["grow", "move_down", "move_up", "shrink"]
        percents = [float(r.find_element(By.CLASS_NAME, "pct").text.rstrip("%")) for r in rows]
        assert percents == sorted(percents, reverse=True) and sum(percents) == pytest.approx(100, abs=0.3)
        widths = [r.find_element(By.CLASS_NAME, "bar").size["width"] for r in rows]
        assert widths == sorted(widths, reverse=True) and widths[0] > 0
        assert browser.find_element(By.ID, "timeline").is_displayed()
        segments = browser.find_elements(By.CSS_SELECTOR, "#strip .segment")
        assert segments and {s.get_attribute("data-class") for s in segments} <= set(classes)
        strip = browser.find_element(By.ID, "strip").size["width"]
        assert sum(s.size["width"] for s in segments) == pytest.approx(strip, abs=len(segments) + 1)
        assert browser.find_element(By.ID, "t1").text == "6 s"
        assert "six.mp4: 5 windows of 2 s" in browser.find_element(By.ID, "status").text
        shot = Path(os.environ.get("VIDZOO_PAGE_SCREENSHOT", tmp_path / "page.png"))
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 5000
    finally:
        browser.quit()


# ---------------------------------------------------------------- last: the token server stops


def test_sigterm_stops_everything_and_removes_the_upload_folder(server):
    assert len(server.upload_dirs()) == 1
    children = psutil.Process(server.proc.pid).children(recursive=True)
    assert len(children) >= 3  # LitServe's manager, the API server, the inference worker
    assert server.stop() == 0, server.output()
    assert server.upload_dirs() == [] and list(server.tmp.glob("pymp-*")) == []
    # multiprocessing's resource tracker leaves when it sees its parent go: allow it a moment
    _, alive = psutil.wait_procs(children, timeout=20)
    assert not alive, [" ".join(c.cmdline())[:200] for c in alive]
    out = server.output()
    assert "vidzoo serve: stopped" in out and "Traceback" not in out, out


def test_a_published_model_is_served_with_its_class_names(x3d_xs_zoo, videos, tmp_path):
    """`vidzoo serve --model x3d_xs --pretrained FILE`: PyTorchVideo's zoo file behind HTTP, answering what
    vidzoo.load("x3d_xs", pretrained=FILE) predicts, in Kinetics-400 names."""
    import vidzoo

    served = Served(["--model", "x3d_xs", "--pretrained", str(x3d_xs_zoo)], tmp_path, env={})  # plugins loaded
    try:
        status, answer = request(served.url, "/predict", video=videos[0], fields={"top_k": "3"})
        assert status == 200, answer
        expected = vidzoo.load("x3d_xs", pretrained=str(x3d_xs_zoo), device="cpu").predict(videos[0], 3, "1x1").top
        assert [row["class"] for row in answer["top"]] == [c for c, _ in expected]
        assert [row["probability"] for row in answer["top"]] == pytest.approx([p for _, p in expected], abs=1e-5)
        status, info = request(served.url, "/info")
        assert status == 200 and info["model"]["backbone"] == "x3d_xs" and info["model"]["num_classes"] == 400
        assert info["model"]["format"] == "published" and info["model"]["classes"][0] == "abseiling"
    finally:
        assert served.stop() == 0, served.output()[-2000:]
