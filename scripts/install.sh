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
# pip here warns about every absent local index folder; keep real messages only.
pip_install() {
    python -m pip install --quiet "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
    return "${PIPESTATUS[0]}"
}
pip_install --upgrade pip "setuptools>=68" wheel
# torch first, pinned: on x86_64 these two come from the machine's local wheel store;
# an unpinned torch would pull a multi-GB CUDA build, and PyPI's torchvision only imports beside its own torch.
if [ "$(uname -m)" = "aarch64" ]; then
    pip_install torch==2.9.1 torchvision==0.24.1
else
    pip_install torch==2.14.1 torchvision==0.29.1
fi
pip_install -e ".[test]"
for plugin in plugins/*/; do
    if [ -f "$plugin/pyproject.toml" ]; then pip_install --no-build-isolation -e "$plugin"; fi
done
python -c "import vidzoo, torch, torchvision, pytorchvideo, lightning; print('vidzoo', vidzoo.__version__, 'torch', torch.__version__, 'ready in .venv')"
