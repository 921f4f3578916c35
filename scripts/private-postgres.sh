# Sourced by test.sh and bench.sh: a private PostgreSQL cluster (initdb in a temporary folder,
# loopback only, a free port), installing the server from Debian's packages if it is missing
# and we are root. After `start_private_pg`: $pg_bin, $pg_dir, $pg_port, $pg_url; `stop_pg`
# stops it and removes the folder.

find_pg() {
    pg_bin=""
    for dir in /usr/lib/postgresql/*/bin; do
        [ -x "$dir/initdb" ] && pg_bin="$dir"
    done
}

# initdb refuses to run as root: run the cluster as the postgres user in that case.
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_private_pg() {
    local who="$1"
    find_pg
    if [ -z "$pg_bin" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "$who: installing PostgreSQL (apt-get install postgresql)"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        find_pg
    fi
    if [ -z "$pg_bin" ]; then
        echo "$who: PostgreSQL server binaries not found; install them (apt-get install -y postgresql) or run as root" >&2
        exit 1
    fi
    pg_dir=$(mktemp -d /tmp/vigil-pg.XXXXXX)
    [ "$(id -u)" = 0 ] && chown postgres "$pg_dir"
    pg_port=$(free_port)
    as_pg "$pg_bin/initdb" -D "$pg_dir/data" -U vigil --auth=trust -E UTF8 >/dev/null
    # PG_EXTRA_OPTIONS: more server settings (the bench loads pg_stat_statements).
    as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w start \
        -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $pg_dir -c max_connections=400 ${PG_EXTRA_OPTIONS:-}" >/dev/null
    pg_url="postgres://vigil@127.0.0.1:$pg_port/postgres?sslmode=disable"
    echo "$who: PostgreSQL $("$pg_bin/postgres" --version | awk "{print \$3}") on 127.0.0.1:$pg_port"
}

stop_pg() {
    [ -n "${pg_dir:-}" ] || return 0
    as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
}
