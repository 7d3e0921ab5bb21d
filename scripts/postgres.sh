#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster on loopback, for the tests and the scale-out demo.
#
#   scripts/postgres.sh start DIR [PORT]   initdb (as the postgres user: initdb refuses
#                                          root) and start; prints the URL on stdout
#   scripts/postgres.sh stop DIR           fast shutdown
#   scripts/postgres.sh kill DIR           SIGKILL the postmaster (failure tests)
#   scripts/postgres.sh url DIR            the URL of a started cluster
#
# The cluster trusts loopback connections (it listens on 127.0.0.1 only) and holds one
# database, "quiver". Debian's packaged cluster and its service are never touched.
set -euo pipefail

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}
[ -x "$PG_BIN/initdb" ] || { echo "postgres.sh: no PostgreSQL server binaries (install-deps installs postgresql)" >&2; exit 1; }

as_owner() {
  # The server refuses to run as root: run as the postgres user when we are root.
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cmd=${1:?usage: postgres.sh start|stop|kill|url DIR [PORT]}
dir=${2:?usage: postgres.sh $cmd DIR}
data="$dir/data"

case $cmd in
  start)
    port=${3:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"
    if [ ! -s "$data/PG_VERSION" ]; then
      as_owner "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    # Small and fast for tests: no fsync on a throwaway cluster, sockets in DIR.
    as_owner "$PG_BIN/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      start >/dev/null || { tail -n 30 "$dir/server.log" >&2; exit 1; }
    echo "$port" >"$dir/port"
    as_owner "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qtAc \
      "SELECT 1 FROM pg_database WHERE datname = 'quiver'" | grep -q 1 ||
      as_owner "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres quiver
    echo "postgresql://postgres@127.0.0.1:$port/quiver"
    ;;
  stop)
    [ -d "$data" ] && as_owner "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
    ;;
  kill)
    [ -s "$data/postmaster.pid" ] && kill -9 "$(head -n1 "$data/postmaster.pid")" 2>/dev/null || true
    ;;
  url)
    echo "postgresql://postgres@127.0.0.1:$(cat "$dir/port")/quiver"
    ;;
  *) echo "postgres.sh: unknown command $cmd" >&2; exit 2 ;;
esac
