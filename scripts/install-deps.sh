#!/usr/bin/env bash
# Installs what building and testing snnconv needs, from Debian's repositories (run as root).
# Usage: scripts/install-deps.sh [--python]   (--python adds torch & co., only needed to retrain examples)
set -euo pipefail
packages=(cmake ninja-build g++ ccache libeigen3-dev libtbb-dev libhdf5-dev libonnx-dev libprotobuf-dev protobuf-compiler
          libcli11-dev doctest-dev libfmt-dev nlohmann-json3-dev zlib1g-dev libopenmpi-dev openmpi-bin
          dataset-fashion-mnist python3 python3-numpy python3-h5py
          python3-matplotlib python3-jsonschema chromium python3-dev pybind11-dev python3-pybind11 python3-pytest
          python3-onnx)
# ccache: rebuilds of any clone reuse what was compiled before (scripts/compiler-cache.sh).
# nodejs, npm: ONNX Runtime (the npm package onnxruntime-node, installed into tools/ort by scripts/test.sh), the
# reference runtime the export tests compare against. python3-matplotlib: the report's PNG plots (tools/plot_report.py); python3-jsonschema: report.json is validated
# against tools/report.schema.json; chromium: the test that renders report.html headless. libopenmpi-dev,
# openmpi-bin: data-parallel runs under mpirun (docs/scaling.md; the build without them still works). python3-dev,
# pybind11-dev, python3-pybind11: the Python module (python/, docs/python.md); python3-pytest: its tests (tests/python).
# python3-onnx: the CLI tests that edit a bundled model into a malformed or user-shaped one (tests/tools/byom_cli.sh).
if [[ "${1:-}" == "--python" ]]; then
  packages+=(python3-torch python3-torchvision python3-onnx python3-sklearn python3-matplotlib libopenblas0-openmp)
fi
# Node.js may already come from elsewhere (e.g. NodeSource's nodejs, which bundles npm and conflicts with
# Debian's npm package): only a machine without npm gets Debian's.
command -v npm >/dev/null || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "missing packages: ${missing[*]} — run as root (or install them) first" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
