#!/usr/bin/env bash
# README command 1: install dependencies, build, and run the main job on the bundled example model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
build/tools/snnconv inspect examples/fashion_vit/fashion_vit_relu.onnx
