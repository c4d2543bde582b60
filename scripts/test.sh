#!/usr/bin/env bash
# README command 2: install dependencies, build, run the whole test suite through ctest, then the fast unit
# tests of the lower layers again under AddressSanitizer + UndefinedBehaviorSanitizer (docs/reliability.md).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
(cd build && ctest --output-on-failure -j"$(nproc)" --timeout 900)
scripts/test-sanitize.sh
