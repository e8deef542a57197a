#!/bin/sh
# Debian's PostgreSQL as a container, for trying out and for the tests: no image from a registry
# is needed (scripts/install-container-engine builds one from Debian's `postgresql` package).
#
# On the first start it makes a cluster in $PGDATA, with one database per name in
# $POSTGRES_DATABASES (each domain has its own), and lets anyone on the container network in
# without a password (trust): fine on a network of its own for a test, never for production,
# where the domains take their URLs from a Secret of a managed PostgreSQL. Then it runs the
# server in the foreground, listening on 5432.
set -eu
bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
: "${PGDATA:=/var/lib/postgresql/data/cluster}"
export PGDATA
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    "$bin/initdb" --username=postgres --auth=trust --encoding=UTF8 >/dev/null
    echo "host all all 0.0.0.0/0 trust" >>"$PGDATA/pg_hba.conf"
    "$bin/pg_ctl" -w -o "-c listen_addresses='' -c unix_socket_directories=/tmp" start >/dev/null
    for database in ${POSTGRES_DATABASES:-}; do
        "$bin/createdb" --host=/tmp --username=postgres "$database"
    done
    "$bin/pg_ctl" -w -m fast stop >/dev/null
fi
exec "$bin/postgres" -c listen_addresses='*' -c unix_socket_directories=/tmp \
    -c max_connections="${POSTGRES_MAX_CONNECTIONS:-200}"
