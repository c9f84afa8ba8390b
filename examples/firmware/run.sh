#!/usr/bin/env bash
# Builds the firmware example for both QEMU machines, runs it, and checks its footprint.
#
#   lm3s6965evb  Cortex-M3  thumbv7m-none-eabi
#   mps2-an386   Cortex-M4  thumbv7em-none-eabihf
#
# For each machine: builds (release) the example (src/main.rs) and the device role alone
# (src/bin/device_role.rs), runs both under qemu-system-arm with semihosting and a timeout, fails
# on a non-zero exit status or a missing success line, collects the example's FOOTPRINT lines,
# checks the flash (.text + .rodata) and static RAM (.data + .bss) it reports against llvm-size
# on the ELF, measures the device role's flash the same way, prints a table, and fails if any
# figure is above its guard in budgets.txt.
#
# Usage: examples/firmware/run.sh [--bless]      (from any directory)
#   --bless   rewrite budgets.txt: every guard becomes the figure measured now plus 5%.
#
# Needs rustup (it adds the two targets and llvm-tools) and qemu-system-arm, which it does not
# install: `apt-get install -y --no-install-recommends qemu-system-arm` (Debian 12: QEMU 7.2).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
budgets="$here/budgets.txt"
out="$here/target/run"
qemu_timeout="${QEMU_TIMEOUT:-60}"
bless=0
case "${1:-}" in
  --bless) bless=1 ;;
  "") ;;
  *) echo "usage: $0 [--bless]" >&2; exit 2 ;;
esac

fail() { echo "run.sh: $*" >&2; exit 1; }

# Each figure, its goal (bytes; "-" for none) and what it measures.
goals="$(cat <<'EOF'
flash_role 65536 device role with messages: .text + .rodata of src/bin/device_role.rs
flash - the example (replay checks, progress lines): .text + .rodata
static_ram - .data + .bss of the example (heap arena and stack not counted)
heap_peak 2048 heap in use at the peak of the handshake (requested bytes)
heap_peak_arena - the same peak as the allocator counts it (with its rounding)
heap_allocations - allocations during the handshake
stack_peak 6144 deepest stack of the whole run (painted, high-water mark)
session_size - size_of::<tether::Session>()
session_heap - heap the established session holds (its replay window)
session_ram 512 RAM per established session: session_size + session_heap
heap_arena - heap arena (.uninit), for reference
stack_region - bytes between the end of .uninit and the top of RAM
EOF
)"
goal_of() { awk -v f="$1" '$1 == f { print $2 }' <<<"$goals"; }

# No QEMU may outlive this script, whatever happens.
qemu_pid=""
cleanup() {
  if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
    kill "$qemu_pid" 2>/dev/null || true
    wait "$qemu_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== toolchain"
command -v qemu-system-arm >/dev/null \
  || fail "qemu-system-arm not found: apt-get install -y --no-install-recommends qemu-system-arm"
rustup target add thumbv7m-none-eabi thumbv7em-none-eabihf
rustup component add llvm-tools
host="$(rustc -vV | sed -n 's/^host: //p')"
llvm_size="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-size"
[ -x "$llvm_size" ] || llvm_size="$(command -v llvm-size)" || fail "no llvm-size"
rustc --version
qemu-system-arm --version | head -n 1

# Panic locations embed source paths; map them to short, fixed prefixes so that the flash figures
# do not depend on where the repository or cargo's registry live.
# Passed as CARGO_ENCODED_RUSTFLAGS (separated by 0x1f), so that paths with spaces survive; the
# caller's RUSTFLAGS or CARGO_ENCODED_RUSTFLAGS, if any, come first.
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
flags=()
if [ -n "${CARGO_ENCODED_RUSTFLAGS:-}" ]; then
  IFS=$'\x1f' read -ra flags <<<"$CARGO_ENCODED_RUSTFLAGS"
elif [ -n "${RUSTFLAGS:-}" ]; then
  read -ra flags <<<"$RUSTFLAGS"
fi
unset RUSTFLAGS
flags+=("--remap-path-prefix=$root=tether")
for d in "$cargo_home"/registry/src/*/; do
  if [ -d "$d" ]; then flags+=("--remap-path-prefix=${d%/}=crates"); fi
done
CARGO_ENCODED_RUSTFLAGS="$(IFS=$'\x1f'; echo "${flags[*]}")"
export CARGO_ENCODED_RUSTFLAGS
export CARGO_TERM_COLOR=never

machines="lm3s6965evb mps2-an386"
target_of() { case "$1" in lm3s6965evb) echo thumbv7m-none-eabi ;; mps2-an386) echo thumbv7em-none-eabihf ;; esac; }
cpu_of() { case "$1" in lm3s6965evb) echo cortex-m3 ;; mps2-an386) echo cortex-m4 ;; esac; }

echo "== build (release)"
cd "$here"
for m in $machines; do
  cargo build --release --target "$(target_of "$m")" --bins
done

# run_qemu MACHINE ELF LOG: runs one ELF under QEMU, stdout to LOG and stderr to LOG.err, and
# returns QEMU's exit status (the semihosting exit status, or 124 on timeout).
run_qemu() {
  local machine="$1" elf="$2" log="$3" rc=0
  timeout -k 5 "$qemu_timeout" qemu-system-arm -cpu "$(cpu_of "$machine")" -machine "$machine" \
    -nographic -semihosting-config enable=on,target=native -kernel "$elf" \
    >"$log" 2>"$log.err" </dev/null &
  qemu_pid=$!
  wait "$qemu_pid" || rc=$?
  qemu_pid=""
  return "$rc"
}

# Sum of the named sections of an ELF.
sections() {
  local elf="$1"; shift
  "$llvm_size" -A "$elf" | awk -v want=" $* " 'index(want, " " $1 " ") { s += $2 } END { print s + 0 }'
}

# reported LOG NAME: the value of a FOOTPRINT line.
reported() { sed -n "s/^FOOTPRINT $2=\([0-9]*\)\$/\1/p" "$1"; }

mkdir -p "$out"
results="$out/figures.txt"
: >"$results"
for m in $machines; do
  t="$(target_of "$m")"
  elf="$here/target/$t/release/tether-firmware"
  role="$here/target/$t/release/device_role"
  log="$out/$m.log"
  echo "== run on $m ($(cpu_of "$m"), $t)"
  rc=0
  run_qemu "$m" "$elf" "$log" || rc=$?
  cat "$log"
  [ "$rc" -eq 0 ] || { cat "$log.err" >&2; fail "$m: the example exited with status $rc"; }
  grep -qx "tether-firmware: PASS" "$log" || fail "$m: no success line"
  rc=0
  run_qemu "$m" "$role" "$out/$m.device_role.log" || rc=$?
  [ "$rc" -eq 0 ] || fail "$m: the device role alone exited with status $rc"
  echo "device role alone: exit status 0"
  # Flash and static RAM from the ELF; the firmware also reports them (from its linker symbols),
  # and the two must agree.
  flash="$(sections "$elf" .text .rodata)"
  static_ram="$(sections "$elf" .data .bss)"
  [ "$(reported "$log" flash)" = "$flash" ] \
    || fail "$m: the firmware reports flash=$(reported "$log" flash), llvm-size $flash"
  [ "$(reported "$log" static_ram)" = "$static_ram" ] \
    || fail "$m: the firmware reports static_ram=$(reported "$log" static_ram), llvm-size $static_ram"
  {
    sed -n 's/^FOOTPRINT \([a-z_]*\)=\([0-9]*\)$/\1 \2/p' "$log" | sed "s/^/$m /"
    echo "$m flash_role $(sections "$role" .text .rodata)"
  } >>"$results"
done

# figure MACHINE NAME: the measured value.
figure() { awk -v m="$1" -v f="$2" '$1 == m && $2 == f { print $3 }' "$results"; }

echo
echo "== footprint (bytes)"
printf '%-22s' "figure"
for m in $machines; do printf '%14s' "$m"; done
printf '%10s  %s\n' "goal" "meaning"
while read -r name goal meaning; do
  printf '%-22s' "$name"
  for m in $machines; do printf '%14s' "$(figure "$m" "$name")"; done
  printf '%10s  %s\n' "$goal" "$meaning"
done <<<"$goals"

if [ "$bless" -eq 1 ]; then
  {
    echo "# Footprint guards checked by run.sh: each is the figure measured when this file was last"
    echo "# written (run.sh --bless) plus 5%, rounded up. A build above a guard fails; when the footprint"
    echo "# shrinks, bless again so that the guards follow it down. Raising a guard needs a reason."
    echo "# A figure with a goal never gets a guard above its goal."
    echo "# machine     figure       measured  guard"
    for m in $machines; do
      for f in flash_role flash static_ram heap_peak stack_peak session_ram; do
        v="$(figure "$m" "$f")"
        [ -n "$v" ] || fail "$m: no figure $f"
        g=$(( (v * 105 + 99) / 100 ))
        goal="$(goal_of "$f")"
        if [ "$goal" != "-" ] && [ "$g" -gt "$goal" ]; then g="$goal"; fi
        printf '%-13s %-12s %8s %6s\n' "$m" "$f" "$v" "$g"
      done
    done
  } >"$budgets"
  echo
  echo "budgets.txt rewritten"
fi

echo
echo "== guards ($budgets)"
[ -f "$budgets" ] || fail "no $budgets: run.sh --bless writes it from this run's figures"
over=0
while read -r m f baseline guard; do
  case "$m" in ''|'#'*) continue ;; esac
  v="$(figure "$m" "$f")"
  if [ -z "$v" ]; then
    echo "MISSING  $m $f: not measured"; over=1
  elif [ "$v" -gt "$guard" ]; then
    echo "OVER     $m $f = $v > guard $guard (measured $baseline when the guard was set)"; over=1
  else
    echo "ok       $m $f = $v <= $guard"
  fi
done <"$budgets"
[ "$over" -eq 0 ] || fail "footprint above its guard (see above); if the growth is intended, run.sh --bless and explain why in the change"
echo
echo "firmware: both machines pass, every figure within its guard"
