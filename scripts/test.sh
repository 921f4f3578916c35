#!/usr/bin/env bash
# Runs Vigil's whole test suite: builds the package and its tests, then runs every test
# (unit, SQLite store and queue, HTTP contract, and the process-level crash test).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests
swift test --skip-build "$@"
