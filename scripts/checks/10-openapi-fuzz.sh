#!/usr/bin/env bash
# Fuzzes a running `vigil serve` against its own OpenAPI description with schemathesis (from
# PyPI, into a virtual environment under .build): no 5xx and no response outside the description.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/serve-vigil.sh

venv=.build/schemathesis-venv
if [ ! -x "$venv/bin/schemathesis" ]; then
    echo "openapi-fuzz: installing schemathesis into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "schemathesis==4.32.5"
fi
fuzz_dir=$(mktemp -d /tmp/vigil-fuzz.XXXXXX)
trap 'stop_vigil; rm -rf "$fuzz_dir"' EXIT
start_vigil "$fuzz_dir" VIGIL_ADMIN_TOKEN=fuzz-token VIGIL_LOG_LEVEL=warning
echo "openapi-fuzz: schemathesis against vigil serve on 127.0.0.1:$vigil_port"
"$venv/bin/schemathesis" --no-color run "http://127.0.0.1:$vigil_port/openapi.yaml" \
    -H "Authorization: Bearer fuzz-token" \
    -c not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
    -n 50 --seed 1 --request-timeout 10
