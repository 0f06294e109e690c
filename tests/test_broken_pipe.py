"""`vidzoo ... | head`: a reader that leaves early gets no traceback from vidzoo."""

import subprocess
import sys


def test_output_into_a_closed_pipe_prints_no_traceback():
    # `--help` then close the pipe before reading the rest, as `vidzoo --help | head -1` does.
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.argv = ['vidzoo', '--help']; "
                             "from vidzoo.cli import entry; entry()"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before vidzoo writes
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Traceback" not in err, err
