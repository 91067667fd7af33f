#!/bin/bash
# ceph-up.sh - a throwaway single-node Ceph cluster with radosgw on 127.0.0.1, for cairn's s3
# tests and benchmarks: one monitor, one OSD on memstore (RAM, capped), radosgw (beast), an S3
# user. No systemd, no root needed once the packages are installed (scripts/install-deps.sh).
#
#   scripts/ceph-up.sh up DIR      wipe DIR, start everything, write DIR/s3.env; ~15 s
#   scripts/ceph-up.sh down DIR    stop what `up DIR` started (pid files) and wait for it
#   scripts/ceph-up.sh stop-rgw DIR / start-rgw DIR   stop or restart radosgw alone
#
# Ports: CEPH_MON_PORT (monitor, msgr v2; v1 is +1) and CEPH_RGW_PORT; unset, each is the first
# free port from a base derived from this process id, so two runs (two build trees, two helpers)
# do not collide. CEPH_WITH_MGR=1 also starts a manager (not needed for S3; ~300 MB).
#
# DIR/s3.env, read by tests/test_s3.c and bench/, holds shell assignments:
#   S3_ENDPOINT=http://127.0.0.1:PORT S3_REGION=us-east-1 S3_ACCESS_KEY=... S3_SECRET_KEY=...
#   S3_RGW_PORT=PORT CEPH_DIR=DIR
set -euo pipefail

usage() { echo "usage: $0 up|down|stop-rgw|start-rgw DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
CMD=$1
D=$2
case "$D" in /*) ;; *) D=$(pwd)/$D ;; esac

# The pids of the daemons started in D, from their pid files.
pids_of() { local p; for p in "$D"/run/*.pid; do [ -f "$p" ] && cat "$p"; done; true; }

stop_pids() { # stop_pids PID... : TERM, wait up to 10 s, then KILL
  local pid alive i
  for pid in "$@"; do kill "$pid" 2>/dev/null || true; done
  for i in $(seq 1 100); do
    alive=""
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive="$alive $pid"; done
    [ -z "$alive" ] && return 0
    sleep 0.1
  done
  echo "ceph-up.sh: still running after 10 s, sending SIGKILL:$alive" >&2
  for pid in $alive; do kill -9 "$pid" 2>/dev/null || true; done
}

rgw_wait() { # waits until radosgw answers on its port
  local port=$1 i
  for i in $(seq 1 600); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0
    sleep 0.1
  done
  echo "ceph-up.sh: radosgw is not answering on 127.0.0.1:$port; see $D/log" >&2
  return 1
}

case "$CMD" in
down)
  # shellcheck disable=SC2046
  stop_pids $(pids_of)
  rm -f "$D"/run/*.pid
  exit 0 ;;
stop-rgw)
  [ -f "$D/run/client.rgw.a.pid" ] && stop_pids "$(cat "$D/run/client.rgw.a.pid")"
  rm -f "$D/run/client.rgw.a.pid"
  exit 0 ;;
start-rgw)
  # shellcheck disable=SC1091
  . "$D/s3.env"
  CEPH_CONF=$D/ceph.conf radosgw --conf "$D/ceph.conf" -n client.rgw.a
  rgw_wait "$S3_RGW_PORT"
  exit 0 ;;
up) ;;
*) usage ;;
esac

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { # free_port BASE STEP: the first port from BASE (stepping) with nothing listening
  local p=$1
  while ! port_free "$p" || ! port_free $((p + 1)); do p=$((p + $2)); done
  echo "$p"
}
BASE=$((20000 + ($$ % 2000) * 10))
MON_PORT=${CEPH_MON_PORT:-$(free_port "$BASE" 20)}
RGW_PORT=${CEPH_RGW_PORT:-$(free_port $((BASE + 5)) 20)}
ACCESS_KEY=${S3_ACCESS_KEY:-CAIRNTESTACCESSKEY01}
SECRET_KEY=${S3_SECRET_KEY:-cairntestsecretkey00000000000000000000001}
T0=$(date +%s.%N)
trap 'echo "ceph-up.sh: failed at line $LINENO; logs in $D/log; stop with: $0 down $D" >&2' ERR

for pid in $(pids_of); do # never wipe a directory whose daemons still run
  kill -0 "$pid" 2>/dev/null && { echo "ceph-up.sh: $D still has daemons running; use: $0 down $D" >&2; exit 1; }
done
rm -rf "$D"
mkdir -p "$D"/{run,log,crash,mon.a,osd.0,rgw}
CONF=$D/ceph.conf
FSID=$(uuidgen)
MON_ADDR="[v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$((MON_PORT + 1))]"
cat >"$CONF" <<EOF
[global]
fsid = $FSID
mon host = $MON_ADDR
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
keyring = $D/keyring
run dir = $D/run
admin socket = $D/run/\$name.asok
pid file = $D/run/\$name.pid
log file = $D/log/\$name.log
mon cluster log file = $D/log/cluster.log
crash dir = $D/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data = $D/mon.\$id
mgr data = $D/mgr.\$id
osd data = $D/osd.\$id
[mgr]
keyring = $D/mgr.\$id/keyring
[osd]
keyring = $D/osd.\$id/keyring
osd objectstore = memstore
memstore device bytes = ${CEPH_MEMSTORE_BYTES:-1073741824}
osd op num shards = 2
osd op num threads per shard = 1
[client.rgw.a]
keyring = $D/rgw/keyring
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw data = $D/rgw
rgw thread pool size = 32
EOF
export CEPH_CONF=$CONF CEPH_ARGS="--conf $CONF"

# keys, the monitor map, the monitor
ceph-authtool --create-keyring "$D/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool "$D/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
  --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
monmaptool --create --fsid "$FSID" --addv a "$MON_ADDR" "$D/monmap" >/dev/null
ceph-mon --mkfs -i a --monmap "$D/monmap" --keyring "$D/keyring"
ceph-mon -i a
ceph -s --connect-timeout 20 >/dev/null

if [ "${CEPH_WITH_MGR:-0}" = 1 ]; then
  mkdir -p "$D/mgr.x"
  ceph auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' -o "$D/mgr.x/keyring"
  ceph-mgr -i x
fi

# one OSD on memstore (memstore keeps no keyring of its own: write it after mkfs)
OSD_UUID=$(uuidgen)
OSD_KEY=$(ceph-authtool --gen-print-key)
printf '{"cephx_secret": "%s"}\n' "$OSD_KEY" >"$D/osd.0/new.json"
OSD_ID=$(ceph osd new "$OSD_UUID" -i "$D/osd.0/new.json")
[ "$OSD_ID" = 0 ] || { echo "ceph-up.sh: unexpected osd id $OSD_ID" >&2; exit 1; }
ceph-osd -i 0 --mkfs --key "$OSD_KEY" --osd-uuid "$OSD_UUID" 2>"$D/log/osd.0.mkfs.err"
ceph-authtool --create-keyring "$D/osd.0/keyring" -n osd.0 --add-key "$OSD_KEY" >/dev/null
ceph-osd -i 0
for i in $(seq 1 300); do
  ceph osd dump 2>/dev/null | grep -q '^osd.0 up' && break
  sleep 0.2
done
ceph osd dump | grep -q '^osd.0 up' || { echo "ceph-up.sh: osd.0 did not come up; see $D/log" >&2; exit 1; }

# radosgw and its S3 user
ceph auth get-or-create client.rgw.a mon 'allow rw' osd 'allow rwx' mgr 'allow rw' -o "$D/rgw/keyring"
radosgw -n client.rgw.a
rgw_wait "$RGW_PORT"
radosgw-admin user create --uid=cairn --display-name="cairn tests" \
  --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >"$D/user.json"

cat >"$D/s3.env" <<EOF
S3_ENDPOINT=http://127.0.0.1:$RGW_PORT
S3_REGION=us-east-1
S3_ACCESS_KEY=$ACCESS_KEY
S3_SECRET_KEY=$SECRET_KEY
S3_RGW_PORT=$RGW_PORT
CEPH_DIR=$D
EOF
T1=$(date +%s.%N)
echo "ceph-up.sh: radosgw ready in $(awk "BEGIN{printf \"%.1f\", $T1 - $T0}") s at http://127.0.0.1:$RGW_PORT (settings in $D/s3.env)"
