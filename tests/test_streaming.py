"""Streaming on litdata (vidzoo.data.streaming, the `litdata` dataset), against a real S3-compatible server.

The demo sample is written as litdata chunks to a local folder (prepare_litdata called here)
and to s3:// on a moto server on 127.0.0.1 (through `python -m vidzoo.data.streaming` in a
subprocess that gets the AWS variables; vidzoo's code names no endpoint or credential). Then:
2 DDP ranks (gloo) x 2 DataLoader workers read every video exactly once per epoch, a train
epoch stopped mid-way and resumed from the StreamingDataLoader's state serves the rest and
nothing twice, and `vidzoo run` trains on the s3 data.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import run_cli
from faultkit import TINY_FK, metrics_rows, plugin_env
from s3kit import S3Server

HERE = Path(__file__).parent
BUCKET = "vidzoo-data"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = S3Server(tmp_path_factory.mktemp("s3server"))
    server.client().create_bucket(Bucket=BUCKET)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def source(demo_dir, tmp_path_factory) -> Path:
    """The demo sample (24 train, 8 val videos) plus one unreadable train file."""
    root = tmp_path_factory.mktemp("src") / "demo"
    shutil.copytree(demo_dir, root)
    (root / "train" / "grow" / "zz_broken.mp4").write_bytes(b"this is not a video")
    return root


def _videos(root: Path, split: str):
    from vidzoo.data.kinetics_layout import read_split

    items, classes = read_split(root, split)
    lookup = {c: i for i, c in enumerate(sorted(classes))}
    return [(p, lookup[c]) for p, c in items], sorted(classes)


@pytest.fixture(scope="module")
def local_prepared(source, tmp_path_factory) -> tuple[Path, dict]:
    """prepare_litdata called directly, to a local folder."""
    from vidzoo.data.streaming import prepare_litdata

    out = tmp_path_factory.mktemp("local") / "prepared"
    results = {}
    for split in ("train", "val"):
        videos, classes = _videos(source, split)
        results[split] = prepare_litdata(videos, classes, str(out), split=split, num_workers=1)
    return out, results


@pytest.fixture(scope="module")
def s3_prepared(source, s3) -> str:
    """The small Python entry (python -m vidzoo.data.streaming), in a subprocess, to s3://."""
    url = f"s3://{BUCKET}/demo"
    done = subprocess.run([sys.executable, "-m", "vidzoo.data.streaming", str(source), url], capture_output=True,
                          text=True, env={**os.environ, **s3.env}, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"vidzoo: skipped {source / 'train' / 'grow' / 'zz_broken.mp4'}: " in done.stderr
    assert "train: 24 videos" in done.stdout and "val: 8 videos" in done.stdout, done.stdout
    return url


def test_reader_decodes_clips_from_bytes_in_memory(demo_dir):
    from vidzoo.data.decode_plan import DecodePlan
    from vidzoo.data.video import VideoReadError, decode_clip, probe

    path = sorted((demo_dir / "train" / "grow").glob("*.mp4"))[0]
    data = path.read_bytes()
    plan = DecodePlan(num_frames=4, short_side=36)
    assert probe(io.BytesIO(data)) == probe(path)
    assert decode_clip(io.BytesIO(data), 0.5, 1.5, plan).equal(decode_clip(path, 0.5, 1.5, plan))
    broken = io.BytesIO(data[: len(data) // 3])
    broken.name = "s3://bucket/train#7"
    with pytest.raises(VideoReadError, match="s3://bucket/train#7"):
        decode_clip(broken, 2.0, 3.0, plan)


def test_prepare_writes_chunks_facts_and_classes_locally(local_prepared, source):
    from litdata import StreamingDataset

    from vidzoo.data.video import probe

    out, results = local_prepared
    train = results["train"]
    assert train["videos"] == 24 and results["val"]["videos"] == 8
    assert train["skipped"] == [(str(source / "train" / "grow" / "zz_broken.mp4"),
                                 "Invalid data found when processing input")]
    meta = json.loads((out / "train" / "vidzoo.json").read_text())
    assert meta["classes"] == ["grow", "move_down", "move_up", "shrink"] and meta["videos"] == 24
    chunks = sorted((out / "train").glob("chunk-*.bin"))
    assert chunks and train["bytes"] == sum(c.stat().st_size for c in chunks)
    ds = StreamingDataset(str(out / "train"))
    items = [ds[i] for i in range(len(ds))]
    assert len(items) == 24
    for item in items[:3]:
        name = bytes(item["name"]).decode()
        data = Path(name).read_bytes()
        assert bytes(item["video"]) == data  # encode=None stores the source file
        assert item["sha256"] == hashlib.sha256(data).hexdigest()
        info = probe(name)
        assert (item["duration"], item["fps"], item["width"], item["height"]) == (
            info.duration, info.fps, info.width, info.height)
        assert item["frames"] == round(info.duration * info.fps)
        assert item["label"] == ["grow", "move_down", "move_up", "shrink"].index(Path(name).parent.name)

    from vidzoo.data.streaming import prepare_litdata
    from vidzoo.errors import VidzooError

    with pytest.raises(VidzooError, match="already holds a prepared split; pass overwrite=True"):
        prepare_litdata(*_videos(source, "val"), str(out), split="val", num_workers=1)
    assert json.loads((out / "val" / "vidzoo.json").read_text())["videos"] == 8  # untouched


def test_prepare_to_s3_and_the_dataset_reads_it_back(s3_prepared, s3, tmp_path, monkeypatch):
    keys = {o["Key"] for o in s3.client().list_objects_v2(Bucket=BUCKET, Prefix="demo/")["Contents"]}
    assert {"demo/train/index.json", "demo/train/vidzoo.json", "demo/val/index.json", "demo/val/vidzoo.json"} <= keys
    assert any(k.startswith("demo/train/chunk-") for k in keys)
    for name, value in s3.env.items():  # this process reads s3 as a user's would: from the AWS variables
        monkeypatch.setenv(name, value)
    from vidzoo.data.datamodule import build_dataset

    ds = build_dataset("litdata", {"data_path": s3_prepared, "cache_dir": str(tmp_path / "cache")}, "val",
                       "kinetics", {"num_frames": 4, "crop_size": 32, "eval_short_side": 36})
    assert ds.classes == ["grow", "move_down", "move_up", "shrink"] and len(ds) == 8
    sample = ds[0]
    assert tuple(sample["video"].shape) == (3, 4, 32, 32) and sample["label"] in range(4)

    from vidzoo.errors import VidzooError

    with pytest.raises(VidzooError, match="not a prepared litdata split"):
        build_dataset("litdata", {"data_path": f"s3://{BUCKET}/nothing-here"}, "train", "kinetics", {})


@pytest.fixture(scope="module")
def ddp_record(s3_prepared, s3, tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("ddp")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(HERE / "streaming_ddp.py"), s3_prepared, str(out / "cache"), str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                          env={**os.environ, **s3.env, "PYTHONPATH": str(HERE)})
    assert done.returncode == 0, done.stderr[-4000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]


def _once(records: list[list[dict]], total: int) -> None:
    names = Counter(r["name"] for rank in records for r in rank)
    assert len(names) == total and set(names.values()) == {1}, names.most_common(3)


def test_two_ranks_two_workers_each_video_once_per_epoch(ddp_record):

    for epoch in (0, 1):
        per_rank = [r["epochs"][epoch] for r in ddp_record]
        assert [len(x) for x in per_rank] == [12, 12]  # 24 videos, batch 2: equal steps, nothing dropped
        _once(per_rank, 24)
        for served in per_rank:  # both workers of each rank served their share
            assert Counter(s["worker"] for s in served) == {0: 6, 1: 6}
    assert [s["name"] for s in ddp_record[0]["epochs"][0]] != [s["name"] for s in ddp_record[0]["epochs"][1]]
    _once([r["val"] for r in ddp_record], 8)
    assert all(r["train_len"] == 6 for r in ddp_record)  # batches per rank, as Lightning counts them


def test_mid_epoch_stop_and_resume_from_loader_state_serves_the_rest_once(ddp_record):
    for r in ddp_record:
        assert len(r["resume"]["before"]) == 4 and r["resume"]["epoch"] == 3
        assert Counter(s["worker"] for s in r["resume"]["after"]) == {0: 4, 1: 4}
    _once([r["resume"]["before"] + r["resume"]["after"] for r in ddp_record], 24)


def test_vidzoo_run_trains_on_s3(s3_prepared, s3, tmp_path):
    out = tmp_path / "runs"
    done = run_cli("run", "--dataset", "litdata", "--backbone", "faultkit-tiny", "--dataset.data_path", s3_prepared,
                   "--dataset.cache_dir", str(tmp_path / "cache"), *TINY_FK, "--data.batch_size", "4",
                   "--data.num_workers", "0", "--trainer.max_epochs", "2", "--trainer.log_every_n_steps", "1",
                   "--output", str(out), env={**plugin_env(tmp_path / "site"), **s3.env}, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "finished 2 epochs" in done.stdout
    rows = metrics_rows(next(out.iterdir()))
    assert len([r for r in rows if r.get("train/loss_step")]) == 12  # 24 videos / batch 4, 2 epochs
    assert len([r for r in rows if r.get("val/top1")]) == 2


def test_docs_streaming_commands_run_as_written(s3, demo_dir, tmp_path):
    """docs/streaming.md's blocks against the local S3 server (its bucket name, the AWS variables set here).

    The `vidzoo run` line gets the tiny options appended (later flags win), as the other doc tests size runs."""
    import re

    from conftest import ROOT, TINY

    text = (ROOT / "docs" / "streaming.md").read_text()
    (bash,) = re.findall(r"```bash\n(.*?)```", text, re.S)
    (python,) = re.findall(r"```python\n(.*?)```", text, re.S)
    s3.client().create_bucket(Bucket="my-bucket")
    assert bash.rstrip().endswith("--transform.eval_short_side 112")
    # The sizes only: --data.num_workers keeps its default (auto), as a user's run does.
    sizes = [x for flag, value in zip(TINY[::2], TINY[1::2]) if flag != "--data.num_workers" for x in (flag, value)]
    bash = bash.rstrip() + " " + " ".join(sizes) + " --output runs\n"
    work = tmp_path / "work"
    work.mkdir()
    for name, video in zip(("a.mp4", "b.mp4"), sorted((demo_dir / "val").glob("*/*.mp4"))):
        shutil.copy(video, work / name)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, **s3.env, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "VIDZOO_LOAD_PLUGINS": ""}
    done = subprocess.run(["bash", "-e", "-c", bash], cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    from vidzoo.data.demo import TRAIN_PER_CLASS

    assert f"train: {4 * TRAIN_PER_CLASS} videos" in done.stdout and "finished 1 epochs" in done.stdout, \
        done.stdout[-2000:]
    done = subprocess.run([sys.executable, "-c", python + "\nprint(result)"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "'videos': 2" in done.stdout and "'skipped': []" in done.stdout
    keys = {o["Key"] for o in s3.client().list_objects_v2(Bucket="my-bucket")["Contents"]}
    assert {"pets/train/vidzoo.json", "demo-litdata/val/vidzoo.json"} <= keys


def test_vidzoo_prepare_litdata_to_s3_then_run_trains_on_it(s3, tmp_path):
    """`vidzoo demo-data`, `vidzoo prepare --format litdata` (encode_video in litdata's workers) into the
    S3 server, then `vidzoo run --dataset litdata` on it: the CLI path end to end."""
    demo = tmp_path / "demo"
    done = run_cli("demo-data", str(demo), "--train-per-class", "2", "--val-per-class", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    url = f"s3://{BUCKET}/cli-prepared"
    env = {**s3.env, "VIDZOO_LOAD_PLUGINS": ""}
    done = run_cli("prepare", "--dataset", "kinetics", "--dataset.data_path", str(demo), "--format", "litdata",
                   "--output", url, "--short-side", "40", "--keyint", "4", "--workers", "2", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "train: 8 videos" in done.stdout and "val: 4 videos" in done.stdout, done.stdout
    again = run_cli("prepare", "--dataset", "kinetics", "--dataset.data_path", str(demo), "--format", "litdata",
                    "--output", url, "--splits", "val", env=env)
    assert again.returncode == 2 and "already holds a prepared split" in again.stderr and "Traceback" not in again.stderr

    from litdata import StreamingDataset

    from vidzoo.data.video import probe

    local = tmp_path / "val-copy"  # the written split, fetched with a plain S3 client, read back by litdata
    local.mkdir()
    client = s3.client()
    for o in client.list_objects_v2(Bucket=BUCKET, Prefix="cli-prepared/val/")["Contents"]:
        client.download_file(BUCKET, o["Key"], str(local / o["Key"].rsplit("/", 1)[1]))
    item = StreamingDataset(str(local))[0]
    info = probe(io.BytesIO(bytes(item["video"])))
    assert min(info.width, info.height) == 40 and (item["width"], item["height"]) == (info.width, info.height)
    assert bytes(item["video"]) != Path(bytes(item["name"]).decode()).read_bytes()  # re-encoded, not copied

    out = tmp_path / "runs"
    done = run_cli("run", "--dataset", "litdata", "--backbone", "faultkit-tiny", "--dataset.data_path", url,
                   "--dataset.cache_dir", str(tmp_path / "cache"), *TINY_FK, "--data.batch_size", "4",
                   "--data.num_workers", "0", "--trainer.max_epochs", "1", "--trainer.log_every_n_steps", "1",
                   "--output", str(out), env={**plugin_env(tmp_path / "site"), **s3.env}, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "finished 1 epochs" in done.stdout
    assert len([r for r in metrics_rows(next(out.iterdir())) if r.get("train/loss_step")]) == 2  # 8 videos / 4


def _served(folder: Path, split: str) -> dict[str, list[int]]:
    return {f.stem: [int(x) for x in f.read_text().split()] for f in sorted(folder.glob(f"{split}-r*-p*.txt"))}


def test_vidzoo_run_ddp_two_ranks_two_workers_serves_every_video_once(s3_prepared, s3, tmp_path):
    """`vidzoo run` itself, Lightning's DDP launcher (2 CPU ranks, gloo) x 2 workers each, on the S3 data:
    the dataset (faultkit-litdata, vidzoo's litdata dataset plus a record of what each worker served)
    serves each of the 24 train videos exactly once in the epoch."""
    record = tmp_path / "served"
    record.mkdir()
    out = tmp_path / "runs"
    done = run_cli("run", "--dataset", "faultkit-litdata", "--backbone", "faultkit-tiny",
                   "--dataset.data_path", s3_prepared, "--dataset.cache_dir", str(tmp_path / "cache"),
                   "--dataset.record_dir", str(record), *TINY_FK, "--data.batch_size", "2", "--data.num_workers", "2",
                   "--trainer.max_epochs", "1", "--trainer.num_sanity_val_steps", "0",
                   "--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", "cpu",
                   "--output", str(out), env={**plugin_env(tmp_path / "site"), **s3.env}, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    served = _served(record, "train")
    ranks = Counter(name.split("-")[1] for name in served)
    assert ranks == {"r0": 2, "r1": 2}, served  # 2 ranks, each with 2 worker processes that served
    every = Counter(i for indices in served.values() for i in indices)
    # 24 distinct videos, each once (the indices are those of the 25 sources; the broken one was skipped)
    assert len(every) == 24 and set(every) <= set(range(25)) and set(every.values()) == {1}, every.most_common(3)
    assert sorted(len(v) for v in served.values()) == [6, 6, 6, 6]


def test_vidzoo_run_sigkill_mid_epoch_then_resume_serves_the_rest_once(s3_prepared, s3, tmp_path):
    """One process, 2 workers: `vidzoo run` on the S3 data with a checkpoint every step, SIGKILLed mid-epoch,
    `--resume`d: the StreamingDataLoader's state travels in the checkpoint, and the steps trained up to that
    checkpoint plus those after the resume cover each of the 24 videos exactly once (faultkit-tiny records
    the stamped video index of every training forward)."""
    from faultkit import sigkill, start, wait_for
    from vidzoo.training.checkpoint import safe_load
    from vidzoo.training.midepoch import newest_checkpoint, step_checkpoints

    seen, log, out = tmp_path / "seen", tmp_path / "run.log", tmp_path / "runs"
    args = ["run", "--dataset", "faultkit-litdata", "--backbone", "faultkit-tiny", "--dataset.data_path", s3_prepared,
            "--dataset.cache_dir", str(tmp_path / "cache"), "--dataset.stamp", "true", *TINY_FK,
            "--data.batch_size", "2", "--data.num_workers", "2", "--trainer.max_epochs", "1",
            "--trainer.num_sanity_val_steps", "0", "--checkpoint.every_n_steps", "1", "--checkpoint.keep", "2",
            "--output", str(out)]
    env = {**plugin_env(tmp_path / "site"), **s3.env, "VIDZOO_FAULTKIT_SEEN": str(seen)}
    proc = start(args, {**env, "VIDZOO_FAULTKIT_TRACE": str(tmp_path / "trace"), "VIDZOO_FAULTKIT_SLEEP": "0.3"},
                 log)
    wait_for(lambda: any(p.name == "step-00000004.ckpt" for r in out.glob("*")
                         for p in step_checkpoints(r / "checkpoints")), proc, timeout=600, what="step 4")
    sigkill(proc)
    (run_dir,) = list(out.iterdir())
    resumed_from = int(safe_load(newest_checkpoint(run_dir / "checkpoints"))["global_step"])
    assert 4 <= resumed_from < 12  # mid-epoch: 24 videos, batch 2
    killed = [[int(i) for i in line.split()[1:]] for line in seen.read_text().splitlines()]
    seen.unlink()
    proc = start([*args, "--resume"], env, log)
    assert proc.wait(timeout=600) == 0, log.read_text()[-4000:]
    after = [[int(i) for i in line.split()[1:]] for line in seen.read_text().splitlines()]
    assert len(after) == 12 - resumed_from, log.read_text()[-3000:]  # the rest of the epoch, no more
    trained = Counter(i for step in killed[:resumed_from] + after for i in step)
    assert len(trained) == 24 and set(trained.values()) == {1}, trained.most_common(3)
