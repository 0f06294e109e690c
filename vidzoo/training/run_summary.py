"""What a run says about itself: the model summary at the start, the results table at the end.

Both read what the run already keeps: Lightning's layer summary (the callback that prints it is
vidzoo.training.callbacks.ModelSummaryWithoutFlops), and the per-epoch rows of ``logs/metrics.csv``
(the table, and ``curves.png`` through vidzoo.training.curves). No Lightning here: the CLI prints
the table.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path


def read_epochs(metrics_csv: str | Path) -> list[dict]:
    """One dict per epoch from a run's metrics.csv: {"epoch": int, "<metric>": float, ...}.

    Lightning writes train and val metrics of one epoch on separate rows (and per-step rows);
    here they are merged by epoch, the last value of each metric winning.
    """
    path = Path(metrics_csv)
    if not path.is_file():
        return []
    epochs: dict[int, dict] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if not row.get("epoch"):
                continue
            epoch = int(float(row["epoch"]))
            merged = epochs.setdefault(epoch, {"epoch": epoch})
            for key, value in row.items():
                if key in ("epoch", "step") or value in (None, ""):
                    continue
                try:
                    merged[key] = float(value)
                except ValueError:
                    pass
    return [epochs[e] for e in sorted(epochs)]


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{seconds:.1f} s"


def _value(row: dict | None, key: str) -> str:
    value = (row or {}).get(key)
    return "-" if value is None or math.isnan(value) else f"{value:.4f}"


def results_table(epochs: list[dict], seconds: float, best_checkpoint: str, last_checkpoint: str,
                  curves: str | None) -> str:
    """The short table printed after training (epochs, best and final val top-1/5, time, speed, files)."""
    val = [r for r in epochs if "val/top1" in r]
    final = val[-1] if val else None
    best = max(val, key=lambda r: r["val/top1"]) if val else None
    speeds = [r["train/clips_per_s"] for r in epochs if "train/clips_per_s" in r]
    rows = [
        ("epochs", str(len(epochs))),
        ("val top-1", f"best {_value(best, 'val/top1')}" + (f" (epoch {best['epoch'] + 1})" if best else "")
         + f", final {_value(final, 'val/top1')}"),
        ("val top-5", f"best {_value(best, 'val/top5')}, final {_value(final, 'val/top5')}"),
        ("time", _duration(seconds)),
        ("clips/s", f"{speeds[-1]:.3g} (training, last epoch)" if speeds else "-"),
        ("best checkpoint", best_checkpoint or "(none)"),
        ("last checkpoint", last_checkpoint or "(none)"),
    ]
    if curves:
        rows.append(("curves", curves))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)


def format_columns(columns: list[tuple[str, list[str]]]) -> list[str]:
    widths = [max([len(header)] + [len(str(v)) for v in values]) for header, values in columns]
    lines = [" | ".join(f"{header:<{w}}" for (header, _), w in zip(columns, widths))]
    lines.append("-" * len(lines[0]))
    for i in range(len(columns[0][1]) if columns else 0):
        lines.append(" | ".join(f"{str(values[i]):<{w}}" for (_, values), w in zip(columns, widths)))
    return lines
