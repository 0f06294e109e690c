"""vidzoo.models.weights: pytorchvideo-format checkpoints from a file and from a real local HTTP server."""

from __future__ import annotations

import hashlib
import os

import pytest
import torch

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


def test_finetune_to_other_num_classes_keeps_new_head_and_reports_it(slow_r50_zoo):
    path, state = slow_r50_zoo
    model = _resnet(7)
    report = load_pretrained(model, str(path))
    head = ["blocks.5.proj.weight", "blocks.5.proj.bias"]
    assert report.head == head
    assert [k for k, _, _ in report.skipped_shape] == head
    assert dict((k, (a, b)) for k, a, b in report.skipped_shape)["blocks.5.proj.weight"] == ((400, 2048), (7, 2048))
    assert len(report.loaded) == len(state) - 2 and not report.missing and not report.unexpected
    own = model.state_dict()
    assert own["blocks.5.proj.weight"].shape == (7, 2048)
    assert all(torch.equal(own[k], state[k]) for k in report.loaded)
    summary = report.summary()
    assert "\n" not in summary and "loaded 318/320" in summary and "400x2048->7x2048" in summary
    from vidzoo.models.state_dict import head_parameter_names

    assert head_parameter_names(model) == head


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
    report = load_pretrained(model, str(ckpt))
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
