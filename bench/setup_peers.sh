#!/usr/bin/env bash
# Creates bench/.venv-peers: TensorFlow 2.21 + Keras 3 + keras-hub + TF Model
# Garden (tf_keras) + matplotlib + this checkout's keras_lrm (editable), then
# checks that every worker imports and runs one step.  ~5 min, ~2.7 GB.
# usage: bash bench/setup_peers.sh        (PYTHON=python3.11 to pick one)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
VENV="$HERE/.venv-peers"
"${PYTHON:-python3}" -m venv "$VENV"
PIP=("$VENV/bin/pip" install --disable-pip-version-check -q)
"${PIP[@]}" --upgrade pip
"${PIP[@]}" "tensorflow==2.21.0" "keras==3.15.1" "keras-hub==0.32.0" \
    "tf-keras==2.21.0" gin-config immutabledict scipy matplotlib
# tf-models-official 2.20.0 pins TF 2.20; its TransformerXL runs on 2.21.
"${PIP[@]}" --no-deps "tf-models-official==2.20.0"
"${PIP[@]}" --no-deps -e "$ROOT"
"$VENV/bin/python" "$HERE/check_workers.py"
