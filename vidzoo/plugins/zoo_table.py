"""The zoo table (docs/zoo.md): every registered backbone, from what `vidzoo list --json` prints.

    python -m benchmarks.recipes                              # measure the recipes (a source checkout)
    python -m vidzoo.plugins.zoo_table > docs/zoo.md          # regenerate
    python -m vidzoo.plugins.zoo_table --check docs/zoo.md    # exit 1 if the file differs (CI)

:func:`render` takes the rows of ``vidzoo list --kind backbone --json`` and nothing else, so
the table holds what the registrations' specs say (input ``num_frames``, ``sampling_rate``,
``resize_size``, ``crop_size``, ``fixed_input``, ``pathways``; figures ``params_m``, ``gflops``,
``kinetics400_top1``; extra ``kinetics400_views``, ``hub_id``; the weights) for any package,
present or future. The measured differences of the recipes from their sources come from
``benchmarks/results/recipes.json`` of a source checkout, when it is there (:data:`MEASURED`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# benchmarks/recipes.py's figures, next to this package in a source checkout
MEASURED = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "recipes.json"

HEADER = """# The zoo

Every backbone of the installed plugin packages, generated from their registrations
(`python -m vidzoo.plugins.zoo_table > docs/zoo.md`; a test fails when this file differs from what the
installed packages register, so it cannot drift from `vidzoo list --json`).

- **input**: frames x crop^2 the published figures used, with their frame stride (every Nth
  frame of the video) and the fixed resize where the source resizes to H x W rather than a
  short side; *exactly* where the model only takes that size (position embeddings sized for
  it); *[slow, fast]* for two-pathway models.
- **params**: millions, with 400 classes. **GFLOPs**: one view, as the package records it.
- **K400 top-1**: the published Kinetics-400 accuracy and, where the package records it, the
  views behind it (clips x crops); "-" where none is published for the model.
- **fine-tune**: the command that starts from the model's pretrained weights on your data (here
  UCF101 from vidzoo-datasets; any dataset works); the head is replaced for your classes and the
  one-line report says what was kept. Hub ids load from the Hugging Face cache
  (`HF_HUB_OFFLINE=1` reads only the cache).

Browse them with `vidzoo list --kind backbone`, e.g. `vidzoo list 'videomae*'`.
"""


def _cell(value) -> str:
    return "-" if value is None or value == "" else str(value)


def _number(value, fmt: str) -> str:
    try:
        return format(float(value), fmt)
    except (TypeError, ValueError):
        return _cell(value)


def _input(m: dict) -> str:
    if "num_frames" not in m or "crop_size" not in m:
        return "-"
    text = f"{m['num_frames']}x{m['crop_size']}^2"
    detail = [f"stride {m['sampling_rate']}"] if m.get("sampling_rate") else []
    if m.get("resize_size"):
        detail.append("resize " + "x".join(str(v) for v in m["resize_size"]))
    if detail:
        text += f" ({', '.join(detail)})"
    if m.get("fixed_input"):
        text += " exactly"
    if m.get("pathways"):
        text += " [slow, fast]"
    return text


def _top1(m: dict) -> str:
    if m.get("kinetics400_top1") is None:
        return "-"
    views = m.get("kinetics400_views")
    return f"{m['kinetics400_top1']}" + (f" ({views})" if views else "")


def facts(row: dict) -> dict:
    """One row's spec as the flat facts the table shows: input, display-only extras, figures, the
    transform, and whether it has weights."""
    spec = row.get("spec") or {}
    return {**(spec.get("input") or {}), **(spec.get("extra") or {}), **(spec.get("figures") or {}),
            "transform": spec.get("transform"), "has_weights": bool(spec.get("weights"))}


def fine_tune_command(row: dict, dataset: str = "ucf101") -> str:
    m = facts(row)
    parts = ["vidzoo run", f"--dataset {dataset}", f"--backbone {row['name']}"]
    if m.get("pathways") and m.get("transform"):
        parts.append(f"--transform {m['transform']}")
    if m.get("hub_id"):
        parts.append(f"--backbone.pretrained {m['hub_id']}")
    elif m["has_weights"]:
        parts.append("--backbone.pretrained default")
    parts.append("--dataset.data_path UCF-101")
    return " ".join(parts)


def recipe(m: dict) -> str:
    """The evaluation recipe of a spec's input facts, in words (frames, window, resize, crop, views)."""
    n = m["sampling_rate"]
    every = "every frame" if n == 1 else f"every {n}{'th' if n % 100 in (11, 12, 13) else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')} frame"
    seconds = m["num_frames"] * m["sampling_rate"] / m["fps"]
    how = "linspace" if m.get("temporal", "uniform") == "uniform" else "by time"
    parts = [f"{m['num_frames']} frames, {every} of {m['fps']:g} fps ({seconds:.2f} s, {how})"]
    resize = m.get("resize_size")
    if resize and len(resize) == 2:
        parts.append(f"resize to {resize[0]}x{resize[1]}")
    elif resize or m.get("short_side"):
        parts.append(f"short side {resize[0] if resize else m['short_side']}")
    elif m.get("crop_pct"):
        parts.append(f"short side crop / {m['crop_pct']:g}")
    parts[-1] += f" {m.get('interpolation', 'bilinear')}" + (" antialiased" if m.get("antialias") else "")
    parts.append(f"centre crop {m.get('eval_crop_size') or m['crop_size']}")
    return ", ".join(parts)


def test_command(row: dict) -> str:
    """`vidzoo test` of the published weights on a user's Kinetics copy, with the published views."""
    views = facts(row).get("views")
    return f"vidzoo test --model {row['name']} --dataset kinetics --dataset.data_path K400" + (
        f" --views {views}" if views else "")


RECIPES_HEADER = """
## Published recipes

Each published model's evaluation recipe, from its source's own code (`source` in its spec's
`input`): `vidzoo test --model` and `vidzoo predict --model` use it (the core `published`
transform, `InputConfig.eval_transform()`), and `vidzoo run` uses it for evaluation when it
fine-tunes from the published weights without a `--transform`. **reproduce** measures the
published figure on your Kinetics copy (folders of class names or the annotation CSVs) with the
views it was published with; **label** labels a video.
"""

MEASURED_HEADER = """
## The recipes against their sources, measured

vidzoo's evaluation input against the source library's own preprocessing of the same decoded frames
of a 1280x720 video (one frame repeated, so only the spatial recipe differs), in levels of 0..255
(`python -m benchmarks.recipes`): **before**, the input `vidzoo test` built from
`resolve_input_config` and the `kinetics` transform; **after**, the model's recipe. The plugins' tests
check the recipes on videos of 4:3, 16:9 and portrait shapes at 25 and 30 fps, frames included
(within 1 level; 2 for timm's PIL bicubic kernel).
"""


def _measured_cell(entry: dict) -> str:
    if "mean" in entry:
        return f"mean {entry['mean']:.2f}, max {entry['max']:g}"
    return f"{entry['shape'][-1]} px crop vs the source's {entry['source_shape'][-1]} px"


def render(rows: list[dict], measured: dict | None = None) -> str:
    """docs/zoo.md from the rows of `vidzoo list --kind backbone --json` (other kinds are ignored)
    and, when given, benchmarks/recipes.py's measured differences."""
    # heads on cached features (vidzoo embed's `linear`, `mlp`) take embeddings, not videos: not zoo models
    backbones = sorted((r for r in rows if r.get("kind") == "backbone"
                        and (r.get("spec") or {}).get("transform") != "features"), key=lambda r: (r["package"], r["name"]))
    lines = [HEADER, "| backbone | package | input | params (M) | GFLOPs | K400 top-1 (views) | fine-tune |",
             "|---|---|---|---|---|---|---|"]
    for row in backbones:
        m = facts(row)
        lines.append(" | ".join([
            f"| `{row['name']}`", row["package"], _input(m), _number(m.get("params_m"), ".2f"),
            _number(m.get("gflops"), "g"), _top1(m), f"`{fine_tune_command(row)}` |"]))
    published = [r for r in backbones if facts(r)["has_weights"] and facts(r).get("fps")
                 and facts(r).get("num_frames") and facts(r).get("sampling_rate")]
    if published:
        lines += [RECIPES_HEADER, "| model | evaluation recipe | source | reproduce | label |", "|---|---|---|---|---|"]
        for row in published:
            m = facts(row)
            if m.get("kinetics400_top1"):
                commands = f"`{test_command(row)}` | `vidzoo predict clip.mp4 --model {row['name']}`"
            else:
                commands = "- | - (no published Kinetics classifier)"
            lines.append(f"| `{row['name']}` | {recipe(m)} | {_cell(m.get('source'))} | {commands} |")
    if measured and measured.get("models"):
        lines += [MEASURED_HEADER, "| model | family | source | before | after |", "|---|---|---|---|---|"]
        for name, row in measured["models"].items():
            lines.append(f"| `{name}` | {row['family']} | {row['source']} | {_measured_cell(row['before'])} | "
                         f"{_measured_cell(row['after'])} |")
    return "\n".join(lines) + "\n"


def measured_figures(path: Path = MEASURED) -> dict | None:
    """benchmarks/results/recipes.json, or None outside a source checkout."""
    return json.loads(path.read_text()) if path.is_file() else None


def registered_rows() -> list[dict]:
    """What `vidzoo list --kind backbone --json` prints."""
    from vidzoo.plugins import get_registry

    return [r.summary() for r in get_registry().list("backbone")]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m vidzoo.plugins.zoo_table", description="Print docs/zoo.md, the zoo table, "
                                "generated from the installed packages' backbone registrations.",
                                epilog="example: python -m vidzoo.plugins.zoo_table > docs/zoo.md")
    p.add_argument("--check", metavar="FILE", help="exit 1 (and say so) if FILE differs from the generated table")
    args = p.parse_args(argv)
    text = render(registered_rows(), measured_figures())
    if args.check:
        with open(args.check, encoding="utf-8") as f:
            if f.read() != text:
                print(f"{args.check} is out of date: regenerate it with `python -m vidzoo.plugins.zoo_table > {args.check}`",
                      file=sys.stderr)
                return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
