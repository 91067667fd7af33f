#!/bin/sh
# check_layers.sh [SOURCE_ROOT] - the store interface is the only way to a repository's files.
#
# Fails when a file under src/ outside src/store/ and src/base/:
#  - calls a file-system function directly (open, fsync, rename, mmap, ...): those go through
#    the store's file_* methods, or through base/sys (sys_open, sys_fsync, ...: allowed
#    everywhere, for files that are not the repository's, such as key files);
#  - names a backend (store_local_*, store_mem_*, a kind "local" or "mem") or the local
#    store's "CAIRN" marker;
# and when any file under src/ includes a header of a layer above its own (docs/ARCHITECTURE.md,
# "Layers").
#    (cairn_store_open_url() and store_files_open() open stores by location, without naming
#    a kind.)
# The exemptions below are exact (file and call) and each says why. Comments are not code: a
# call named in a comment is fine.
set -eu
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"

calls='open|openat|creat|fopen|freopen|opendir|unlink|unlinkat|rename|renameat|renameat2|link|linkat|mkdir|mkdirat|rmdir|fsync|fdatasync|sync_file_range|pwrite|pwritev|ftruncate|truncate|flock|fcntl|mmap|posix_fallocate|fallocate|stat|lstat|fstatat|access'
backends='store_local_[a-z_]*|store_mem_[a-z_]*|"CAIRN"|"local"|"mem"'

# file:call pairs allowed, and why.
#   src/cli/*: user files the command reads or writes on the user's behalf, never the
#   repository's (the library opens those through the store).
allowed='
src/cli/util.c:open          cli_read_file: an input file named on the command line ("-": stdin)
src/cli/cmd_load.c:open      load: the file of records to load
src/cli/cmd_doc.c:open       doc import: the file of documents to import
src/cli/cmd_doc.c:opendir    doc import DIR: the directory of an export
src/cli/cmd_doc.c:stat       doc import: whether the input is a directory
src/cli/cmd_doc.c:mkdir      doc export: the directory the documents are written to
src/cli/cmd_doc.c:fopen      doc export: the file of each document, the manifest
src/cli/passphrase.c:open    --passphrase-file: the file holding a passphrase
src/cli/cmd_prove.c:fopen    prove -o: the file the proof is written to
'

# Code without comments: /* ... */ (also over several lines) and // to the end of the line;
# string literals are kept (for "CAIRN").
strip_comments() {
    awk '
    {
        line = $0; out = ""
        while (length(line) > 0) {
            if (incomment) {
                i = index(line, "*/")
                if (i == 0) { line = ""; break }
                line = substr(line, i + 2); incomment = 0
                continue
            }
            i = index(line, "/*"); j = index(line, "//")
            if (j > 0 && (i == 0 || j < i)) { out = out substr(line, 1, j - 1); line = ""; break }
            if (i == 0) { out = out line; line = ""; break }
            out = out substr(line, 1, i - 1); line = substr(line, i + 2); incomment = 1
        }
        print out
    }' "$1"
}

status=0
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
for f in $(find src -name '*.[ch]' | sort); do
    case $f in src/store/*|src/base/*) continue ;; esac
    strip_comments "$f" >"$tmp"
    # direct calls: the name not preceded by an identifier character, '.', '>' (a member)
    found=$(sed -E 's/"([^"\\]|\\.)*"/""/g' "$tmp" |
            grep -noE "(^|[^A-Za-z0-9_.>])($calls)[[:space:]]*\(" |
            sed -E 's/^([0-9]+):[^A-Za-z0-9_]*([A-Za-z0-9_]+)[[:space:]]*\($/\1:\2/' || true)
    names=$(grep -noE "$backends" "$tmp" || true)
    for hit in $found $names; do
        line=${hit%%:*}
        what=${hit#*:}
        what=${what%%(*}
        key="$f:$what"
        if printf '%s\n' "$allowed" | awk '{print $1}' | grep -qxF "$key"; then continue; fi
        echo "$f:$line: $what: the repository's files are reached through the store (its file_*"
        echo "    methods), other files through base/sys (sys_*); backends are not named above"
        echo "    src/store/ (see tests/check_layers.sh)"
        status=1
    done
done
# Dependencies point one way: a module includes headers of its own layer or of those below it.
order='base store chunk tree repo wal db vc doc cli'
rank() { i=0; for m in $order; do [ "$m" = "$1" ] && { echo $i; return; }; i=$((i + 1)); done; echo -1; }
for f in $(find src -name '*.[ch]' | sort); do
    mine=$(echo "$f" | cut -d/ -f2)
    r=$(rank "$mine")
    for dep in $(sed -nE 's/^#include "([a-z]+)\/.*/\1/p' "$f" | sort -u); do
        d=$(rank "$dep")
        if [ "$d" -gt "$r" ]; then
            echo "$f: includes $dep/, a layer above $mine/ (order: $order)"
            status=1
        fi
    done
done
[ $status -eq 0 ] && echo "layers: ok"
exit $status
