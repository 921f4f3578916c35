#!/usr/bin/env bash
# SQLite's own rate for Vigil's order transaction (webhook record, session, two event-log rows,
# three tasks): the same inserts as scripts/bench/order-transaction.sql, run by the sqlite3 shell
# in a tight loop on a database Vigil migrated, with Vigil's settings (WAL, synchronous=FULL).
# Prints the rate with one commit per order, and with BATCH orders per commit (what group commit
# can reach at best).
#   usage: sqlite-order-loop.sh DATABASE [ORDERS] [BATCH]
set -euo pipefail
db="$1" orders="${2:-20000}" batch="${3:-64}"
script=$(mktemp /tmp/vigil-sqlite-loop.XXXXXX)
trap 'rm -f "$script"' EXIT

# Writes the SQL for $orders orders with $2 orders per transaction, ids prefixed with $1.
generate() {
    awk -v n="$orders" -v per="$2" -v p="$1" 'BEGIN {
        print "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
        for (i = 0; i < n; i++) {
            if (i % per == 0) print "BEGIN IMMEDIATE;"
            o = p "-" i
            printf "INSERT INTO webhook_events (provider, event_id, kind, order_id, payload, received_at) VALUES (\x27lightspeed\x27, \x27order.created:%s\x27, \x27order.created\x27, \x27%s\x27, \x27{\"event\":\"order.created\",\"orderTotal\":25.5}\x27, 1800000000000) ON CONFLICT (provider, event_id) DO NOTHING;\n", o, o
            printf "INSERT INTO sessions (order_id, state, refund_status, customer_email, order_total, currency, payment_id, deadline, reminder_at, created_at, updated_at) VALUES (\x27%s\x27, \x27pending\x27, \x27none\x27, \x27c@example.com\x27, \x2725.5\x27, \x27USD\x27, \x27pi_1\x27, 1800259200000, 1800086400000, 1800000000000, 1800000000000);\n", o
            printf "INSERT INTO events (order_id, type, at, data) VALUES (\x27%s\x27, \x27order.received\x27, 1800000000000, \x27{\"orderTotal\":25.5}\x27);\n", o
            printf "INSERT INTO events (order_id, type, at, data) VALUES (\x27%s\x27, \x27session.created\x27, 1800000000000, \x27{\"deadline\":\"x\"}\x27);\n", o
            printf "INSERT INTO tasks (name, queue, kind, order_id, payload, state, scheduled_at, run_at, created_at, updated_at) VALUES (\x27%s:open_session\x27, \x27loop\x27, \x27open_session\x27, \x27%s\x27, \x27{}\x27, \x27scheduled\x27, 1800000000000, 1800000000000, 1800000000000, 1800000000000), (\x27%s:reminder\x27, \x27loop\x27, \x27reminder\x27, \x27%s\x27, \x27{}\x27, \x27scheduled\x27, 1800086400000, 1800086400000, 1800000000000, 1800000000000), (\x27%s:deadline\x27, \x27loop\x27, \x27deadline\x27, \x27%s\x27, \x27{}\x27, \x27scheduled\x27, 1800259200000, 1800259200000, 1800000000000, 1800000000000) ON CONFLICT (name) DO NOTHING;\n", o, o, o, o, o, o
            if (i % per == per - 1 || i == n - 1) print "COMMIT;"
        }
    }' > "$script"
}

run() {
    local label="$1" per="$2" prefix="loop-$RANDOM$RANDOM-$2"
    generate "$prefix" "$per"
    local started=$(date +%s%N)
    sqlite3 "$db" < "$script" >/dev/null
    local ns=$(( $(date +%s%N) - started ))
    awk -v n="$orders" -v ns="$ns" -v label="$label" 'BEGIN { printf "%s: %d orders in %.2f s: %.0f orders/s\n", label, n, ns / 1e9, n / (ns / 1e9) }'
}

run "sqlite3 loop, one commit per order" 1
run "sqlite3 loop, $batch orders per commit" "$batch"
