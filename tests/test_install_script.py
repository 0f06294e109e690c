"""scripts/install.sh prints one line per step; pip's, uv's and setuptools' output goes to .venv/install.log."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT


@pytest.mark.slow
@pytest.mark.exclusive  # pip reinstalls the packages the other tests import
@pytest.mark.skipif(Path(sys.prefix).resolve() != (ROOT / ".venv").resolve(),
                    reason="runs the installer into the repository's own .venv (the one these tests run in)")
def test_install_script_prints_its_steps_only():
    # A second run (the venv exists, everything is installed): the same steps, nothing else.
    done = subprocess.run(["bash", "scripts/install.sh"], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    plugins = sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file())
    lines = done.stdout.splitlines()
    assert lines[0] == "pip, setuptools, wheel, uv ... ok"
    assert lines[1].startswith("torch ") and lines[1].endswith(" ... ok")
    assert lines[2] == "vidzoo (editable, with the test tools) ... ok"
    assert lines[3:-1] == [f"plugin {p} (editable) ... ok" for p in plugins]
    assert lines[-1].startswith("vidzoo ") and lines[-1].endswith(" ready in .venv")
    assert done.stderr == ""
    assert (ROOT / ".venv" / "install.log").is_file()  # where pip's own output went
