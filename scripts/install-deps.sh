#!/bin/sh
# install-deps.sh - install the Debian 12 packages that cairn's build, tests and benchmarks need.
#
# Idempotent and quick when everything is present: dpkg-query decides what is missing, and only
# then does it run apt-get (as root, or through sudo when available).
#   scripts/install-deps.sh           build + test dependencies
#   scripts/install-deps.sh --bench   also the peer engines the benchmarks compare against
set -eu

PKGS="build-essential cmake pkg-config git ca-certificates clang libclang-rt-dev
libssl-dev libsodium-dev libzstd-dev libxxhash-dev libcurl4-openssl-dev libjansson-dev
libmicrohttpd-dev libsqlite3-dev libpq-dev"
# the s3 store's tests run against a throwaway Ceph radosgw (scripts/ceph-up.sh)
PKGS="$PKGS ceph-mon ceph-osd ceph-mgr radosgw ceph-common uuid-runtime curl"
BENCH_PKGS="liblmdb-dev librocksdb-dev libleveldb-dev libsqlite3-dev git libgit2-dev zlib1g-dev"
# cairn-remotebench's peers: the raw copy of a repository's files, and a backup tool
BENCH_PKGS="$BENCH_PKGS rclone restic"

# the postgres store's tests run against a throwaway PostgreSQL 15 (scripts/pg-up.sh)
PKGS="$PKGS postgresql-15"
want=$PKGS
[ "${1:-}" = "--bench" ] && want="$PKGS $BENCH_PKGS"

missing=""
for p in $want; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$st" = "installed" ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install:$missing" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
