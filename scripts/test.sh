#!/usr/bin/env bash
# README command 2: install dependencies, build, run the whole test suite through ctest, then the fast unit
# tests of the lower layers again under AddressSanitizer + UndefinedBehaviorSanitizer (docs/reliability.md).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
# ONNX Runtime for the export tests (docs/compression.md, "Export"): the npm package into tools/ort, CPU only
# (ENVIRONMENT: a plain install would try to download GPU libraries). Without it those tests report "skipped".
if [[ ! -d tools/ort/node_modules/onnxruntime-node ]]; then
  (cd tools/ort && ONNXRUNTIME_NODE_INSTALL=skip npm ci --silent --no-audit --no-fund) ||
    echo "warning: onnxruntime-node could not be installed; the ORT export tests will be skipped" >&2
fi
(cd build && ctest --output-on-failure -j"$(nproc)" --timeout 900)
scripts/test-sanitize.sh
