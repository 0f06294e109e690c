"""vidzoo.load / evaluate / export through the model layer: checkpoints of today's and of this format, a user's
module (importable or not), and no Lightning or training code in an inference process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import vidzoo
from vidzoo.errors import VidzooError

HERE = Path(__file__).resolve().parent


def _video(demo_dir) -> str:
    return str(sorted((demo_dir / "val").rglob("*.mp4"))[0])


def _rewrite(ckpt_path, out, hparams: dict, state: dict | None = None) -> Path:
    """A copy of a checkpoint with other hyper-parameters (and optionally other model weights)."""
    ckpt = torch.load(ckpt_path, weights_only=True)
    old = ckpt["hyper_parameters"]
    ckpt["hyper_parameters"] = {"class_names": old["class_names"], "optimizer": old.get("optimizer"),
                                "config": old["config"], **hparams}
    if state is not None:
        ckpt["state_dict"] = {f"model.{k}": v for k, v in state.items()}
    torch.save(ckpt, out)
    return out


def test_load_and_predict_import_neither_lightning_nor_training(trained_run, demo_dir):
    code = ("import sys, vidzoo; p = vidzoo.load(sys.argv[1], device='cpu'); print(p.predict(sys.argv[2]).top[0][0]); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning') "
            "or m.startswith('vidzoo.training')))")
    out = subprocess.run([sys.executable, "-c", code, str(trained_run / "checkpoints" / "best.ckpt"),
                          _video(demo_dir)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    label, modules = out.stdout.strip().splitlines()
    assert label in torch.load(trained_run / "checkpoints" / "best.ckpt", weights_only=True)["hyper_parameters"][
        "class_names"]
    assert modules == "[]"


def test_checkpoints_of_todays_format_and_of_the_model_recipe_load_alike(trained_run, demo_dir, tmp_path):
    ckpt = trained_run / "checkpoints" / "best.ckpt"
    hp = torch.load(ckpt, weights_only=True)["hyper_parameters"]
    name = hp.get("backbone") or hp["model"]["name"]
    options = dict(hp.get("backbone_options") or (hp.get("model") or {}).get("options") or {})
    today = _rewrite(ckpt, tmp_path / "today.ckpt", {"backbone": name, "backbone_options": {
        **options, "pretrained": str(tmp_path / "gone.pth"), "sha256": None}})  # the weights file is gone: not read
    recipe = _rewrite(ckpt, tmp_path / "recipe.ckpt", {"model": {"name": name, "options": options},
                                                       "classifier": ["blocks.5.proj.weight", "blocks.5.proj.bias"]})
    video = _video(demo_dir)
    a, b = vidzoo.load(today, device="cpu"), vidzoo.load(recipe, device="cpu")
    assert a.recipe == b.recipe == {"name": name, "options": {k: v for k, v in options.items()
                                                              if k not in ("pretrained", "sha256")}}
    assert torch.equal(a.predict(video).probs, b.predict(video).probs)
    assert repr(a).startswith(f"Predictor('{name}', 4 classes")


def test_a_users_module_importable_or_passed_back(trained_run, demo_dir, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    import modelkit

    torch.manual_seed(0)
    net = modelkit.TinyNet(4, width=6)
    ckpt = trained_run / "checkpoints" / "best.ckpt"
    importable = _rewrite(ckpt, tmp_path / "own.ckpt", {
        "model": {"class_path": "modelkit.TinyNet", "init_args": {"num_classes": 4, "width": 6}},
        "classifier": ["head.weight", "head.bias"]}, net.state_dict())
    video = _video(demo_dir)
    loaded = vidzoo.load(importable, device="cpu")  # no model= needed: the class imports
    assert type(loaded.model).__name__ == "TinyNet" and loaded.model_name == "TinyNet"
    assert torch.equal(loaded.model.head.weight, net.head.weight)

    # A class defined in a script (__main__) cannot be imported elsewhere: one line, and how to pass it.
    hidden = _rewrite(ckpt, tmp_path / "main.ckpt", {"model": {"class_path": "__main__.TinyNet", "init_args": None},
                                                     "classifier": []}, net.state_dict())
    with pytest.raises(VidzooError) as info:
        vidzoo.load(hidden)
    assert str(info.value) == (f"checkpoint {hidden} holds a TinyNet (module __main__), which cannot be imported here; "
                               f"pass the model: vidzoo.load({hidden}, model=TinyNet(...))")
    given = vidzoo.load(hidden, model=modelkit.TinyNet(4, width=6), device="cpu")
    assert torch.equal(given.predict(video).probs, loaded.predict(video).probs)
    with pytest.raises(VidzooError, match="does not fit this model"):
        vidzoo.load(hidden, model=modelkit.TinyNet(4, width=5))
    # today's vidzoo.train named a user's module after a temporary plugin: the module loads when given
    temporary = _rewrite(ckpt, tmp_path / "temporary.ckpt", {"backbone": "module-TinyNet", "backbone_options": {}},
                         net.state_dict())
    with pytest.raises(VidzooError, match=r"unknown backbone 'module-TinyNet'.*pass the model: vidzoo.load\("):
        vidzoo.load(temporary)
    assert torch.equal(vidzoo.load(temporary, model=modelkit.TinyNet(4, width=6)).model.head.weight, net.head.weight)
    result = vidzoo.export(hidden, "torchscript", tmp_path / "own.pt", model=modelkit.TinyNet(4, width=6))
    assert result.backbone == "TinyNet" and result.max_abs_diff <= 1e-4
    assert json.loads(result.metadata_path.read_text())["class_path"] == "__main__.TinyNet"
    evaluation = vidzoo.evaluate(hidden, "1x1", model=modelkit.TinyNet(4, width=6), data_path=str(demo_dir),
                                 progress=False, num_workers=0, device="cpu")
    assert evaluation.videos == 8 and evaluation.backbone == "TinyNet"


def test_the_recipe_of_a_users_module(tmp_path):
    from modelkit import TinyNet
    from vidzoo.models.builder import build_model

    built = build_model(TinyNet(3, width=5), 3)
    assert built.recipe == {"class_path": "modelkit.TinyNet", "init_args": {"num_classes": 3, "width": 5}}
    assert build_model(built.recipe, 3).model.conv.out_channels == 5  # rebuilt from it

    class NoAttributes(torch.nn.Module):
        def __init__(self, n: int):
            super().__init__()
            self.fc = torch.nn.Linear(2, n)

    assert build_model(NoAttributes(2), 2).recipe["init_args"] is None  # its arguments cannot be known
