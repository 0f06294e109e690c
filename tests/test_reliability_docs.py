"""docs/reliability.md and docs/distributed.md: their command blocks run as written, and every test their
tables name exists.

A bash block whose comment line says `# not run by the tests: WHY` is not run (it needs GPUs or a SLURM
cluster); every other block runs on the demo sample, with its data paths pointed at it, torchrun's port
at a free one, and the options that make a run tiny added to each `vidzoo run`."""

from __future__ import annotations

import ast
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, TINY

NOT_RUN = "# not run by the tests:"
DATA_PATHS = ("/data/k400", "/shared/k400")


def bash_blocks(doc: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", (ROOT / "docs" / doc).read_text(), re.S)


def not_run_reason(block: str) -> str | None:
    for line in block.splitlines():
        if line.strip().startswith(NOT_RUN):
            return line.split(NOT_RUN, 1)[1].strip()
    return None


def runnable(block: str, demo_dir: Path, port: int) -> str:
    """The block with continuations joined, paths made real and TINY added to each `vidzoo run`."""
    lines = []
    for line in block.replace("\\\n", " ").splitlines():
        code, hash_, comment = line.partition("  #")
        if "vidzoo run" in code:
            code = code.rstrip()
            background = code.endswith("&")
            code = code.rstrip("&").rstrip() + " " + " ".join(TINY) + (" &" if background else "")
        line = code + (f"  #{comment}" if hash_ else "")
        for path in DATA_PATHS:
            line = line.replace(path, str(demo_dir))
        lines.append(line.replace("127.0.0.1:29500", f"127.0.0.1:{port}"))
    return "\n".join(lines)


def run_block(script: str, cwd: Path) -> subprocess.CompletedProcess:
    bin_dir = Path(sys.executable).parent  # the venv's `vidzoo` and `torchrun`
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "VIDZOO_LOAD_PLUGINS": "",
           "PYTHONUNBUFFERED": "1"}
    return subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_blocks_not_run_say_why_and_need_gpus_or_slurm():
    skipped = {doc: [not_run_reason(b) for b in bash_blocks(doc) if not_run_reason(b) is not None]
               for doc in ("reliability.md", "distributed.md")}
    assert skipped == {"reliability.md": [], "distributed.md": [
        "needs 8 GPUs", "needs 4 machines with 8 GPUs each", "needs a SLURM cluster (sbatch)",
        "needs a SLURM cluster (sbatch)"]}
    for block in bash_blocks("distributed.md"):  # only what this machine cannot do is left out
        if not_run_reason(block) is not None:
            assert "--trainer.accelerator gpu" in block or "#SBATCH" in block, block


def test_reliability_md_blocks_run_as_written(demo_dir, tmp_path):
    (block,) = [b for b in bash_blocks("reliability.md") if not_run_reason(b) is None]
    result = run_block(runnable(block, demo_dir, _port()), tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    (run_dir,) = list((tmp_path / "runs").iterdir())
    assert f"resuming {Path('runs') / run_dir.name} from " in result.stderr, result.stderr[-3000:]
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()


def test_distributed_md_blocks_run_as_written(demo_dir, tmp_path):
    blocks = [b for b in bash_blocks("distributed.md") if not_run_reason(b) is None]
    assert len(blocks) == 2 and "--trainer.devices 2" in blocks[0] and "torchrun" in blocks[1]
    one_machine, two_nodes = tmp_path / "one-machine", tmp_path / "two-nodes"
    for block, cwd in zip(blocks, (one_machine, two_nodes)):
        cwd.mkdir()
        result = run_block(runnable(block, demo_dir, _port()), cwd)
        assert result.returncode == 0, result.stderr[-4000:]
        assert result.stdout.count("finished 1 epochs: val/top1") == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert len(list(one_machine.glob("runs/*/checkpoints/last.ckpt"))) == 1
    assert (two_nodes / "runs" / "torchrun-two-nodes-kinetics-resnet3d50" / "checkpoints" / "last.ckpt").is_file()


def _tests_in(file: str) -> set[str]:
    tree = ast.parse((ROOT / "tests" / file).read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_every_test_the_reliability_tables_name_exists():
    text = (ROOT / "docs" / "reliability.md").read_text()
    tables = re.findall(r"^\|[^\n]*\| Test \|\n\|[-| ]+\|\n((?:\|[^\n]*\n)+)", text, re.M)
    assert len(tables) == 2, "the guarantees table and the faults table"
    for i, table in enumerate(tables):
        rows = table.strip().splitlines()
        assert len(rows) >= 10
        for row in rows:
            cell = row.strip().strip("|").split(" | ")[-1]
            names, last_file = [], None
            for file, name in re.findall(r"(test_\w+\.py)?::(test_\w+)", cell):
                last_file = file or last_file
                assert last_file, f"{name} names no file: {row}"
                names.append((last_file, name))
            for file in re.findall(r"(test_\w+\.py)", cell):
                assert (ROOT / "tests" / file).is_file(), f"{file} does not exist: {row}"
            if i == 1:  # the faults table: every row names file::test
                assert names and all(re.search(rf"`{f}::{n}`", cell) for f, n in names), row
            else:
                assert names or "same test" in cell or re.search(r"`test_\w+\.py`", cell), row
            for file, name in names:
                assert name in _tests_in(file), f"{file}::{name} (named in docs/reliability.md) does not exist"
