#!/usr/bin/env python3
"""Independent check of spec/vectors/messages_telemetry.json against spec/MESSAGES.md
sections 2 (strict decoding), 3 (the envelope) and 4 (telemetry messages).

Written from the specification text alone (no reference source read), standard library
only: a small strict CBOR reader and encoder, decoders for the four telemetry bodies and
the standalone value, and encoders that produce the one allowed encoding.

For every valid vector: decode hex -> compare with value (JSON form of 4.8); encode value
-> compare with hex; re-encode the decoded value -> compare with hex.
For every invalid vector: decoding must fail; the reported (field, kind) is compared with
the vector's. Vectors whose field/kind is not stated explicitly by a table of the spec
(we had to infer it from a general rule) are listed at the end.

Usage: python3 spec/vectors/check_telemetry.py [path/to/messages_telemetry.json]
Exit status: 0 if every vector passes, 1 otherwise.
"""

import json
import os
import sys

U64_MAX = 2**64 - 1
I64_MIN, I64_MAX = -(2**63), 2**63 - 1
U32_MAX = 2**32 - 1
MAX_SKIP_DEPTH = 8          # sections 2 and 4.1: skipping follows at most 8 levels
MAX_BODY_ENTRIES = 16       # section 4.1


class Problem(Exception):
    def __init__(self, field, kind):
        super().__init__(f"{field}: {kind}")
        self.field = field
        self.kind = kind


class EncodeRefused(Exception):
    pass


# ---------------------------------------------------------------------------------------
# Strict CBOR reader (sections 2 and 4.1)
# ---------------------------------------------------------------------------------------

class Head:
    __slots__ = ("major", "ai", "arg")

    def __init__(self, major, ai, arg):
        self.major, self.ai, self.arg = major, ai, arg


class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def remaining(self):
        return len(self.data) - self.pos

    def at_end(self):
        return self.pos >= len(self.data)

    def take(self, n, field):
        if self.remaining() < n:
            raise Problem(field, "Truncated")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def head(self, field):
        """Read one head; enforce the preferred-argument rule. Floats (major 7, ai 25..27)
        are returned with their raw bits as arg and are not subject to the shortest rule
        (see the report: section 2 does not say how RFC 8949 float preference applies)."""
        ib = self.take(1, field)[0]
        major, ai = ib >> 5, ib & 0x1F
        if ai in (28, 29, 30):
            raise Problem(field, "NotCanonical")      # reserved additional information
        if ai == 31:
            raise Problem(field, "NotCanonical")      # indefinite length / break
        if ai < 24:
            return Head(major, ai, ai)
        n = {24: 1, 25: 2, 26: 4, 27: 8}[ai]
        arg = int.from_bytes(self.take(n, field), "big")
        if major == 7:
            if ai == 24 and arg < 32:
                raise Problem(field, "NotCanonical")  # simple value < 32 in two bytes
            return Head(major, ai, arg)
        if (ai == 24 and arg < 24) or (ai == 25 and arg < 0x100) or \
           (ai == 26 and arg < 0x10000) or (ai == 27 and arg < 0x100000000):
            raise Problem(field, "NotCanonical")
        return Head(major, ai, arg)

    # typed helpers -------------------------------------------------------------------
    def uint(self, field):
        h = self.head(field)
        if h.major != 0:
            raise Problem(field, "WrongType")
        return h.arg

    def int_(self, field):
        h = self.head(field)
        if h.major == 0:
            return h.arg
        if h.major == 1:
            return -1 - h.arg
        raise Problem(field, "WrongType")

    def array(self, field, max_items):
        h = self.head(field)
        if h.major != 4:
            raise Problem(field, "WrongType")
        if h.arg > max_items:
            raise Problem(field, "TooMany")   # checked on the head, before any item
        return h.arg

    def tstr(self, field, max_len):
        h = self.head(field)
        if h.major != 3:
            raise Problem(field, "WrongType")
        if h.arg > max_len:
            raise Problem(field, "TooLong")   # checked before the content is read
        raw = self.take(h.arg, field)
        try:
            return raw.decode("utf-8", errors="strict")
        except UnicodeDecodeError:
            raise Problem(field, "Utf8")

    def skip(self, field, depth=1):
        """Skip one well-formed item (an unknown optional entry's value)."""
        if depth > MAX_SKIP_DEPTH:
            raise Problem(field, "TooMany")
        h = self.head(field)
        if h.major in (0, 1):
            return
        if h.major in (2, 3):
            raw = self.take(h.arg, field)
            if h.major == 3:
                try:
                    raw.decode("utf-8", errors="strict")
                except UnicodeDecodeError:
                    raise Problem(field, "Utf8")
            return
        if h.major == 4:
            if h.arg > self.remaining():
                raise Problem(field, "Truncated")
            for _ in range(h.arg):
                self.skip(field, depth + 1)
            return
        if h.major == 5:
            if 2 * h.arg > self.remaining():
                raise Problem(field, "Truncated")
            for _ in range(2 * h.arg):
                self.skip(field, depth + 1)
            return
        if h.major == 6:
            self.skip(field, depth + 1)
            return
        # major 7: simple values and floats of any width are well-formed


def key_order(k):
    """Encoded-byte order of a preferred-encoded integer key: 0, 1, ..., then -1, -2, ..."""
    return (0, k) if k >= 0 else (1, -1 - k)


class BodyMap:
    """Visits known keys in ascending order, skipping / refusing unknown keys on the way."""

    def __init__(self, r, name):
        self.r, self.name = r, name
        h = r.head(name)
        if h.major != 5:
            raise Problem(name, "WrongType")
        if h.arg > MAX_BODY_ENTRIES:
            raise Problem(name, "TooMany")
        self.left = h.arg
        self.prev = None

    def _peek_key(self):
        save = self.r.pos
        h = self.r.head(self.name)
        if h.major == 0:
            k = h.arg
        elif h.major == 1:
            k = -1 - h.arg
        else:
            raise Problem(self.name, "WrongType")   # guessed: non-integer key
        if self.prev is not None and key_order(k) <= key_order(self.prev):
            raise Problem(self.name, "Order")
        after = self.r.pos
        self.r.pos = save
        return k, after

    def _skip_unknown(self, k, after):
        if k < 0:
            raise Problem(self.name, "UnknownCritical")
        self.r.pos = after
        self.prev = k
        self.left -= 1
        self.r.skip(self.name)

    def find(self, k):
        while self.left > 0:
            key, after = self._peek_key()
            if key == k:
                self.r.pos = after
                self.prev = key
                self.left -= 1
                return True
            if key_order(key) > key_order(k):
                return False
            self._skip_unknown(key, after)
        return False

    def require(self, k, field):
        if not self.find(k):
            raise Problem(field, "Missing")

    def finish(self):
        while self.left > 0:
            key, after = self._peek_key()
            self._skip_unknown(key, after)


# ---------------------------------------------------------------------------------------
# Values (4.2)
# ---------------------------------------------------------------------------------------

SPECIAL_HALF = {0x7E00: "NaN", 0x7C00: "+inf", 0xFC00: "-inf"}
SPECIAL_BYTES = {"NaN": b"\xf9\x7e\x00", "NRes": b"\xf7", "+inf": b"\xf9\x7c\x00",
                 "-inf": b"\xf9\xfc\x00"}


def decode_value(r, f, d):
    h = r.head(f)
    if h.major in (0, 1):
        n = h.arg if h.major == 0 else -1 - h.arg
        if not I64_MIN <= n <= I64_MAX:
            raise Problem(f, "OutOfRange")
        return {"mantissa": n, "exponent": d}
    if h.major == 6:
        if h.arg != 4:
            raise Problem(f, "WrongType")
        a = r.head(f)
        if a.major != 4 or a.arg != 2:
            raise Problem(f, "WrongType")
        e = r.int_(f + ".exponent")            # guessed: non-integer exponent -> WrongType
        if not -128 <= e <= 127:
            raise Problem(f + ".exponent", "OutOfRange")
        if e == d:
            raise Problem(f + ".exponent", "NotCanonical")
        m = r.int_(f + ".mantissa")
        if not I64_MIN <= m <= I64_MAX:
            raise Problem(f + ".mantissa", "OutOfRange")
        return {"mantissa": m, "exponent": e}
    if h.major == 7:
        if h.ai == 25 and h.arg in SPECIAL_HALF:
            return SPECIAL_HALF[h.arg]
        if h.ai < 24 and h.arg == 23:
            return "NRes"
        raise Problem(f, "WrongType")
    raise Problem(f, "WrongType")               # bstr, tstr, array, map


def check_value_for_encoding(v):
    if isinstance(v, str):
        if v not in SPECIAL_BYTES:
            raise EncodeRefused(f"unknown special value {v!r}")
        return
    m, e = v["mantissa"], v["exponent"]
    if not I64_MIN <= m <= I64_MAX or not -128 <= e <= 127:
        raise EncodeRefused("value out of range")


def encode_value(v, d):
    check_value_for_encoding(v)
    if isinstance(v, str):
        return SPECIAL_BYTES[v]
    if v["exponent"] == d:
        return enc_int(v["mantissa"])
    return enc_head(6, 4) + enc_head(4, 2) + enc_int(v["exponent"]) + enc_int(v["mantissa"])


# ---------------------------------------------------------------------------------------
# Encoder primitives
# ---------------------------------------------------------------------------------------

def enc_head(major, arg):
    if arg < 24:
        return bytes([(major << 5) | arg])
    for ai, n in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if arg < 1 << (8 * n):
            return bytes([(major << 5) | ai]) + arg.to_bytes(n, "big")
    raise EncodeRefused("argument too large")


def enc_uint(n):
    if not 0 <= n <= U64_MAX:
        raise EncodeRefused("uint out of range")
    return enc_head(0, n)


def enc_int(n):
    if n >= 0:
        return enc_uint(n)
    if -n - 1 > U64_MAX:
        raise EncodeRefused("int out of range")
    return enc_head(1, -1 - n)


def enc_tstr(s):
    b = s.encode("utf-8")
    return enc_head(3, len(b)) + b


# ---------------------------------------------------------------------------------------
# Vitals (4.3)
# ---------------------------------------------------------------------------------------

# table code -> (MDC code, MDC unit code), 4.3.1
TABLE = {1: (150456, 262688), 2: (149530, 264864), 3: (147842, 264864), 4: (150021, 266016),
         5: (150022, 266016), 6: (150023, 266016), 7: (150364, 268192), 8: (151562, 264928),
         9: (160184, 264274), 10: (160184, 266866)}
TABLE_PAIRS = set(TABLE.values())


def decode_vitals(r):
    m = BodyMap(r, "vitals")
    m.require(0, "vitals.base")
    base = r.uint("vitals.base")
    m.require(1, "vitals.tick")
    tick = r.uint("vitals.tick")
    if not 1 <= tick <= 3600000:
        raise Problem("vitals.tick", "OutOfRange")
    m.require(2, "vitals.channels")
    nch = r.array("vitals.channels", 16)
    if nch == 0:
        raise Problem("vitals.channels", "OutOfRange")
    channels = []
    for _ in range(nch):
        h = r.head("vitals.channels")
        if h.major != 4 or h.arg not in (2, 3):
            raise Problem("vitals.channels", "WrongType")
        code = r.uint("vitals.channels.code")
        if h.arg == 2:
            if not 1 <= code <= 10:
                raise Problem("vitals.channels.code", "OutOfRange")
            ch = {"table": code}
        else:
            if not 65536 <= code <= U32_MAX:
                raise Problem("vitals.channels.code", "OutOfRange")
            unit = r.uint("vitals.channels.unit")
            if unit > U32_MAX:
                raise Problem("vitals.channels.unit", "OutOfRange")
            if (code, unit) in TABLE_PAIRS:
                raise Problem("vitals.channels.code", "NotCanonical")
            ch = {"mdc": code, "unit": unit}
        e = r.int_("vitals.channels.exponent")
        if not -128 <= e <= 127:
            raise Problem("vitals.channels.exponent", "OutOfRange")
        ch["exponent"] = e
        channels.append(ch)
    m.require(3, "vitals.readings")
    n = r.array("vitals.readings", 1536)
    if n == 0 or n % 3:
        raise Problem("vitals.readings", "OutOfRange")
    readings, acc = [], 0
    for _ in range(n // 3):
        dt = r.uint("vitals.readings.dt")
        acc += dt
        t = base + tick * acc
        if t > U64_MAX:
            raise Problem("vitals.readings.dt", "OutOfRange")
        ci = r.uint("vitals.readings.ch")
        if ci >= nch:
            raise Problem("vitals.readings.ch", "OutOfRange")
        v = decode_value(r, "vitals.readings.value", channels[ci]["exponent"])
        readings.append({"time_ms": t, "channel": ci, "value": v})
    m.finish()
    return {"base": base, "tick": tick, "channels": channels, "readings": readings}


def encode_vitals(o):
    base, tick = o["base"], o["tick"]
    if not 1 <= tick <= 3600000:
        raise EncodeRefused("tick")
    chs = o["channels"]
    if not 1 <= len(chs) <= 16:
        raise EncodeRefused("channel count")
    out = enc_uint(0) + enc_uint(base) + enc_uint(1) + enc_uint(tick) + enc_uint(2)
    out += enc_head(4, len(chs))
    for ch in chs:
        e = ch["exponent"]
        if not -128 <= e <= 127:
            raise EncodeRefused("channel exponent")
        if "table" in ch:
            if ch["table"] not in TABLE:
                raise EncodeRefused("table code")
            out += enc_head(4, 2) + enc_uint(ch["table"]) + enc_int(e)
        else:
            code, unit = ch["mdc"], ch["unit"]
            if not 65536 <= code <= U32_MAX or not 0 <= unit <= U32_MAX:
                raise EncodeRefused("long-form code/unit")
            if (code, unit) in TABLE_PAIRS:
                raise EncodeRefused("table entry in long form")
            out += enc_head(4, 3) + enc_uint(code) + enc_uint(unit) + enc_int(e)
    rs = o["readings"]
    if not 1 <= len(rs) <= 512:
        raise EncodeRefused("reading count")
    out += enc_uint(3) + enc_head(4, 3 * len(rs))
    prev = base
    for rd in rs:
        t, ci = rd["time_ms"], rd["channel"]
        if not 0 <= ci < len(chs):
            raise EncodeRefused("channel index")
        if t < prev or (t - base) % tick:
            raise EncodeRefused("reading time")
        out += enc_uint((t - prev) // tick) + enc_uint(ci)
        out += encode_value(rd["value"], chs[ci]["exponent"])
        prev = t
    return enc_head(5, 4) + out


# ---------------------------------------------------------------------------------------
# Usage (4.4), diagnostics (4.5), security events (4.6)
# ---------------------------------------------------------------------------------------

def usage_kind_ok(k):
    return 1 <= k <= 8 or k >= 1024


def decode_usage(r):
    m = BodyMap(r, "usage")
    m.require(0, "usage.base")
    base = r.uint("usage.base")
    m.require(1, "usage.events")
    n = r.array("usage.events", 64)
    if n == 0:
        raise Problem("usage.events", "OutOfRange")
    events, t = [], base
    for _ in range(n):
        h = r.head("usage.events")
        if h.major != 4 or h.arg != 3:
            raise Problem("usage.events", "WrongType")
        t += r.uint("usage.events.dt")
        if t > U64_MAX:
            raise Problem("usage.events.dt", "OutOfRange")
        kind = r.uint("usage.events.kind")
        if not usage_kind_ok(kind):
            raise Problem("usage.events.kind", "OutOfRange")
        v = r.int_("usage.events.value")
        if not I64_MIN <= v <= I64_MAX:
            raise Problem("usage.events.value", "OutOfRange")
        events.append({"time_ms": t, "kind": kind, "value": v})
    m.finish()
    return {"base": base, "events": events}


def encode_usage(o):
    base, evs = o["base"], o["events"]
    if not 1 <= len(evs) <= 64:
        raise EncodeRefused("event count")
    out = enc_head(5, 2) + enc_uint(0) + enc_uint(base) + enc_uint(1) + enc_head(4, len(evs))
    prev = base
    for ev in evs:
        if ev["time_ms"] < prev or not usage_kind_ok(ev["kind"]):
            raise EncodeRefused("event time/kind")
        if not I64_MIN <= ev["value"] <= I64_MAX:
            raise EncodeRefused("event value")
        out += enc_head(4, 3) + enc_uint(ev["time_ms"] - prev) + enc_uint(ev["kind"]) \
            + enc_int(ev["value"])
        prev = ev["time_ms"]
    return out


def decode_diagnostics(r):
    m = BodyMap(r, "diagnostics")
    o = {}
    m.require(0, "diagnostics.time")
    o["time_ms"] = r.uint("diagnostics.time")
    if m.find(1):
        v = r.uint("diagnostics.battery_percent")
        if v > 100:
            raise Problem("diagnostics.battery_percent", "OutOfRange")
        o["battery_percent"] = v
    if m.find(2):
        v = r.uint("diagnostics.battery_mv")
        if v > 65535:
            raise Problem("diagnostics.battery_mv", "OutOfRange")
        o["battery_mv"] = v
    if m.find(3):
        o["firmware"] = r.tstr("diagnostics.firmware", 32)
    if m.find(4):
        n = r.array("diagnostics.errors", 32)
        errs = []
        for _ in range(n):
            h = r.head("diagnostics.errors")
            if h.major != 4 or h.arg != 2:
                raise Problem("diagnostics.errors", "WrongType")
            code = r.uint("diagnostics.errors.code")
            if code > U32_MAX:
                raise Problem("diagnostics.errors.code", "OutOfRange")
            count = r.uint("diagnostics.errors.count")
            if not 1 <= count <= U32_MAX:
                raise Problem("diagnostics.errors.count", "OutOfRange")
            errs.append({"code": code, "count": count})
        o["errors"] = errs
    if m.find(5):
        o["uptime_s"] = r.uint("diagnostics.uptime")
    if m.find(6):
        v = r.int_("diagnostics.signal")
        if not -150 <= v <= 20:
            raise Problem("diagnostics.signal", "OutOfRange")
        o["signal_dbm"] = v
    m.finish()
    return o


def encode_diagnostics(o):
    entries = [enc_uint(0) + enc_uint(o["time_ms"])]
    if "battery_percent" in o:
        if not 0 <= o["battery_percent"] <= 100:
            raise EncodeRefused("battery percent")
        entries.append(enc_uint(1) + enc_uint(o["battery_percent"]))
    if "battery_mv" in o:
        if not 0 <= o["battery_mv"] <= 65535:
            raise EncodeRefused("battery mV")
        entries.append(enc_uint(2) + enc_uint(o["battery_mv"]))
    if "firmware" in o:
        if len(o["firmware"].encode("utf-8")) > 32:
            raise EncodeRefused("firmware")
        entries.append(enc_uint(3) + enc_tstr(o["firmware"]))
    if "errors" in o:
        errs = o["errors"]
        if len(errs) > 32:
            raise EncodeRefused("error count")
        b = enc_uint(4) + enc_head(4, len(errs))
        for e in errs:
            if not 0 <= e["code"] <= U32_MAX or not 1 <= e["count"] <= U32_MAX:
                raise EncodeRefused("error entry")
            b += enc_head(4, 2) + enc_uint(e["code"]) + enc_uint(e["count"])
        entries.append(b)
    if "uptime_s" in o:
        entries.append(enc_uint(5) + enc_uint(o["uptime_s"]))
    if "signal_dbm" in o:
        if not -150 <= o["signal_dbm"] <= 20:
            raise EncodeRefused("signal")
        entries.append(enc_uint(6) + enc_int(o["signal_dbm"]))
    return enc_head(5, len(entries)) + b"".join(entries)


def cause_ok(c):
    return 1 <= c <= 9 or c >= 1024


def decode_security_events(r):
    m = BodyMap(r, "security_events")
    m.require(0, "security_events.base")
    base = r.uint("security_events.base")
    m.require(1, "security_events.events")
    n = r.array("security_events.events", 32)
    if n == 0:
        raise Problem("security_events.events", "OutOfRange")
    events, t = [], base
    for _ in range(n):
        h = r.head("security_events.events")
        if h.major != 4 or h.arg != 4:
            raise Problem("security_events.events", "WrongType")
        t += r.uint("security_events.events.dt")
        if t > U64_MAX:
            raise Problem("security_events.events.dt", "OutOfRange")
        cause = r.uint("security_events.events.cause")
        if not cause_ok(cause):
            raise Problem("security_events.events.cause", "OutOfRange")
        detail = r.uint("security_events.events.detail")
        count = r.uint("security_events.events.count")
        if count == 0:
            raise Problem("security_events.events.count", "OutOfRange")
        events.append({"time_ms": t, "cause": cause, "detail": detail, "count": count})
    m.finish()
    return {"base": base, "events": events}


def encode_security_events(o):
    base, evs = o["base"], o["events"]
    if not 1 <= len(evs) <= 32:
        raise EncodeRefused("event count")
    out = enc_head(5, 2) + enc_uint(0) + enc_uint(base) + enc_uint(1) + enc_head(4, len(evs))
    prev = base
    for ev in evs:
        if ev["time_ms"] < prev or ev["count"] < 1 or not cause_ok(ev["cause"]):
            raise EncodeRefused("event")
        out += enc_head(4, 4) + enc_uint(ev["time_ms"] - prev) + enc_uint(ev["cause"]) \
            + enc_uint(ev["detail"]) + enc_uint(ev["count"])
        prev = ev["time_ms"]
    return out


# ---------------------------------------------------------------------------------------
# Envelope (3, 4.1) and dispatch
# ---------------------------------------------------------------------------------------

KINDS = {"vitals": (1, decode_vitals, encode_vitals),
         "usage": (2, decode_usage, encode_usage),
         "diagnostics": (3, decode_diagnostics, encode_diagnostics),
         "security_events": (4, decode_security_events, encode_security_events)}


def decode(typ, data):
    r = Reader(data)
    if typ == "value":
        v = decode_value(r, "value", 0)
        if not r.at_end():
            raise Problem("value", "TrailingBytes")   # guessed: not stated for a value
        return v
    kind, body_decoder, _ = KINDS[typ]
    h = r.head("message")
    if h.major != 4 or h.arg != 2:
        raise Problem("message", "WrongType")
    k = r.uint("message.kind")
    if k != kind:
        raise Problem("message.kind", "OutOfRange")
    if r.at_end():
        raise Problem("message.body", "Truncated")
    out = body_decoder(r)
    if not r.at_end():
        raise Problem("message", "TrailingBytes")
    return out


def encode(typ, value):
    if typ == "value":
        return encode_value(value, 0)
    kind, _, body_encoder = KINDS[typ]
    return enc_head(4, 2) + enc_uint(kind) + body_encoder(value)


def spec_examples():
    """A few byte examples quoted in the spec text itself (4.2 table, 4.3.2)."""
    out = []
    out.append(("4.2 97 -> 18 61", encode_value({"mantissa": 97, "exponent": 0}, 0).hex(), "1861"))
    out.append(("4.2 37.20 -> c4 82 21 19 0e 88",
                encode_value({"mantissa": 3720, "exponent": -2}, 0).hex(), "c48221190e88"))
    ex = ("82 01 a4 00 1b 0000019bc0c69b40 01 19 03e8 02 82 82 01 00 82 07 20 03 8f"
          " 00 00 18 61 01 01 19 0174 00 00 f9 7e00 01 01 c4 82 21 19 0e88 00 00 18 60")
    out.append(("4.3.2 example decodes", json.dumps(decode("vitals", bytes.fromhex(ex.replace(" ", ""))),
                                                     sort_keys=True), None))
    return ex.replace(" ", ""), out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "messages_telemetry.json")
    with open(path) as f:
        vectors = json.load(f)
    ok = fail = 0

    def report(good, msg):
        nonlocal ok, fail
        if good:
            ok += 1
            print("ok   " + msg)
        else:
            fail += 1
            print("FAIL " + msg)

    for v in vectors["valid"]:
        name, typ, data = v["name"], v["type"], bytes.fromhex(v["hex"])
        problems = []
        try:
            got = decode(typ, data)
            if got != v["value"]:
                problems.append(f"decoded {json.dumps(got, sort_keys=True)} != "
                                f"{json.dumps(v['value'], sort_keys=True)}")
            elif encode(typ, got).hex() != v["hex"]:
                problems.append("re-encoding the decoded value differs from hex")
        except Problem as p:
            problems.append(f"decode refused: {p.field} {p.kind}")
        except EncodeRefused as e:
            problems.append(f"re-encode refused: {e}")
        try:
            enc = encode(typ, v["value"]).hex()
            if enc != v["hex"]:
                problems.append(f"encoded {enc} != hex {v['hex']}")
        except EncodeRefused as e:
            problems.append(f"encode refused: {e}")
        report(not problems, f"valid   {name}" + ("" if not problems else ": " + "; ".join(problems)))

    for v in vectors["invalid"]:
        name, typ, data = v["name"], v["type"], bytes.fromhex(v["hex"])
        want = (v["field"], v["kind"])
        tag = ""
        try:
            got = decode(typ, data)
            report(False, f"invalid {name}: decoder accepted it as {json.dumps(got)}")
            continue
        except Problem as p:
            have = (p.field, p.kind)
        report(have == want, f"invalid {name}: refused {have[0]} {have[1]}" +
               ("" if have == want else f", vector says {want[0]} {want[1]}") + tag)

    ex_hex, exs = spec_examples()
    vit = next(x for x in vectors["valid"] if x["name"] == "vitals/spo2-and-temperature")
    for label, got, want in exs:
        if want is None:
            report(json.loads(got) == vit["value"] and ex_hex == vit["hex"],
                   f"spec    {label} to the vector vitals/spo2-and-temperature")
        else:
            report(got == want, f"spec    {label}" + ("" if got == want else f": got {got}"))

    print()
    print(f"summary: {ok} ok, {fail} FAIL "
          f"({len(vectors['valid'])} valid, {len(vectors['invalid'])} invalid vectors, "
          f"{len(exs)} spec examples)")
    return 1 if fail else 0


if __name__ == "__main__":
    sys.exit(main())
