#!/usr/bin/env bash
# Builds xalloc and runs every test: the sanitizer pass (part and API suites
# under ASan+UBSan, a 60-second libFuzzer run, the threaded tests and the fuzz
# corpus under TSan), then the full ctest suite of the RelWithDebInfo build:
# part suites, API, threads, fork, bad pointers, out-of-memory, configuration,
# linking, real programs under LD_PRELOAD and the benchmark smoke runs.
# Usage: bash scripts/test.sh            (from any directory)
# Environment: FUZZ_SECONDS (default 60), XALLOC_SKIP_SANITIZE=1 to skip that pass.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash scripts/install-deps.sh --all

if [ "${XALLOC_SKIP_SANITIZE:-0}" != 1 ]; then
    FUZZ_SECONDS=${FUZZ_SECONDS:-60} bash scripts/sanitize.sh
fi

jobs=$(nproc 2>/dev/null || echo 2)
build=${XALLOC_BUILD_DIR:-build-test}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$jobs"
ctest --test-dir "$build" --output-on-failure -j"$jobs"
