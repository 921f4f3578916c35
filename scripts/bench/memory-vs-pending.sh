#!/usr/bin/env bash
# Resident memory of an idle `vigil serve` (release build) against how many future timers are
# pending: 0, then 1 million, then 3 million, on SQLite and on a private PostgreSQL cluster.
# Memory must not grow with pending timers: nothing per timer is held in memory.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/private-postgres.sh
bin=$(swift build -c release --show-bin-path)
work=$(mktemp -d /tmp/vigil-memory.XXXXXX)
start_private_pg scripts/bench/memory-vs-pending.sh >/dev/null
trap 'stop_pg; rm -rf "$work"' EXIT
as_pg "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U vigil timers

# Prints the idle resident memory of vigil serve on database $1, and after five /metrics scrapes.
rss() {
    local port; port=$(free_port)
    VIGIL_PORT=$port VIGIL_DATABASE_URL="$1" VIGIL_LIGHTSPEED_WEBHOOK_SECRET=bench-secret VIGIL_LOG_LEVEL=warning \
        "$bin/vigil" serve >/dev/null 2>&1 &
    local pid=$!
    until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.05; done
    sleep 2
    local idle; idle=$(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$pid/status)
    for _ in 1 2 3 4 5; do curl -sf "http://127.0.0.1:$port/metrics" >/dev/null; done
    echo "idle $idle, after 5 scrapes $(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$pid/status)"
    kill $pid; wait $pid 2>/dev/null || true
}

# Earlier timers are renamed first, so each round's names are new.
rename="UPDATE tasks SET name = name || '-' || id WHERE name LIKE 'pending-%'"
total=0
for add in 0 1000000 2000000; do
    if [ "$add" -gt 0 ]; then
        sqlite3 "$work/timers.sqlite" ".parameter set :n $add" "$rename" ".read scripts/bench/pending-timers.sqlite.sql"
        as_pg "$pg_bin/psql" -q -h 127.0.0.1 -p "$pg_port" -U vigil -d timers -v ON_ERROR_STOP=1 -c "$rename" \
            -v n="$add" -f scripts/bench/pending-timers.postgres.sql
    fi
    total=$((total + add))
    echo "$total pending: SQLite $(rss "sqlite://$work/timers.sqlite"); PostgreSQL $(rss "postgres://vigil@127.0.0.1:$pg_port/timers?sslmode=disable")"
done
