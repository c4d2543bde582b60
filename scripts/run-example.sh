#!/usr/bin/env bash
# README command 1: install dependencies, build, and run the main job on the bundled example model: the whole
# pipeline and an energy report folder (report.html, report.md, report.json, PNG plots) in example_report/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
build/tools/snnconv examples/fashion_vit/fashion_vit_relu.onnx --out example_report
