#!/usr/bin/env bash
# Install, move, and use as a library. `cmake --install` into a temporary
# prefix, then the prefix is MOVED to another directory, so every path the
# installed files use must be relative to themselves. From the moved tree:
# the headers compile on their own; the shared library exports every
# function producer.h and common.h declare; examples/c builds out of tree
# with pkg-config (shared and static) and with find_package(sluice)
# (sluice::producer and sluice::producer_static); the static consumers get
# SLUICE_STATIC and no dependency on the .so; and the four programs run
# against the installed collector, whose capture the installed sluice-dump
# verifies with exact counts.
source "$(dirname "$0")/lib.sh"

cache=$BIN/CMakeCache.txt
CC=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$cache")
CC=${CC:-cc}
# A sanitizer build installs instrumented libraries: consumers must link the
# same runtime, as they would have to outside this test.
san=$(sed -n 's/^SLUICE_SANITIZE:[A-Z]*=//p' "$cache")
SANFLAGS=""
[ -n "$san" ] && SANFLAGS="-fsanitize=${san//;/,} -fno-omit-frame-pointer"
command -v pkg-config >/dev/null || fail "pkg-config is missing (scripts/deps.sh installs it)"

note "cmake --install into $WORK/prefix"
cmake --install "$BIN" --prefix "$WORK/prefix" >"$WORK/install.log" 2>&1 ||
  { cat "$WORK/install.log" >&2; fail "cmake --install failed"; }
mkdir -p "$WORK/moved"
mv "$WORK/prefix" "$WORK/moved/sluice"
P=$WORK/moved/sluice
note "moved the installed tree to $P"

# What must be there (the library directory may be lib or lib/<multiarch>).
pcdir=$(dirname "$(find "$P" -name sluice-producer.pc -print -quit)")
[ -f "$pcdir/sluice-producer.pc" ] || fail "sluice-producer.pc not installed"
libdir=$(dirname "$pcdir")
for f in bin/sluice-collector bin/sluice-producer bin/sluice-dump bin/sluice-bench \
  include/sluice/common.h include/sluice/producer.h include/sluice/capture.h include/sluice/trace.hpp \
  share/man/man1/sluice-collector.1 share/man/man1/sluice-producer.1 \
  share/man/man1/sluice-dump.1 share/man/man1/sluice-bench.1; do
  [ -f "$P/$f" ] || fail "not installed: $f"
done
for f in libsluice-producer.a libsluice-producer.so pkgconfig/sluice-producer-static.pc \
  cmake/sluice/sluiceConfig.cmake cmake/sluice/sluiceConfigVersion.cmake \
  cmake/sluice/sluiceTargets.cmake; do
  [ -e "$libdir/$f" ] || fail "not installed: ${libdir#"$P"/}/$f"
done
# Nothing installed may remember where it was installed.
if grep -rlF "$WORK/prefix" "$P" >"$WORK/abs.txt"; then
  cat "$WORK/abs.txt" >&2; fail "installed files hold the install prefix: not relocatable"
fi

C=$P/bin
COLLECTOR=$C/sluice-collector
DUMP=$C/sluice-dump
"$COLLECTOR" --version >/dev/null || fail "installed sluice-collector does not run"

note "installed headers compile on their own (C11, pedantic), shared and static"
for h in common producer capture; do
  printf '#include <sluice/%s.h>\nint main(void) { return 0; }\n' "$h" >"$WORK/h_$h.c"
  for def in "" -DSLUICE_STATIC; do
    "$CC" -std=c11 -Wall -Wextra -Wpedantic -Werror $def -I"$P/include" \
      -c "$WORK/h_$h.c" -o "$WORK/h_$h.o" || fail "sluice/$h.h does not compile alone ($def)"
  done
  if command -v c++ >/dev/null; then
    cp "$WORK/h_$h.c" "$WORK/h_$h.cpp"
    c++ -std=c++11 -Wall -Wextra -Wpedantic -Werror -I"$P/include" \
      -c "$WORK/h_$h.cpp" -o "$WORK/h_$h.o" || fail "sluice/$h.h does not compile as C++"
  fi
done
if command -v c++ >/dev/null; then
  printf '#include <sluice/trace.hpp>\nint main() { sluice::producer p; sluice::scope s(p, "x"); return s.active(); }\n' >"$WORK/h_trace.cpp"
  c++ -std=c++11 -Wall -Wextra -Wpedantic -Werror -I"$P/include" \
    -c "$WORK/h_trace.cpp" -o "$WORK/h_trace.o" || fail "sluice/trace.hpp does not compile alone (C++11)"
fi

note "the shared library exports every function producer.h, capture.h and common.h declare"
declared=$(cat "$P/include/sluice/producer.h" "$P/include/sluice/capture.h" "$P/include/sluice/common.h" | tr '\n' ' ' |
  grep -o 'SLUICE_API[^;(]*(' | grep -o 'sluice_[a-z0-9_]*($' | tr -d '(' | sort -u)
[ "$(wc -w <<<"$declared")" -ge 9 ] || fail "found too few declarations: $declared"
exported=$(nm -D --defined-only "$libdir/libsluice-producer.so" | awk '{print $3}' | sort -u)
for fn in $declared; do
  grep -qx "$fn" <<<"$exported" || fail "libsluice-producer.so does not export $fn"
done
if grep -v '^sluice_' <<<"$exported" | grep -v '^_' | grep -q .; then
  grep -v '^sluice_' <<<"$exported" | grep -v '^_' >&2
  fail "libsluice-producer.so exports symbols outside the sluice_ API"
fi

note "examples/c with pkg-config (shared, then static)"
export PKG_CONFIG_PATH=$pcdir
pc_libdir=$(pkg-config --variable=libdir sluice-producer)
[ "$(cd "$pc_libdir" && pwd -P)" = "$(cd "$libdir" && pwd -P)" ] ||
  fail "pkg-config libdir $pc_libdir is not the moved tree's $libdir"
# shellcheck disable=SC2046  # pkg-config output is meant to be split
"$CC" -std=c11 -Wall -Wextra -Werror $SANFLAGS -o "$WORK/ex_pc_shared" \
  "$SRC/examples/c/emit_events.c" $(pkg-config --cflags --libs sluice-producer) \
  -Wl,-rpath,"$pc_libdir" || fail "pkg-config shared build failed"
pkg-config --cflags sluice-producer | grep -q -- -DSLUICE_STATIC &&
  fail "sluice-producer.pc (shared) must not define SLUICE_STATIC"
pkg-config --cflags sluice-producer-static | grep -q -- -DSLUICE_STATIC ||
  fail "sluice-producer-static.pc does not define SLUICE_STATIC"
# shellcheck disable=SC2046
"$CC" -std=c11 -Wall -Wextra -Werror $SANFLAGS -o "$WORK/ex_pc_static" \
  "$SRC/examples/c/emit_events.c" $(pkg-config --cflags --libs sluice-producer-static) ||
  fail "pkg-config static build failed"

note "examples/c with find_package(sluice) (sluice::producer, then sluice::producer_static)"
for kind in shared static; do
  st=OFF; [ "$kind" = static ] && st=ON
  cmake -S "$SRC/examples/c" -B "$WORK/ex-cmake-$kind" -DCMAKE_PREFIX_PATH="$P" \
    -DCMAKE_C_COMPILER="$CC" -DSLUICE_EXAMPLE_STATIC=$st -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
    -DCMAKE_C_FLAGS="-Wall -Wextra -Werror $SANFLAGS" -DCMAKE_EXE_LINKER_FLAGS="$SANFLAGS" \
    >"$WORK/ex-cmake-$kind.log" 2>&1 &&
    cmake --build "$WORK/ex-cmake-$kind" >>"$WORK/ex-cmake-$kind.log" 2>&1 ||
    { cat "$WORK/ex-cmake-$kind.log" >&2; fail "find_package build ($kind) failed"; }
  has_def=no
  grep -q -- '-DSLUICE_STATIC' "$WORK/ex-cmake-$kind/compile_commands.json" && has_def=yes
  want=no; [ "$kind" = static ] && want=yes
  [ "$has_def" = "$want" ] || fail "find_package $kind consumer: SLUICE_STATIC defined=$has_def, want $want"
  cp "$WORK/ex-cmake-$kind/emit_events" "$WORK/ex_cmake_$kind"
done

note "static consumers do not need the shared library, shared ones do"
for ex in ex_pc_shared ex_pc_static ex_cmake_shared ex_cmake_static; do
  needs=no
  readelf -d "$WORK/$ex" | grep -q 'NEEDED.*libsluice-producer' && needs=yes
  want=no; [ "${ex%_shared}" != "$ex" ] && want=yes
  [ "$needs" = "$want" ] || fail "$ex: depends on libsluice-producer.so: $needs, want $want"
done

note "the four builds against the installed collector"
cap=$WORK/install.sluice
start_collector inst --pipe inst --out "$cap" --exit-after 4
n=0 total=0 requests=0 checkpoints=0
for ex in ex_pc_shared ex_pc_static ex_cmake_shared ex_cmake_static; do
  n=$((n + 1))
  count=$(scaled $((n * 1000)))
  total=$((total + count + count / 100))
  requests=$((requests + count)) checkpoints=$((checkpoints + count / 100))
  "$WORK/$ex" inst "$count" >"$WORK/$ex.out" 2>"$WORK/$ex.err" ||
    { cat "$WORK/$ex.err" >&2; fail "$ex exited non-zero"; }
  grep -qE "^emit_events: id=[0-9]+ requests=$count checkpoints=$((count / 100)) events=$((count + count / 100)) bytes=[0-9]+$" \
    "$WORK/$ex.out" || { cat "$WORK/$ex.out" >&2; fail "$ex: unexpected summary"; }
done
wait_collector inst
expect_line "$WORK/inst.out" "$(grep '^collector:' "$WORK/inst.out" | grep "producers=4 events=$total .* dropped=0 malformed=0$")"
expect_verify "$cap" "verify: producers=4 events=$total gaps=0 corrupt_blocks=0 torn_tail_bytes=0"
# Every producer is named emit_events and sent both types in the right numbers.
"$DUMP" "$cap" --format jsonl >"$WORK/install.jsonl"
python3 - "$WORK/install.jsonl" "$requests" "$checkpoints" <<'EOF' ||
import collections, json, sys
types = collections.Counter()
names = set()
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["kind"] == "event":
        types[r["type"]] += 1
        names.add(r["name"])
want = {1: int(sys.argv[2]), 2: int(sys.argv[3])}
if names != {"emit_events"} or dict(types) != want:
    sys.exit("names=%s types=%s, want names={'emit_events'} types=%s"
             % (names, dict(types), want))
EOF
  fail "event types or producer names in the capture are wrong"

note "the capture reader in the installed library reads that capture back"
cat >"$WORK/read_capture.c" <<'EOF'
#include <sluice/capture.h>
#include <stdio.h>
int main(int argc, char **argv) {
    sluice_capture *c;
    sluice_record r;
    sluice_capture_stats st;
    unsigned long long events = 0, connects = 0;
    int rc = sluice_capture_open(argv[argc - 1], &c);
    if (rc != 0) { fprintf(stderr, "%s\n", sluice_strerror(rc)); return 1; }
    while ((rc = sluice_capture_next(c, &r)) == 0) {
        sluice_connect_info ci;
        if (r.type < 0xF000u) events++;
        if (r.type == SLUICE_REC_CONNECT && sluice_record_connect(&r, &ci) == 0) connects++;
    }
    sluice_capture_get_stats(c, &st);
    printf("read: events=%llu connects=%llu corrupt=%llu torn=%llu\n", events, connects,
           (unsigned long long)st.corrupt_blocks, (unsigned long long)st.torn_tail_bytes);
    sluice_capture_close(c);
    return rc == 1 ? 0 : 1;
}
EOF
pcdir=$libdir/pkgconfig
"$CC" -std=c11 -Wall -Wextra -Werror $SANFLAGS "$WORK/read_capture.c" -o "$WORK/read_capture" \
  $(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs sluice-producer) ||
  fail "a capture reader does not build against the installed library"
LD_LIBRARY_PATH="$libdir" "$WORK/read_capture" "$cap" >"$WORK/read.out" || fail "reading the capture failed"
expect_line "$WORK/read.out" "read: events=$total connects=4 corrupt=0 torn=0"

note "installed sluice-bench finds the installed collector and producer"
"$C/sluice-bench" --producers 2 --count "$(scaled 2000)" --dir "$WORK" >"$WORK/bench.out" 2>"$WORK/bench.err" ||
  { cat "$WORK/bench.err" >&2; fail "installed sluice-bench failed"; }
grep -qE "^bench: producers=2 events=$(( 2 * $(scaled 2000) )) .* lost=0( |$)" "$WORK/bench.out" ||
  { cat "$WORK/bench.out" >&2; fail "installed sluice-bench: unexpected result"; }
echo "ok"
