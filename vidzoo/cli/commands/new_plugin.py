"""vidzoo new-plugin: write a ready plugin package (pyproject entry point, registration, conformance test, README)."""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from vidzoo.cli.commands import ArgumentParser
from vidzoo.errors import VidzooError
from vidzoo.plugins.registry import KINDS

EXAMPLES = """examples:
  vidzoo new-plugin vidzoo-tinynet                      # a backbone plugin in ./vidzoo-tinynet
  vidzoo new-plugin vidzoo-mydata --kind dataset --output ~/src
  cd vidzoo-tinynet && pip install -e . && pytest tests && vidzoo list --kind backbone

The package installs and passes its own tests unchanged; then replace the example
model/dataset/transform with yours (docs/plugins.md walks through it).
"""


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="vidzoo new-plugin", description="Write a ready vidzoo plugin package.",
                                epilog=EXAMPLES)
    p.add_argument("name", help="distribution name, e.g. vidzoo-tinynet (the module is vidzoo_tinynet, "
                                "the registered name tinynet)")
    p.add_argument("--kind", choices=sorted(KINDS), default="backbone", help="what the plugin registers (default: backbone)")
    p.add_argument("--output", default=".", help="folder in which the package folder is created (default: .)")
    p.add_argument("--register-as", default=None, help="registered name (default: the name without 'vidzoo-')")
    return p


def names(name: str, register_as: str | None = None) -> tuple[str, str, str]:
    """(distribution, module, registered name) for a plugin name, or VidzooError."""
    dist = name.strip().lower().replace("_", "-")
    if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", dist):
        raise VidzooError(f"plugin name {name!r} is not a valid package name: use letters, digits and single dashes, "
                          f"starting with a letter (e.g. vidzoo-tinynet)")
    module = dist.replace("-", "_")
    if module == "vidzoo":
        raise VidzooError("the plugin cannot be called vidzoo; try vidzoo-<something>")
    reg = register_as or (module[len("vidzoo_"):] if module.startswith("vidzoo_") and module != "vidzoo_" else module)
    if not reg.isidentifier() or keyword.iskeyword(reg) or reg == "vidzoo":
        raise VidzooError(f"registered name {reg!r} must be a Python identifier (it names the factory function); "
                          f"pass --register-as NAME")
    return dist, module, reg


def render(kind: str, dist: str, module: str, reg: str) -> dict[str, str]:
    from vidzoo._version import __version__
    from vidzoo.templates import plugin_skeleton as t

    fields = {"dist": dist, "module": module, "reg": reg, "kind": kind, "vidzoo_version": __version__}
    code, test = t.CODE[kind]
    fields["run_example"] = t.RUN_EXAMPLES[kind].format(**fields)
    return {
        "pyproject.toml": t.PYPROJECT.format(**fields),
        "README.md": t.README.format(**fields),
        f"{module}/__init__.py": code.format(**fields),
        f"tests/test_{module}.py": test.format(**fields),
    }


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    dist, module, reg = names(args.name, args.register_as)
    out = Path(args.output).expanduser()
    target = out / dist
    if target.exists():
        raise VidzooError(f"{target} already exists; choose another name or --output folder")
    if not out.is_dir():
        raise VidzooError(f"--output {out} is not a folder")
    files = render(args.kind, dist, module, reg)
    # Written into a temporary folder and moved in one step: nothing half-written on failure.
    from vidzoo.io import atomic_write_tree

    atomic_write_tree(target, files)
    print(f"wrote {target}/ ({args.kind} plugin registering {reg!r}):")
    for rel in files:
        print(f"  {rel}")
    print(f"\nnext:\n  pip install -e {target}\n  pytest {target}/tests\n  vidzoo list --kind {args.kind} {reg}")
    return 0
