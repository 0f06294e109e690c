#!/usr/bin/env bash
# Installs vidzoo, its three plugin packages and the test tools into ./.venv.
# Idempotent: a second run only checks. Usage: bash scripts/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install --quiet --upgrade pip "setuptools>=68" wheel
# torch first, pinned: on x86_64 these two come from the machine's local wheel store;
# an unpinned torch would pull a multi-GB CUDA build, and PyPI's torchvision only imports beside its own torch.
if [ "$(uname -m)" = "aarch64" ]; then
    python -m pip install --quiet torch==2.9.1 torchvision==0.24.1
else
    python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
fi
python -m pip install --quiet -e ".[test]"
for plugin in plugins/*/; do
    [ -f "$plugin/pyproject.toml" ] && python -m pip install --quiet --no-build-isolation -e "$plugin"
done
python -c "import vidzoo, torch, torchvision, pytorchvideo, lightning; print('vidzoo', vidzoo.__version__, 'torch', torch.__version__, 'ready in .venv')"
