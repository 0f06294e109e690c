"""Pretrained weights (vidzoo.models.hub, state_dict and the model layer's builder): pytorchvideo-format
checkpoints from a file and from a real local HTTP server."""

from __future__ import annotations

import hashlib
import os

import pytest
import torch

import vidzoo

from vidzoo.errors import VidzooError
from vidzoo.models.hub import cache_dir, cached_path
from vidzoo.models.state_dict import load_pretrained


def _sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _resnet(num_classes):
    from vidzoo.default_plugins.resnet3d import resnet3d50

    return resnet3d50(num_classes=num_classes)


def test_pytorchvideo_file_same_classes_loads_everything(slow_r50_zoo):
    path, state = slow_r50_zoo
    model = _resnet(400)
    report = load_pretrained(model, str(path))
    assert report.total == len(state) == len(report.loaded)
    assert not report.missing and not report.unexpected and not report.skipped_shape and not report.head
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert "loaded 320/320 tensors" in report.summary()
    assert len(load_pretrained(_resnet(400), path.as_uri()).loaded) == 320  # file:// URLs too


def test_finetune_to_other_num_classes_keeps_new_head_and_reports_it(slow_r50_zoo, capfd):
    from vidzoo.models.builder import build_model

    path, state = slow_r50_zoo
    built = build_model({"name": "resnet3d50", "options": {"pretrained": str(path)}}, 7)  # the model layer
    model, report = built.model, built.report
    head = ["blocks.5.proj.weight", "blocks.5.proj.bias"]
    assert capfd.readouterr().err.strip() == report.summary()  # its one line, printed once
    assert built.recipe == {"name": "resnet3d50", "options": {}}  # the weights are not part of the recipe
    assert report.head == head
    assert [k for k, _, _ in report.skipped_shape] == head
    assert dict((k, (a, b)) for k, a, b in report.skipped_shape)["blocks.5.proj.weight"] == ((400, 2048), (7, 2048))
    assert len(report.loaded) == len(state) - 2 and not report.missing and not report.unexpected
    own = model.state_dict()
    assert own["blocks.5.proj.weight"].shape == (7, 2048)
    assert all(torch.equal(own[k], state[k]) for k in report.loaded)
    summary = report.summary()
    assert "\n" not in summary and "loaded 318/320" in summary and "400x2048->7x2048" in summary
    assert built.classifier == head  # declared by resnet3d50's spec, the same with or without weights
    assert build_model("resnet3d50", 7).classifier == head
    # without a declared classifier nothing is called the head: the mismatch is reported as such
    plain = load_pretrained(_resnet(7), str(path))
    assert not plain.head and [k for k, _, _ in plain.skipped_shape] == head


def test_download_is_cached_verified_and_refetched_when_corrupt(slow_r50_zoo, zoo_server):
    path, state = slow_r50_zoo
    base, hits, _ = zoo_server
    url = f"{base}/{path.name}"
    sha = _sha(path)
    hits.clear()
    model = _resnet(4)
    report = load_pretrained(model, url, sha256=sha)
    cached = cached_path(url)
    assert cached.parent == cache_dir() and str(cache_dir()).startswith(os.environ["VIDZOO_CACHE"])
    assert cached.is_file() and _sha(cached) == sha and len(hits) == 1
    assert report.path == str(cached) and report.sha256 == sha and len(report.loaded) == 318
    assert not [p for p in cache_dir().iterdir() if p.name.startswith(".")]  # no temporary left

    load_pretrained(_resnet(4), url, sha256=sha)  # cached: no new request, hash re-checked
    load_pretrained(_resnet(4), url)  # no hash given: checked against the one recorded at download
    assert len(hits) == 1

    with open(cached, "r+b") as f:  # corrupt the cached copy: it is detected and fetched again
        f.seek(1000)
        f.write(b"\x00garbage\x00")
    load_pretrained(_resnet(4), url, sha256=sha)
    assert len(hits) == 2 and _sha(cached) == sha

    # Two processes at once (as DDP ranks start): one download, the other waits and uses it.
    import subprocess
    import sys

    cached.unlink()
    code = ("import sys; from vidzoo.models.hub import download; "
            "print(download(sys.argv[1], sys.argv[2], progress=False))")
    procs = [subprocess.Popen([sys.executable, "-c", code, url, sha], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0] and outs == [str(cached)] * 2
    assert len(hits) == 3 and _sha(cached) == sha


def test_wrong_hash_is_refused_and_nothing_is_kept(slow_r50_zoo, zoo_server):
    path, _ = slow_r50_zoo
    base, hits, folder = zoo_server
    other = folder / "other.pyth"
    torch.save({"model_state": {"x": torch.zeros(2)}}, other)
    url = f"{base}/other.pyth"
    with pytest.raises(VidzooError, match="expected " + "a" * 64):
        load_pretrained(torch.nn.Linear(2, 2), url, sha256="a" * 64)
    assert not cached_path(url).exists()
    assert not [p for p in cache_dir().iterdir() if p.name.startswith(".")]
    with pytest.raises(VidzooError, match="sha256 .* expected"):  # a local file is checked too
        load_pretrained(_resnet(4), str(path), sha256="b" * 64)
    with pytest.raises(VidzooError, match="64 hex digits"):
        load_pretrained(_resnet(4), str(path), sha256="xyz")


def test_default_means_the_backbones_url(zoo_server, slow_r50_zoo):
    base, _, _ = zoo_server
    report = load_pretrained(_resnet(4), "default", default_url=f"{base}/{slow_r50_zoo[0].name}")
    assert len(report.loaded) == 318
    with pytest.raises(VidzooError, match="no default pretrained weights"):
        load_pretrained(_resnet(4), "default")
    with pytest.raises(VidzooError, match="cannot download"):
        load_pretrained(_resnet(4), f"{base}/missing.pyth")


def test_pickled_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pth"
    torch.save({"model_state": Payload()}, evil)
    with pytest.raises(VidzooError) as info:
        load_pretrained(torch.nn.Linear(2, 2), str(evil))
    message = str(info.value)
    assert "\n" not in message and "refuses" in message and "system" in message
    assert not marker.exists()


def test_lightning_checkpoint_and_bad_inputs(trained_run, tmp_path):
    # vidzoo's own best.ckpt: {"state_dict": {"model.<key>": ...}} -> prefix stripped; start a new task from it.
    ckpt = trained_run / "checkpoints" / "best.ckpt"
    model = _resnet(9)
    report = load_pretrained(model, str(ckpt), classifier=("blocks.5.proj",))
    assert len(report.loaded) == 318 and report.head == ["blocks.5.proj.weight", "blocks.5.proj.bias"]
    trained = torch.load(ckpt, weights_only=True)["state_dict"]
    assert torch.equal(model.state_dict()["blocks.0.conv.weight"], trained["model.blocks.0.conv.weight"])

    with pytest.raises(VidzooError, match="do not exist"):
        load_pretrained(model, str(tmp_path / "nope.pth"))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(VidzooError, match="not a readable torch checkpoint"):
        load_pretrained(model, str(junk))
    other = tmp_path / "other.pth"
    torch.save(torch.nn.Linear(3, 3).state_dict(), other)
    with pytest.raises(VidzooError, match="fit this model"):
        load_pretrained(model, str(other))


class _TinyZoo:
    """A backbone whose spec names weights variants on the local server, one with the sha256 it records."""

    def __init__(self, base: str, sha: str, loaded: list):
        self.base, self.sha, self.loaded = base, sha, loaded

    @vidzoo.hookimpl
    def register_backbones(self, register):
        def tiny(num_classes: int = 3):
            return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, num_classes))

        def hook(model, source, sha256, options):  # a plugin's own source ("zoo:NAME"); None: vidzoo's loader
            if not source.startswith("zoo:"):
                return None
            self.loaded.append((source, sha256, options))
            from vidzoo.models.state_dict import load_state_dict_into

            return load_state_dict_into(model, {"0.weight": torch.ones(8, 4)}, source=source)

        register("tiny-zoo", tiny, "test", spec=vidzoo.ModelSpec(
            classifier=("1",), load_weights=hook, default_weights="GOOD",
            weights={"GOOD": vidzoo.Weights(f"{self.base}/tiny.pth", sha256=self.sha),
                     "BAD": vidzoo.Weights(f"{self.base}/tiny.pth", sha256="c" * 64)}))


def test_the_model_layer_loads_spec_weights_variants_with_their_sha256_and_plugin_hooks(zoo_server, capfd):
    from vidzoo import plugins
    from vidzoo.models.builder import build_model, create_model

    base, _, folder = zoo_server
    torch.manual_seed(0)
    source = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 3))
    torch.save(source.state_dict(), folder / "tiny.pth")
    calls: list = []
    with plugins.registered(_TinyZoo(base, _sha(folder / "tiny.pth"), calls), "tiny-zoo"):
        built = build_model({"name": "tiny-zoo", "options": {"pretrained": "default"}}, 5)
        assert built.classifier == ["1.weight", "1.bias"] and built.recipe == {"name": "tiny-zoo", "options": {}}
        assert built.report.loaded == ["0.weight", "0.bias"] and built.report.head == ["1.weight", "1.bias"]
        assert torch.equal(built.model[0].weight, source[0].weight)
        assert f"pretrained weights from {base}/tiny.pth: loaded 2/4 tensors; new head kept for 2" in capfd.readouterr().err
        same = create_model("tiny-zoo", pretrained="GOOD")  # a variant by name, the factory's num_classes
        assert torch.equal(same[1].weight, source[1].weight)
        with pytest.raises(VidzooError, match="expected " + "c" * 64):  # the spec's sha256 is checked
            create_model("tiny-zoo", 3, pretrained="BAD")
        with pytest.raises(VidzooError, match="expected " + "d" * 64):  # and the user's wins
            create_model("tiny-zoo", 3, pretrained="GOOD", sha256="d" * 64)
        hooked = create_model("tiny-zoo", 3, pretrained="zoo:mine")  # the spec's loader takes its own sources
        assert calls == [("zoo:mine", None, {})] and torch.equal(hooked[0].weight, torch.ones(8, 4))
        with pytest.raises(VidzooError, match="give --backbone.pretrained too"):
            create_model("tiny-zoo", 3, sha256="d" * 64)
        with pytest.raises(VidzooError, match="has no option"):
            create_model("tiny-zoo", 3, pretrained_weights="x")
