#!/usr/bin/env bash
# C tests of the tether C ABI, run twice:
#   (a) with AddressSanitizer + UndefinedBehaviorSanitizer (leaks included), against the debug
#       library (Rust debug assertions on);
#   (b) without sanitizers under valgrind (memcheck, definite and indirect leaks are errors),
#       against the release library (same code optimised, with debug info for the reports:
#       the debug build's unoptimised crypto takes minutes under valgrind).
# Usage: ffi/tests/c/run.sh   (from any directory; needs cargo, gcc, nm, valgrind)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
out="$root/target/c-tests"
cc="${CC:-gcc}"
# What `cargo rustc -p tether-ffi --lib --crate-type staticlib -- --print native-static-libs`
# asks for, reduced to what links on glibc (rt and util live in libc there); override if needed.
native_libs="${TETHER_NATIVE_LIBS:--lpthread -ldl -lm}"
strict=(-std=c11 -Wall -Wextra -Wpedantic -Werror -I "$root/ffi/include")

started=$(date +%s)
step() { echo "== $* (+$(($(date +%s) - started))s)"; }

for tool in cargo "$cc" nm valgrind; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool not found" >&2; exit 1; }
done

step "build the library, debug and release (cargo build -p tether-ffi)"
(cd "$root" && cargo build -p tether-ffi && cargo build -p tether-ffi --release)
lib="$root/target/debug/libtether_ffi.a"
release_lib="$root/target/release/libtether_ffi.a"
for l in "$lib" "$release_lib"; do
  [ -f "$l" ] || { echo "run.sh: $l missing" >&2; exit 1; }
done
mkdir -p "$out"

# Runs the test binary given as arguments (possibly behind valgrind) and checks the summary line.
run_and_check() {
  local log="$1"; shift
  local rc=0
  "$@" >"$log" 2>&1 || rc=$?
  cat "$log"
  if [ "$rc" -ne 0 ]; then
    echo "run.sh: '$*' exited with $rc" >&2
    exit 1
  fi
  local summary
  summary="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)"
  if ! [[ "$summary" =~ ^[1-9][0-9]*\ passed,\ 0\ failed$ ]]; then
    echo "run.sh: no '<N> passed, 0 failed' line in the output" >&2
    exit 1
  fi
}

step "(a) AddressSanitizer + UndefinedBehaviorSanitizer"
"$cc" "${strict[@]}" -fsanitize=address,undefined -fno-sanitize-recover=undefined \
  -fno-omit-frame-pointer -g "$here/test_tether.c" "$lib" $native_libs -o "$out/test_tether_asan"
# (grep reads all of nm's output: with pipefail, an early `grep -q` exit would fail nm.)
if ! nm "$out/test_tether_asan" | grep -c '__asan_init' >/dev/null; then
  echo "run.sh: __asan_init not found: the binary is not instrumented" >&2
  exit 1
fi
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  run_and_check "$out/asan.log" "$out/test_tether_asan"

step "(b) valgrind memcheck"
"$cc" "${strict[@]}" -g -O1 "$here/test_tether.c" "$release_lib" $native_libs -o "$out/test_tether"
run_and_check "$out/valgrind.log" \
  valgrind --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite,indirect \
  --track-origins=yes "$out/test_tether"
if ! grep -q 'ERROR SUMMARY: 0 errors' "$out/valgrind.log"; then
  echo "run.sh: valgrind reported errors" >&2
  exit 1
fi

step "C tests passed under ASan+UBSan and valgrind"
