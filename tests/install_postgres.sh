#!/usr/bin/env bash
# The PostgreSQL variants of the tests need PostgreSQL's server binaries
# (initdb, pg_ctl). Installs Debian's `postgresql` package when they are missing
# and this is root on a Debian-like system; otherwise says what to do.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing PostgreSQL (Debian's postgresql package) for the tests"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
else
    echo "PostgreSQL's server binaries (initdb) are missing: install PostgreSQL" \
         "(Debian/Ubuntu: sudo apt-get install postgresql), or set ESL_TEST_POSTGRES_URL" \
         "to a server the tests may create databases on" >&2
    exit 1
fi
