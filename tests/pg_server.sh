#!/usr/bin/env bash
# A throwaway PostgreSQL server for the test suite, on 127.0.0.1 only.
#
#   tests/pg_server.sh start DIR   initdb + start a cluster in DIR (empty or absent),
#                                  create the database esl_test, print its URL on stdout
#   tests/pg_server.sh stop DIR    stop it and delete DIR
#
# Needs PostgreSQL's server binaries (Debian: apt-get install postgresql). They are
# looked up in /usr/lib/postgresql/<newest>/bin, then on PATH. PostgreSQL refuses
# to run as root: as root the cluster belongs to the `postgres` user (runuser).
# Durability is switched off (fsync, full_page_writes): this is for tests only.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
action=$1
dir=$2

bindir() {
    local newest
    newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$newest" ] && [ -x "$newest/initdb" ]; then
        echo "$newest"
    elif command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v initdb)")"
    else
        echo "PostgreSQL's server binaries (initdb, pg_ctl) are not installed:" \
             "apt-get install postgresql" >&2
        exit 3
    fi
}

as_owner() {  # run a PostgreSQL binary as the cluster's owner
    if [ "$(id -u)" -eq 0 ]; then
        "$(command -v runuser || echo /usr/sbin/runuser)" -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    local bin port password
    bin=$(bindir)
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || { echo "no 'postgres' user to run the server as" >&2; exit 3; }
        chown postgres: "$dir"
    fi
    chmod 700 "$dir"
    port=$(free_port)
    password=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
    # Password authentication over TCP, as in production, but md5 rather than
    # SCRAM: the tests open many short connections, and SCRAM costs ~10 ms each.
    as_owner "$bin/initdb" -D "$dir/data" -U esl -E UTF8 --locale=C \
        --auth-local=trust --auth-host=md5 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=200" \
        >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "$port" > "$dir/port"
    "$bin/psql" -q -h "$dir" -p "$port" -U esl -d postgres -v ON_ERROR_STOP=1 \
        -c "SET password_encryption = 'md5'" -c "ALTER ROLE esl PASSWORD '$password'" \
        -c "CREATE DATABASE esl_test" >/dev/null
    echo "postgresql://esl:$password@127.0.0.1:$port/esl_test"
}

stop() {
    if [ -d "$dir/data" ]; then
        as_owner "$(bindir)/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}

case $action in
    start) start ;;
    stop) stop ;;
    *) usage ;;
esac
