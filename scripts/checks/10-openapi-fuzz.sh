#!/usr/bin/env bash
# Fuzzes a running `vigil serve` against its own OpenAPI description with schemathesis (from
# PyPI, into a virtual environment under .build): no 5xx and no response outside the description.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/private-postgres.sh   # free_port

venv=.build/schemathesis-venv
if [ ! -x "$venv/bin/schemathesis" ]; then
    echo "openapi-fuzz: installing schemathesis into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "schemathesis==4.32.5"
fi
bin_dir=${VIGIL_BIN_DIR:-$(swift build --show-bin-path)}
fuzz_dir=$(mktemp -d /tmp/vigil-fuzz.XXXXXX)
fuzz_port=$(free_port)
(cd "$fuzz_dir" && VIGIL_PORT=$fuzz_port VIGIL_ADMIN_TOKEN=fuzz-token VIGIL_LOG_LEVEL=warning \
    exec "$bin_dir/vigil" serve >"$fuzz_dir/serve.log" 2>&1) &
fuzz_pid=$!
trap 'kill "$fuzz_pid" 2>/dev/null || true; wait "$fuzz_pid" 2>/dev/null || true; rm -rf "$fuzz_dir"' EXIT
for _ in $(seq 100); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$fuzz_port/healthz', timeout=1)" \
        >/dev/null 2>&1 && break
    sleep 0.1
done
echo "openapi-fuzz: schemathesis against vigil serve on 127.0.0.1:$fuzz_port"
"$venv/bin/schemathesis" --no-color run "http://127.0.0.1:$fuzz_port/openapi.yaml" \
    -H "Authorization: Bearer fuzz-token" \
    -c not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
    -n 50 --seed 1 --request-timeout 10
