#!/usr/bin/env bash
# The chaos harness of issue 16: Vigil in live mode against local fake providers (Veriff,
# SendGrid, Stripe, Lightspeed) that fail a share of calls, a bounded load of signed orders and
# decisions, kill -9s and restarts of Vigil, a PostgreSQL restart, clock steps (libfaketime);
# then a checker proves from the database and the fakes' records that nothing was lost or done
# twice beyond the crash window, and prints a summary table. Exit 0 only with zero violations.
#
#   scripts/chaos.sh [--backend sqlite|postgres|both] [--minutes N] [--orders N]
#                    [--instances N] [--seed N] [--fault-share F] [--keep] [--vigil PATH]
#                    [--vigil-env NAME=VALUE ...]
#
# The default is the short run (about a minute of load per backend, 150 orders, under two
# minutes each); --minutes N makes a soak run (150 orders a minute unless --orders says).
# Everything listens on 127.0.0.1 on free ports; every process and temporary folder is removed
# on exit (--keep keeps the work folders: journal, the fakes' records, logs, SQLite file).
# Uses the already-built binary (.build/debug/vigil, or --vigil / $VIGIL_BIN); it never builds.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
backend=both
minutes=1
orders=""
instances=2
seed=""
fault_share=""
keep=0
extra=()
vigil="${VIGIL_BIN:-}"

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --backend) backend="$2"; shift 2 ;;
        --minutes) minutes="$2"; shift 2 ;;
        --orders) orders="$2"; shift 2 ;;
        --instances) instances="$2"; shift 2 ;;
        --seed) seed="$2"; shift 2 ;;
        --fault-share) fault_share="$2"; shift 2 ;;
        --vigil) vigil="$2"; shift 2 ;;
        --vigil-env) extra+=(--vigil-env "$2"); shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "chaos: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
case "$backend" in sqlite|postgres|both) ;; *) echo "chaos: --backend is sqlite, postgres or both" >&2; exit 2 ;; esac
python3 -c "import sys; float(sys.argv[1]) > 0 or sys.exit(1)" "$minutes" 2>/dev/null \
    || { echo "chaos: --minutes must be a positive number" >&2; exit 2; }

if [ -z "$vigil" ]; then
    for candidate in "$root/.build/debug/vigil" "$root"/.build/*/debug/vigil; do
        [ -x "$candidate" ] && { vigil="$candidate"; break; }
    done
fi
if [ -z "$vigil" ] || [ ! -x "$vigil" ]; then
    echo "chaos: no vigil binary (build it first: swift build), or pass --vigil PATH" >&2
    exit 2
fi

# libfaketime steps clocks; optional (installed from Debian when missing and we are root).
if ! ls /usr/lib/*/faketime/libfaketimeMT.so.1 >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "chaos: installing libfaketime (apt-get install faketime) for the clock steps"
    { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null 2>&1 \
        || { DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 \
             && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null 2>&1; }; } \
        || echo "chaos: could not install faketime; clock steps will be skipped"
fi

. "$root/scripts/private-postgres.sh"

top=$(mktemp -d /tmp/vigil-chaos.XXXXXX)
runner_pid=""
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [ -n "$runner_pid" ] && kill -0 "$runner_pid" 2>/dev/null; then
        kill -TERM "$runner_pid" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$runner_pid" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$runner_pid" 2>/dev/null || true
    fi
    # Whatever a killed runner left: the pids it listed (only ours).
    for pids in "$top"/*/pids; do
        [ -f "$pids" ] || continue
        while read -r pid; do
            [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
        done < "$pids"
    done
    stop_pg
    if [ "$keep" = 1 ]; then
        echo "chaos: kept $top"
    else
        rm -rf "$top"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A hard bound per backend run: load (--minutes) + load grace + settle + start-up and check.
hard_limit=$(python3 -c "import sys; m=float(sys.argv[1]); print(int(m*60 + 40 + 90 + 30*max(0, m-1) + 120))" "$minutes")

run_backend() {
    local which="$1" work="$top/$1"
    mkdir -p "$work"
    local args=(--backend "$which" --workdir "$work" --vigil "$vigil" --minutes "$minutes" --instances "$instances")
    [ -n "$orders" ] && args+=(--orders "$orders")
    [ -n "$seed" ] && args+=(--seed "$seed")
    [ -n "$fault_share" ] && args+=(--fault-share "$fault_share")
    [ ${#extra[@]} -gt 0 ] && args+=("${extra[@]}")
    if [ "$which" = postgres ]; then
        start_private_pg chaos
        args+=(--pg-url "$pg_url" --pg-bin "$pg_bin" --pg-dir "$pg_dir")
    fi
    local status=0
    timeout --signal=TERM --kill-after=20 "$hard_limit" python3 "$root/scripts/chaos/run.py" "${args[@]}" &
    runner_pid=$!
    wait "$runner_pid" || status=$?
    runner_pid=""
    if [ "$status" = 124 ]; then
        echo "chaos: $which: the run exceeded its hard limit of ${hard_limit}s" >&2
    fi
    if [ "$which" = postgres ]; then stop_pg; pg_dir=""; fi
    return "$status"
}

failed=()
case "$backend" in
    both) backends=(sqlite postgres) ;;
    *) backends=("$backend") ;;
esac
for b in "${backends[@]}"; do
    echo "chaos: === $b ==="
    if ! run_backend "$b"; then failed+=("$b"); fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "chaos: FAILED on: ${failed[*]}"
    exit 1
fi
echo "chaos: passed on: ${backends[*]}"
