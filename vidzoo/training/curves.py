"""curves.png: a run's train/val loss and top-1 per epoch, from its metrics.csv rows."""

from __future__ import annotations

from pathlib import Path

# (panel title, y label, [(metric key, line label)]); keys as the task logs them.
PANELS = (
    ("loss", "cross-entropy", [("train/loss_epoch", "train"), ("val/loss", "val")]),
    ("top-1 accuracy", "top-1", [("train/top1", "train"), ("val/top1", "val")]),
)


def plot_curves(epochs: list[dict], path: str | Path, title: str = "", chance: float | None = None) -> Path | None:
    """Write the two-panel plot to ``path`` (atomically); None when no epoch has a metric to plot.

    ``chance``: the top-1 of guessing (1 / number of classes), drawn as a dashed line.
    """
    if not any(key in row for row in epochs for _, _, lines in PANELS for key, _ in lines):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vidzoo.io import atomic_write_bytes

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, (name, ylabel, lines) in zip(axes, PANELS):
        for key, label in lines:
            points = [(row["epoch"] + 1, row[key]) for row in epochs if key in row]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker="o", label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    if chance is not None:
        axes[1].axhline(chance, color="grey", linestyle="--", linewidth=1, label=f"chance ({chance:.2f})")
        axes[1].legend()
    axes[1].set_ylim(-0.02, 1.02)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    path = Path(path)
    atomic_write_bytes(path, buffer.getvalue())
    return path
