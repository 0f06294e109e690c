"""vidzoo embed (issue 19): features before the classifier, per video or window, resumable after a real
SIGKILL; the features dataset and its heads through `vidzoo run`, whose checkpoint `vidzoo predict` takes."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, run_cli

NO_PLUGINS = {"VIDZOO_LOAD_PLUGINS": ""}


def _cli(capsys, *argv):
    """`vidzoo ARGV` in this process (the same main() the command runs): (exit status, stdout, stderr)."""
    from vidzoo.cli import main

    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _index(folder):
    with open(folder / "index.csv", newline="") as f:
        return list(csv.DictReader(f))


PAGE = ROOT / "docs" / "embed.md"


@pytest.fixture(scope="module")
def docs_folder(trained_run, demo_dir, tmp_path_factory):
    """docs/embed.md's blocks run as written, in order, in a folder with its placeholders: runs/RUN (a tiny
    trained run), demo (the demo sample), video.mp4 (a demo video). Returns the folder (feats/, probe/)."""
    from test_docs_blocks import blocks, not_run_reason

    work = tmp_path_factory.mktemp("embed-docs")
    (work / "runs").mkdir()
    (work / "runs" / "RUN").symlink_to(trained_run)
    (work / "demo").symlink_to(demo_dir)
    shutil.copy(sorted((demo_dir / "val").glob("*/*.mp4"))[0], work / "video.mp4")
    env = {**os.environ, **NO_PLUGINS, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    namespace, ran = {"__name__": "__docs__"}, []
    cwd = os.getcwd()
    for lang, text, line in blocks(PAGE):
        if not_run_reason(text):  # the GPU line
            continue
        if lang == "python":
            os.chdir(work)
            try:
                exec(compile("\n" * (line - 1) + text, str(PAGE), "exec"), namespace)
            finally:
                os.chdir(cwd)
        else:
            done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", text], cwd=work, env=env,
                                  capture_output=True, text=True, timeout=900)
            assert done.returncode == 0, (f"docs/embed.md:{line}", (done.stdout + done.stderr)[-4000:])
            assert "Traceback" not in done.stderr, done.stderr[-4000:]
            ran.append(done.stdout)
    return work, ran


def test_embed_md_blocks_run_as_written(docs_folder):
    work, outputs = docs_folder
    assert len(outputs) == 3  # the shell blocks run here, and the Python block (exec above)
    assert "feats/videos: 3 rows x 2048 features from 3 of 3 videos (5x1 views)" in outputs[0]
    assert "feats/windows: 5 rows x 2048 features from 1 of 1 videos (1x1 views, 1s windows)" in outputs[0]
    assert "kNN top-1 (k=5, cosine) against feats/train: " in outputs[1]
    assert "video.mp4  (5 views)" in outputs[1]  # predict with the head's checkpoint: a video labelled
    assert "feats/val-2cpu: 8 rows x 2048 features from 8 of 8 videos (1x1 views)" in outputs[2]


def _same_folder(folder, reference):
    """The same rows in the same order (index.csv), the same numbers (1e-5) and meta.json."""
    assert _index(folder) == _index(reference)
    np.testing.assert_allclose(np.load(folder / "embeddings.npy"), np.load(reference / "embeddings.npy"),
                               rtol=1e-5, atol=1e-5)
    assert json.loads((folder / "meta.json").read_text()) == json.loads((reference / "meta.json").read_text())
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in reference.iterdir())


def test_two_processes_write_what_one_writes(docs_folder):
    """The docs' `--accelerator cpu --devices 2` (2 DDP processes, gloo): each wrote shards, together every
    video once, assembled in input order equal to the single-process run on the same split."""
    work, _ = docs_folder
    two, one = work / "feats" / "val-2cpu", work / "feats" / "val"
    _same_folder(two, one)
    progress = json.loads((two / "progress.json").read_text())
    assert progress["complete"] and progress["done"] == 8 and progress["skipped"] == []
    assert {name.split("-")[2] for name in progress["shards"]} == {"r0", "r1"}  # both processes embedded videos


def test_resume_with_another_device_count(docs_folder, tmp_path, monkeypatch, capsys):
    """A folder one process left after 3 videos (Ctrl-C in the 4th) is finished by `--devices 2`: the 5 others
    are embedded once, and the folder equals the uninterrupted single-process one."""
    from vidzoo.evaluation.inference import Predictor

    work, _ = docs_folder
    out = tmp_path / "val"
    args = ["embed", "--dataset", "kinetics", "--dataset.data_path", "demo", "--split", "val", "--checkpoint",
            "runs/RUN/checkpoints/best.ckpt", "--out", str(out), "--views", "1x1", "--flush-every", "1"]
    embed, calls = Predictor.embed, []

    def interrupted_at_the_fourth(self, *a, **k):
        calls.append(a[0])
        if len(calls) == 4:
            raise KeyboardInterrupt
        return embed(self, *a, **k)

    monkeypatch.chdir(work)
    with monkeypatch.context() as m:
        m.setattr(Predictor, "embed", interrupted_at_the_fourth)
        code, _, stderr = _cli(capsys, *args, "--no-progress")
    assert code == 130 and "interrupted" in stderr
    assert len(list((out / "parts").glob("*.json"))) == 3 and not (out / "embeddings.npy").exists()
    result = run_cli(*args, "--accelerator", "cpu", "--devices", "2", env=NO_PLUGINS, cwd=work, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resuming {out}: 3 of 8 videos already embedded" in result.stderr
    assert "Starting with 2 processes" in result.stdout + result.stderr and "Traceback" not in result.stderr
    _same_folder(out, work / "feats" / "val")
    shards = json.loads((out / "progress.json").read_text())["shards"]
    assert sorted({s.rsplit("-", 1)[0] for s in shards}) == ["part-001-r0", "part-002-r0", "part-002-r1"]
    assert len(shards) == 3 + 5  # one video per shard: 3 from the first run, 5 from the two processes


def test_embedding_is_the_classifier_input(trained_run, demo_dir, docs_folder):
    import torch

    import vidzoo

    work, _ = docs_folder
    x = np.load(work / "feats" / "val" / "embeddings.npy")
    rows = _index(work / "feats" / "val")
    assert x.dtype == np.float32 and x.shape == (8, 2048)  # resnet3d50's head input, one row per video
    assert [r["label"] for r in rows] == [p.parent.name for p in sorted((demo_dir / "val").rglob("*.mp4"))]
    assert all(r["start"] == "0.000" and float(r["end"]) > 2 for r in rows)
    predictor = vidzoo.load(trained_run / "checkpoints" / "best.ckpt", device="cpu")
    path = str(work / rows[3]["path"])  # as given: demo/val/...
    emb = predictor.embed(path, views="1x1")
    np.testing.assert_allclose(emb.features[0], x[3], rtol=1e-5, atol=1e-6)
    # the head (blocks.5.proj, a Linear before the average pool) on the embedding gives the model's logits
    logits = predictor.logits(predictor.views(path, "1x1"))[0]
    head = predictor.model.blocks[5].proj
    with torch.no_grad():
        np.testing.assert_allclose(head(torch.from_numpy(x[3]))[None].numpy()[0], logits.numpy(), rtol=1e-4, atol=1e-4)


def test_embed_files_windows_and_bad_videos(trained_run, demo_dir, tmp_path, capsys):
    videos = tmp_path / "videos"
    shutil.copytree(demo_dir / "val" / "grow", videos)
    (videos / "broken.mp4").write_bytes(b"garbage" * 100)
    out = tmp_path / "out"
    result = run_cli("embed", str(videos), "--checkpoint", str(trained_run), "--out", str(out), "--window", "1",
                     "--stride", "0.5", "--no-progress", env=NO_PLUGINS)
    assert result.returncode == 1, result.stderr[-3000:]  # one skipped
    assert f"skipped cannot read video {videos / 'broken.mp4'}" in result.stderr
    assert "Traceback" not in result.stderr
    rows = _index(out)
    spans = [(float(r["start"]), float(r["end"])) for r in rows]
    assert spans == [(0.0, 1.0), (0.5, 1.5), (1.0, 2.0), (1.5, 2.5), (2.0, 3.0)] * 2  # two 3 s videos
    assert np.load(out / "embeddings.npy").shape == (10, 2048)
    assert all(r["label"] == "" for r in rows)
    assert "10 rows x 2048 features from 2 of 3 videos" in result.stdout
    # run again: finished, nothing embedded or written again
    code, stdout, stderr = _cli(capsys, "embed", str(videos), "--checkpoint", str(trained_run), "--out", str(out),
                                "--window", "1", "--stride", "0.5", "--no-progress")
    assert code == 1 and "10 rows" in stdout and "resuming" not in stderr
    code, _, stderr = _cli(capsys, "embed", str(videos), "--checkpoint", str(trained_run), "--out", str(out),
                           "--no-progress")
    assert code == 2 and "holds embeddings of other inputs or settings" in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_kill_and_resume(docs_folder, tmp_path):
    """A real SIGKILL mid-run; the same command finishes the folder, equal to the docs' uninterrupted run."""
    work, _ = docs_folder
    out = tmp_path / "val"
    args = ["embed", "--dataset", "kinetics", "--dataset.data_path", "demo", "--split", "val", "--checkpoint",
            "runs/RUN/checkpoints/best.ckpt", "--out", str(out), "--views", "1x1", "--flush-every", "1"]
    proc = subprocess.Popen([sys.executable, "-m", "vidzoo", *args], env={**os.environ, **NO_PLUGINS}, cwd=work,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    progress, done = out / "progress.json", 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            done = json.loads(progress.read_text())["done"]
        except (OSError, ValueError):
            done = 0
        if done >= 2:
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert 2 <= done < 8 and not (out / "embeddings.npy").exists()
    result = run_cli(*args, env=NO_PLUGINS, cwd=work)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resuming {out}: {done} of 8 videos already embedded" in result.stderr
    assert "embedding: 100%|" in result.stderr and json.loads(progress.read_text())["complete"]
    reference = work / "feats" / "val"
    assert _index(out) == _index(reference)  # every video once, in order
    np.testing.assert_allclose(np.load(out / "embeddings.npy"), np.load(reference / "embeddings.npy"),
                               rtol=1e-5, atol=1e-6)


def test_linear_head_on_features_predicts_videos(docs_folder, capsys):
    """The docs' probe: its checkpoint labels a video as its head labels the video's cached row."""
    import torch

    import vidzoo
    from vidzoo.evaluation.embedding import knn_top1

    work, outputs = docs_folder
    feats = work / "feats"
    knn = knn_top1(feats / "val", feats / "train")
    assert f"against feats/train: {100 * knn:.2f}%" in outputs[1]
    (ckpt,) = (work / "probe").glob("*/checkpoints/best.ckpt")
    hp = torch.load(ckpt, weights_only=True)["hyper_parameters"]
    assert hp["model"]["options"]["in_features"] == 2048 and hp["classifier"] == ["head.weight", "head.bias"]
    assert ckpt.stat().st_size < 1e6  # the head, not the 126 MB embedding model
    row = 5
    path = str(work / _index(feats / "val")[row]["path"])
    code, stdout, stderr = _cli(capsys, "predict", path, "--checkpoint", str(ckpt), "--views", "1x1", "--json",
                                "--top-k", "4")
    assert code == 0, stderr[-3000:]
    top = json.loads(stdout)["results"][0]["top"]
    head = vidzoo.load(ckpt, device="cpu").model.head
    with torch.no_grad():
        probs = torch.softmax(head(torch.from_numpy(np.load(feats / "val" / "embeddings.npy")[row])), -1)
    names = hp["class_names"]
    assert {t["class"]: round(t["probability"], 4) for t in top} == {
        names[i]: round(float(p), 4) for i, p in enumerate(probs)}


def test_embed_errors_are_one_line(trained_run, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    for args, words in [
        (["embed", str(tmp_path), "--checkpoint", str(trained_run), "--out", str(tmp_path / "o")], "no video files"),
        (["embed", "--checkpoint", str(trained_run), "--out", str(tmp_path / "o")], "give video files or folders"),
        (["embed", str(tmp_path / "x.mp4"), "--checkpoint", str(trained_run), "--out", str(tmp_path / "o"),
          "--window", "-1"], "--window must be positive"),
        (["embed", str(tmp_path / "x.mp4"), "--checkpoint", str(trained_run), "--out", str(tmp_path / "o"),
          "--stride", "1"], "--stride needs --window"),
        (["embed", str(tmp_path / "x.mp4"), "--checkpoint", str(trained_run), "--out", str(tmp_path / "o"),
          "--devices", "0"], "--devices must be 1 or more, got 0"),
        (["embed", str(tmp_path / "x.mp4"), "--checkpoint", str(trained_run), "--out", str(tmp_path / "o"),
          "--devices", "2", "--device", "cuda:1"], "picks one device; with --devices 2 choose them"),
        (["run", "--dataset", "features", "--dataset.data_path", str(tmp_path), "--backbone", "linear",
          "--output", str(tmp_path / "r")], "has no train/ folder"),
    ]:
        code, _, stderr = _cli(capsys, *args)
        assert code == 2, (args, stderr)
        assert words in stderr and len(stderr.strip().splitlines()) == 1, stderr


def test_embed_a_published_model(slow_r50_zoo, demo_dir, tmp_path, capsys):
    """--model NAME --pretrained FILE: the published model's features (its own recipe), recorded by name."""
    import vidzoo

    path, _ = slow_r50_zoo
    video = str(sorted((demo_dir / "val").glob("*/*.mp4"))[0])
    out = tmp_path / "published"
    code, stdout, stderr = _cli(capsys, "embed", video, "--model", "resnet3d50", "--pretrained", str(path), "--out",
                                str(out), "--views", "1x1", "--no-progress")
    assert code == 0, stderr[-3000:]
    assert "1 rows x 2048 features from 1 of 1 videos" in stdout
    meta = json.loads((out / "meta.json").read_text())
    assert meta["pretrained"] == str(path) and meta["checkpoint"] is None and meta["input"]["transform"]["name"] == "published"
    expected = vidzoo.load("resnet3d50", pretrained=str(path), device="cpu").embed(video, views="1x1").features
    np.testing.assert_allclose(np.load(out / "embeddings.npy"), expected, rtol=1e-5, atol=1e-6)
