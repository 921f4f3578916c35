#!/usr/bin/env bash
# Vigil's benchmarks (docs/BENCHMARKS.md): a release build, then on SQLite and on a private
# PostgreSQL cluster: start-up time to a 200 from /healthz, idle resident memory, webhook ingest
# over HTTP from a separate load-generator process, the same order transaction committed
# straight through the store, pgbench running that transaction as SQL (PostgreSQL's own rate),
# task dispatch and timer lag. Prints figures only.
#   BENCH_REQUESTS (20000), BENCH_CONCURRENCY (64), BENCH_STORE_COUNT (5000),
#   BENCH_PENDING (1000000 future timers for the scale run; 0 skips it)
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${BENCH_REQUESTS:-20000}
concurrency=${BENCH_CONCURRENCY:-64}
store_count=${BENCH_STORE_COUNT:-5000}
pending=${BENCH_PENDING:-1000000}

. scripts/private-postgres.sh
work=$(mktemp -d /tmp/vigil-bench.XXXXXX)
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && { kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; }
    stop_pg
    rm -rf "$work"
}
trap cleanup EXIT

swift build -c release 2>&1 | grep -E "error|Compiling|Build complete" | tail -1
bin=$(swift build -c release --show-bin-path)
echo "machine: $(nproc) cores, $(uname -sr); $(swift --version 2>/dev/null | head -1)"

# Starts vigil serve with the given database URL; prints start-up time and idle memory.
serve() {
    local database="$1" port
    port=$(free_port)
    local started=$(date +%s%N)
    (cd "$work" && VIGIL_PORT=$port VIGIL_DATABASE_URL="$database" VIGIL_LIGHTSPEED_WEBHOOK_SECRET=bench-secret \
        VIGIL_LOG_LEVEL=warning exec "$bin/vigil" serve >>"$work/serve.log" 2>&1) &
    server_pid=$!
    until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do sleep 0.005; done
    local ready=$(date +%s%N)
    sleep 2
    echo "  start-up to a 200 from /healthz: $(( (ready - started) / 1000000 )) ms (includes migrating a fresh schema)"
    echo "  idle resident memory: $(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$server_pid/status)"
    server_url="http://127.0.0.1:$port"
}

stop_server() {
    echo "  resident memory after the run: $(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$server_pid/status)"
    kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
}

echo "== SQLite"
serve "sqlite://$work/serve.sqlite"
echo -n "  "; "$bin/vigil-bench" ingest --url "$server_url" --requests "$requests" --concurrency "$concurrency" | paste -sd ';' | sed 's/;/\n  /'
stop_server
echo -n "  "; "$bin/vigil-bench" store-ingest --database "sqlite://$work/store.sqlite" --count "$store_count"
dispatch() {
    local database="$1"
    echo -n "  "; "$bin/vigil-bench" dispatch --database "$database" --tasks 10000 | paste -sd ';' | sed 's/;/\n  /'
    echo -n "  "; "$bin/vigil-bench" dispatch --database "$database" --tasks 10000 --instances 2 | paste -sd ';' | sed 's/;/\n  /'
    echo -n "  "; "$bin/vigil-bench" dispatch --database "$database" --trickle 100 --seconds 10 | paste -sd ';' | sed 's/;/\n  /'
}
dispatch "sqlite://$work/dispatch.sqlite"
scale() {
    [ "$pending" -gt 0 ] || return 0
    "$bin/vigil-bench" scale --database "$1" --pending "$pending" --concurrency "$2" | sed 's/^/  /'
}
scale "sqlite://$work/scale.sqlite" 1

echo "== PostgreSQL"
start_private_pg scripts/bench.sh >/dev/null
as_pg "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U vigil serve
as_pg "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U vigil store
as_pg "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U vigil dispatch
as_pg "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U vigil scale
serve "postgres://vigil@127.0.0.1:$pg_port/serve?sslmode=disable"
echo -n "  "; "$bin/vigil-bench" ingest --url "$server_url" --requests "$requests" --concurrency "$concurrency" | paste -sd ';' | sed 's/;/\n  /'
stop_server
echo -n "  "; "$bin/vigil-bench" store-ingest --database "postgres://vigil@127.0.0.1:$pg_port/store" --count "$store_count" --concurrency "$concurrency"
dispatch "postgres://vigil@127.0.0.1:$pg_port/dispatch"
scale "postgres://vigil@127.0.0.1:$pg_port/scale" 16
# PostgreSQL's own rate for the same work: the order transaction as SQL, from pgbench, on the
# schema Vigil migrated into the store database.
echo "  pgbench, the order transaction as SQL at $concurrency clients:"
"$pg_bin/pgbench" -h 127.0.0.1 -p "$pg_port" -U vigil -n -f scripts/bench/order-transaction.sql -c "$concurrency" -j 2 \
    -t $(( store_count / concurrency + 1 )) store 2>&1 | grep -E "^tps|latency average" | sed 's/^/    /'
