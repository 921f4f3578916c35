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

# With no arguments (the whole suite), also fuzz a running server against its OpenAPI
# description with schemathesis (from PyPI, into a virtual environment under .build): no 5xx
# and no response outside the description.
if [ $# -eq 0 ]; then
    venv=.build/schemathesis-venv
    if [ ! -x "$venv/bin/schemathesis" ]; then
        echo "scripts/test.sh: installing schemathesis into $venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q "schemathesis==4.32.5"
    fi
    fuzz_dir=$(mktemp -d /tmp/vigil-fuzz.XXXXXX)
    fuzz_port=$(free_port)
    bin_dir=$(swift build --show-bin-path)
    (cd "$fuzz_dir" && VIGIL_PORT=$fuzz_port VIGIL_ADMIN_TOKEN=fuzz-token VIGIL_LOG_LEVEL=warning \
        exec "$bin_dir/vigil" serve >"$fuzz_dir/serve.log" 2>&1) &
    fuzz_pid=$!
    stop_fuzz() { kill "$fuzz_pid" 2>/dev/null || true; wait "$fuzz_pid" 2>/dev/null || true; rm -rf "$fuzz_dir"; }
    trap 'stop_fuzz; stop_pg' EXIT
    for _ in $(seq 100); do
        python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$fuzz_port/healthz', timeout=1)" \
            >/dev/null 2>&1 && break
        sleep 0.1
    done
    echo "scripts/test.sh: schemathesis against vigil serve on 127.0.0.1:$fuzz_port"
    "$venv/bin/schemathesis" --no-color run "http://127.0.0.1:$fuzz_port/openapi.yaml" \
        -H "Authorization: Bearer fuzz-token" \
        -c not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
        -n 50 --seed 1 --request-timeout 10
fi
