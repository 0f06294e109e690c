"""The README's "Use the trained model" examples, run as written (test -> predict -> export -> run the export)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def readme_block() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Use the trained model", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def test_readme_use_the_trained_model_block(trained_run, demo_dir, tmp_path):
    block = readme_block()
    assert "vidzoo test" in block and "vidzoo predict" in block and "vidzoo export" in block
    # The README's paths, made real: runs/ holds the tiny run, ~/.cache/vidzoo/demo-v2 is the demo sample.
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    (work / "runs").symlink_to(trained_run.parent, target_is_directory=True)
    (home / ".cache" / "vidzoo").mkdir(parents=True)
    (home / ".cache" / "vidzoo" / "demo-v2").symlink_to(demo_dir, target_is_directory=True)
    bin_dir = Path(sys.executable).parent  # the venv's `vidzoo` and `python`
    env = {**os.environ, "HOME": str(home), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "VIDZOO_LOAD_PLUGINS": ""}
    result = subprocess.run(["bash", "-e", "-c", block], cwd=work, env=env, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    out = result.stdout
    assert "8 videos, 10x3 views" in out and "8 videos, 1x1 views" in out
    assert out.count("mean per-class") == 2
    assert re.search(r"move_up/move_up_000\.mp4  \(5 views\)", out)
    assert "exported resnet3d50 (4 classes) to model.onnx (onnx" in out
    assert "exported resnet3d50 (4 classes) to model.pt (torchscript" in out
    probs = re.search(r"tensor\(\[\[([^\]]+)\]\]", out)
    assert probs and abs(sum(float(v) for v in probs.group(1).split(",")) - 1) < 1e-3
    for name in ("model.onnx", "model.onnx.json", "model.pt", "model.pt.json"):
        assert (work / name).is_file(), name
    assert (trained_run / "test-val-10x3" / "confusion.png").is_file()
    assert (trained_run / "test-val-1x1" / "confusion.png").is_file()
