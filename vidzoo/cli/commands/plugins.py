"""vidzoo plugins: installed plugin packages, their entry points, hooks and registrations, and load errors."""

from __future__ import annotations

import json

from vidzoo.cli.commands import ArgumentParser

EXAMPLES = """examples:
  vidzoo plugins                                   # every plugin package and what it registered
  vidzoo plugins --json                            # machine-readable
  VIDZOO_LOAD_PLUGINS=vidzoo-datasets vidzoo plugins   # load only this one besides the built-ins
  VIDZOO_DISABLE_PLUGINS=vidzoo-torchvision vidzoo list
  VIDZOO_STRICT_PLUGINS=1 vidzoo plugins           # a plugin that fails to load is an error (exit 2)

environment:
  VIDZOO_LOAD_PLUGINS=a,b     load only these plugin packages (set but empty: only the built-ins)
  VIDZOO_DISABLE_PLUGINS=a,b  skip these plugin packages
  VIDZOO_STRICT_PLUGINS=1     turn plugin load errors and name conflicts into errors
  (names are distribution names such as vidzoo-torchvision, or entry-point names; - and _ are equal)
"""


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="vidzoo plugins",
                                description="List installed plugin packages: version, entry points, hooks, "
                                            "what each registered, and any load errors.",
                                epilog=EXAMPLES)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--all", action="store_true", help="list every registered name instead of a count per kind")
    return p


def packages() -> list[dict]:
    """Plugin packages (built-ins first) with their entry points, as JSON-ready dicts."""
    from vidzoo.plugins import plugin_infos

    out: dict[str, dict] = {}
    for info in plugin_infos():
        pkg = out.setdefault(info.package, {"package": info.package, "version": info.version,
                                            "builtin": info.builtin, "entry_points": []})
        pkg["entry_points"].append({
            "name": info.name,
            "module": info.module,
            "status": "error" if info.error else "disabled" if info.disabled else "loaded",
            "hooks": list(info.hooks),
            "registered": list(info.registered),
            "error": info.error,
            "disabled": info.disabled,
            "problems": list(info.problems),
        })
    return list(out.values())


def _registered_text(names: list[str], show_all: bool) -> list[str]:
    by_kind: dict[str, list[str]] = {}
    for item in names:
        kind, _, name = item.partition(":")
        by_kind.setdefault(kind, []).append(name)
    lines = []
    for kind, items in by_kind.items():
        shown = items if show_all or len(items) <= 8 else items[:8] + [f"... ({len(items) - 8} more, --all)"]
        lines.append(f"{kind}s ({len(items)}): {', '.join(shown)}")
    return lines


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    pkgs = packages()
    if args.json:
        print(json.dumps(pkgs, indent=2))
        return 0
    for pkg in pkgs:
        tag = " (built-in)" if pkg["builtin"] else ""
        print(f"{pkg['package']} {pkg['version']}{tag}")
        for ep in pkg["entry_points"]:
            print(f"  {ep['name']} = {ep['module']}  [{ep['status']}]")
            if ep["error"]:
                print(f"    error: {ep['error']}")
            if ep["disabled"]:
                print(f"    disabled: {ep['disabled']}")
            if ep["hooks"]:
                print(f"    hooks: {', '.join(ep['hooks'])}")
            for line in _registered_text(ep["registered"], args.all):
                print(f"    {line}")
            for problem in ep["problems"]:
                print(f"    problem: {problem}")
    broken = [(p["package"], e) for p in pkgs for e in p["entry_points"] if e["error"]]
    if broken:
        print(f"\n{len(broken)} plugin(s) failed to load and were skipped; everything else works. "
              f"VIDZOO_DISABLE_PLUGINS={','.join(sorted({p for p, _ in broken}))} silences this.")
    return 0
