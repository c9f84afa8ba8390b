#!/usr/bin/env python3
"""Independent check of spec/vectors/messages_signed.json against spec/MESSAGES.md section 5.

Written from the text of MESSAGES.md sections 2, 3 and 5 only: a small strict CBOR reader and
encoder, the COSE_Sign1 profile of 5.1, the command verifier of 5.2.4, the manifest verifier of
5.3.2, the app-notice verifier of 5.4, the transfer typestate of 5.3.4 (with the read-back rule),
and the unsigned messages of 5.2.5, 5.3.3 and 5.3.5.

Standard library plus `cryptography` (Ed25519, SHA-256). Prints one "ok ..." or "FAIL ..." line
per vector and a summary; exits non-zero on any failure.
"""

import hashlib
import json
import os
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives import serialization

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, "messages_signed.json")

U64_MAX = 2**64 - 1
U32_MAX = 2**32 - 1
MAX_SIGNED_PAYLOAD = 512
PROTECTED = bytes.fromhex("a10127")  # {1: -8}
MAX_SKIP_DEPTH = 8

# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


class Malformed(Exception):
    """A strict-decoding failure (section 2): the field and the problem."""

    def __init__(self, field, problem):
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class Rejected(Exception):
    """A verifier's rejection (Error::Command / Error::Update) with its reason code (5.5)."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


COMMAND_REASONS = {
    "bad_signature": 1,
    "unknown_authority": 2,
    "wrong_device": 3,
    "expired": 4,
    "not_yet_valid": 5,
    "operation_not_allowed": 6,
    "parameter_out_of_range": 7,
    "replayed": 8,
    "malformed": 9,
}
UPDATE_REASONS = {
    "bad_signature": 1,
    "unknown_authority": 2,
    "wrong_class": 3,
    "rollback": 4,
    "too_large": 5,
    "digest_mismatch": 6,
    "size_mismatch": 7,
    "bad_offset": 8,
    "malformed": 9,
}

# ---------------------------------------------------------------------------------------------
# Strict CBOR reader (section 2)
# ---------------------------------------------------------------------------------------------


class Reader:
    def __init__(self, data):
        self.data = bytes(data)
        self.pos = 0

    def at_end(self):
        return self.pos == len(self.data)

    def _take(self, n, field):
        if self.pos + n > len(self.data):
            raise Malformed(field, "truncated")
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b

    def head(self, field):
        """Read one head: (major, argument, start offset). Preferred encoding enforced."""
        start = self.pos
        ib = self._take(1, field)[0]
        major, ai = ib >> 5, ib & 0x1F
        if ai < 24:
            arg = ai
        elif ai in (24, 25, 26, 27):
            n = 1 << (ai - 24)
            arg = int.from_bytes(self._take(n, field), "big")
            if major == 7:
                # Simple values below 32 use the one-byte form; floats (ai 25..27) are values,
                # not arguments, and are only type-checked by the caller.
                if ai == 24 and arg < 32:
                    raise Malformed(field, "not_canonical")
            else:
                smallest = {24: 24, 25: 0x100, 26: 0x10000, 27: 0x100000000}[ai]
                if arg < smallest:
                    raise Malformed(field, "not_canonical")
        else:
            # 28..30 reserved, 31 indefinite length (or break)
            raise Malformed(field, "not_canonical")
        return major, arg, start

    # typed readers -----------------------------------------------------------------------

    def uint(self, field, lo=0, hi=U64_MAX):
        major, arg, _ = self.head(field)
        if major != 0:
            raise Malformed(field, "wrong_type")
        if not lo <= arg <= hi:
            raise Malformed(field, "out_of_range")
        return arg

    def int(self, field, lo=-(2**63), hi=2**63 - 1):
        major, arg, _ = self.head(field)
        if major == 0:
            v = arg
        elif major == 1:
            v = -1 - arg
        else:
            raise Malformed(field, "wrong_type")
        if not lo <= v <= hi:
            raise Malformed(field, "out_of_range")
        return v

    def bstr(self, field, lo=0, hi=None):
        major, n, _ = self.head(field)
        if major != 2:
            raise Malformed(field, "wrong_type")
        if hi is not None and n > hi:
            raise Malformed(field, "too_long")
        b = self._take(n, field)
        if n < lo:
            raise Malformed(field, "out_of_range")
        return b

    def tstr(self, field, hi):
        major, n, _ = self.head(field)
        if major != 3:
            raise Malformed(field, "wrong_type")
        if n > hi:
            raise Malformed(field, "too_long")
        b = self._take(n, field)
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError:
            raise Malformed(field, "utf8")

    def array_head(self, field, max_items=None, exact=None):
        major, n, _ = self.head(field)
        if major != 4:
            raise Malformed(field, "wrong_type")
        if exact is not None and n != exact:
            raise Malformed(field, "wrong_type")
        if max_items is not None and n > max_items:
            raise Malformed(field, "too_many")
        return n

    def map_head(self, field, max_entries):
        major, n, _ = self.head(field)
        if major != 5:
            raise Malformed(field, "wrong_type")
        if n > max_entries:
            raise Malformed(field, "too_many")
        return n

    def skip(self, field, depth=0):
        """Skip one item under an unknown non-negative key (errors at the enclosing map)."""
        if depth > MAX_SKIP_DEPTH:
            raise Malformed(field, "too_many")
        major, arg, _ = self.head(field)
        if major in (2, 3):
            self._take(arg, field)
        elif major == 4:
            for _ in range(arg):
                self.skip(field, depth + 1)
        elif major == 5:
            for _ in range(2 * arg):
                self.skip(field, depth + 1)
        elif major == 6:
            self.skip(field, depth + 1)
        # majors 0, 1, 7: the head is the whole item

    def map_fields(self, field, max_entries, known, required):
        """Read a map under the key rules of section 2.

        known: {key: callable(reader) -> value}; returns {key: value} for the known keys found.
        """
        n = self.map_head(field, max_entries)
        out = {}
        prev = None
        for _ in range(n):
            major, arg, start = self.head(field)
            if major not in (0, 1):
                raise Malformed(field, "wrong_type")
            enc = self.data[start : self.pos]
            key = arg if major == 0 else -1 - arg
            if prev is not None and enc <= prev:
                raise Malformed(field, "order")
            prev = enc
            if key in known:
                out[key] = known[key](self)
            elif key < 0:
                raise Malformed(field, "unknown_critical")
            else:
                self.skip(field)
        for key, name in required.items():
            if key not in out:
                raise Malformed(name, "missing")
        return out


# ---------------------------------------------------------------------------------------------
# Preferred CBOR encoder
# ---------------------------------------------------------------------------------------------


def enc_head(major, arg):
    if arg < 24:
        return bytes([(major << 5) | arg])
    for ai, n in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if arg < (1 << (8 * n)):
            return bytes([(major << 5) | ai]) + arg.to_bytes(n, "big")
    raise ValueError("argument too large")


def enc_uint(v):
    assert 0 <= v <= U64_MAX
    return enc_head(0, v)


def enc_int(v):
    return enc_head(0, v) if v >= 0 else enc_head(1, -1 - v)


def enc_bstr(b):
    return enc_head(2, len(b)) + bytes(b)


def enc_tstr(s):
    b = s.encode("utf-8")
    return enc_head(3, len(b)) + b


def enc_array(items):
    return enc_head(4, len(items)) + b"".join(items)


def enc_map(pairs):
    """pairs: list of (int key, encoded value); written in ascending encoded-key order."""
    entries = sorted((enc_int(k), v) for k, v in pairs)
    keys = [k for k, _ in entries]
    assert len(set(keys)) == len(keys)
    return enc_head(5, len(entries)) + b"".join(k + v for k, v in entries)


def enc_message(kind, body):
    return enc_head(4, 2) + enc_uint(kind) + body


# ---------------------------------------------------------------------------------------------
# Envelope (section 3)
# ---------------------------------------------------------------------------------------------

KINDS = {1, 2, 3, 4, 16, 17, 32, 33, 34, 35}


def read_envelope(data, expected_kind):
    """Returns a Reader positioned at the body. The caller checks trailing bytes."""
    r = Reader(data)
    major, n, _ = r.head("message")
    if major != 4 or n != 2:
        raise Malformed("message", "wrong_type")
    kind = r.uint("message.kind")
    if kind not in KINDS or kind != expected_kind:
        raise Malformed("message.kind", "out_of_range")
    return r


def finish(r, field="message"):
    if not r.at_end():
        raise Malformed(field, "trailing_bytes")


# ---------------------------------------------------------------------------------------------
# COSE_Sign1 profile (section 5.1)
# ---------------------------------------------------------------------------------------------


def read_cose(r):
    major, tag, _ = r.head("cose")
    if major != 6 or tag != 18:
        raise Malformed("cose", "wrong_type")
    r.array_head("cose", exact=4)
    protected = r.bstr("cose.protected", hi=MAX_SIGNED_PAYLOAD)
    if protected != PROTECTED:
        raise Malformed("cose.protected", "out_of_range")
    n = r.map_head("cose.unprotected", 1)
    if n == 0:
        raise Malformed("cose.kid", "missing")
    major, label, _ = r.head("cose.unprotected")
    if major not in (0, 1):
        raise Malformed("cose.unprotected", "wrong_type")  # guess: not in the table
    if major != 0 or label != 4:
        raise Malformed("cose.unprotected", "out_of_range")
    kid = r.bstr("cose.kid", lo=1, hi=16)
    payload = r.bstr("cose.payload", hi=MAX_SIGNED_PAYLOAD)
    signature = r.bstr("cose.signature", lo=64, hi=64)
    return {"kid": kid, "payload": payload, "signature": signature}


def decode_signed(data, kind):
    r = read_envelope(data, kind)
    cose_start = r.pos
    cose = read_cose(r)
    finish(r, "cose")  # "bytes after the object: cose trailing_bytes"
    cose["cose_bytes"] = data[cose_start:]
    return cose


def sig_structure(payload, protected=PROTECTED):
    return (
        enc_array([enc_tstr("Signature1"), enc_bstr(protected), enc_bstr(b""), enc_bstr(payload)])
    )


def build_cose(payload, kid, signature, protected=PROTECTED):
    return enc_head(6, 18) + enc_array(
        [enc_bstr(protected), enc_map([(4, enc_bstr(kid))]), enc_bstr(payload), enc_bstr(signature)]
    )


def sign(seed, payload, protected=PROTECTED):
    sk = Ed25519PrivateKey.from_private_bytes(seed)
    return sk.sign(sig_structure(payload, protected))


def public_of(seed):
    sk = Ed25519PrivateKey.from_private_bytes(seed)
    return sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# --- strict Ed25519 verification: small-order A / R rejected, S < L, cofactorless ---------

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _decompress(b):
    y = int.from_bytes(b, "little")
    sign_bit = y >> 255
    y &= (1 << 255) - 1
    if y >= P:
        y %= P  # non-canonical y: still decode (small-order check is on the point)
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    x = (u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P)) % P
    if (v * x * x - u) % P != 0:
        x = (x * SQRT_M1) % P
        if (v * x * x - u) % P != 0:
            return None
    if x == 0 and sign_bit:
        pass
    if (x & 1) != sign_bit:
        x = (-x) % P
    return (x, y, 1, x * y % P)


def _add(p, q):
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * t1 * t2 * D % P
    dd = 2 * z1 * z2 % P
    e, f, g, h = b - a, dd - c, dd + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _is_small_order(b):
    pt = _decompress(b)
    if pt is None:
        return False  # not a point at all; the verifier rejects it anyway
    for _ in range(3):
        pt = _add(pt, pt)
    x, y, z, _ = pt
    return x % P == 0 and (y - z) % P == 0


def verify_strict(public, message, signature):
    if len(signature) != 64 or len(public) != 32:
        return False
    if _is_small_order(public) or _is_small_order(signature[:32]):
        return False
    if int.from_bytes(signature[32:], "little") >= L:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
        return True
    except (InvalidSignature, ValueError):
        return False


def check_authority(cose, authorities):
    """Steps 2 and 3 of 5.2.4 / 5.3.2: first authority with the kid, then the signature."""
    match = None
    for auth in authorities:
        if auth["kid"] == cose["kid"]:
            match = auth
            break
    if match is None:
        raise Rejected("unknown_authority")
    if not verify_strict(match["public"], sig_structure(cose["payload"]), cose["signature"]):
        raise Rejected("bad_signature")
    return match


# ---------------------------------------------------------------------------------------------
# Payload decoders
# ---------------------------------------------------------------------------------------------


def read_params(r):
    n = r.map_head("command.params", 8)
    params = []
    prev = None
    for _ in range(n):
        major, arg, _ = r.head("command.params.id")
        if major != 0:
            raise Malformed("command.params.id", "wrong_type")
        if arg > 255:
            raise Malformed("command.params.id", "out_of_range")
        if prev is not None and arg <= prev:
            raise Malformed("command.params", "order")
        prev = arg
        params.append([arg, r.int("command.params.value")])
    return params


def decode_command_payload(payload):
    r = Reader(payload)
    f = r.map_fields(
        "command",
        16,
        {
            1: lambda r: r.bstr("command.device_id", lo=1, hi=32),
            2: lambda r: r.uint("command.id", lo=1),
            3: lambda r: r.uint("command.issued"),
            4: lambda r: r.uint("command.expires"),
            5: lambda r: r.uint("command.operation", hi=65535),
            6: read_params,
        },
        {
            1: "command.device_id",
            2: "command.id",
            3: "command.issued",
            4: "command.expires",
            5: "command.operation",
            6: "command.params",
        },
    )
    finish(r, "command")
    return {
        "device_id": f[1].hex(),
        "command_id": f[2],
        "issued_ms": f[3],
        "expires_ms": f[4],
        "operation": f[5],
        "params": f[6],
    }


def encode_command_payload(v):
    return enc_map(
        [
            (1, enc_bstr(bytes.fromhex(v["device_id"]))),
            (2, enc_uint(v["command_id"])),
            (3, enc_uint(v["issued_ms"])),
            (4, enc_uint(v["expires_ms"])),
            (5, enc_uint(v["operation"])),
            (6, enc_map([(pid, enc_int(val)) for pid, val in v["params"]])),
        ]
    )


def read_id16(name):
    return lambda r: r.bstr(name, lo=16, hi=16)


def read_digest(prefix):
    def rd(r):
        r.array_head(prefix, exact=2)
        alg = r.int(prefix + ".alg")
        if alg != -16:
            raise Malformed(prefix + ".alg", "out_of_range")
        return r.bstr(prefix + ".value", lo=32, hi=32)

    return rd


def enc_digest(hexdigest):
    return enc_array([enc_int(-16), enc_bstr(bytes.fromhex(hexdigest))])


def decode_manifest_payload(payload):
    r = Reader(payload)
    f = r.map_fields(
        "manifest",
        16,
        {
            1: read_id16("manifest.vendor_id"),
            2: read_id16("manifest.class_id"),
            3: lambda r: r.tstr("manifest.version", 32),
            4: lambda r: r.uint("manifest.sequence"),
            5: lambda r: r.uint("manifest.image_size", lo=1, hi=U32_MAX),
            6: read_digest("manifest.digest"),
            7: lambda r: r.tstr("manifest.uri", 128),
        },
        {
            1: "manifest.vendor_id",
            2: "manifest.class_id",
            3: "manifest.version",
            4: "manifest.sequence",
            5: "manifest.image_size",
            6: "manifest.digest",
        },
    )
    finish(r, "manifest")
    return {
        "vendor_id": f[1].hex(),
        "class_id": f[2].hex(),
        "version": f[3],
        "sequence": f[4],
        "image_size": f[5],
        "digest": f[6].hex(),
        "uri": f.get(7),
    }


def encode_manifest_payload(v):
    pairs = [
        (1, enc_bstr(bytes.fromhex(v["vendor_id"]))),
        (2, enc_bstr(bytes.fromhex(v["class_id"]))),
        (3, enc_tstr(v["version"])),
        (4, enc_uint(v["sequence"])),
        (5, enc_uint(v["image_size"])),
        (6, enc_digest(v["digest"])),
    ]
    if v.get("uri") is not None:
        pairs.append((7, enc_tstr(v["uri"])))
    return enc_map(pairs)


def decode_app_payload(payload):
    r = Reader(payload)
    f = r.map_fields(
        "app_notice",
        16,
        {
            1: lambda r: r.tstr("app_notice.app_id", 64),
            2: lambda r: r.tstr("app_notice.version", 32),
            3: lambda r: r.uint("app_notice.sequence"),
            4: read_digest("app_notice.digest"),
            5: lambda r: r.tstr("app_notice.uri", 128),
            6: lambda r: r.uint("app_notice.min_firmware_sequence"),
        },
        {
            1: "app_notice.app_id",
            2: "app_notice.version",
            3: "app_notice.sequence",
            4: "app_notice.digest",
        },
    )
    finish(r, "app_notice")
    return {
        "app_id": f[1],
        "version": f[2],
        "sequence": f[3],
        "digest": f[4].hex(),
        "uri": f.get(5),
        "min_firmware_sequence": f.get(6),
    }


def encode_app_payload(v):
    pairs = [
        (1, enc_tstr(v["app_id"])),
        (2, enc_tstr(v["version"])),
        (3, enc_uint(v["sequence"])),
        (4, enc_digest(v["digest"])),
    ]
    if v.get("uri") is not None:
        pairs.append((5, enc_tstr(v["uri"])))
    if v.get("min_firmware_sequence") is not None:
        pairs.append((6, enc_uint(v["min_firmware_sequence"])))
    return enc_map(pairs)


# --- unsigned messages ------------------------------------------------------------------------

ACK_STATUS = {1: "accepted", 2: "rejected", 3: "executed", 4: "failed"}
UPDATE_STATE = {1: "receiving", 2: "installable", 3: "rejected"}


def decode_ack(data):
    r = read_envelope(data, 17)
    f = r.map_fields(
        "ack",
        16,
        {
            1: lambda r: r.uint("ack.command_id"),
            2: lambda r: r.uint("ack.status", lo=1, hi=4),
            3: lambda r: r.uint("ack.reason"),
            4: lambda r: r.uint("ack.time"),
        },
        {1: "ack.command_id", 2: "ack.status", 4: "ack.time"},
    )
    finish(r)
    status, reason = f[2], f.get(3)
    if status in (1, 3) and reason is not None:
        raise Malformed("ack.reason", "out_of_range")
    if status in (2, 4) and reason is None:
        raise Malformed("ack.reason", "missing")
    if status == 2 and not 1 <= reason <= 9:
        raise Malformed("ack.reason", "out_of_range")
    if f[1] == 0 and status != 2:
        raise Malformed("ack.command_id", "out_of_range")
    return {"command_id": f[1], "status": ACK_STATUS[status], "reason": reason, "time_ms": f[4]}


def encode_ack(v):
    status = {s: k for k, s in ACK_STATUS.items()}[v["status"]]
    pairs = [(1, enc_uint(v["command_id"])), (2, enc_uint(status)), (4, enc_uint(v["time_ms"]))]
    if v["reason"] is not None:
        pairs.append((3, enc_uint(v["reason"])))
    return enc_message(17, enc_map(pairs))


def decode_chunk(data):
    r = read_envelope(data, 33)
    f = r.map_fields(
        "chunk",
        16,
        {
            1: lambda r: r.uint("chunk.sequence"),
            2: lambda r: r.uint("chunk.offset", hi=U32_MAX),
            3: lambda r: r.bstr("chunk.data", lo=1, hi=1024),
        },
        {1: "chunk.sequence", 2: "chunk.offset", 3: "chunk.data"},
    )
    finish(r)
    return {"sequence": f[1], "offset": f[2], "data": f[3].hex()}


def encode_chunk(v):
    return enc_message(
        33,
        enc_map(
            [
                (1, enc_uint(v["sequence"])),
                (2, enc_uint(v["offset"])),
                (3, enc_bstr(bytes.fromhex(v["data"]))),
            ]
        ),
    )


def decode_status(data):
    r = read_envelope(data, 34)
    f = r.map_fields(
        "status",
        16,
        {
            1: lambda r: r.uint("status.sequence"),
            2: lambda r: r.uint("status.state", lo=1, hi=3),
            3: lambda r: r.uint("status.next_offset", hi=U32_MAX),
            4: lambda r: r.uint("status.reason"),
        },
        {1: "status.sequence", 2: "status.state", 3: "status.next_offset"},
    )
    finish(r)
    state, reason = f[2], f.get(4)
    if state in (1, 2) and reason is not None:
        raise Malformed("status.reason", "out_of_range")
    if state == 3 and reason is None:
        raise Malformed("status.reason", "missing")
    if state == 3 and not 1 <= reason <= 9:
        raise Malformed("status.reason", "out_of_range")
    return {"sequence": f[1], "state": UPDATE_STATE[state], "next_offset": f[3], "reason": reason}


def encode_status(v):
    state = {s: k for k, s in UPDATE_STATE.items()}[v["state"]]
    pairs = [(1, enc_uint(v["sequence"])), (2, enc_uint(state)), (3, enc_uint(v["next_offset"]))]
    if v["reason"] is not None:
        pairs.append((4, enc_uint(v["reason"])))
    return enc_message(34, enc_map(pairs))


# ---------------------------------------------------------------------------------------------
# Verifiers
# ---------------------------------------------------------------------------------------------


def verify_command(data, policy, now, last_accepted):
    """Section 5.2.4. Returns (expect-like dict, new last_accepted)."""
    try:
        cose = decode_signed(data, 16)  # 1
    except Malformed as e:
        return {"result": "malformed", "field": e.field, "problem": e.problem}, last_accepted
    try:
        auths = [a["key"] for a in policy["authorities"]]
        auth = check_authority(cose, auths)  # 2, 3
        entry = next(a for a in policy["authorities"] if a["key"] is auth)
        try:
            c = decode_command_payload(cose["payload"])  # 4
        except Malformed:
            raise Rejected("malformed")
        if bytes.fromhex(c["device_id"]) != policy["device_id"]:  # 5
            raise Rejected("wrong_device")
        limit = min(now + policy["max_clock_skew_ms"], U64_MAX)  # saturating
        if c["issued_ms"] > limit or c["expires_ms"] <= c["issued_ms"]:  # 6
            raise Rejected("not_yet_valid")
        if now >= c["expires_ms"]:  # 7
            raise Rejected("expired")
        grant = next((g for g in entry["grants"] if g["operation"] == c["operation"]), None)
        if grant is None:  # 8
            raise Rejected("operation_not_allowed")
        rules = {}
        for rule in grant["params"]:
            rules.setdefault(rule["id"], rule)
        given = dict((pid, val) for pid, val in c["params"])
        for pid, val in c["params"]:  # 9
            rule = rules.get(pid)
            if rule is None or not rule["min"] <= val <= rule["max"]:
                raise Rejected("parameter_out_of_range")
        for rule in grant["params"]:
            if rule["required"] and rule["id"] not in given:
                raise Rejected("parameter_out_of_range")
        if not c["command_id"] > last_accepted:  # 10
            raise Rejected("replayed")
    except Rejected as e:
        return (
            {"result": "rejected", "reason": e.reason, "code": COMMAND_REASONS[e.reason]},
            last_accepted,
        )
    return {"result": "accepted", "authority": auth["kid"].hex()}, c["command_id"]


def verify_manifest(data, policy):
    """Section 5.3.2. Returns (expect-like dict, decoded manifest or None)."""
    try:
        cose = decode_signed(data, 32)
    except Malformed as e:
        return {"result": "malformed", "field": e.field, "problem": e.problem}, None
    try:
        check_authority(cose, policy["authorities"])
        try:
            m = decode_manifest_payload(cose["payload"])
        except Malformed:
            raise Rejected("malformed")
        if m["vendor_id"] != policy["vendor_id"] or m["class_id"] != policy["class_id"]:
            raise Rejected("wrong_class")
        if m["sequence"] <= policy["installed_sequence"]:
            raise Rejected("rollback")
        if m["image_size"] > policy["max_image_size"]:
            raise Rejected("too_large")
    except Rejected as e:
        return {"result": "rejected", "reason": e.reason, "code": UPDATE_REASONS[e.reason]}, None
    return {"result": "accepted"}, m


def verify_app_notice(data, policy):
    """Section 5.4."""
    try:
        cose = decode_signed(data, 35)
    except Malformed as e:
        return {"result": "malformed", "field": e.field, "problem": e.problem}
    try:
        check_authority(cose, policy["authorities"])
        try:
            a = decode_app_payload(cose["payload"])
        except Malformed:
            raise Rejected("malformed")
        if a["app_id"] != policy["app_id"]:
            raise Rejected("wrong_class")
        if a["sequence"] <= policy["installed_sequence"]:
            raise Rejected("rollback")
    except Rejected as e:
        return {"result": "rejected", "reason": e.reason, "code": UPDATE_REASONS[e.reason]}
    return {"result": "accepted"}


# --- transfer (5.3.4) -------------------------------------------------------------------------


class ImageStore:
    def __init__(self, size):
        self.buf = bytearray(size)

    def write(self, offset, data):
        self.buf[offset : offset + len(data)] = data

    def read(self, offset, out_len):
        return bytes(self.buf[offset : offset + out_len])


class Receiving:
    def __init__(self, manifest, next_offset, store):
        # Remembers only the sequence, image size, digest and next offset.
        self.sequence = manifest["sequence"]
        self.image_size = manifest["image_size"]
        self.digest = bytes.fromhex(manifest["digest"])
        self.next_offset = next_offset
        self.store = store

    def chunk(self, data):
        try:
            c = decode_chunk(data)
        except Malformed as e:
            return {"result": "malformed", "field": e.field, "problem": e.problem}
        payload = bytes.fromhex(c["data"])
        if self.next_offset == self.image_size:
            # 5.3.4: "the transfer is complete; any further chunk is SizeMismatch"
            return rej_update("size_mismatch")
        if c["sequence"] != self.sequence or c["offset"] != self.next_offset:
            return rej_update("bad_offset")
        if c["offset"] + len(payload) > self.image_size:
            return rej_update("size_mismatch")
        self.store.write(c["offset"], payload)
        self.next_offset += len(payload)
        if self.next_offset == self.image_size:
            return {"result": "complete"}
        return {"result": "receiving", "next_offset": self.next_offset}

    def finish(self):
        if self.next_offset < self.image_size:
            return rej_update("size_mismatch")
        h = hashlib.sha256()
        off = 0
        while off < self.image_size:  # read back from the store, in 256-byte blocks
            n = min(256, self.image_size - off)
            h.update(self.store.read(off, n))
            off += n
        if h.digest() != self.digest:
            return rej_update("digest_mismatch")
        return {"result": "installable", "sequence": self.sequence, "digest": h.hexdigest()}


def rej_update(reason):
    return {"result": "rejected", "reason": reason, "code": UPDATE_REASONS[reason]}


# ---------------------------------------------------------------------------------------------
# Vector checks
# ---------------------------------------------------------------------------------------------


class Checker:
    def __init__(self, doc):
        self.doc = doc
        self.keys = {}
        for name, k in doc["keys"].items():
            seed = bytes.fromhex(k["seed"])
            self.keys[name] = {
                "seed": seed,
                "kid": bytes.fromhex(k["kid"]),
                "public": bytes.fromhex(k["public"]),
            }
        cp = doc["command_policy"]
        self.command_policy = {
            "device_id": bytes.fromhex(cp["device_id"]),
            "max_clock_skew_ms": cp["max_clock_skew_ms"],
            "authorities": [
                {"key": self.keys[a["key"]], "grants": a["grants"]} for a in cp["authorities"]
            ],
        }
        up = doc["update_policy"]
        self.update_policy = dict(up, authorities=[self.keys[a] for a in up["authorities"]])
        ap = doc["app_policy"]
        self.app_policy = dict(ap, authorities=[self.keys[a] for a in ap["authorities"]])
        self.by_name = {v["name"]: v for v in doc["vectors"]}
        self.failures = 0
        self.count = 0

    def general_checks(self, errs):
        for name, k in self.keys.items():
            if public_of(k["seed"]) != k["public"]:
                errs.append(f"key {name}: public key does not match seed")
            if _is_small_order(k["public"]):
                errs.append(f"key {name}: small-order public key")
        sizes = {"command_basal_rate": 125, "firmware_manifest": 206}
        for name, n in sizes.items():  # sizes stated in sections 5.1 and 5.3.2
            if len(bytes.fromhex(self.by_name[name]["hex"])) != n:
                errs.append(f"{name} is not {n} bytes as the spec says")
        sig = self.by_name["firmware_manifest"]["hex"][-128:]
        if not (sig.startswith("a52a2c2e") and sig.endswith("f016c91203")):
            errs.append("firmware_manifest signature differs from the 5.3.2 example")
        examples = {  # sections 5.2.5, 5.3.3, 5.3.5
            "ack_accepted": "8211a301070201041b000001a0c4506c14",
            "ack_rejected_expired": "8211a4010702020304041b000001a0c4506c14",
            "ack_rejected_unreadable": "8211a4010002020309041b000001a0c4506c14",
            "image_chunk_1": "821821a301182a0218200350e3eaf1f8ff060d141b222930373e454c",
            "update_status_receiving": "821822a301182a0201031820",
            "update_status_installable": "821822a301182a0202031830",
            "update_status_rejected": "821822a401182a020303000406",
        }
        for name, h in examples.items():
            if self.by_name[name]["hex"] != h:
                errs.append(f"{name} differs from the spec's example")
        img = bytes.fromhex(self.doc["image"])
        if img != bytes((7 * i + 3) % 256 for i in range(len(img))):
            errs.append("image does not follow (7 i + 3) mod 256")

    # signed objects ------------------------------------------------------------------------

    def expected_payload(self, v, errs):
        """The payload as rebuilt from `value` (or taken from `payload` when there is none)."""
        enc = {
            "command": encode_command_payload,
            "firmware_manifest": encode_manifest_payload,
            "app_update_notice": encode_app_payload,
        }[v["type"]]
        if "value" in v:
            p = enc(v["value"])
            if p.hex() != v["payload"]:
                errs.append(f"payload from value {p.hex()} != {v['payload']}")
            return p
        return bytes.fromhex(v["payload"])

    def check_signed(self, v, errs):
        kind = {"command": 16, "firmware_manifest": 32, "app_update_notice": 35}[v["type"]]
        key = self.keys[v["signer"]]
        payload = self.expected_payload(v, errs)
        protected = PROTECTED
        name = v["name"]
        if name == "command_other_algorithm":
            # Outside the profile: {1: -7}, signed over its own Sig_structure.
            protected = enc_map([(1, enc_int(-7))])
            signature = sign(key["seed"], payload, protected)
        elif name == "command_tampered_payload":
            # command_basal_rate's signature, with one payload byte changed afterwards.
            orig = self.by_name["command_basal_rate"]
            orig_payload = encode_command_payload(orig["value"])
            if orig["signer"] != v["signer"]:
                errs.append("tampered vector has another signer than command_basal_rate")
            diff = [i for i in range(len(payload)) if payload[i] != orig_payload[i]]
            if len(orig_payload) != len(payload) or len(diff) != 1:
                errs.append(f"tampered payload differs from the original in {diff}")
            tampered = decode_command_payload(payload)
            if tampered["params"] != [[1, 1251]] or orig["value"]["params"] != [[1, 1250]]:
                errs.append("tampered payload is not 1250 -> 1251")
            signature = sign(key["seed"], orig_payload)
        elif name == "command_non_canonical_s":
            # command_basal_rate's signature with s replaced by s + L (section 5.6).
            good = sign(key["seed"], payload)
            s_plus_l = int.from_bytes(good[32:], "little") + L
            signature = good[:32] + s_plus_l.to_bytes(32, "little")
        else:
            signature = sign(key["seed"], payload)
        cose = build_cose(payload, key["kid"], signature, protected)
        msg = enc_message(kind, cose)
        if cose.hex() != v["cose"]:
            errs.append(f"rebuilt cose {cose.hex()} != vector")
        if msg.hex() != v["hex"]:
            errs.append(f"rebuilt hex {msg.hex()} != vector")
        # signature_valid: verifies under the signer's own key, over the profile's Sig_structure
        data = bytes.fromhex(v["hex"])
        raw_sig = data[-64:]
        valid = verify_strict(key["public"], sig_structure(bytes.fromhex(v["payload"])), raw_sig)
        if valid != v["signature_valid"]:
            errs.append(f"signature_valid: computed {valid}, vector {v['signature_valid']}")
        # decoding hex gives value (when the object is inside the profile)
        try:
            c = decode_signed(data, kind)
            if c["payload"].hex() != v["payload"] or c["cose_bytes"].hex() != v["cose"]:
                errs.append("decoded payload/cose differ from the vector's")
            if c["kid"] != key["kid"]:
                errs.append("decoded kid differs from the signer's kid")
            if "value" in v:
                dec = {
                    16: decode_command_payload,
                    32: decode_manifest_payload,
                    35: decode_app_payload,
                }[kind](c["payload"])
                if dec != v["value"]:
                    errs.append(f"decoded value {dec} != {v['value']}")
        except Malformed as e:
            if v["expect"].get("result") != "malformed":
                errs.append(f"decode failed: {e}")

    def check_command(self, v, errs):
        self.check_signed(v, errs)
        chk = v["check"]
        got, after = verify_command(
            bytes.fromhex(v["hex"]), self.command_policy, chk["now_ms"], chk["last_accepted"]
        )
        if got != v["expect"]:
            errs.append(f"verifier gave {got}, vector expects {v['expect']}")
        if after != v["last_accepted_after"]:
            errs.append(f"last_accepted after {after}, vector {v['last_accepted_after']}")

    def check_manifest(self, v, errs):
        self.check_signed(v, errs)
        got, _ = verify_manifest(bytes.fromhex(v["hex"]), self.update_policy)
        if got != v["expect"]:
            errs.append(f"verifier gave {got}, vector expects {v['expect']}")
        if v["name"] == "firmware_manifest":
            img = bytes.fromhex(self.doc["image"])
            if hashlib.sha256(img).hexdigest() != v["value"]["digest"]:
                errs.append("manifest digest is not SHA-256 of the image")
            if len(img) != v["value"]["image_size"]:
                errs.append("manifest image_size is not the image length")

    def check_app(self, v, errs):
        self.check_signed(v, errs)
        got = verify_app_notice(bytes.fromhex(v["hex"]), self.app_policy)
        if got != v["expect"]:
            errs.append(f"verifier gave {got}, vector expects {v['expect']}")

    # unsigned ----------------------------------------------------------------------------

    def check_unsigned(self, v, errs, enc, dec):
        b = enc(v["value"])
        if b.hex() != v["hex"]:
            errs.append(f"encoded {b.hex()} != {v['hex']}")
        try:
            d = dec(bytes.fromhex(v["hex"]))
            if d != v["value"]:
                errs.append(f"decoded {d} != {v['value']}")
        except Malformed as e:
            errs.append(f"decode failed: {e}")

    # transfer ----------------------------------------------------------------------------

    def check_transfer(self, v, errs):
        mv = self.by_name[v["manifest"]]
        res, manifest = verify_manifest(bytes.fromhex(mv["hex"]), self.update_policy)
        if manifest is None:
            errs.append(f"manifest {v['manifest']} not accepted: {res}")
            return
        img = bytes.fromhex(self.doc["image"])
        store = ImageStore(manifest["image_size"])
        resume = v["resume_offset"]
        if resume > manifest["image_size"]:
            steps, fin = [], rej_update("size_mismatch")
            errs.append("resume beyond image size")  # no vector does this
            return
        # On a resume the store already holds bytes 0..resume from before the reboot.
        store.write(0, img[:resume])
        t = Receiving(manifest, resume, store)
        steps = [t.chunk(bytes.fromhex(c)) for c in v["chunks"]]
        if steps != v["expect_steps"]:
            errs.append(f"steps {steps} != {v['expect_steps']}")
        alter = v.get("alter_store")
        if alter:
            store.buf[alter["offset"]] ^= alter["xor"]
        fin = t.finish()
        if fin != v["expect_finish"]:
            errs.append(f"finish {fin} != {v['expect_finish']}")
        # The status message the device would send after finish (5.3.5) must encode and decode.
        if fin["result"] == "installable":
            st = {"sequence": t.sequence, "state": "installable", "next_offset": t.image_size, "reason": None}
        elif fin["result"] == "rejected" and fin["reason"] == "digest_mismatch":
            st = {"sequence": t.sequence, "state": "rejected", "next_offset": 0, "reason": fin["code"]}
        else:
            st = {"sequence": t.sequence, "state": "receiving", "next_offset": t.next_offset, "reason": None}
        if decode_status(encode_status(st)) != st:
            errs.append("status round trip failed")

    # driver ------------------------------------------------------------------------------

    def run(self):
        errs = []
        self.general_checks(errs)
        self.report("keys_and_image", errs)
        handlers = {
            "command": self.check_command,
            "firmware_manifest": self.check_manifest,
            "app_update_notice": self.check_app,
            "command_ack": lambda v, e: self.check_unsigned(v, e, encode_ack, decode_ack),
            "image_chunk": lambda v, e: self.check_unsigned(v, e, encode_chunk, decode_chunk),
            "update_status": lambda v, e: self.check_unsigned(v, e, encode_status, decode_status),
            "transfer": self.check_transfer,
        }
        for v in self.doc["vectors"]:
            errs = []
            h = handlers.get(v.get("type"))
            if h is None:
                errs.append(f"unknown vector type {v.get('type')!r}")
            else:
                try:
                    h(v, errs)
                except Exception as e:  # a checker bug or an unexpected vector shape
                    errs.append(f"exception {type(e).__name__}: {e}")
            self.report(f"{v.get('type')} {v.get('name')}", errs)
        print(f"{self.count - self.failures}/{self.count} ok, {self.failures} failed")
        return self.failures == 0

    def report(self, label, errs):
        self.count += 1
        if errs:
            self.failures += 1
            print(f"FAIL {label}")
            for e in errs:
                print(f"     {e}")
        else:
            print(f"ok {label}")


def self_test():
    """A few strict-decoding rules and the spec's own examples."""
    errs = []

    def expect_err(fn, field, problem, what):
        try:
            fn()
            errs.append(f"{what}: accepted")
        except Malformed as e:
            if (e.field, e.problem) != (field, problem):
                errs.append(f"{what}: {e.field}/{e.problem}, wanted {field}/{problem}")

    expect_err(lambda: Reader(bytes.fromhex("1805")).uint("x"), "x", "not_canonical", "non-preferred")
    expect_err(lambda: Reader(bytes.fromhex("5f")).bstr("x"), "x", "not_canonical", "indefinite")
    expect_err(lambda: decode_ack(bytes.fromhex("8211a3010702050400")), "ack.status", "out_of_range", "status 5")
    expect_err(lambda: decode_ack(bytes.fromhex("8211a3020101070400")), "ack", "order", "key order")
    expect_err(lambda: decode_ack(bytes.fromhex("8211a30107040002 01".replace(" ", ""))), "ack", "order", "4 before 2")
    expect_err(lambda: decode_ack(bytes.fromhex("8211a3010701070400")), "ack", "order", "duplicate key")
    expect_err(lambda: decode_ack(bytes.fromhex("8211a201070400")), "ack.status", "missing", "no status")
    expect_err(lambda: decode_signed(bytes.fromhex("8210d18443a10127a1044101405840" + "00" * 64), 16), "cose", "wrong_type", "tag 17")
    expect_err(lambda: decode_signed(bytes.fromhex("8210d28443a10127a1044001405840" + "00" * 64), 16), "cose.kid", "out_of_range", "empty kid")
    expect_err(lambda: decode_signed(bytes.fromhex("8210d28443a10127a0405840" + "00" * 64), 16), "cose.kid", "missing", "no kid")
    expect_err(lambda: decode_signed(bytes.fromhex("8210d28443a10127a1014101405840" + "00" * 64), 16), "cose.unprotected", "out_of_range", "label 1")
    expect_err(lambda: decode_signed(bytes.fromhex("8210d28443a10127a104410140583f" + "00" * 63), 16), "cose.signature", "out_of_range", "short signature")
    expect_err(lambda: decode_signed(bytes.fromhex("8210d28443a10127a1044101f65840" + "00" * 64), 16), "cose.payload", "wrong_type", "detached payload")
    expect_err(lambda: decode_signed(bytes.fromhex("8210d28443a10127a1044101405840" + "00" * 64 + "00"), 16), "cose", "trailing_bytes", "trailing")
    expect_err(lambda: decode_signed(bytes.fromhex("8211d28443a10127a1044101405840" + "00" * 64), 16), "message.kind", "out_of_range", "kind 17 as command")
    expect_err(lambda: decode_ack(bytes.fromhex("8211a40107020104002000")), "ack", "unknown_critical", "neg key")
    expect_err(lambda: decode_ack(bytes.fromhex("8211a30107020104000a")), "message", "trailing_bytes", "trailing")
    # an unknown non-negative key is skipped
    try:
        d = decode_ack(bytes.fromhex("8211a401070201040005820102"))
        if d["command_id"] != 7:
            errs.append("skip: wrong value")
    except Malformed as e:
        errs.append(f"skip: {e}")
    # Section 5.1 example: its Sig_structure
    ss = sig_structure(
        bytes.fromhex("a60147534e2d303030310207031b000001a0c4506818041b000001a0c454ffe0050106a1011904e2")
    )
    if ss.hex() != (
        "846a5369676e61747572653143a10127405828"
        "a60147534e2d303030310207031b000001a0c4506818041b000001a0c454ffe0050106a1011904e2"
    ) or len(ss) != 59:
        errs.append("section 5.1 Sig_structure example differs")
    return errs


def main():
    with open(VECTORS) as f:
        doc = json.load(f)
    c = Checker(doc)
    st = self_test()
    c.report("self_test", st)
    ok = c.run()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
