# Sourced by the checks in scripts/checks/ that need a running server.
# start_vigil DIR [NAME=VALUE ...]: runs `vigil serve` from $VIGIL_BIN_DIR (or the debug build) in
# DIR on a free loopback port with the given environment, logging to DIR/serve.log; sets
# vigil_port and vigil_pid, and returns once /healthz answers (at most 10 s). stop_vigil ends it.
. "$(dirname "${BASH_SOURCE[0]}")/private-postgres.sh"   # free_port

start_vigil() {
    local dir=$1
    shift
    local bin_dir=${VIGIL_BIN_DIR:-$(swift build --show-bin-path)}
    vigil_port=$(free_port)
    (cd "$dir" && exec env VIGIL_PORT="$vigil_port" "$@" "$bin_dir/vigil" serve >"$dir/serve.log" 2>&1) &
    vigil_pid=$!
    for _ in $(seq 100); do
        python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$vigil_port/healthz', timeout=1)" \
            >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "vigil serve did not answer /healthz within 10 s; its log:" >&2
    tail -n 20 "$dir/serve.log" >&2
    return 1
}

stop_vigil() {
    kill "$vigil_pid" 2>/dev/null || true
    wait "$vigil_pid" 2>/dev/null || true
}
