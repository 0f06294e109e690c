"""docs/zoo.md is generated from the registrations (`vidzoo list --json`) and cannot drift from them."""

import json
import subprocess
import sys
from pathlib import Path

from vidzoo.plugins.zoo_table import fine_tune_command, measured_figures, render

ROOT = Path(__file__).resolve().parents[1]


def test_docs_zoo_md_is_what_vidzoo_list_json_gives():
    out = subprocess.run([sys.executable, "-m", "vidzoo", "list", "--kind", "backbone", "--json"],
                         capture_output=True, text=True, check=True)
    rows = json.loads(out.stdout)
    assert (ROOT / "docs" / "zoo.md").read_text() == render(rows, measured_figures()), \
        "docs/zoo.md is out of date: regenerate it with `python -m vidzoo.plugins.zoo_table > docs/zoo.md`"
    packages = {r["package"] for r in rows}
    assert {"vidzoo", "vidzoo-torchvision", "vidzoo-pytorchvideo-hub", "vidzoo-transformers"} <= packages
    table, recipes = render(rows).split("\n## Published recipes\n")
    heads = [r for r in rows if (r.get("spec") or {}).get("transform") == "features"]  # take embeddings, not videos
    assert {r["name"] for r in heads} == {"linear", "mlp"}
    assert table.count("\n| `") == len(rows) - len(heads)  # one line per zoo backbone
    # and one recipe per backbone with published weights and a recipe: the reproduce and label commands
    assert "| `vidzoo test --model r3d_18 --dataset kinetics --dataset.data_path K400 --views 5x1` | " \
           "`vidzoo predict clip.mp4 --model r3d_18` |" in recipes


def test_check_fails_on_a_stale_file(tmp_path):
    stale = tmp_path / "zoo.md"
    stale.write_text((ROOT / "docs" / "zoo.md").read_text().replace("| 80.9 (5 clips x 3 crops) |", "| 81 |"))
    out = subprocess.run([sys.executable, "-m", "vidzoo.plugins.zoo_table", "--check", str(stale)], capture_output=True, text=True)
    assert out.returncode == 1 and "is out of date" in out.stderr
    ok = subprocess.run([sys.executable, "-m", "vidzoo.plugins.zoo_table", "--check", str(ROOT / "docs" / "zoo.md")])
    assert ok.returncode == 0


def test_any_package_joins_the_table_from_its_spec():
    spec = {"input": {"num_frames": 8, "crop_size": 224, "fixed_input": False, "pathways": None},
            "figures": {"params_m": 24.3, "gflops": 33, "kinetics400_top1": 70.7},
            "extra": {"kinetics400_views": "10 clips x 3 crops"},
            "weights": {"default": {"url": "https://example.org/w.pth", "sha256": None}}, "transform": None}
    row = {"kind": "backbone", "name": "tsm", "package": "vidzoo-timm", "version": "0.1.0", "description": "",
           "plugin": "", "spec": spec}
    text = render([row, {**row, "kind": "transform"}])
    assert "| `tsm` | vidzoo-timm | 8x224^2 | 24.30 | 33 | 70.7 (10 clips x 3 crops) |" in text
    strided = {**row, "spec": {**spec, "input": {**spec["input"], "sampling_rate": 2, "resize_size": [128, 171]}}}
    assert "| 8x224^2 (stride 2, resize 128x171) |" in render([strided])
    assert text.count("| `tsm` |") == 1
    assert fine_tune_command(row).endswith("--backbone tsm --backbone.pretrained default --dataset.data_path UCF-101")
    hub = {**row, "name": "videomae_base", "spec": {**spec, "extra": {"hub_id": "MCG-NJU/videomae-base-finetuned-kinetics"}}}
    assert fine_tune_command(hub) == ("vidzoo run --dataset ucf101 --backbone videomae_base --backbone.pretrained "
                                      "MCG-NJU/videomae-base-finetuned-kinetics --dataset.data_path UCF-101")
    no_weights = {**row, "spec": {**spec, "weights": {}}}
    assert "pretrained" not in fine_tune_command(no_weights)
