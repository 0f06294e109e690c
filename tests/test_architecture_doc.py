"""docs/architecture.md's layout names every module of vidzoo/, each under its own folder."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def layout_names(text: str) -> dict[str, set[str]]:
    """{folder path under vidzoo/: module names the layout block lists in it}."""
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    names: dict[str, set[str]] = {}
    stack: list[tuple[int, str]] = []  # (indent, folder) of the enclosing folder lines
    for line in block.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        first, _, rest = line.strip().partition(" ")
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if first.endswith("/"):
            stack.append((indent, first.rstrip("/")))
            line = rest  # a folder line may list its modules after the folder's name
        folder = "/".join(f for _, f in stack[1:])  # below the vidzoo/ line
        # a path such as data/video.py in a description names a module elsewhere, not here
        names.setdefault(folder, set()).update(re.findall(r"(?<![\w/.])(\w+\.py)\b", line))
    return names


def test_every_module_is_named_in_its_folder():
    names = layout_names((ROOT / "docs" / "architecture.md").read_text())
    missing = []
    for path in sorted((ROOT / "vidzoo").rglob("*.py")):
        rel = path.relative_to(ROOT / "vidzoo")
        folder = rel.parent.as_posix() if rel.parent != Path(".") else ""
        if rel.name not in names.get(folder, set()):
            missing.append(rel.as_posix())
    assert not missing, f"docs/architecture.md's layout does not name: {', '.join(missing)}"


def test_the_check_sees_a_module_that_is_not_named():
    names = layout_names("## Layout\n\n```\nvidzoo/\n  io.py   x\n  data/   y\n    clips.py  z (see io.py)\n```\n")
    assert names[""] == {"io.py"} and names["data"] == {"clips.py", "io.py"}
    names = layout_names("## Layout\n\n```\nvidzoo/\n  data/   y\n    a.py  from testing/b.py\n```\n")
    assert names["data"] == {"a.py"}


def test_a_module_over_350_lines_says_why_at_its_top():
    long = []
    for path in sorted((ROOT / "vidzoo").rglob("*.py")):
        text = path.read_text()
        if text.count("\n") > 350 and "over 350 lines" not in "\n".join(text.splitlines()[:6]):
            long.append(f"{path.relative_to(ROOT).as_posix()} ({text.count(chr(10))} lines)")
    assert not long, f"split these or say in one line at the top why they stay whole: {', '.join(long)}"
