#!/usr/bin/env bash
# Runs vidzoo's test suite and the plugin packages' own suites. Usage: bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
python -m pytest -p no:cacheprovider -q -rs --durations=15 "$@"
