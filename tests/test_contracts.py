"""A plugin that breaks its contract fails on the first batch, with a message naming the plugin and the contract."""

from __future__ import annotations

import sys

import pytest

from conftest import run_cli
from faultkit import TINY_FK, lines, plugin_env, registered_in_process

BASE = ["run", "--dataset", "faultkit", "--backbone", "faultkit-tiny", *TINY_FK, "--data.batch_size", "4",
        "--data.num_workers", "0", "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2",
        "--trainer.limit_val_batches", "2"]


class _CurrentStderr:
    """Writes to whatever sys.stderr is now (pytest swaps it between test phases)."""

    def write(self, text):
        return sys.stderr.write(text)

    def flush(self):
        sys.stderr.flush()


@pytest.fixture()
def in_process(monkeypatch, tmp_path, capsys):
    """The faultkit plugin registered in this process; the environment a run sets is restored after."""
    import logging

    import lightning.pytorch  # noqa: F401  (its log handlers exist from here on)

    from vidzoo import plugins
    from vidzoo.training.runner import RUN_DIR_ENV

    loggers = [logging.getLogger()] + [lg for lg in logging.Logger.manager.loggerDict.values()
                                       if isinstance(lg, logging.Logger)]
    for logger in loggers:  # Lightning's handlers hold the stderr of their import time (another test's capture)
        for handler in logger.handlers:
            if type(handler) is logging.StreamHandler:  # not pytest's own capture handlers
                monkeypatch.setattr(handler, "stream", _CurrentStderr())

    for var in (RUN_DIR_ENV, "PL_GLOBAL_SEED", "PL_SEED_WORKERS"):
        monkeypatch.setenv(var, "")
        monkeypatch.delenv(var)
    monkeypatch.setenv("VIDZOO_LOAD_PLUGINS", "")
    monkeypatch.setenv("VIDZOO_FAULTKIT_TRACE", str(tmp_path / "trace"))
    with registered_in_process():
        plugins.reset()
        yield tmp_path / "trace"
    plugins.reset()


CASES = [
    ("backbone-wrong-shape", ["--backbone.mode", "wrong_shape"],
     "backbone 'faultkit-tiny' ((registered in Python) ) broke the backbone contract (input (B, C, T, H, W) -> "
     "logits (B, num_classes)): its output has shape (4, 5), expected (4, 4)", 1),
    ("backbone-raises", ["--backbone.mode", "raises"],
     "broke the backbone contract (input (B, C, T, H, W) -> logits (B, num_classes)): it raised RuntimeError "
     "on the first batch, of shape (4, 3, 4, 32, 32)", 1),
    ("backbone-not-a-module", ["--backbone.mode", "not_a_module"],
     "broke the backbone contract (input (B, C, T, H, W) -> logits (B, num_classes)): its factory returned dict, "
     "not a torch.nn.Module", 0),
    ("sample-without-label", ["--dataset.drop_label", "true"],
     "dataset 'faultkit' ((registered in Python) ) broke the dataset contract (each sample a dict with 'video': "
     "float tensor (C, T, H, W) after the transform, 'label': int class index): samples need 'video' and 'label', "
     "got ['clip_start', 'video', 'video_index', 'video_name']", 0),
]


@pytest.mark.parametrize("case,extra,expected,forwards", CASES, ids=[c[0] for c in CASES])
def test_contract_breach_fails_on_the_first_batch(case, extra, expected, forwards, in_process, demo_dir, tmp_path,
                                                  capsys):
    from vidzoo.cli import main

    rc = main([*BASE, "--dataset.data_path", str(demo_dir), "--output", str(tmp_path / "runs"), *extra])
    err = capsys.readouterr().err
    assert rc == 2, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("vidzoo run: error: "), last
    assert expected in last, last
    assert "Traceback" not in err
    assert len(lines(in_process)) == forwards  # the first batch (the first forward, or none at all)


def test_contract_breach_in_an_installed_plugin_names_its_package(demo_dir, tmp_path):
    done = run_cli(*BASE, "--dataset.data_path", str(demo_dir), "--output", str(tmp_path / "runs"),
                   "--backbone.mode", "wrong_shape", env=plugin_env(tmp_path / "site"))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("vidzoo run: error: backbone 'faultkit-tiny' (vidzoo-faultkit 0.1.0) broke the backbone "
                           "contract"), last


def test_the_contract_text_is_written_once():
    """docs/plugins.md, the hookspecs and the conformance kit all state vidzoo.plugins.contracts.CONTRACTS."""
    from pathlib import Path

    from vidzoo import testing
    from vidzoo.plugins import contracts, hookspecs

    docs = (Path(__file__).parents[1] / "docs" / "plugins.md").read_text()
    for kind, text in contracts.CONTRACTS.items():
        assert f"- **{kind}**: {text}." in docs, kind
        assert f'CONTRACTS["{kind}"]' in getattr(hookspecs, f"register_{kind}s").__doc__
    assert testing.CONTRACTS is contracts.CONTRACTS
    assert str(testing.ConformanceError("dataset", "x", "bad")).endswith(contracts.CONTRACTS["dataset"])
