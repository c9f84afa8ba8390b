#!/usr/bin/env bash
# C tests of the tether C ABI (test_tether.c: documented use; test_misuse.c: misuse;
# test_messages.c: the message layer against the spec vectors; test_outbox.c: delivery and the
# sealed outbox; test_link.c: the BLE link layer and the phone's side of a BLE session;
# test_code_pairing.c: short-code pairing and the relay), each run twice:
#   (a) with AddressSanitizer + UndefinedBehaviorSanitizer (leaks included), against the debug
#       library (Rust debug assertions on);
#   (b) without sanitizers under valgrind (memcheck, definite and indirect leaks are errors),
#       against the release library (same code optimised, with debug info for the reports:
#       the debug build's unoptimised crypto takes minutes under valgrind).
# Usage: ffi/tests/c/run.sh   (from any directory; needs cargo, gcc, nm, valgrind)
# Uses Cargo's target directory (CARGO_TARGET_DIR, relative to the caller's directory, if set).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
[[ "$target" == /* ]] || target="$PWD/$target"
export CARGO_TARGET_DIR="$target" # the cargo commands below run from $root
out="$target/c-tests"
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
lib="$target/debug/libtether_ffi.a"
release_lib="$target/release/libtether_ffi.a"
for l in "$lib" "$release_lib"; do
  [ -f "$l" ] || { echo "run.sh: $l missing" >&2; exit 1; }
done
mkdir -p "$out"

# Runs the test binary given as arguments (possibly behind valgrind) and checks the summary line.
# Returns non-zero (after printing why) instead of exiting, so that every binary gets its run.
run_and_check() {
  local log="$1"; shift
  local rc=0
  "$@" >"$log" 2>&1 || rc=$?
  cat "$log"
  if [ "$rc" -ne 0 ]; then
    echo "run.sh: '$*' exited with $rc" >&2
    return 1
  fi
  local summary
  summary="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1 || true)"
  if ! [[ "$summary" =~ ^[1-9][0-9]*\ passed,\ 0\ failed$ ]]; then
    echo "run.sh: no '<N> passed, 0 failed' line in the output" >&2
    return 1
  fi
}

# (a) Builds ffi/tests/c/<name>.c with ASan+UBSan against the debug library and runs it.
run_asan() {
  local name="$1" bin="$out/$1_asan"
  "$cc" "${strict[@]}" -fsanitize=address,undefined -fno-sanitize-recover=undefined \
    -fno-omit-frame-pointer -g "$here/$name.c" "$lib" $native_libs -o "$bin" || return 1
  # (grep reads all of nm's output: with pipefail, an early `grep -q` exit would fail nm.)
  if ! nm "$bin" | grep -c '__asan_init' >/dev/null; then
    echo "run.sh: __asan_init not found: $bin is not instrumented" >&2
    return 1
  fi
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    run_and_check "$out/$name.asan.log" "$bin"
}

# (b) Builds ffi/tests/c/<name>.c without sanitizers against the release library and runs it
# under valgrind memcheck.
run_valgrind() {
  local name="$1" bin="$out/$1"
  "$cc" "${strict[@]}" -g -O1 "$here/$name.c" "$release_lib" $native_libs -o "$bin" || return 1
  run_and_check "$out/$name.valgrind.log" \
    valgrind --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --track-origins=yes "$bin" || return 1
  if ! grep -q 'ERROR SUMMARY: 0 errors' "$out/$name.valgrind.log"; then
    echo "run.sh: valgrind reported errors for $name" >&2
    return 1
  fi
}

# test_tether.c: the API used as documented; test_misuse.c: the API misused as C users do;
# test_messages.c: the message layer (vitals, commands, updates) against the spec vectors;
# test_outbox.c: delivery and the sealed outbox over an in-memory flash, attacks included;
# test_link.c: the BLE link layer (its vectors, its misuse) and a phone's BLE session;
# test_code_pairing.c: short-code pairing (its vector, a phone and its device, wrong and spent
# codes, malformed code messages, rate limiting across a reboot) and the relay (its vectors, the
# relay table), with the misuse of both new handles.
tests=(test_tether test_misuse test_messages test_outbox test_link test_code_pairing)
failed=()
for t in "${tests[@]}"; do
  step "(a) AddressSanitizer + UndefinedBehaviorSanitizer: $t"
  run_asan "$t" || failed+=("$t (ASan+UBSan)")
done
for t in "${tests[@]}"; do
  step "(b) valgrind memcheck: $t"
  run_valgrind "$t" || failed+=("$t (valgrind)")
done

if [ "${#failed[@]}" -ne 0 ]; then
  step "FAILED: ${failed[*]}"
  exit 1
fi
step "C tests passed under ASan+UBSan and valgrind"
