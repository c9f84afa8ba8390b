#!/usr/bin/env bash
# Regenerates include/tether.h with the pinned cbindgen. CI fails if the result differs from the
# checked-in header.
set -euo pipefail
cd "$(dirname "$0")"
want="cbindgen 0.29.4"
have=$(cbindgen --version 2>/dev/null || true)
if [ "$have" != "$want" ]; then
  echo "need $want (have: ${have:-none}): cargo install cbindgen --version 0.29.4 --locked" >&2
  exit 1
fi
cbindgen --quiet --config cbindgen.toml --crate tether-ffi --output include/tether.h .
