"""docs/api.md's Python blocks, run as written and in order (list, spec, create, train, evaluate,
predict, export, plugins from Python), on the demo sample at tiny sizes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from conftest import ROOT

DRIVER = r"""
import json, sys
namespace = {}
for block in json.load(open(sys.argv[1])):
    exec(compile(block, "docs/api.md", "exec"), namespace)
r, report, exported = namespace["result"], namespace["report"], namespace["exported"]
print("RESULT " + json.dumps({
    "best": str(r.best_checkpoint), "last": str(r.last_checkpoint), "run_dir": str(r.run_dir),
    "top1": r.metrics["val/top1"], "own_loss": namespace["own"].metrics["val/loss"],
    "eval_top1": report.top1, "confusion": report.confusion, "classes": report.class_names,
    "top": namespace["prediction"].top, "export": str(exported.path), "diff": exported.max_abs_diff,
    "own_top1": namespace["own_report"].top1, "own_videos": namespace["own_report"].videos,
    "own_diff": namespace["own_export"].max_abs_diff, "own_top": namespace["own_predictor"].predict(
        namespace["dataset"].videos[0][0]).top,
}))
"""


def api_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(), re.S)


def test_api_md_blocks_run_as_written(demo_dir, tmp_path):
    blocks = api_blocks()
    text = "".join(blocks)
    for call in ("list_models", "get_model_spec", "create_model", "resolve_input_config", "create_transform",
                 "create_dataset", "vidzoo.train", "vidzoo.evaluate", "vidzoo.load", "vidzoo.export",
                 "vidzoo.load(own.best_checkpoint, model=", "vidzoo.evaluate(own.best_checkpoint",
                 "vidzoo.export(own.best_checkpoint"):
        assert call in text, call
    home = tmp_path / "home"
    (home / ".cache" / "vidzoo").mkdir(parents=True)
    # The blocks use the default demo sample: point its cache entry at the session's small one.
    from vidzoo.data.demo import VERSION

    (home / ".cache" / "vidzoo" / f"demo-v{VERSION}").symlink_to(demo_dir, target_is_directory=True)
    (tmp_path / "blocks.json").write_text(json.dumps(blocks))
    (tmp_path / "driver.py").write_text(DRIVER)
    env = {**os.environ, "HOME": str(home), "VIDZOO_LOAD_PLUGINS": ""}
    env.pop("VIDZOO_CACHE", None)
    env.pop("XDG_CACHE_HOME", None)
    result = subprocess.run([sys.executable, "driver.py", "blocks.json"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    out = result.stdout
    assert "['resnet3d50']" in out and "8 224 (0.45, 0.45, 0.45)" in out and "74.58" in out
    assert "torch.Size([3, 8, 224, 224])" in out
    assert "['tinynet'] {'num_frames': 4, 'crop_size': 32}" in out and out.rstrip().count("[]") >= 1
    data = json.loads(out.split("RESULT ", 1)[1])
    assert data["best"].endswith("checkpoints/best.ckpt") and data["last"].endswith("checkpoints/last.ckpt")
    assert (tmp_path / "runs").is_dir() and data["run_dir"].startswith("runs/")
    assert 0 <= data["top1"] <= 1 and data["own_loss"] > 0
    assert len(data["classes"]) == 4 and sum(map(sum, data["confusion"])) == 8  # 2 val videos per class
    assert len(data["top"]) == 2 and abs(sum(p for _, p in data["top"])) <= 1 + 1e-6
    assert data["diff"] <= 1e-4
    # the own-module checkpoint, loaded, evaluated and exported with its module given back
    assert data["own_videos"] == 8 and 0 <= data["own_top1"] <= 1 and data["own_diff"] <= 1e-4
    assert data["own_top"][0][0] in data["classes"]
    assert "('blocks.5.proj',)" in out
    for name in ("model.pt", "model.pt.json", "own.pt", "own.pt.json", "report/metrics.json", "report/confusion.png"):
        assert (tmp_path / name).is_file(), name
