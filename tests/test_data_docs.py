"""docs/data.md's "Prepare a dataset" block, run as written (the `vidzoo run` line with test-size options added)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, TINY


def test_data_docs_prepare_block(tmp_path):
    text = (ROOT / "docs" / "data.md").read_text()
    section = text.split("## Prepare a dataset", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    lines = block.strip().splitlines()
    assert [ln.split()[1] for ln in lines] == ["demo-data", "prepare", "prepare", "run"]
    tiny = [a for a in TINY]
    lines[-1] += " " + " ".join(tiny) + " --output runs"
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "VIDZOO_LOAD_PLUGINS": ""}
    result = subprocess.run(["bash", "-e", "-c", "\n".join(lines)], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "dry run: nothing written" in result.stdout
    assert "prepared 24 videos (0 were already done)" in result.stdout
    assert (tmp_path / "demo-prepared" / "vidzoo-manifest.train.json").is_file()
    assert list((tmp_path / "runs").glob("*/checkpoints/best.ckpt"))


def test_data_docs_litdata_block(tmp_path):
    """The streaming section's block: prepare to litdata chunks in a local folder, then train on them."""
    text = (ROOT / "docs" / "data.md").read_text()
    section = text.split("## Streaming format for many machines", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    lines = block.strip().splitlines()
    assert [ln.split()[1] for ln in lines] == ["demo-data", "prepare", "run"]
    lines[-1] += " " + " ".join(TINY) + " --output runs"
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "VIDZOO_LOAD_PLUGINS": ""}
    result = subprocess.run(["bash", "-e", "-c", "\n".join(lines)], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "train: 16 videos" in result.stdout and "val: 8 videos" in result.stdout, result.stdout
    assert (tmp_path / "demo-litdata" / "train" / "vidzoo.json").is_file()
    assert list((tmp_path / "runs").glob("*/checkpoints/best.ckpt"))
