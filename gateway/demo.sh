#!/usr/bin/env bash
# First run of the gateway, as a user would do it, with the demo device (examples/demo.rs):
# a fresh data directory, the device registered and a signed command queued with the CLI, the
# gateway serving on a free loopback port, the device run against it twice (the second time
# with a new outbox, so a new message stream), then a graceful stop and what the database says:
# the readings exported, the command executed, the audit trail intact.
# Usage: gateway/demo.sh   (from any directory; needs cargo)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
gw="$target/debug/tether-gateway"
demo="$target/debug/examples/demo"
data="$(mktemp -d)"
log="$data/serve.log"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -rf "$data"
}
trap cleanup EXIT
fail() { echo "gateway/demo.sh: $*" >&2; [ -f "$log" ] && cat "$log" >&2; exit 1; }

(cd "$root" && cargo build --quiet -p tether-gateway && cargo build --quiet --example demo)

# The demo device's public key (X25519 of its fixed secret, 32 bytes of 0xD1; the device prints it).
device_pub="7e698e6c04ff7ce65a05c6e5c1d0338782d223c6390db21ab9c72416c00eef6d"
"$gw" --data "$data" register --id SN-DEMO-0001 --key "$device_pub"
printf 'a7%.0s' $(seq 32) >"$data/clinic.seed" # the demo clinic's Ed25519 seed (never do this for real)
"$gw" --data "$data" queue-command --device SN-DEMO-0001 --authority-seed "$data/clinic.seed" \
  --operation 1 --param 1=60

: >"$log" # exists before the background job opens it: the loop below reads it at once
"$gw" --data "$data" serve --listen 127.0.0.1:0 --no-metrics >"$log" 2>&1 &
pid=$!
addr=""
for _ in $(seq 1 300); do
  addr="$(sed -n 's/^listening on //p' "$log")"
  [ -n "$addr" ] && break
  kill -0 "$pid" 2>/dev/null || fail "the gateway exited early"
  sleep 0.1
done
[ -n "$addr" ] || fail "the gateway did not say where it listens"
key="$(sed -n 's/^gateway public key (pin it on devices): //p' "$log")"
echo "gateway on $addr, key $key"

for run in 1 2; do
  echo "== demo device, run $run"
  timeout 60 "$demo" device "$addr" "$key" | tee "$data/device$run.log" || fail "device run $run failed"
  grep -q '<- close; done' "$data/device$run.log" || fail "run $run: no close from the gateway"
done
grep -q 'command 1' "$data/device1.log" || fail "the device did not get the queued command"

kill -TERM "$pid"
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "the gateway did not stop within 10 s of SIGTERM"
wait "$pid" || fail "the gateway exited with an error"
pid=""
grep -q '^stopped: every connection closed, every commit applied' "$log" || fail "no graceful stop"

"$gw" --data "$data" commands | tee "$data/commands.txt"
grep -q 'SN-DEMO-0001 command 1 (stream number 1): executed' "$data/commands.txt" || fail "command not executed"
rows="$("$gw" --data "$data" export 2>/dev/null | tail -n +2 | wc -l)"
echo "readings exported: $rows"
[ "$rows" -eq 20 ] || fail "expected 20 readings (2 runs x 5 batches x 2), got $rows"
"$gw" --data "$data" verify-audit || fail "audit trail does not verify"
"$gw" --data "$data" audit >"$data/audit.txt"
grep -q 'device.new_stream' "$data/audit.txt" || fail "no new-stream audit event"
echo "== the demo device and the gateway: readings stored, the command executed, the audit trail intact"
