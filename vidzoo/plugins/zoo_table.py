"""The zoo table (docs/zoo.md): every registered backbone, from what `vidzoo list --json` prints.

    python -m vidzoo.plugins.zoo_table > docs/zoo.md          # regenerate
    python -m vidzoo.plugins.zoo_table --check docs/zoo.md    # exit 1 if the file differs (CI)

:func:`render` takes the rows of ``vidzoo list --kind backbone --json`` and nothing else, so
the table holds what the registrations' specs say (input ``num_frames``, ``sampling_rate``,
``resize_size``, ``crop_size``, ``fixed_input``, ``pathways``; figures ``params_m``, ``gflops``,
``kinetics400_top1``; extra ``kinetics400_views``, ``hub_id``; the weights) for any package,
present or future.
"""

from __future__ import annotations

import argparse
import sys

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


def render(rows: list[dict]) -> str:
    """docs/zoo.md from the rows of `vidzoo list --kind backbone --json` (other kinds are ignored)."""
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
    return "\n".join(lines) + "\n"


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
    text = render(registered_rows())
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
