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

import numpy as np
import pytest

from conftest import run_cli

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


@pytest.fixture(scope="module")
def split_embeddings(trained_run, demo_dir, tmp_path_factory):
    """`vidzoo embed` of the demo's train and val splits (1x1 views), as docs/embed.md runs it: DIR/train, DIR/val."""
    root = tmp_path_factory.mktemp("feats")
    ckpt = str(trained_run / "checkpoints" / "best.ckpt")
    for split in ("train", "val"):
        result = run_cli("embed", "--dataset", "kinetics", "--dataset.data_path", str(demo_dir), "--split", split,
                         "--checkpoint", ckpt, "--out", str(root / split), "--views", "1x1", "--no-progress",
                         env=NO_PLUGINS)
        assert result.returncode == 0, result.stderr[-3000:]
    return root, result.stdout


def test_embedding_is_the_classifier_input(trained_run, demo_dir, split_embeddings):
    import torch

    import vidzoo

    root, _ = split_embeddings
    x = np.load(root / "val" / "embeddings.npy")
    rows = _index(root / "val")
    assert x.dtype == np.float32 and x.shape == (8, 2048)  # resnet3d50's head input, one row per video
    assert [r["label"] for r in rows] == [p.parent.name for p in sorted((demo_dir / "val").rglob("*.mp4"))]
    assert all(r["start"] == "0.000" and float(r["end"]) > 2 for r in rows)
    predictor = vidzoo.load(trained_run / "checkpoints" / "best.ckpt", device="cpu")
    path = rows[3]["path"]
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


def test_kill_and_resume(trained_run, demo_dir, split_embeddings, tmp_path):
    """A real SIGKILL mid-run; the same command finishes the folder, equal to an uninterrupted run."""
    out = tmp_path / "val"
    args = ["embed", "--dataset", "kinetics", "--dataset.data_path", str(demo_dir), "--split", "val",
            "--checkpoint", str(trained_run / "checkpoints" / "best.ckpt"), "--out", str(out), "--views", "1x1",
            "--flush-every", "1", "--no-progress"]
    proc = subprocess.Popen([sys.executable, "-m", "vidzoo", *args], env={**os.environ, **NO_PLUGINS},
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
    result = run_cli(*args, env=NO_PLUGINS)
    assert result.returncode == 0, result.stderr[-3000:]
    kept = json.loads(progress.read_text())
    assert f"resuming {out}: " in result.stderr and kept["complete"]
    reference = split_embeddings[0] / "val"
    assert _index(out) == _index(reference)  # every video once, in order
    np.testing.assert_allclose(np.load(out / "embeddings.npy"), np.load(reference / "embeddings.npy"),
                               rtol=1e-5, atol=1e-6)


def test_linear_head_on_features_predicts_videos(trained_run, demo_dir, split_embeddings, tmp_path, capsys):
    import torch

    import vidzoo
    from vidzoo.evaluation.embedding import knn_top1

    root, _ = split_embeddings
    knn = knn_top1(root / "val", root / "train")
    assert 0.0 <= knn <= 1.0
    code, stdout, _ = _cli(capsys, "embed", "--dataset", "kinetics", "--dataset.data_path", str(demo_dir), "--split",
                           "val", "--checkpoint", str(trained_run / "checkpoints" / "best.ckpt"), "--out",
                           str(root / "val"), "--views", "1x1", "--knn", str(root / "train"), "--no-progress")
    assert code == 0 and f"kNN top-1 (k=5, cosine) against {root / 'train'}: {100 * knn:.2f}%" in stdout
    out = tmp_path / "runs"
    result = run_cli("run", "--dataset", "features", "--dataset.data_path", str(root), "--backbone", "linear",
                     "--output", str(out), "--trainer.max_epochs", "3", "--data.num_workers", "0",
                     "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false", env=NO_PLUGINS)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "val top-1" in result.stdout
    (run_dir,) = list(out.iterdir())
    ckpt = run_dir / "checkpoints" / "best.ckpt"
    hp = torch.load(ckpt, weights_only=True)["hyper_parameters"]
    assert hp["model"]["options"]["in_features"] == 2048 and hp["classifier"] == ["head.weight", "head.bias"]
    # vidzoo predict on a video: the embedding model then the trained head, as on the cached row
    path = _index(root / "val")[5]["path"]
    code, stdout, stderr = _cli(capsys, "predict", path, "--checkpoint", str(ckpt), "--views", "1x1", "--json",
                                "--top-k", "4")
    assert code == 0, stderr[-3000:]
    top = json.loads(stdout)["results"][0]["top"]
    head = vidzoo.load(ckpt, device="cpu").model.head
    with torch.no_grad():
        probs = torch.softmax(head(torch.from_numpy(np.load(root / "val" / "embeddings.npy")[5])), -1)
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
        (["run", "--dataset", "features", "--dataset.data_path", str(tmp_path), "--backbone", "linear",
          "--output", str(tmp_path / "r")], "has no train/ folder"),
    ]:
        code, _, stderr = _cli(capsys, *args)
        assert code == 2, (args, stderr)
        assert words in stderr and len(stderr.strip().splitlines()) == 1, stderr
