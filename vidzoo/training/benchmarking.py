"""Measuring the data pipeline and training loop (used by `vidzoo bench` and benchmarks/).

Everything here measures one process doing the work a DataLoader worker does, with one
decoder thread and one torch thread, so figures are per core. Wall-clock rates are noisy
on a shared machine; each measurement also reports CPU seconds (user + system of this
process), whose ratio is steadier.
"""

from __future__ import annotations

import math
import os
import resource
import time
from dataclasses import asdict, dataclass


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def rss_mb(pid: int | None = None) -> float:
    import psutil

    return psutil.Process(pid or os.getpid()).memory_info().rss / 2**20


def single_core() -> None:
    """One torch thread and one decoder thread in this process (what a worker per core gets)."""
    import torch

    torch.set_num_threads(1)
    os.environ["VIDZOO_DECODE_THREADS"] = "1"


def decode_only(path, start, end, threads: int = 1) -> int:
    """The decoder's limit: decode the clip's span as pytorchvideo does (seek, decode to the end), convert nothing."""
    import av

    from vidzoo.data.video import SEEK_MARGIN_PTS, secs_to_pts

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = threads
        if threads > 1:
            stream.codec_context.thread_type = "AUTO"
        first = stream.start_time or 0
        start_pts = secs_to_pts(start, stream.time_base, first)
        end_pts = secs_to_pts(end, stream.time_base, first)
        container.seek(int(max(start_pts - SEEK_MARGIN_PTS, 0)), backward=True, any_frame=False, stream=stream)
        n = 0
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            if frame.pts >= end_pts:
                break
            n += frame.pts >= start_pts
        return n


@dataclass
class Rate:
    name: str
    clips: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float = float("nan")
    median_step_s: float = float("nan")  # training: the median step (start to next start), robust to preemption

    @property
    def clips_per_s(self) -> float:
        return self.clips / self.wall_s if self.wall_s else float("nan")

    @property
    def clips_per_cpu_s(self) -> float:
        return self.clips / self.cpu_s if self.cpu_s else float("nan")

    def as_dict(self) -> dict:
        return {**asdict(self), "clips_per_s": self.clips_per_s, "clips_per_cpu_s": self.clips_per_cpu_s}


def _median_step(starts: list[float], end: float) -> float:
    import statistics

    bounds = starts + [end]
    return statistics.median(b - a for a, b in zip(bounds, bounds[1:]))


def timed(name: str, fn, items, warmup: int = 2) -> Rate:
    """Call fn(item) for each item (the first `warmup` untimed)."""
    items = list(items)
    for item in items[:warmup]:
        fn(item)
    timed_items = items[warmup:] or items
    wall, cpu = time.perf_counter(), cpu_seconds()
    for item in timed_items:
        fn(item)
    return Rate(name, len(timed_items), time.perf_counter() - wall, cpu_seconds() - cpu, peak_rss_mb())


def dataset_spans(dataset, n: int, seed: int = 0) -> list[tuple[int, str, object, object]]:
    """n (index, path, start, end) items of a ClipDataset-like dataset, cycling through it."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(dataset), generator=generator).tolist()
    spans = []
    for k in range(n):
        i = order[k % len(order)]
        video_index, start, end = dataset.clip_times(i)
        spans.append((i, dataset.videos[video_index][0], start, end))
    return spans


def measure_data(dataset, clips: int = 24) -> dict[str, Rate]:
    """Per-core rates of the stages of a sample: decoding alone, the reader, the whole sample."""
    single_core()
    spans = dataset_spans(dataset, clips + 2)
    rates = {"decode": timed("decode only (limit)", lambda s: decode_only(s[1], s[2], s[3]), spans)}
    if hasattr(dataset, "read_video"):
        rates["read"] = timed("reader (decode + convert kept frames)",
                              lambda s: dataset.read_video(s[1], s[2], s[3]), spans)
    rates["sample"] = timed("whole sample (reader + transform)", lambda s: dataset[s[0]], spans)
    return rates


def measure_model(model, batch_shape, steps: int = 3, device: str = "cpu", channels_last: bool = False) -> Rate:
    """Training-step rate of a backbone (forward, loss, backward, SGD step) on random clips."""
    import torch

    model = model.to(device).train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    x = torch.randn(*batch_shape, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)

    def step(_):
        out = model(x)
        loss = out.float().logsumexp(-1).mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    rate = timed("model train step", step, range(steps + 1), warmup=1)
    rate.clips = rate.clips * batch_shape[0]
    return rate


def verdict(rates: dict[str, Rate], model: Rate | None, workers: int) -> list[str]:
    """Which stage bounds throughput, in words."""
    per = {k: r.wall_s / r.clips for k, r in rates.items()}
    sample = per["sample"]
    lines = []
    if "read" in per:
        read = min(per["read"], sample)
        shares = {"decoding (reader)": read, "transforms": sample - read}
        lines.append(f"per sample: {1000 * sample:.1f} ms = reader (decode + convert) {100 * read / sample:.0f}%, "
                     f"transforms {100 * (sample - read) / sample:.0f}%")
        if "decode" in per:
            ratio = per["decode"] / per["read"]
            lines.append(f"the reader runs at {100 * ratio:.0f}% of plain decoding's rate" + (
                " (it skips frames it does not need): it is at the decoder's limit; faster needs cheaper videos "
                "(short side 256, keyframes every 1-2 s) or more workers" if ratio >= 0.85 else
                ": frame conversion is costly; check the transform's decode plan (frames kept, short side)"))
    else:
        shares = {"loading a sample": sample}
        lines.append(f"per sample: {1000 * sample:.1f} ms (a dataset without a decode plan: stages not separable)")
    stage = max(shares, key=shares.get)
    data_rate = workers / sample
    if model is not None:
        needed = math.ceil(model.clips_per_s * sample)
        lines.append(f"data: {data_rate:.1f} clips/s with {workers} worker(s); model: {model.clips_per_s:.1f} clips/s; "
                     f"workers needed to keep the model fed: {needed}")
        if data_rate < model.clips_per_s:
            lines.append(f"bottleneck: the data pipeline, mostly {stage}; use {needed} workers if the machine has "
                         f"the cores, else cheaper videos or transforms")
        else:
            lines.append("bottleneck: the model (the data pipeline keeps up)")
    else:
        lines.append(f"data: {data_rate:.1f} clips/s with {workers} worker(s); the largest stage is {stage}")
    return lines


def table(rows: list[list], header: list[str]) -> str:
    cells = [header] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def _train_batches(batch_shape, num_classes: int, n: int, seed: int = 0):
    import torch

    g = torch.Generator().manual_seed(seed)
    batches = [{"video": torch.randn(*batch_shape, generator=g),
                "label": torch.randint(0, num_classes, (batch_shape[0],), generator=g)} for _ in range(n)]
    if torch.cuda.is_available():  # pinned, as vidzoo's DataLoader gives them on a GPU: copies run asynchronously
        batches = [{k: v.pin_memory() for k, v in b.items()} for b in batches]
    return batches


def _task(backbone: str, num_classes: int, perf: dict, backbone_options: dict | None = None):
    import torch

    from vidzoo.training import optim
    from vidzoo.training.task import VideoClassificationTask

    from vidzoo.models.builder import build_model

    torch.manual_seed(0)
    options = optim.optimizer_options()
    config = {"perf": perf, "dataset": {"name": "bench"}}
    built = build_model({"name": backbone, "options": dict(backbone_options or {})}, num_classes)
    return VideoClassificationTask(built.model, [str(i) for i in range(num_classes)], built.recipe, built.classifier,
                                   options, perf, config)


def train_lightning(backbone: str, batch_shape, steps: int, warmup: int = 2, num_classes: int = 10,
                    perf: dict | None = None, backbone_options: dict | None = None,
                    precision: str = "32-true", progress_bar: bool = False) -> Rate:
    """Clips/s of vidzoo's Lightning task (logging, metrics, scheduler, as `vidzoo run` trains) on fixed batches.

    progress_bar: Lightning's progress bar, as `vidzoo run` shows it (it reads the step loss each batch)."""
    import tempfile

    import lightning.pytorch as pl
    import torch
    from lightning.pytorch.loggers import CSVLogger

    import logging
    import warnings

    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):  # no GPU/TPU banners per arm
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")
    batches = _train_batches(batch_shape, num_classes, steps + warmup)
    task = _task(backbone, num_classes, perf or {}, backbone_options)
    from vidzoo.training.callbacks import StepClock

    clock = StepClock(warmup, steps + warmup, cpu_seconds)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = pl.Trainer(max_steps=steps + warmup, accelerator="auto", devices=1, callbacks=[clock],
                             precision=precision,
                             logger=CSVLogger(tmp, name="", version="logs"), log_every_n_steps=10,
                             enable_checkpointing=False, enable_progress_bar=progress_bar, enable_model_summary=False,
                             limit_val_batches=0, num_sanity_val_steps=0, default_root_dir=tmp)
        loader = torch.utils.data.DataLoader(batches, batch_size=None, shuffle=False)
        trainer.fit(task, train_dataloaders=loader)
    return Rate("vidzoo Lightning task", steps * batch_shape[0], clock.end - clock.start,
                clock.cpu_end - clock.cpu, peak_rss_mb(), _median_step(clock.starts, clock.end))


def train_plain(backbone: str, batch_shape, steps: int, warmup: int = 2, num_classes: int = 10,
                perf: dict | None = None, backbone_options: dict | None = None,
                precision: str = "32-true") -> Rate:
    """The same model, optimizer, scheduler and batches in a plain PyTorch loop.

    precision "bf16-mixed" autocasts forward and loss to bfloat16, as Lightning's plugin does."""
    import contextlib

    import torch

    from vidzoo.training import optim

    batches = _train_batches(batch_shape, num_classes, steps + warmup)
    task = _task(backbone, num_classes, perf or {}, backbone_options)
    task.configure_model()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    task = task.to(device).train()
    built = optim.build(task.parameters(), task.optimizer_options, steps + warmup, steps + warmup)
    opt, sched = (built["optimizer"], built["lr_scheduler"]["scheduler"]) if isinstance(built, dict) else (built, None)
    loss_fn = torch.nn.CrossEntropyLoss()
    loader = torch.utils.data.DataLoader(batches, batch_size=None, shuffle=False)
    for i, batch in enumerate(loader):
        if i == warmup:
            if device == "cuda":
                torch.cuda.synchronize()
            start, cpu, starts = time.perf_counter(), cpu_seconds(), []
        if i >= warmup:
            starts.append(time.perf_counter())
        video, label = batch["video"].to(device, non_blocking=True), batch["label"].to(device, non_blocking=True)
        with (torch.autocast(device, dtype=torch.bfloat16) if precision == "bf16-mixed"
              else contextlib.nullcontext()):
            loss = loss_fn(task(video), label)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
    loss.item()  # wait for the last step
    end = time.perf_counter()
    return Rate("plain PyTorch loop", steps * batch_shape[0], end - start, cpu_seconds() - cpu,
                peak_rss_mb(), _median_step(starts, end))
