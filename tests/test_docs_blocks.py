"""Every shell and Python block of README.md and docs/*.md is run by a test, or says why not.

A ```bash / ```sh / ```console / ```python block is either
- marked: its first line is `# not run by the tests: WHY` (GPU, SLURM, real datasets, a fresh install);
- run as written by another test, named in RUN_ELSEWHERE (page -> a line of the block -> the test),
  so that nothing runs twice; this test checks that the named test exists and reads that page;
- or run here: shell blocks with bash in a temporary folder, the venv's `vidzoo` first on PATH,
  the `vidzoo run` lines with the test sizes appended (later flags win: frames, crop, batches;
  never an option that has a default to test, such as --data.num_workers); the Python blocks of
  a page in order in one namespace, in a folder where the docs' placeholder paths exist
  (runs/RUN is a tiny trained run, video.mp4 a demo video).
An unmarked block that none of these runs fails the test, so a new block must be run or explained.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```(bash|sh|console|python)\n(.*?)^```", re.S | re.M)
NOT_RUN = re.compile(r"#\s*not run by the tests:\s*(\S.*)")
SHELL = ("bash", "sh", "console")

# page -> [(a line of the block, "tests/FILE.py::TEST" that runs the block as written)]
RUN_ELSEWHERE: dict[str, list[tuple[str, str]]] = {
    "README.md": [
        ("CKPT=$(ls runs/*-kinetics-resnet3d50/checkpoints/best.ckpt | tail -1)",
         "tests/test_readme_workflow.py::test_readme_use_the_trained_model_block"),
    ],
    "docs/api.md": [("", "tests/test_api_docs.py::test_api_md_blocks_run_as_written")],  # every block
    "docs/cli.md": [
        ("vidzoo run --dataset kinetics --backbone resnet3d50 -v --trainer.logger tensorboard",
         "tests/test_run_output.py::test_a_run_hides_third_party_noise_and_verbose_shows_it"),
        ("vidzoo -v list resnet3d50", "tests/test_verbosity.py::test_the_documented_commands_quiet_and_verbose"),
    ],
    "docs/data.md": [
        ("vidzoo prepare --dataset kinetics --dataset.data_path demo --output demo-prepared --dry-run",
         "tests/test_data_docs.py::test_data_docs_prepare_block"),
        ("--format litdata --output demo-litdata", "tests/test_data_docs.py::test_data_docs_litdata_block"),
    ],
    "docs/distributed.md": [("", "tests/test_reliability_docs.py::test_distributed_md_blocks_run_as_written")],
    "docs/reliability.md": [("", "tests/test_reliability_docs.py::test_reliability_md_blocks_run_as_written")],
    "docs/embed.md": [("", "tests/test_embed.py::test_embed_md_blocks_run_as_written")],  # every block, in order
    "docs/export.md": [
        ("import onnxruntime as ort",
         "tests/test_export.py::test_onnx_export_equals_checkpoint_and_serves_without_vidzoo"),
    ],
    "docs/predict.md": [("--timeline", "tests/test_timeline.py::test_docs_timeline_blocks_run_as_written")],
    "docs/serve.md": [("", "tests/test_serve.py::test_the_docs_curl_commands_work_as_written")],
    "docs/streaming.md": [("", "tests/test_streaming.py::test_docs_streaming_commands_run_as_written")],
}

# Test sizes appended to the `vidzoo run` lines run here: 4 frames at 32 px, two batches per epoch.
SIZES = ("--transform.num_frames 4 --transform.crop_size 32 --transform.min_short_side 36 "
         "--transform.max_short_side 40 --transform.eval_short_side 36 "
         "--trainer.limit_train_batches 2 --trainer.limit_val_batches 2")


def blocks(page: Path) -> list[tuple[str, str, int]]:
    """(language, text, line number) of the page's shell and Python blocks."""
    text = page.read_text()
    return [(m.group(1), m.group(2), text[:m.start()].count("\n") + 2) for m in BLOCK.finditer(text)]


def name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def not_run_reason(text: str) -> str | None:
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#!")]
    match = NOT_RUN.match(lines[0].strip()) if lines else None
    return match.group(1) if match else None


def elsewhere(page: Path, text: str) -> str | None:
    for line, test in RUN_ELSEWHERE.get(name(page), []):
        if line in text:
            return test
    return None


def runs_here(page: Path, text: str) -> bool:
    return not_run_reason(text) is None and elsewhere(page, text) is None


def _tests_in(file: Path) -> set[str]:
    return {n.name for n in ast.walk(ast.parse(file.read_text())) if isinstance(n, ast.FunctionDef)}


def test_every_block_is_run_or_says_why():
    seen = []
    for page in PAGES:
        for lang, text, line in blocks(page):
            reason, test = not_run_reason(text), elsewhere(page, text)
            seen.append((name(page), line))
            if reason is not None:
                assert len(reason) > 10, f"{name(page)}:{line}: say why the block is not run"
            if test is not None:
                file, function = test.split("::")
                assert function in _tests_in(ROOT / file), f"{test} (runs {name(page)}:{line}) does not exist"
                assert Path(name(page)).name in (ROOT / file).read_text(), f"{test} does not read {name(page)}"
            if lang == "console" and runs_here(page, text):  # a transcript: its commands need a test that runs them
                pytest.fail(f"{name(page)}:{line}: a console transcript that no test runs; name the test in "
                            f"RUN_ELSEWHERE or mark it `# not run by the tests: WHY`")
    assert len(seen) > 40  # the walker found the pages' blocks
    for page, entries in RUN_ELSEWHERE.items():  # no stale entry
        texts = [t for _, t, _ in blocks(ROOT / page)]
        for line, test in entries:
            assert any(line in t for t in texts), f"RUN_ELSEWHERE: no block of {page} holds {line!r} ({test})"


def _sized(block: str) -> str:
    """The block with its `vidzoo run` commands given the test sizes (continuation lines joined)."""
    out = []
    for line in block.replace("\\\n", " ").splitlines():
        command = line.split("  #")[0].rstrip()
        if re.match(r"^(\S+/)?vidzoo run\b", command.strip()) and "--print-config" not in command:
            line = f"{command} {SIZES}"
        out.append(line)
    return "\n".join(out) + "\n"


SHELL_BLOCKS = [(page, line, text) for page in PAGES for lang, text, line in blocks(page)
                if lang in ("bash", "sh") and runs_here(page, text)]
PYTHON_PAGES = [page for page in PAGES if any(lang == "python" and runs_here(page, text)
                                              for lang, text, _ in blocks(page))]


@pytest.fixture
def workdir(tmp_path, trained_run, demo_dir) -> Path:
    """A folder where the docs' placeholder paths exist: runs/RUN (a tiny trained run), video.mp4."""
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "RUN").symlink_to(trained_run)
    shutil.copy(sorted((demo_dir / "val").glob("*/*.mp4"))[0], tmp_path / "video.mp4")
    return tmp_path


@pytest.mark.parametrize("page, line, block", SHELL_BLOCKS, ids=[f"{name(p)}:{n}" for p, n, _ in SHELL_BLOCKS])
def test_shell_block_runs_as_written(page, line, block, tmp_path):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "VIDZOO_LOAD_PLUGINS": ""}
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", _sized(block)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert "Traceback" not in done.stderr, done.stderr[-4000:]


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=[name(p) for p in PYTHON_PAGES])
def test_python_blocks_run_as_written(page, workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    namespace: dict = {"__name__": "__docs__"}
    for lang, text, line in blocks(page):
        if lang == "python" and runs_here(page, text):
            exec(compile("\n" * (line - 1) + text, str(page), "exec"), namespace)
