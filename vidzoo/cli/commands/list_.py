"""vidzoo list: what the installed plugins registered."""

from __future__ import annotations

import json

from vidzoo.cli.commands import ArgumentParser
from vidzoo.errors import VidzooError
from vidzoo.plugins.registry import KINDS

EXAMPLES = """examples:
  vidzoo list                      # everything
  vidzoo list --kind backbone      # only backbones
  vidzoo list 'x3d*' --json        # wildcard filter, machine-readable
  vidzoo list 'r*_18' 'swin*' --kind backbone
  vidzoo list --pretrained         # models with a published classifier, and its label set
"""


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="vidzoo list", description="List registered datasets, transforms and backbones.",
                                epilog=EXAMPLES)
    p.add_argument("patterns", nargs="*", metavar="PATTERN",
                   help="shell-style wildcards on names (any may match), e.g. 'x3d*' 'slowfast_*'")
    p.add_argument("--kind", choices=KINDS, help="only this kind")
    p.add_argument("--pretrained", action="store_true",
                   help="only backbones with a published classifier (usable with `vidzoo predict --model NAME`), "
                        "and the label set it predicts")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return p


def _number(value, fmt: str) -> str:
    try:
        return format(float(value), fmt)
    except (TypeError, ValueError):  # a plugin gave a string: show it as it is
        return str(value)


def _meta(reg) -> str:
    spec = reg.spec
    if spec is None or reg.kind != "backbone":
        return ""
    m = {**spec.extra, **spec.figures, "frames": spec.input.num_frames, "crop_size": spec.input.crop_size}
    m = {k: v for k, v in m.items() if v is not None}
    bits = []
    if "params_m" in m:
        bits.append(f"{_number(m['params_m'], '.2f')}M params")
    if "gflops" in m:
        bits.append(f"{_number(m['gflops'], 'g')} GFLOPs")
    if "frames" in m and "crop_size" in m:
        bits.append(f"{m['frames']}x{m['crop_size']}^2")
    if "kinetics400_top1" in m:
        bits.append(f"K400 top-1 {m['kinetics400_top1']}")
    return ", ".join(bits)


def _matches(name: str, patterns: list[str]) -> bool:
    from vidzoo.api import matches  # one matching for `vidzoo list` and vidzoo.list_models

    return matches(name, patterns)


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from vidzoo.plugins import get_registry

    from vidzoo.plugins.labels import published_labels

    registry = get_registry()
    if args.pretrained and args.kind not in (None, "backbone"):
        raise VidzooError(f"--pretrained lists backbones; drop --kind {args.kind}")
    regs = [r for r in registry.list("backbone" if args.pretrained else args.kind) if _matches(r.name, args.patterns)
            and (not args.pretrained or published_labels(r.spec))]
    if args.pretrained:
        return _print_pretrained(regs, args)
    # A name two packages registered is unusable until one goes: list each claim, with the fix.
    conflicts = {}
    for (kind, name), claims in registry.conflicts().items():
        if (args.kind in (None, kind)) and _matches(name, args.patterns):
            for reg in claims:
                conflicts[id(reg)] = registry.conflict_message(kind, name)
                regs.append(reg)
    regs.sort(key=lambda r: (KINDS.index(r.kind), r.name, r.package))
    if args.json:
        print(json.dumps([{**r.summary(), **({"conflict": conflicts[id(r)]} if id(r) in conflicts else {})}
                          for r in regs], indent=2))
        return 0
    if not regs:
        what = " or ".join(repr(p) for p in args.patterns)
        print("nothing registered matches" + (f" {what}" if what else "") + (f" (kind {args.kind})" if args.kind else ""))
        return 0
    rows = [(r.kind, r.name, f"{r.package} {r.version}",
             (f"CONFLICT: {conflicts[id(r)]}" if id(r) in conflicts else
              r.description + (f" [{_meta(r)}]" if _meta(r) else "")))
            for r in regs]
    widths = [max(len(row[i]) for row in rows + [("KIND", "NAME", "PACKAGE", "")]) for i in range(3)]
    print(f"{'KIND':<{widths[0]}}  {'NAME':<{widths[1]}}  {'PACKAGE':<{widths[2]}}  DESCRIPTION")
    for row in rows:
        print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}")
    return 0


def _print_pretrained(regs, args) -> int:
    """The backbones with a published classifier: name, label set, package, its figures."""
    from vidzoo.plugins.labels import published_labels

    rows = [{"name": r.name, "labels": published_labels(r.spec), "package": f"{r.package} {r.version}",
             "about": _meta(r)} for r in regs]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no installed backbone with a published classifier matches")
        return 0
    widths = [max(len(row[k]) for row in rows + [{"name": "NAME", "labels": "LABELS", "package": "PACKAGE"}])
              for k in ("name", "labels", "package")]
    print(f"{'NAME':<{widths[0]}}  {'LABELS':<{widths[1]}}  {'PACKAGE':<{widths[2]}}  PUBLISHED")
    for row in rows:
        print(f"{row['name']:<{widths[0]}}  {row['labels']:<{widths[1]}}  {row['package']:<{widths[2]}}  {row['about']}")
    print(f"{len(rows)} models label videos as published: vidzoo predict VIDEO --model NAME (docs/models.md)")
    return 0
