#!/bin/bash
# pg-up.sh - a throwaway PostgreSQL 15 cluster for the postgres store's tests and benchmarks.
#
#   scripts/pg-up.sh STATE            initdb in a fresh temp directory, start the server, write STATE
#   scripts/pg-up.sh --stop STATE     stop the server (fast shutdown), keep its data
#   scripts/pg-up.sh --start STATE    start it again (same port, same data)
#   scripts/pg-up.sh --down STATE     stop the server and remove its directory and STATE
#   scripts/pg-up.sh --restart STATE  restart it at once: immediate stop (as a crash: open
#                                     connections are cut, recovery runs at start), then start
#
# The server listens on 127.0.0.1 at a free private port and on a unix socket in its own
# directory; it never touches the system's clusters. PostgreSQL refuses to run as root, so when
# this runs as root the cluster belongs to an unprivileged user (cairntest, created here when
# missing). Unix-socket connections are trusted; TCP ones need the password (scram-sha-256), so
# the tests can check what a wrong password does.
#
# STATE is a file of key=value lines that the tests read:
#   dir=/tmp/cairn-pg.XXXXXX    the cluster's directory (data/ and the socket)
#   port=NNNNN
#   user=cairntest   password=HEX   dbname=cairn
#   conninfo=host=DIR port=PORT user=USER dbname=cairn        (a libpq conninfo, unix socket)
#   url=postgres://USER:PASSWORD@127.0.0.1:PORT/cairn          (TCP, with the password)
set -eu

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
DBNAME=cairn

die() { echo "pg-up: $*" >&2; exit 1; }

state_get() { sed -n "s/^$1=//p" "$2" | head -n 1; }

# Runs a command as the cluster's owner (ourselves unless we are root).
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$OWNER" -- "$@"; else "$@"; fi
}

pick_owner() {
  if [ "$(id -u)" = 0 ]; then
    OWNER=cairntest
    if ! id "$OWNER" >/dev/null 2>&1; then
      useradd --system --no-create-home --shell /usr/sbin/nologin "$OWNER" ||
        die "could not create the unprivileged user $OWNER to run PostgreSQL (it refuses root)"
    fi
  else
    OWNER=$(id -un)
  fi
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_server() { # dir port
  as_owner "$PGBIN/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 60 \
    -o "-p $2 -k $1 -c listen_addresses=127.0.0.1" start >/dev/null ||
    { cat "$1/server.log" >&2 || true; die "the server in $1 did not start (log above)"; }
}

stop_server() { # dir
  [ -d "$1/data" ] || return 0
  as_owner "$PGBIN/pg_ctl" -D "$1/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

restart_server() { # dir port
  as_owner "$PGBIN/pg_ctl" -D "$1/data" -m immediate -w -t 60 stop >/dev/null 2>&1 || true
  start_server "$1" "$2"
}

up() {
  state=$1
  [ -f "$state" ] && "$0" --down "$state" # a cluster left by an earlier run
  [ -x "$PGBIN/initdb" ] || die "no PostgreSQL 15 in $PGBIN: run scripts/install-deps.sh"
  pick_owner
  dir=$(mktemp -d "${TMPDIR:-/tmp}/cairn-pg.XXXXXX")
  chmod 755 "$dir"
  [ "$(id -u)" = 0 ] && chown "$OWNER" "$dir"
  password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
  printf '%s\n' "$password" >"$dir/pwfile"
  [ "$(id -u)" = 0 ] && chown "$OWNER" "$dir/pwfile"
  as_owner "$PGBIN/initdb" -D "$dir/data" -U "$OWNER" --pwfile="$dir/pwfile" -E UTF8 \
    --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; die "initdb failed in $dir"; }
  rm -f "$dir/pwfile"
  # a private port: a few random tries among the unprivileged ones
  port=""
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 30000))
    if port_free "$p"; then port=$p; break; fi
  done
  [ -n "$port" ] || die "no free port found for the server"
  start_server "$dir" "$port"
  as_owner "$PGBIN/createdb" -h "$dir" -p "$port" -U "$OWNER" "$DBNAME" ||
    die "createdb $DBNAME failed"
  cat >"$state" <<EOF
dir=$dir
port=$port
user=$OWNER
password=$password
dbname=$DBNAME
conninfo=host=$dir port=$port user=$OWNER dbname=$DBNAME
url=postgres://$OWNER:$password@127.0.0.1:$port/$DBNAME
EOF
  echo "pg-up: PostgreSQL 15 on 127.0.0.1:$port and $dir (state in $state)"
}

mode=up
case "${1:-}" in
  --down | --stop | --start | --restart) mode=${1#--}; shift ;;
  -h | --help | "") sed -n '2,20p' "$0"; exit 0 ;;
esac
[ $# -eq 1 ] || die "usage: pg-up.sh [--down|--stop|--start|--restart] STATE"
state=$1

case $mode in
  up) up "$state" ;;
  stop | start | restart | down)
    [ -f "$state" ] || { [ "$mode" = down ] && exit 0; die "no state file $state"; }
    dir=$(state_get dir "$state")
    pick_owner
    case $mode in
      stop) stop_server "$dir" ;;
      start) start_server "$dir" "$(state_get port "$state")" ;;
      restart) restart_server "$dir" "$(state_get port "$state")" ;;
      down)
        stop_server "$dir"
        case $dir in */cairn-pg.*) rm -rf "$dir" ;; esac
        rm -f "$state"
        ;;
    esac
    ;;
esac
