#!/bin/sh
# run.sh BUILD_DIR - install cairn into a temporary prefix, then build programs against it the
# way a user would: with pkg-config, linked shared and static. Also compiles cairn.h alone as
# strict C11 and as C++ (the header must stand on its own in both).
set -eu
build=$1
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-install-XXXXXX")
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" >/dev/null
libdir=$(ls -d "$work"/prefix/lib*/pkgconfig | head -n 1)
export PKG_CONFIG_PATH="$libdir"
pkg-config --exists cairn || { echo "pkg-config cannot find cairn in $libdir" >&2; exit 1; }
test "$(pkg-config --modversion cairn)" = "0.1.0"

cc -std=c11 -Wall -Wextra -Werror "$here/consumer.c" -o "$work/consumer-shared" \
  $(pkg-config --cflags --libs cairn)
LD_LIBRARY_PATH="$(dirname "$libdir")" "$work/consumer-shared" "$work/repo-shared"

cc -std=c11 -Wall -Wextra -Werror "$here/consumer.c" -o "$work/consumer-static" \
  $(pkg-config --cflags cairn) -L"$(dirname "$libdir")" -Wl,-Bstatic -lcairn -Wl,-Bdynamic \
  $(pkg-config --static --libs-only-l cairn | sed 's/-lcairn//')
"$work/consumer-static" "$work/repo-static"
# the static binary must not need libcairn.so
if ldd "$work/consumer-static" | grep -q libcairn; then echo "static link pulled libcairn.so" >&2; exit 1; fi

# the C example in README.md compiles as given (a whole program), with the command line the
# README gives (its rpath: the program runs without LD_LIBRARY_PATH), and runs
awk '/^```c$/{on=1; next} /^```$/{if (on) exit} on' "$top/README.md" > "$work/app.c"
cmd=$(grep '^\$ cc app.c' "$top/README.md" | head -n 1 | sed 's/^\$ //')
test -n "$cmd" || { echo "README.md gives no 'cc app.c' command line" >&2; exit 1; }
(cd "$work" && eval "$cmd -std=c11 -Wall -Wextra -Werror" && env -u LD_LIBRARY_PATH ./app)
test -d "$work/data" || { echo "the README's program made no repository" >&2; exit 1; }

# the archive exports the API and nothing else (internal names could clash with the program's)
leaked=$(nm -g --defined-only "$(dirname "$libdir")/libcairn.a" | awk 'NF==3 && $2 ~ /[TDBR]/ {print $3}' | grep -v '^cairn_' || true)
if [ -n "$leaked" ]; then echo "libcairn.a exports non-API symbols:" $leaked >&2; exit 1; fi
leaked=$(nm -D --defined-only "$(dirname "$libdir")/libcairn.so" | awk '$2 ~ /[TDBR]/ {print $3}' | grep -v '^cairn_' || true)
if [ -n "$leaked" ]; then echo "libcairn.so exports non-API symbols:" $leaked >&2; exit 1; fi

# cairn.h stands alone as strict C11 and as C++
for h in cairn.h cairn/sys/store.h cairn/audit.h; do
  printf '#include <%s>\nint main(void){return 0;}\n' "$h" > "$work/h.c"
  cc -std=c11 -pedantic -Wall -Wextra -Werror -I"$top/include" -fsyntax-only "$work/h.c"
  c++ -std=c++11 -pedantic -Wall -Wextra -Werror -I"$top/include" -fsyntax-only -x c++ "$work/h.c"
done
echo "install, pkg-config (shared and static) and header checks passed"
