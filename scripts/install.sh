#!/usr/bin/env bash
# Installs vidzoo, the plugin packages in plugins/ and the test tools into ./.venv (with uv, see below).
# Idempotent: a second run only checks. Usage: bash scripts/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
. .venv/bin/activate
# One line per step; pip's, uv's and setuptools' own output (their warnings too) goes to the log,
# which is shown when a step fails.
LOG=.venv/install.log
: > "$LOG"
step() {
    local what=$1
    shift
    printf '%s ... ' "$what"
    local rc=0
    "$@" >>"$LOG" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "failed (exit $rc); the end of $LOG:"
        tail -n 40 "$LOG" >&2
        exit "$rc"
    fi
    echo ok
}
pip_install() { python -m pip install --quiet --disable-pip-version-check "$@"; }
# uv installs the rest: the same packages as pip, in parallel and from its cache (a second install on
# a machine takes seconds instead of minutes). uv reads no pip configuration, so pip's indexes, wheel
# folders and constraints (pip.conf, PIP_* variables) are handed to it, and it weighs every index as
# pip does (best version across them).
UV_ARGS=(--index-strategy unsafe-best-match)
while IFS= read -r setting; do
    key=${setting%%=*}; key=${key##*.}
    value=${setting#*=}; value=${value#\'}; value=${value%\'}
    case "$key" in
        index-url) UV_ARGS+=(--index-url "$value") ;;
        extra-index-url) for v in $value; do UV_ARGS+=(--extra-index-url "$v"); done ;;
        find-links) for v in $value; do UV_ARGS+=(--find-links "$v"); done ;;
        constraint) for v in $value; do UV_ARGS+=(--constraint "$v"); done ;;
    esac
done < <(python -m pip config list 2>/dev/null || true)
# --compile-bytecode: as pip does, so that no process compiles (and warns about) a package's sources later
uv_install() { python -m uv pip install --quiet --compile-bytecode "${UV_ARGS[@]}" "$@"; }
step "pip, setuptools, wheel, uv" pip_install --upgrade pip "setuptools>=68" wheel uv
# torch first, pinned: on x86_64 these two come from the machine's local wheel store;
# an unpinned torch would pull a multi-GB CUDA build, and PyPI's torchvision only imports beside its own torch.
if [ "$(uname -m)" = "aarch64" ]; then
    step "torch 2.9.1, torchvision 0.24.1" uv_install torch==2.9.1 torchvision==0.24.1
else
    step "torch 2.14.1, torchvision 0.29.1" uv_install torch==2.14.1 torchvision==0.29.1
fi
step "vidzoo (editable, with the test tools)" uv_install -e ".[test]"
for plugin in plugins/*/; do
    if [ -f "$plugin/pyproject.toml" ]; then
        step "plugin $(basename "$plugin") (editable)" uv_install --no-build-isolation -e "$plugin"
    fi
done
python -c "import vidzoo, torch, torchvision, pytorchvideo, lightning; print('vidzoo', vidzoo.__version__, 'torch', torch.__version__, 'ready in .venv')"
