#!/usr/bin/env bash
# Runs vidzoo's test suite and the plugin packages' own suites. Usage: bash scripts/test.sh [pytest args]
# Two pytest-xdist workers: most tests wait on a subprocess that uses one core (imports, decoding, a tiny
# model), so two side by side fill a 2-core machine. Tests sharing an expensive fixture stay on one worker
# (tests/conftest.py). `-n 0` runs one test at a time; `-m "not slow"` leaves out the real-size runs.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
# torch's OpenMP threads spin between parallel regions by default: with two tests' processes on 2 cores
# each spins on the core the other needs. Sleeping instead took two concurrent tiny demo runs from 63 s
# to 42 s (48 to 27 CPU-s each) and left a run alone unchanged (27 s). The tests' behaviour is the same.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
python -m pytest -p no:cacheprovider -q -rs --durations=15 -n 2 --dist loadgroup "$@"
