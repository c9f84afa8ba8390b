#!/usr/bin/env python3
"""Prints the results of `cargo bench --bench tether` as markdown tables: every comparison as a
ratio (tether time / baseline time, both from the same run), its goal and whether it is met, then
the bytes on the wire.

Reads <criterion dir>/**/new/benchmark.json + estimates.json, <criterion dir>/tether-wire.json and
<criterion dir>/tether-interleaved.json. The criterion dir is the first argument, else
$CRITERION_HOME, else $CARGO_TARGET_DIR/criterion, else target/criterion next to this script's
parent.

Times are criterion's MEDIAN estimates (`--mean` for the mean). Ratios are the median, over the
cycles of the bench's interleaved pass, of tether's time per operation divided by the baseline's in
the same cycle (blocks of each, alternating): a drift of the machine's speed between criterion's
separate measurements does not move them. With `--criterion-ratios` (or without the interleaved
file) the ratio is the quotient of criterion's two estimates instead. Standard library only.
"""

import json
import os
import sys
from pathlib import Path

SUITES = [("chachapoly", "ChaChaPoly"), ("aesgcm", "AES-GCM")]
SIZES = [64, 1400, 16384]
FRAMINGS = ["stream", "datagram"]
PATTERNS = [
    ("provisioned", "Provisioned (IK)"),
    ("enrollment", "Enrollment (XX)"),
    ("pairing", "Pairing (XXpsk0)"),
    ("reconnect", "Reconnect (KK)"),
]


def criterion_dir(args):
    if args:
        return Path(args[0])
    if os.environ.get("CRITERION_HOME"):
        return Path(os.environ["CRITERION_HOME"])
    if os.environ.get("CARGO_TARGET_DIR"):
        return Path(os.environ["CARGO_TARGET_DIR"]) / "criterion"
    return Path(__file__).resolve().parent.parent / "target" / "criterion"


def load(root, stat):
    times = {}
    for bench in root.glob("**/new/benchmark.json"):
        meta = json.loads(bench.read_text())
        est = json.loads((bench.parent / "estimates.json").read_text())
        times[(meta["group_id"], meta["function_id"])] = est[stat]["point_estimate"]
    return times


def quantile(xs, q):
    xs = sorted(xs)
    if not xs:
        return None
    pos = (len(xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def fmt_time(ns):
    if ns is None:
        return "n/a"
    if ns < 1_000:
        return f"{ns:.0f} ns"
    if ns < 1_000_000:
        return f"{ns / 1_000:.2f} µs"
    return f"{ns / 1_000_000:.3f} ms"


def cpu_model():
    info = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if ":" in line:
                key, value = (x.strip() for x in line.split(":", 1))
                info.setdefault(key, value)
    except OSError:
        return "unknown CPU"
    flags = info.get("flags", "").split()
    has = [f for f in ("aes", "pclmulqdq", "avx2", "avx512f", "sha_ni") if f in flags]
    guest = ", virtual machine" if "hypervisor" in flags else ""
    return (f"{info.get('model name', 'unknown CPU')} (family {info.get('cpu family', '?')}, "
            f"model {info.get('model', '?')}{guest}; {' '.join(has)})")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    stat = "mean" if "--mean" in sys.argv else "median"
    root = criterion_dir(args)
    times = load(root, stat)
    wire_path = root / "tether-wire.json"
    wire = json.loads(wire_path.read_text()) if wire_path.exists() else None

    t = lambda group, fn: times.get((group, fn))
    inter_path = root / "tether-interleaved.json"
    inter = None
    if inter_path.exists() and "--criterion-ratios" not in sys.argv:
        inter = json.loads(inter_path.read_text())
    if not times and not inter:
        sys.exit(f"no results under {root}: run `cargo bench --bench tether` first")
    rows = []
    met_count = [0, 0]
    controls = []
    for fns in (inter or {}).values():
        for a, b in (("aead-again", "aead"), ("snow-again", "snow")):
            if a in fns and b in fns:
                r = [x / y for x, y in zip(fns[a], fns[b]) if y > 0]
                controls.append(quantile(r, 0.5))
    # How far from 1.00 an identical pair measured: a miss smaller than that is within error.
    error = max((abs(c - 1) for c in controls), default=0.0)

    def paired(group, a, b):
        """(median ratio, p25, p75, median a, median b) of the interleaved pass, or None."""
        if not inter or group not in inter:
            return None
        xs, ys = inter[group].get(a), inter[group].get(b)
        if not xs or not ys:
            return None
        r = [x / y for x, y in zip(xs, ys) if y > 0]
        return (quantile(r, 0.5), quantile(r, 0.25), quantile(r, 0.75), quantile(xs, 0.5),
                quantile(ys, 0.5))

    def row(what, ours, base, goal, limit, pair=None):
        """`ours`/`base`: criterion's estimates. `limit` None: information only; otherwise the
        row's goal is met when the interleaved ratio is at most `limit`."""
        crit = f"{ours / base:.3f}x" if ours is not None and base is not None else "n/a"
        if pair is not None:
            ratio, lo, hi, ours, base = pair
            spread = f"{lo:.2f}–{hi:.2f}"
        elif ours is not None and base is not None:
            ratio, spread = ours / base, ""
        else:
            rows.append((what, fmt_time(ours), fmt_time(base), "n/a", "", crit, goal,
                         "not measured"))
            return
        if limit is None:
            met = "(info)"
        else:
            ok = ratio <= limit
            met_count[0 if ok else 1] += 1
            if ok:
                met = "yes"
            else:
                by = ratio / limit - 1
                within = ", within measurement error" if by <= error else ""
                met = f"**no** (by {by * 100:.1f}%{within})"
        rows.append((what, fmt_time(ours), fmt_time(base), f"{ratio:.3f}x", spread, crit, goal,
                     met))

    for suite, sname in SUITES:
        for size in SIZES:
            group = f"record-{suite}-{size}"
            limit = 1.05 if size == 64 else 1.03
            for framing in FRAMINGS:
                fn = f"tether-{framing}"
                ours = t(group, fn)
                row(f"record {sname} {size} B {framing} / raw AEAD", ours, t(group, "aead"),
                    f"≤ {limit:.2f}x", limit, paired(group, fn, "aead"))
                row(f"record {sname} {size} B {framing} / snow transport", ours,
                    t(group, "snow"), "< 1x", 0.9999, paired(group, fn, "snow"))
            fn = "tether-datagram-copy"
            row(f"record {sname} {size} B datagram, copying API / raw AEAD", t(group, fn),
                t(group, "aead"), "(no goal)", None, paired(group, fn, "aead"))

    dh = t("floor-x25519", "dh")
    kg = t("floor-x25519", "keygen")
    counts = {}
    if wire:
        for h in wire["handshakes"]:
            counts[h["pattern"]] = (h["dh"], h["keygen"])
    for suite, sname in SUITES:
        tls = t(f"tls13-{suite}", "mutual-auth")
        for pattern, pname in PATTERNS:
            group = f"handshake-{suite}-{pattern}"
            ours = t(group, "tether")
            row(f"handshake {pname} {sname} / plain snow", ours, t(group, "snow"), "≤ 1.05x", 1.05,
                paired(group, "tether", "snow"))
            n_dh, n_kg = counts.get(pattern, (None, None))
            floor = None
            if dh is not None and kg is not None and n_dh is not None:
                floor = n_dh * dh + n_kg * kg
            row(f"handshake {pname} {sname} / floor ({n_dh} DH + {n_kg} keygen)", ours, floor,
                "(no goal)", None, paired(group, "tether", "floor"))
            row(f"handshake {pname} {sname} / rustls TLS 1.3 mutual auth", ours, tls,
                "< 1x", 0.9999, paired(group, "tether", "tls13"))
            cached = t(group, "tether-cached")
            if cached is not None or (inter and "tether-cached" in inter.get(group, {})):
                row(f"handshake {pname} {sname}, repeat with cached peer / rustls TLS 1.3 mutual "
                    "auth", cached, tls, "< 1x", 0.9999, paired(group, "tether-cached", "tls13"))
                row(f"handshake {pname} {sname}, repeat with cached peer / plain snow", cached,
                    t(group, "snow"), "(no goal)", None, paired(group, "tether-cached", "snow"))

    print("## tether benchmark\n")
    if inter:
        print("- **tether**, **baseline**: median time per operation in the interleaved pass "
              "(blocks of each function in turn, cycle after cycle). **ratio**: median over the "
              "cycles of tether / baseline in the same cycle; **middle half**: its 25th to 75th "
              f"percentiles. **criterion**: the quotient of criterion's two {stat}s (separate "
              "measurements seconds apart; on this shared machine they drift by more than the "
              "goals' margins, so the goals are judged on the interleaved ratio).")
    else:
        print(f"- Times: criterion's {stat} per operation; ratio: their quotient.")
    print(f"- Machine: {cpu_model()}, {os.cpu_count()} logical CPUs")
    if wire:
        during = wire.get("load_during")
        if during:
            print(f"- 1-minute load average sampled every 2 s during the run: {during['min']:.2f} to "
                  f"{during['max']:.2f}, mean {during['mean']:.2f} (the benchmark itself keeps one "
                  f"of the cores busy, about 1.0); run time {wire.get('run_seconds', '?')} s")
            if during["max"] >= 1.5:
                print("- **Warning**: other work shared the machine during this run; ratios of "
                      "neighbouring measurements may be off by more than the goals' margins")
        else:
            print(f"- Load average (1/5/15 min) at the start: {wire.get('load_start', '?')}")
    if controls:
        print(f"- Control (a baseline interleaved against an identical copy of itself, "
              f"{len(controls)} groups): median ratios {min(controls):.3f}x to "
              f"{max(controls):.3f}x; differences of that size are measurement error")
    print(f"- X25519 with x25519-dalek: DH {fmt_time(dh)}, key generation {fmt_time(kg)}")
    print(f"- Goals: {met_count[0]} rows met, {met_count[1]} missed\n")
    print("| what | tether | baseline | ratio | middle half | criterion | goal | met? |")
    print("|---|---:|---:|---:|---|---:|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")

    if wire:
        print("\n### Bytes on the wire\n")
        print("Handshakes (both directions, all messages; tether with realistic identities and no "
              "manufacturer credential):\n")
        print("| handshake | messages (bytes) | total | identities I / R |")
        print("|---|---|---:|---|")
        for h in wire["handshakes"]:
            msgs = " + ".join(str(m) for m in h["messages"])
            print(f"| tether {h['pattern']} ({h['noise']}), {h['framing']} | {msgs} | "
                  f"{h['total']} | {h['initiator_identity']} / {h['responder_identity']} |")
        print("| WireGuard (Noise IKpsk2) | 148 + 92 | 240 | (none) |")
        print("| TLS 1.3 with raw public keys (domain notes) | | about 615 | |")
        r = wire.get("rustls_measured")
        if r:
            print(f"| rustls TLS 1.3, measured here ({r['note']}) | "
                  f"{r['client_to_server']} client + {r['server_to_client']} server | "
                  f"{r['client_to_server'] + r['server_to_client']} | |")
        print("\nPer-record overhead (bytes added to the plaintext):\n")
        print("| record layer | overhead |")
        print("|---|---:|")
        for framing, n in wire["record_overhead"].items():
            print(f"| tether {framing} | {n} |")
        print("| WireGuard | 32 |")
        print("| TLS 1.3 | 22 |")
        if r:
            print(f"| rustls TLS 1.3, measured here | {r['record_overhead']} |")


if __name__ == "__main__":
    main()
