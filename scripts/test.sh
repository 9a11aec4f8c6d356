#!/usr/bin/env bash
# Builds xalloc and runs every test: the part suites, API and thread tests,
# linking tests, whole programs under LD_PRELOAD and the benchmark smoke runs.
# Usage: bash scripts/test.sh            (from any directory)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash scripts/install-deps.sh --all

jobs=$(nproc 2>/dev/null || echo 2)
build=${XALLOC_BUILD_DIR:-build-test}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$jobs"
ctest --test-dir "$build" --output-on-failure -j"$jobs"
