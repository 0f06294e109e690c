"""vidzoo list: what the installed plugins registered."""

from __future__ import annotations

import argparse
import json

from vidzoo.registry import KINDS

EXAMPLES = """examples:
  vidzoo list                      # everything
  vidzoo list --kind backbone      # only backbones
  vidzoo list 'x3d*' --json        # wildcard filter, machine-readable
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vidzoo list", description="List registered datasets, transforms and backbones.",
                                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pattern", nargs="?", default=None, help="shell-style wildcard on names, e.g. 'x3d*'")
    p.add_argument("--kind", choices=KINDS, help="only this kind")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return p


def _meta(reg) -> str:
    m = reg.metadata
    bits = []
    if "params_m" in m:
        bits.append(f"{m['params_m']:.2f}M params")
    if "gflops" in m:
        bits.append(f"{m['gflops']:g} GFLOPs")
    if "frames" in m and "crop_size" in m:
        bits.append(f"{m['frames']}x{m['crop_size']}^2")
    if "kinetics400_top1" in m:
        bits.append(f"K400 top-1 {m['kinetics400_top1']}")
    return ", ".join(bits)


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from vidzoo.plugins import get_registry

    regs = get_registry().list(args.kind, args.pattern)
    if args.json:
        print(json.dumps([r.summary() for r in regs], indent=2))
        return 0
    if not regs:
        print("nothing registered matches" + (f" {args.pattern!r}" if args.pattern else ""))
        return 0
    rows = [(r.kind, r.name, f"{r.package} {r.version}", r.description + (f" [{_meta(r)}]" if _meta(r) else ""))
            for r in regs]
    widths = [max(len(row[i]) for row in rows + [("KIND", "NAME", "PACKAGE", "")]) for i in range(3)]
    print(f"{'KIND':<{widths[0]}}  {'NAME':<{widths[1]}}  {'PACKAGE':<{widths[2]}}  DESCRIPTION")
    for row in rows:
        print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}")
    return 0
