#!/usr/bin/env bash
# Flash breakdown of a firmware ELF by crate and by symbol: sizes from `llvm-nm --size-sort
# --print-size` (code `t`/`T` and read-only data `r`/`R`), demangled names, grouped by the crate
# that owns the code (for `<Type as Trait>::f`, the crate of `Type`; for
# `core::ptr::drop_in_place<T>`, the crate of `T`). Anonymous constants (`.Lanon.*`: string
# literals, tables, panic locations) have no owner in the symbol table and are one group.
#
# Then the largest stack frames: the bytes each function reserves with `sub sp` (register pushes
# not counted), from the disassembly. The stack peak is the sum of the frames on the deepest call
# chain.
#
# Usage: examples/firmware/breakdown.sh ELF [TOP]    (default: 25 symbols, 15 frames)
set -euo pipefail

elf=${1:?usage: breakdown.sh ELF [TOP_SYMBOLS]}
top=${2:-25}
tools="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
nm="$tools/llvm-nm"
[ -x "$nm" ] || nm=$(command -v llvm-nm) || { echo "breakdown.sh: no llvm-nm" >&2; exit 1; }
objdump="$tools/llvm-objdump"
[ -x "$objdump" ] || objdump=$(command -v llvm-objdump) || { echo "breakdown.sh: no llvm-objdump" >&2; exit 1; }

# Legacy Rust mangling that LLVM's demangler leaves escaped.
unescape() {
  sed -e 's/\$LT\$/</g; s/\$GT\$/>/g; s/\$RF\$/\&/g; s/\$BP\$/*/g; s/\$C\$/,/g; s/\$SP\$/@/g' \
      -e 's/\$u20\$/ /g; s/\$u27\$/'"'"'/g; s/\$u5b\$/[/g; s/\$u5d\$/]/g; s/\$u7b\$/{/g' \
      -e 's/\$u7d\$/}/g; s/\$u3b\$/;/g; s/\$u2b\$/+/g; s/\$u22\$/"/g; s/\$u21\$/!/g' \
      -e 's/\.\./::/g; s/::h[0-9a-f]\{16\}\(>*\)$/\1/; s/\(^\|[ \t:]\)_</\1</g'
}

# size<TAB>kind<TAB>name, for code and read-only data, demangled and cleaned of legacy escapes.
symbols() {
  "$nm" --size-sort --print-size --radix=d -C "$elf" \
    | awk '$3 ~ /^[tTrR]$/ { size = $2 + 0; $1 = $2 = ""; kind = $3; $3 = "";
                              sub(/^ +/, ""); printf "%d\t%s\t%s\n", size, kind, $0 }' \
    | unescape | sed -e 's/^\([0-9]*\t.\t\)_</\1</'
}

# The crate that owns a symbol.
owner='
function owner(name,    n, t) {
  n = name
  if (n ~ /^\.Lanon\./) return "[anonymous constants]"
  if (n ~ /^__rustc::/) return "alloc"
  sub(/^core::ptr::drop_in_place(::)?</, "", n)
  while (n ~ /^([<&*(\[ ]|mut |dyn |const )/) sub(/^([<&*(\[ ]|mut |dyn |const )/, "", n)
  # A path: its first segment is the crate.
  if (match(n, /^[A-Za-z0-9_]+::/)) return substr(n, 1, RLENGTH - 2)
  # A primitive or generic type (u32, char, T, [T; N]) implementing a trait: the trait'"'"'s crate.
  if (match(n, / as [<&]*[A-Za-z0-9_]+::/)) { t = substr(n, RSTART + 4, RLENGTH - 6); gsub(/[<&]/, "", t); return t }
  if (n ~ /^(char|str|u8|u16|u32|u64|usize|i32|i64|isize|bool|T|\[)/) return "core"
  if (n ~ /^(__aeabi_|mem(cpy|set|move|cmp)|__udiv|__divdi|__mul|__ashl|__lshr)/) return "compiler_builtins"
  return "[no crate: vector table, runtime]"
}'

total=$(symbols | awk -F'\t' '{ s += $1 } END { print s + 0 }')
echo "flash by crate (code + read-only data with a symbol; $total bytes in all):"
symbols | awk -F'\t' "$owner"'
  { c = owner($3); size[c] += $1; if ($2 ~ /[tT]/) code[c] += $1; else data[c] += $1 }
  END { for (c in size) printf "%8d %8d %8d  %s\n", size[c], code[c], data[c], c }' \
  | sort -rn | awk 'BEGIN { printf "%8s %8s %8s  %s\n", "bytes", "code", "rodata", "crate" } { print }'
echo
echo "largest $top symbols:"
symbols | sort -t$'\t' -k1,1rn | head -n "$top" | awk -F'\t' '{ printf "%8d %s  %s\n", $1, $2, $3 }'
echo
echo "largest stack frames (bytes reserved with sub sp):"
"$objdump" -d --no-show-raw-insn -C "$elf" \
  | awk 'function num(s,    n, i, c) {
           if (s !~ /^0x/) return s + 0
           n = 0; s = tolower(substr(s, 3))
           for (i = 1; i <= length(s); i++) { c = index("0123456789abcdef", substr(s, i, 1)) - 1; n = n * 16 + c }
           return n }
         /^[0-9a-f]+ <.*>:$/ { fn = $0; sub(/^[0-9a-f]+ </, "", fn); sub(/>:$/, "", fn) }
         /sub(\.w|w)?[ \t]+sp, (sp, )?#/ { v = $0; sub(/.*#/, "", v); sub(/[^0-9a-fx].*/, "", v)
                                         if (num(v) > frame[fn]) frame[fn] = num(v) }
         END { for (f in frame) printf "%8d  %s\n", frame[f], f }' \
  | sort -rn | head -n "${2:-15}" | unescape
