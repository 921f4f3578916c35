#!/usr/bin/env bash
# Runs Vigil's whole test suite. Installs PostgreSQL's server from Debian's packages if it is
# missing (as root), starts a private cluster (initdb in a temporary folder, loopback only, a
# free port) for the PostgreSQL tests, builds the package and its tests, runs every test, and
# stops the cluster afterwards. Arguments are passed to `swift test` (e.g. --filter Queue).
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/private-postgres.sh
trap stop_pg EXIT
start_private_pg scripts/test.sh

export VIGIL_TEST_POSTGRES_URL="$pg_url"
export VIGIL_TEST_PG_BIN="$pg_bin"

swift build --build-tests
swift test --skip-build "$@"

# With no arguments (the whole suite), the checks that need the built binary run too, each a
# script in scripts/checks/ run in name order: fuzzing a running server against its OpenAPI
# description, the deployment files, and the rest. Each gets the binary's folder in $VIGIL_BIN_DIR
# and the private cluster's URL in $VIGIL_TEST_POSTGRES_URL, prints what it checks, and fails
# the run with a non-zero exit.
if [ $# -eq 0 ]; then
    export VIGIL_BIN_DIR
    VIGIL_BIN_DIR=$(swift build --show-bin-path)
    for check in scripts/checks/*.sh; do
        echo "== scripts/test.sh: $check"
        started=$(date +%s)
        bash "$check"
        echo "== $check passed in $(( $(date +%s) - started )) s"
    done
fi
