#!/usr/bin/env bash
# Idempotent libtorch setup: quiet when already done. Arguments: python torch_version venv cargo_config.
set -euo pipefail
PYTHON="$1"; TORCH_VERSION="$2"; VENV="$3"; CARGO_CONFIG="$4"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

if [ -n "${LIBTORCH:-}" ]; then
    # The user's own libtorch: torch-sys reads LIBTORCH directly; nothing to install.
    if [ ! -d "$LIBTORCH/lib" ]; then
        echo "error: LIBTORCH=$LIBTORCH has no lib/ folder; point it at an unpacked libtorch 2.11.0" >&2
        exit 1
    fi
    exit 0
fi

if ! "$VENV/bin/python" -c "import torch, numpy, safetensors, sys; sys.exit(0 if torch.__version__.split('+')[0] == '$TORCH_VERSION' else 1)" 2>/dev/null; then
    echo "setup: installing torch==$TORCH_VERSION (libtorch for tch) into $VENV/ ..."
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "torch==$TORCH_VERSION" numpy safetensors
fi

TORCH_DIR="$("$VENV/bin/python" -c 'import torch, os; print(os.path.dirname(torch.__file__))' 2>/dev/null)"
WANT="# written by make setup (scripts/setup.sh); delete it to use another libtorch
[env]
LIBTORCH = \"$TORCH_DIR\"
"
if [ ! -f "$CARGO_CONFIG" ] || [ "$(cat "$CARGO_CONFIG")" != "$(printf '%s' "$WANT")" ]; then
    mkdir -p "$(dirname "$CARGO_CONFIG")"
    printf '%s' "$WANT" > "$CARGO_CONFIG"
    echo "setup: wrote $CARGO_CONFIG (LIBTORCH=$TORCH_DIR)"
fi
