#!/usr/bin/env bash
# Fuzzes the webhook endpoints of a running `vigil serve` (scripts/webhook_fuzz.py, Python's
# standard library only): correctly signed random and mutated bodies, and malformed HTTP on raw
# sockets. Fails on any 5xx, on a connection neither answered nor closed, on /healthz not
# answering 200, or when the process has died. About a minute.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/serve-vigil.sh

fuzz_dir=$(mktemp -d /tmp/vigil-webhook-fuzz.XXXXXX)
trap 'stop_vigil; rm -rf "$fuzz_dir"' EXIT
# Short header and body timeouts, so requests the fuzzer leaves unfinished end quickly; no limit
# on failed signatures, so mutated bodies do not turn the rest of the run into 429s.
start_vigil "$fuzz_dir" VIGIL_DATABASE_URL="sqlite://$fuzz_dir/vigil.sqlite" \
    VIGIL_LIGHTSPEED_WEBHOOK_SECRET=fuzz-ls VIGIL_VERIFF_SHARED_SECRET=fuzz-vf \
    VIGIL_HTTP_HEADER_TIMEOUT=1s VIGIL_HTTP_BODY_TIMEOUT=1s VIGIL_AUTH_FAILURE_LIMIT=0 VIGIL_LOG_LEVEL=warning
echo "webhook-fuzz: signed and malformed webhooks against vigil serve on 127.0.0.1:$vigil_port"
status=0
python3 scripts/webhook_fuzz.py --port "$vigil_port" --lightspeed-secret fuzz-ls --veriff-secret fuzz-vf \
    --seconds "${VIGIL_WEBHOOK_FUZZ_SECONDS:-45}" --seed "${VIGIL_WEBHOOK_FUZZ_SEED:-1}" || status=$?
if ! kill -0 "$vigil_pid" 2>/dev/null; then
    echo "webhook-fuzz: FAIL vigil serve died; its log:" >&2
    tail -n 40 "$fuzz_dir/serve.log" >&2
    exit 1
fi
if [ "$status" -ne 0 ]; then
    echo "webhook-fuzz: the server's log (last 40 lines):" >&2
    tail -n 40 "$fuzz_dir/serve.log" >&2
fi
exit "$status"
