#!/usr/bin/env bash
# Builds the JNI binding (ffi/jni/tether_jni.c over target/debug/libtether_ffi.a, and the Java
# classes in ffi/jni/java) and runs, each once plainly and once under -Xcheck:jni:
# - org.tether.PhoneTest: Java as the phone, the responder of a BLE session its device starts
#   (the device driven from Java too, in the same JVM), every unit crossing the link as fragments
#   at ATT_MTU 23, 185 and 517, vital signs decoded; then pairing with a device by a six-digit
#   code (a wrong code first), reconnecting with it, and relaying its session with a cloud (in
#   the JVM too) through a relay table;
# - org.tether.TetherTest: Java as the demo device against the Rust record-layer demo server
#   (examples/records.rs) on loopback.
#
# Usage: ffi/jni/run.sh   (from any directory; plain javac/java, no Maven or Gradle)
# Outputs go to target/jni/ (never into the source tree): classes, the generated JNI header,
# libtether_jni.so, and the logs of the server and of both runs. Needs cargo, gcc, nm and a JDK
# (9 or later, for javac --release 8; found from the javac on PATH).
set -euo pipefail

started=$SECONDS
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# Cargo's target directory (CARGO_TARGET_DIR, relative to the caller's directory, if set).
target="${CARGO_TARGET_DIR:-$root/target}"
[[ "$target" == /* ]] || target="$PWD/$target"
export CARGO_TARGET_DIR="$target" # the cargo commands below run from $root
out="$target/jni"

say() { printf '== %s\n' "$*"; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

# ---- The server is killed however this script ends.
server=""
cleanup() {
    if [[ -n "$server" ]] && kill -0 "$server" 2>/dev/null; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---- JDK: from the javac on PATH.
command -v javac >/dev/null || die "javac not found on PATH"
javac_path="$(readlink -f "$(command -v javac)")"
java_home="$(dirname "$(dirname "$javac_path")")"
java="$java_home/bin/java"
[[ -x "$java" ]] || die "no java next to $javac_path"
[[ -f "$java_home/include/jni.h" ]] || die "no JNI headers in $java_home/include"
jni_md="$(find "$java_home/include" -name jni_md.h -print -quit)"
[[ -n "$jni_md" ]] || die "no jni_md.h under $java_home/include"
jni_md_dir="$(dirname "$jni_md")"

rm -rf "$out"
mkdir -p "$out/classes" "$out/test-classes" "$out/include" "$out/lib"

# ---- Rust: the static library, its native dependencies, and the record-layer demo server.
cd "$root"
say "cargo: libtether_ffi.a and the records example"
# `cargo rustc` prints the system libraries a staticlib needs (replayed from cache when up to
# date). It writes the same libtether_ffi.a, so the `cargo build` after it puts back the
# canonical build (only the tether-ffi crate itself is recompiled).
if ! cargo rustc -q -p tether-ffi --lib --crate-type staticlib -- --print native-static-libs \
        >"$out/native-static-libs.log" 2>&1; then
    cat "$out/native-static-libs.log" >&2
    die "cargo rustc failed"
fi
native_libs="$(sed -n 's/^note: native-static-libs: //p' "$out/native-static-libs.log" | tail -n 1)"
[[ -n "$native_libs" ]] || die "no native-static-libs line in $out/native-static-libs.log"
read -r -a native_libs <<<"$native_libs"
cargo build -q -p tether-ffi
cargo build -q --example records
staticlib="$target/debug/libtether_ffi.a"
records="$target/debug/examples/records"
[[ -f "$staticlib" && -x "$records" ]] || die "cargo did not produce $staticlib and $records"

# ---- Java: the binding for Java 8 APIs (what any Android level offers), plus its JNI header.
say "javac: org.tether.Tether (release 8), TetherTest and PhoneTest"
javac --release 8 -Xlint:all -Xlint:-options -Werror -encoding UTF-8 \
    -h "$out/include" -d "$out/classes" \
    "$here/java/org/tether/Tether.java" "$here/java/org/tether/TetherException.java"
javac -Xlint:all -Werror -encoding UTF-8 -cp "$out/classes" -d "$out/test-classes" \
    "$here/java/org/tether/Checks.java" "$here/java/org/tether/TetherTest.java" \
    "$here/java/org/tether/PhoneTest.java"

# ---- C: the shim, checked against the generated header, linked with the static library.
# jni.h and jni_md.h compile cleanly under -Wpedantic, so no warning is relaxed.
say "gcc: libtether_jni.so"
gcc -std=c11 -Wall -Wextra -Wpedantic -Werror -fPIC -shared -O2 -g -fvisibility=hidden \
    -DTETHER_JNI_REQUIRE_GENERATED_HEADER \
    -I"$java_home/include" -I"$jni_md_dir" -I"$root/ffi/include" -I"$out/include" \
    -o "$out/lib/libtether_jni.so" "$here/tether_jni.c" "$staticlib" \
    -Wl,-z,defs -Wl,--exclude-libs,ALL "${native_libs[@]}"
# Only the JNI entry points are exported (the Rust code stays inside).
exported="$(nm -D --defined-only "$out/lib/libtether_jni.so" | awk '$2 ~ /^[TDBRVW]$/ {print $3}')"
if grep -v '^Java_org_tether_Tether_' <<<"$exported" | grep -q .; then
    grep -v '^Java_org_tether_Tether_' <<<"$exported" >&2
    die "libtether_jni.so exports symbols beyond the JNI entry points"
fi

# ---- The Java phone, twice (no network: its device is in the same JVM).
run_phone() { # run_phone LOG [JVM options...]
    local log="$1"
    shift
    if ! "$java" "$@" -Djava.library.path="$out/lib" -cp "$out/classes:$out/test-classes" \
            org.tether.PhoneTest 2>&1 | tee "$log"; then
        die "PhoneTest failed (log: $log)"
    fi
    tail -n 1 "$log" | grep -Eq '^[0-9]+ passed, 0 failed$' || die "unexpected last line in $log"
}
say "java org.tether.PhoneTest"
run_phone "$out/phone.log"
say "java -Xcheck:jni org.tether.PhoneTest"
run_phone "$out/phone-checkjni.log" -Xcheck:jni
if grep -E 'WARNING|FATAL ERROR|JNI (call|local refs)' "$out/phone-checkjni.log" >&2; then
    die "-Xcheck:jni reported the problems above (PhoneTest)"
fi

# ---- The records demo server on an ephemeral loopback port.
say "records demo server"
server_log="$out/server.log"
: >"$server_log"
"$records" server 127.0.0.1:0 >"$server_log" 2>&1 &
server=$!
listening=""
for _ in $(seq 1 300); do
    listening="$(grep -m 1 '^\[cloud\] listening on ' "$server_log" || true)"
    [[ -n "$listening" ]] && break
    kill -0 "$server" 2>/dev/null || { cat "$server_log" >&2; die "the demo server exited"; }
    sleep 0.1
done
[[ -n "$listening" ]] || { cat "$server_log" >&2; die "the demo server never said it listens"; }
# [cloud] listening on 127.0.0.1:PORT, static key HEX
addr="$(sed -n 's/^\[cloud\] listening on \([^,]*\),.*/\1/p' <<<"$listening")"
cloud_key="$(sed -n 's/.*, static key \([0-9a-f]\{64\}\)$/\1/p' <<<"$listening")"
[[ "$addr" =~ ^127\.0\.0\.1:[0-9]+$ && -n "$cloud_key" ]] || die "cannot parse: $listening"
echo "$listening"

# ---- The Java device, twice.
run_test() { # run_test LOG [JVM options...]
    local log="$1"
    shift
    if ! "$java" "$@" -Djava.library.path="$out/lib" -cp "$out/classes:$out/test-classes" \
            org.tether.TetherTest "$addr" --header="$root/ffi/include/tether.h" \
            --cloud-key="$cloud_key" 2>&1 | tee "$log"; then
        die "TetherTest failed (log: $log, server log: $server_log)"
    fi
    tail -n 1 "$log" | grep -Eq '^[0-9]+ passed, 0 failed$' || die "unexpected last line in $log"
}
say "java org.tether.TetherTest $addr"
run_test "$out/test.log"
say "java -Xcheck:jni org.tether.TetherTest $addr"
run_test "$out/test-checkjni.log" -Xcheck:jni
if grep -E 'WARNING|FATAL ERROR|JNI (call|local refs)' "$out/test-checkjni.log" >&2; then
    die "-Xcheck:jni reported the problems above"
fi

# ---- The server's side of both sessions.
say "server log"
cat "$server_log"
kill -0 "$server" 2>/dev/null || die "the demo server died"
expect_twice() {
    local n
    n="$(grep -cF -- "$1" "$server_log" || true)"
    [[ "$n" == 2 ]] || die "server log: expected \"$1\" twice, found it $n times"
}
expect_twice "[cloud] session up with SN-DEMO-0001 (PulseOximeter P3 2.4.1)"
expect_twice "[cloud] -> command: set-interval 60s"
expect_twice "[cloud] <- key update: device now sends in epoch 1"
expect_twice "[cloud] <- record (30 bytes on the wire): SpO2 96 %"
expect_twice "[cloud] <- close; session done after 5 readings"
if grep -E 'refused|without close' "$server_log" >&2; then
    die "the server saw a failed session"
fi

say "JNI binding: all passed, twice, in $((SECONDS - started)) s (PhoneTest: $(tail -n 1 "$out/phone.log"); TetherTest: $(tail -n 1 "$out/test.log"))"
