#!/usr/bin/env python3
"""Independent check of spec/vectors/link.json against spec/LINK.md.

Written from the spec text only (sections 2 to 7 and 9); standard library only, no tether code.
  - units:      a sender per section 4 re-fragments every unit: the fragments, their number, the
                count, link_overhead (2 + 2n) and bytes_on_air (L + 2 + 5n) must be the file's;
                every fragment is also parsed (section 3) and reassembled by the receiver below.
  - sequences:  a receiver per section 5.2 (checks in order, idle after any error) takes every
                step: result, interrupted, unit, error name and the state after must be the file's.
  - reading:    the reading of section 7 is re-fragmented at each ATT_MTU; the record is the frame
                plus 25 bytes of datagram overhead (PROTOCOL.md 5.2) and the frame ends with the
                message; the bytes-on-air table in spec/LINK.md must state the same numbers.
  - tables:     the largest unit per ATT_MTU (section 4) and DEFAULT_MAX_UNIT (section 5.1) are
                recomputed from their formulas and compared with the spec's text.
Usage: python3 spec/vectors/check_link.py [path-to-json]
"""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = os.path.join(HERE, "..", "LINK.md")

ATT_HEADER = 3            # section 2: opcode 1 + handle 2
MAX_ATTRIBUTE_VALUE = 512  # section 2
MAX_FRAGMENTS = 256        # section 3: the index is one byte
MAX_UNIT_LEN = 65535       # section 3: unit_len is a u16
DATAGRAM_OVERHEAD = 25     # PROTOCOL.md 5.2: flags 1 + counter 8 + tag 16

results = []  # (ok, name, detail)


def report(ok, name, detail=""):
    results.append((ok, name, detail))
    print(("ok   " if ok else "FAIL ") + name + ((": " + detail) if detail else ""))


# ---------------------------------------------------------------------------
# Section 2 and 4: sizes
# ---------------------------------------------------------------------------

def max_fragment(mtu):
    """F = min(ATT_MTU - 3, 512)."""
    return min(mtu - ATT_HEADER, MAX_ATTRIBUTE_VALUE)


def max_unit_for(mtu):
    """max_unit(ATT_MTU) = min(65535, (F - 4) + 255 * (F - 2))."""
    f = max_fragment(mtu)
    return min(MAX_UNIT_LEN, (f - 4) + 255 * (f - 2))


def count_for(length, mtu):
    f = max_fragment(mtu)
    if length <= f - 4:
        return 1
    rest = length - (f - 4)
    return 1 + (rest + (f - 2) - 1) // (f - 2)


# ---------------------------------------------------------------------------
# Section 4: the sender
# ---------------------------------------------------------------------------

def fragment_unit(unit, mtu, number):
    if not 1 <= len(unit) <= max_unit_for(mtu):
        raise ValueError("unit the sender must refuse")
    f = max_fragment(mtu)
    number &= 0x3F
    frags = []
    pos = 0
    index = 0
    while pos < len(unit) or index == 0:
        if index == 0:
            take = min(len(unit), f - 4)
            header = bytes([0x80 | number, 0]) + len(unit).to_bytes(2, "big")
        else:
            take = min(len(unit) - pos, f - 2)
            header = bytes([number, index])
        payload = unit[pos:pos + take]
        pos += take
        if pos == len(unit):
            header = bytes([header[0] | 0x40]) + header[1:]
        frags.append(header + payload)
        index += 1
    return frags


# ---------------------------------------------------------------------------
# Section 5: the receiver
# ---------------------------------------------------------------------------

class LinkError(Exception):
    def __init__(self, name):
        super().__init__(name)
        self.name = name


class Receiver:
    """A receiver of section 5.1, following the checks of 5.2 in their order."""

    def __init__(self, max_unit, mtu):
        assert 1 <= max_unit <= MAX_UNIT_LEN
        self.max_unit = max_unit
        self.mtu = mtu
        self.state = None  # None: idle; otherwise dict(number, next, unit_len, received, data)

    def in_progress(self):
        s = self.state
        if s is None:
            return None
        return {"number": s["number"], "next_index": s["next"],
                "received": s["received"], "unit_len": s["unit_len"]}

    def push(self, f):
        """Returns (unit or None, interrupted); raises LinkError. Idle after any error."""
        try:
            return self._push(f)
        except LinkError:
            self.state = None
            raise

    def _push(self, f):
        F = max_fragment(self.mtu)
        # 1
        if len(f) > F:
            raise LinkError("link.too_long")
        # 2
        if len(f) < 2:
            raise LinkError("link.truncated")
        start = bool(f[0] & 0x80)
        end = bool(f[0] & 0x40)
        number = f[0] & 0x3F
        index = f[1]
        if start and len(f) < 4:
            raise LinkError("link.truncated")
        # 3
        if start and index != 0:
            raise LinkError("link.start_index")
        # 4
        interrupted = False
        if start:
            unit_len = int.from_bytes(f[2:4], "big")
            if unit_len == 0 or unit_len > self.max_unit or unit_len > max_unit_for(self.mtu):
                raise LinkError("link.oversized")
            payload = f[4:]
            unit = {"number": number, "next": 0, "unit_len": unit_len, "received": 0, "data": b""}
            interrupted = self.state is not None
        else:
            if self.state is None:
                raise LinkError("link.not_started")
            unit = self.state
            if number != unit["number"]:
                raise LinkError("link.wrong_unit")
            if index > unit["next"]:
                raise LinkError("link.gap")
            if index < unit["next"]:
                raise LinkError("link.duplicate")
            payload = f[2:]
        total = unit["received"] + len(payload)
        # 5
        if total > unit["unit_len"]:
            raise LinkError("link.overrun")
        # 6
        if end and total < unit["unit_len"]:
            raise LinkError("link.incomplete")
        if not end and index == 255:
            raise LinkError("link.incomplete")
        # 7: nothing changed before this point
        data = unit["data"] + payload
        if end:
            self.state = None
            assert len(data) == unit["unit_len"]
            return data, interrupted
        self.state = {"number": unit["number"], "next": index + 1, "unit_len": unit["unit_len"],
                      "received": total, "data": data}
        return None, interrupted


def parse(f):
    """Section 3: (start, end, number, index, unit_len or None, payload)."""
    start = bool(f[0] & 0x80)
    hl = 4 if start else 2
    return (start, bool(f[0] & 0x40), f[0] & 0x3F, f[1],
            int.from_bytes(f[2:4], "big") if start else None, f[hl:])


# ---------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------

def check_units(vec):
    for u in vec["units"]:
        p = []
        mtu, unit = u["mtu"], bytes.fromhex(u["unit"])
        frags = [bytes.fromhex(x) for x in u["fragments"]]
        if u["max_fragment"] != max_fragment(mtu):
            p.append(f"max_fragment {u['max_fragment']} != {max_fragment(mtu)}")
        if u["unit_len"] != len(unit):
            p.append("unit_len")
        mine = fragment_unit(unit, mtu, u["number"])
        if mine != frags:
            p.append("fragments differ from section 4's")
        n = len(frags)
        if n != count_for(len(unit), mtu) or n > MAX_FRAGMENTS:
            p.append(f"count {n} != {count_for(len(unit), mtu)}")
        if u["link_overhead"] != 2 + 2 * n or sum(map(len, frags)) != len(unit) + 2 + 2 * n:
            p.append("link_overhead")
        if u["bytes_on_air"] != len(unit) + 2 + 5 * n or \
                sum(len(f) + ATT_HEADER for f in frags) != u["bytes_on_air"]:
            p.append("bytes_on_air")
        # Every fragment but the last is full; headers read back.
        if any(len(f) != max_fragment(mtu) for f in frags[:-1]) or len(frags[-1]) > max_fragment(mtu):
            p.append("fragment sizes")
        for i, f in enumerate(frags):
            start, end, number, index, unit_len, _ = parse(f)
            if (start, end, number, index) != (i == 0, i == n - 1, u["number"], i) or \
                    (start and unit_len != len(unit)):
                p.append(f"header of fragment {i}")
        # Reassembled by the receiver of section 5, they give the unit.
        rx = Receiver(MAX_UNIT_LEN, mtu)
        got = []
        for f in frags:
            unit_out, interrupted = rx.push(f)
            if interrupted:
                p.append("interrupted")
            if unit_out is not None:
                got.append(unit_out)
        if got != [unit]:
            p.append("reassembly")
        report(not p, f"unit: {u['name']} at ATT_MTU {mtu} ({len(unit)} bytes, {n} fragments)",
               "; ".join(p))


def check_sequences(vec):
    names = set()
    for s in vec["sequences"]:
        p = []
        rx = Receiver(s["max_unit"], s["mtu"])
        for i, step in enumerate(s["steps"]):
            f = bytes.fromhex(step["fragment"])
            try:
                unit, interrupted = rx.push(f)
                result = "unit" if unit is not None else "pending"
                error = None
            except LinkError as e:
                unit, interrupted, result, error = None, None, "error", e.name
                if rx.in_progress() is not None:
                    p.append(f"step {i}: not idle after an error")
            if result != step["result"]:
                p.append(f"step {i}: {result} ({error}) != {step['result']} ({step.get('error')})")
                continue
            if result == "error":
                names.add(error)
                if error != step["error"]:
                    p.append(f"step {i}: {error} != {step['error']}")
            else:
                if interrupted != step["interrupted"]:
                    p.append(f"step {i}: interrupted {interrupted}")
                if result == "unit" and unit.hex() != step["unit"]:
                    p.append(f"step {i}: another unit")
            if rx.in_progress() != step["in_progress"]:
                p.append(f"step {i}: state {rx.in_progress()} != {step['in_progress']}")
        report(not p, f"sequence: {s['name']} ({len(s['steps'])} steps)", "; ".join(p))
    every = {"link.too_long", "link.truncated", "link.start_index", "link.oversized",
             "link.not_started", "link.wrong_unit", "link.gap", "link.duplicate",
             "link.overrun", "link.incomplete"}
    report(names == every, "sequences name every error of section 6",
           ", ".join(sorted(every ^ names)))


def check_reading(vec, spec):
    r = vec["reading"]
    message, frame, record = (bytes.fromhex(r[k]) for k in ("message", "frame", "record"))
    p = []
    if not frame.endswith(message):
        p.append("the frame does not end with the message")
    if len(record) != len(frame) + DATAGRAM_OVERHEAD:
        p.append("record != frame + 25")
    rows = []
    for m in r["per_mtu"]:
        mtu = m["mtu"]
        frags = fragment_unit(record, mtu, 0)
        n = len(frags)
        air = sum(len(f) + ATT_HEADER for f in frags)
        want = {"mtu": mtu, "fragments": n, "link_overhead": 2 + 2 * n,
                "att_headers": ATT_HEADER * n, "bytes_on_air": air}
        if m != want:
            p.append(f"ATT_MTU {mtu}: {m} != {want}")
        rows.append(f"| tether, ATT_MTU {mtu} | {n} | {2 + 2 * n} | {ATT_HEADER * n} | **{air}** |")
    plx = [("PLX Continuous Measurement, no security", r["plx_continuous_len"], 5),
           ("PLX Spot-Check Measurement with timestamp, no security",
            r["plx_spot_check_timestamp_len"], 1 + 2 + 2 + 7)]
    for name, length, want in plx:
        if length != want:
            p.append(f"{name}: {length} != {want}")
        rows.append(f"| {name} ({length}-byte value) | 1 | 0 | {ATT_HEADER} | **{length + ATT_HEADER}** |")
    for row in rows:
        if row not in spec:
            p.append(f"not in LINK.md section 7: {row}")
    sizes = (f"a vitals message of {len(message)} bytes", f"a delivery data frame of {len(frame)} bytes",
             f"(sequence number {r['seq']})", f"a datagram record of {len(record)} bytes")
    for s in sizes:
        if s not in spec:
            p.append(f"not in LINK.md section 7: {s}")
    report(not p, "reading: bytes on air (section 7)", "; ".join(p))


def check_tables(vec, spec):
    p = []
    # Section 4's table: "| ATT_MTU | F | ... | largest unit | its fragments |"
    for mtu, largest, n in [(23, 4606, 256), (185, 46078, 256), (247, 61950, 256), (261, 65534, 256)]:
        if max_unit_for(mtu) != largest or count_for(largest, mtu) != n:
            p.append(f"ATT_MTU {mtu}: {max_unit_for(mtu)} in {count_for(max_unit_for(mtu), mtu)}")
        row = re.search(rf"^\| {mtu} \| {max_fragment(mtu)} \| .*\| \**{largest}\** \| {n} \|$",
                        spec, re.M)
        if not row:
            p.append(f"section 4 has no row for ATT_MTU {mtu}")
    first_full = min(m for m in range(23, 600) if max_unit_for(m) == MAX_UNIT_LEN)
    if first_full != 262 or count_for(65535, 517) != 129:
        p.append(f"65535 from ATT_MTU {first_full}, {count_for(65535, 517)} fragments at 517")
    # Section 5.1: DEFAULT_MAX_UNIT = MAX_FRAME (1 + 1 + 9 + 3 + 1024) + 25.
    default = (1 + 1 + 9 + 3 + 1024) + DATAGRAM_OVERHEAD
    if vec["default_max_unit"] != default or f"**{default}** bytes" not in spec:
        p.append(f"default_max_unit {vec['default_max_unit']} != {default}")
    if vec["att_header"] != ATT_HEADER:
        p.append("att_header")
    # Section 7's second table, from the units of the file.
    units = {(u["unit_len"], u["mtu"]): u for u in vec["units"]}
    for length, label in [(1063, "1063 bytes (largest delivery record)"),
                          (4606, "4606 bytes (largest at ATT_MTU 23)")]:
        cells = []
        for mtu in (23, 185, 517):
            n = count_for(length, mtu)
            air = length + 2 + 5 * n
            u = units.get((length, mtu))
            if u is None or u["bytes_on_air"] != air:
                p.append(f"{length} at {mtu}: no unit with {air} bytes on air")
            cells.append(f"{n} PDUs, {air} bytes")
        row = f"| {label} | " + " | ".join(cells) + " |"
        if row not in spec:
            p.append(f"not in LINK.md section 7: {row}")
    report(not p, "sizes and tables of sections 4, 5.1 and 7", "; ".join(p))


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "link.json")
    with open(path) as f:
        vec = json.load(f)
    with open(SPEC) as f:
        spec = f.read()
    for section, args in ((check_units, (vec,)), (check_sequences, (vec,)),
                          (check_reading, (vec, spec)), (check_tables, (vec, spec))):
        try:
            section(*args)
        except Exception as e:  # a malformed vector file must fail, not crash
            report(False, section.__name__, f"aborted: {type(e).__name__}: {e}")
    n_fail = sum(1 for r in results if not r[0])
    print(f"\n{len(results) - n_fail} ok, {n_fail} failed, {len(results)} checks "
          f"({len(vec['units'])} units, {len(vec['sequences'])} sequences, "
          f"{sum(len(s['steps']) for s in vec['sequences'])} steps)")
    sys.exit(1 if n_fail else 0)


if __name__ == "__main__":
    main()
