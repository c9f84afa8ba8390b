#!/usr/bin/env bash
# Builds the C device and the tether gateway, registers the device and queues a signed command in
# a fresh data directory, runs the gateway on a free loopback port, runs the device against it,
# stops the gateway gracefully, and checks what both sides and the database say.
# Usage: examples/c_device/run.sh   (from any directory; needs cargo and gcc; python3 with the
# `cryptography` package, if present, double-checks the two fixed public keys below)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac # cargo runs from $root
out="$target/c-device"
gateway="$target/debug/tether-gateway"
cc="${CC:-gcc}"
native_libs="${TETHER_NATIVE_LIBS:--lpthread -ldl -lm}"

# The device's X25519 public key: tether_public_key of its fixed demo secret, 32 bytes of 0xD1
# (device.c). Computed once with python3 (cryptography):
#   X25519PrivateKey.from_private_bytes(bytes([0xd1] * 32)).public_key().public_bytes_raw().hex()
# and checked below, against python3 when it can and against what the device prints.
device_id="SN-DEMO-0001"
device_pub="7e698e6c04ff7ce65a05c6e5c1d0338782d223c6390db21ab9c72416c00eef6d"

data=""
log=""
errlog=""
gateway_pid=""
gateway_rc=""
ok=0
shown=0 # the gateway's logs were printed
# Stops the gateway: SIGTERM, then up to $1 seconds for its graceful shutdown (it finishes every
# commit and closes every session first), then SIGKILL. Its exit status goes to gateway_rc
# ("killed" if it had to be killed).
stop_gateway() {
  local pid="$gateway_pid"
  gateway_pid=""
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $(($1 * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    gateway_rc=killed
  else
    gateway_rc=0
    wait "$pid" || gateway_rc=$?
  fi
}
cleanup() {
  if [ -n "$gateway_pid" ]; then
    stop_gateway 10
    [ "$gateway_rc" != killed ] || echo "run.sh: the gateway did not stop within 10 s of SIGTERM: killed" >&2
  fi
  if [ "$ok" -ne 1 ] && [ "$shown" -eq 0 ] && [ -n "$log" ] && [ -f "$log" ]; then
    echo "-- gateway stdout ($log)" >&2
    cat "$log" >&2
    echo "-- gateway stderr ($errlog)" >&2
    cat "$errlog" >&2
  fi
  if [ -n "$data" ]; then
    if [ "$ok" -eq 1 ]; then
      rm -rf "$data"
    else
      echo "run.sh: the gateway's data directory is kept for inspection: $data" >&2
    fi
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "run.sh: $*" >&2; exit 1; }
gw() { "$gateway" --data "$data" "$@"; }

echo "== check the fixed keys"
if python3 -c 'import cryptography' 2>/dev/null; then
  python3 - "$device_pub" "$here/device.c" <<'EOF' || fail "a fixed public key is wrong"
import re, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
raw = lambda k: k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
device = raw(X25519PrivateKey.from_private_bytes(bytes([0xD1] * 32)))
clinic = raw(Ed25519PrivateKey.from_private_bytes(bytes([0xA7] * 32)))
embedded = re.search(r'#define CLINIC_PUBLIC_KEY_HEX "([0-9a-f]{64})"', open(sys.argv[2]).read())
ok = True
if device != sys.argv[1]:
    print(f"run.sh's device key is {sys.argv[1]}, X25519 of 32 x 0xD1 is {device}"); ok = False
if embedded is None or embedded.group(1) != clinic:
    print(f"device.c's CLINIC_PUBLIC_KEY_HEX is wrong: Ed25519 of 32 x 0xA7 is {clinic}"); ok = False
print("device key and clinic key match their seeds" if ok else "", end="\n" if ok else "")
sys.exit(0 if ok else 1)
EOF
else
  echo "(python3 with cryptography not found: checking the device key against the device only)"
fi

echo "== build the library and the gateway"
(cd "$root" && cargo build -p tether-ffi -p tether-gateway)
mkdir -p "$out"

echo "== build the C device"
# DEVICE_CFLAGS adds flags, e.g. '-fsanitize=address,undefined -fno-omit-frame-pointer'.
"$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror ${DEVICE_CFLAGS:-} -I "$root/ffi/include" \
  "$here/device.c" "$target/debug/libtether_ffi.a" $native_libs -o "$out/device"

echo "== set up a data directory: register the device, queue a signed command"
data="$(mktemp -d "${TMPDIR:-/tmp}/tether-c-device.XXXXXX")"
gw register --id "$device_id" --key "$device_pub"
# The clinic's command authority: a demo Ed25519 seed, 32 bytes of 0xA7 as hex. device.c pins
# its public key under the key id "clinic" (queue-command's default --kid).
printf 'a7%.0s' $(seq 32) >"$data/clinic.seed"
gw queue-command --device "$device_id" --authority-seed "$data/clinic.seed" \
  --operation 1 --param 1=60 # operation 1: set the measurement interval; param 1: 60 s

echo "== start the gateway on 127.0.0.1:0"
log="$out/gateway.log"
errlog="$out/gateway.stderr.log"
: >"$log"
"$gateway" --data "$data" serve --listen 127.0.0.1:0 --no-metrics >"$log" 2>"$errlog" &
gateway_pid=$!
addr=""
for _ in $(seq 1 100); do
  addr="$(sed -n 's/^listening on \(.*\)$/\1/p' "$log")"
  [ -n "$addr" ] && break
  kill -0 "$gateway_pid" 2>/dev/null || fail "the gateway exited early"
  sleep 0.1
done
[ -n "$addr" ] || fail "the gateway did not report its address"
gateway_key="$(sed -n 's/^gateway public key (pin it on devices): \([0-9a-f]\{64\}\)$/\1/p' "$log")"
[ -n "$gateway_key" ] || fail "the gateway did not print its public key"
echo "gateway listening on $addr, public key $gateway_key"

echo "== run the C device"
device_rc=0
timeout 30 "$out/device" "$addr" "$gateway_key" 2>&1 | tee "$out/device.log" || device_rc=$?
[ "$device_rc" -eq 0 ] || fail "the device exited with $device_rc"
grep -q "^\[device\] $device_id, static public key $device_pub\$" "$out/device.log" ||
  fail "the device's public key is not the one registered"
grep -q '^\[device\] <- command [0-9]* from clinic: set interval 60 s (operation 1): executed$' \
  "$out/device.log" || fail "the device did not verify and execute the command"
grep -q '^\[device\] <- stored up to message 6$' "$out/device.log" ||
  fail "the gateway did not store all six messages (five batches, one command acknowledgement)"
grep -q '^\[device\] <- close; done$' "$out/device.log" || fail "the device did not see the close"

echo "== stop the gateway (SIGTERM: it finishes every commit, then exits)"
stop_gateway 15
echo "-- gateway stdout"
cat "$log"
echo "-- gateway stderr"
cat "$errlog"
shown=1
[ "$gateway_rc" = 0 ] || fail "the gateway did not stop gracefully within 15 s (exit: $gateway_rc)"
grep -q '^stopped: ' "$log" || fail "the gateway did not report a graceful stop"

echo "== what the database says"
gw commands | tee "$out/commands.txt"
grep -q "^$device_id command [0-9]* (stream number 1): executed\$" "$out/commands.txt" ||
  fail "the command is not recorded as executed"

gw export >"$out/readings.csv"
rows=$(($(wc -l <"$out/readings.csv") - 1)) # minus the CSV header
head -n 4 "$out/readings.csv"
echo "... $rows readings"
expected=$((5 * 6)) # five batches of three seconds, SpO2 and pulse rate each second
[ "$rows" -eq "$expected" ] || fail "exported $rows readings, expected $expected"
[ "$(grep -c "^$device_id,[1-5],[0-9]*,150456,262688,9[0-9]\$" "$out/readings.csv")" -eq 15 ] ||
  fail "expected 15 SpO2 readings (MDC 150456, %) in messages 1 to 5"
[ "$(grep -c "^$device_id,[1-5],[0-9]*,149530,264864,[0-9]*\$" "$out/readings.csv")" -eq 15 ] ||
  fail "expected 15 pulse-rate readings (MDC 149530, /min) in messages 1 to 5"

gw verify-audit | tee "$out/audit.txt" || fail "verify-audit failed: the audit trail is not intact"
grep -q '^audit trail intact' "$out/audit.txt" || fail "verify-audit did not say intact"
gw audit

ok=1
echo "== the C device delivered its readings to the gateway and executed its command"
