#!/usr/bin/env bash
# Measures recovery after kill -9 on PostgreSQL (scripts/recovery.py): two `vigil serve` on a
# private cluster, the one holding running tasks killed, the time until each task is claimed by
# the other. Uses the built binary (.build/debug/vigil, or $VIGIL_BIN); never builds.
# Arguments go to recovery.py (--rounds N, --lease 8s, --rate N, --seed N).
set -euo pipefail
cd "$(dirname "$0")/.."
vigil="${VIGIL_BIN:-$(swift build --show-bin-path 2>/dev/null)/vigil}"
[ -x "$vigil" ] || { echo "recovery.sh: no vigil binary at $vigil; build it (swift build) or set VIGIL_BIN" >&2; exit 1; }
. scripts/private-postgres.sh
trap stop_pg EXIT
start_private_pg recovery.sh
python3 scripts/recovery.py --vigil "$vigil" --pg-url "$pg_url" "$@"
