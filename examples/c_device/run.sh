#!/usr/bin/env bash
# Builds the C device and the Rust demo cloud, runs the cloud on a free loopback port, runs the
# device against it, and checks that both sides completed the session cleanly.
# Usage: examples/c_device/run.sh   (from any directory; needs cargo, gcc)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/target/c-device"
cc="${CC:-gcc}"
native_libs="${TETHER_NATIVE_LIBS:--lpthread -ldl -lm}"

server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "run.sh: $*" >&2; exit 1; }

echo "== build the library and the demo cloud"
(cd "$root" && cargo build -p tether-ffi && cargo build --example demo)
mkdir -p "$out"

echo "== build the C device"
"$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror -I "$root/ffi/include" \
  "$here/device.c" "$root/target/debug/libtether_ffi.a" $native_libs -o "$out/device"

echo "== start the cloud on 127.0.0.1:0"
server_log="$out/server.log"
: >"$server_log"
"$root/target/debug/examples/demo" server 127.0.0.1:0 >"$server_log" 2>&1 &
server_pid=$!
addr=""
for _ in $(seq 1 100); do
  addr="$(sed -n 's/^\[cloud\] listening on \([^,]*\),.*/\1/p' "$server_log")"
  [ -n "$addr" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$server_log"; fail "the cloud exited early"; }
  sleep 0.1
done
[ -n "$addr" ] || { cat "$server_log"; fail "the cloud did not report its address"; }
echo "cloud listening on $addr"

echo "== run the C device"
device_rc=0
timeout 30 "$out/device" "$addr" | tee "$out/device.log" || device_rc=$?
[ "$device_rc" -eq 0 ] || fail "the device exited with $device_rc"
grep -q '^\[device\] <- command: set-interval 60s$' "$out/device.log" ||
  fail "the device did not receive the command"
grep -q '^\[device\] <- close; done$' "$out/device.log" || fail "the device did not see the close"

# The cloud serves forever; wait until it has logged the end of this session, then stop it.
for _ in $(seq 1 50); do
  grep -q 'session done' "$server_log" && break
  sleep 0.1
done
kill -0 "$server_pid" 2>/dev/null || { cat "$server_log"; fail "the cloud died"; }
echo "== cloud log"
cat "$server_log"
grep -q '^\[cloud\] session up with SN-DEMO-0001' "$server_log" || fail "no session on the cloud"
grep -q '^\[cloud\] <- key update' "$server_log" || fail "the cloud saw no key update"
grep -q 'vitals batch, 6 readings in [0-9]* bytes: 97 %, 72 /min, 96 %, 75 /min, 97 %, 74 /min$' "$server_log" ||
  fail "the cloud did not decode the device's vitals batch"
grep -q '^\[cloud\] <- close; session done after 5 readings$' "$server_log" ||
  fail "the cloud did not finish the session cleanly"
if grep -Eq 'refused|without close|Error' "$server_log"; then
  fail "the cloud reported an error"
fi
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=""
echo "== C device and Rust cloud completed the session"
