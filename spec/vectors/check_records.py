#!/usr/bin/env python3
"""Independent checker for the tether v1 vectors, written from spec/PROTOCOL.md alone.

Needs Python 3.11+ and the `cryptography` package (pip install cryptography). Run from anywhere:

    python3 spec/vectors/check_records.py [directory]

For every file in the directory (default: the one this script is in) it checks, without tether:

* handshake vectors (files with "handshake"): static public keys (X25519), the prologue (4.2),
  identity CBOR (4.4), pairing fingerprint, PSK and code text (4.7.1), the short-code exchange of
  "code_exchange" (4.7.2: SPAKE2 over edwards25519, with the group written out here, and the
  receiver's checks of a code message on messages built here), the manufacturer credential
  (4.5: signed bytes and Ed25519 signature), and every record of "records": flags, counter, nonce
  and associated data (5.3), epoch keys by REKEY from "split" (5.4), and decryption;
* record-layer vectors (files with "scenarios"): epoch keys from "split", every listed record,
  the sender's automatic key updates (5.5) when all records are listed, and every delivery: a
  model of the receiver of section 5.6 (datagram or stream) must reach the same accept or reject
  decision, event, error and receiver epoch.

The Noise handshake itself (snow, Split) is checked by tests/vectors.rs in the Rust test suite.
Exit status 0 when everything matches.
"""

import hashlib
import hmac
import json
import sys
from base64 import b32encode
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.exceptions import InvalidTag

MAX_COUNTER = (1 << 62) - 1
TYPES = {"data": 0, "key_update": 1, "close": 2}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
FRAMING_IDS = {"stream": 1, "datagram": 2}


class Mismatch(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Mismatch(what)


def h(s):
    return bytes.fromhex(s)


def aead(suite_id, key):
    return ChaCha20Poly1305(key) if suite_id == 1 else AESGCM(key)


def nonce(counter):  # 5.3: 0x00000000 || counter (u64, big-endian)
    return bytes(4) + counter.to_bytes(8, "big")


def associated_data(flags, counter):  # 5.3: flags (u8) || counter (u64)
    return bytes([flags]) + counter.to_bytes(8, "big")


def rekey(suite_id, key):  # 5.4
    return aead(suite_id, key).encrypt(nonce(2**64 - 1), bytes(32), b"")[:32]


def decrypt(suite_id, key, counter, flags, body):
    try:
        return aead(suite_id, key).decrypt(nonce(counter), body, associated_data(flags, counter))
    except InvalidTag:
        return None


def epoch_keys(suite_id, key0, count):
    keys = [key0]
    while len(keys) < count:
        keys.append(rekey(suite_id, keys[-1]))
    return keys


def raw_public(key):
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# --- Handshake vectors ------------------------------------------------------------------------


def cbor_head(major, n):
    m = major << 5
    if n < 24:
        return bytes([m | n])
    for extra, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([m | extra]) + n.to_bytes(size, "big")
    raise ValueError(n)


def identity_cbor(ident):  # 4.4, canonical form
    def b(major, data):
        return cbor_head(major, len(data)) + data

    cred = ident.get("credential")
    out = cbor_head(5, 5 if cred else 4)
    out += cbor_head(0, 1) + b(2, ident["id"].encode())
    out += cbor_head(0, 2) + b(3, ident["model"].encode())
    out += cbor_head(0, 3) + b(3, ident["version"].encode())
    out += cbor_head(0, 4) + b(2, h(ident["key_id"]))
    if cred:
        out += cbor_head(0, 5) + cbor_head(4, 4)
        out += cbor_head(0, cred["not_before"]) + cbor_head(0, cred["not_after"])
        out += b(2, h(cred["issuer"])) + b(2, h(cred["signature"]))
    return out


# --- Short-code exchange (4.7.2): SPAKE2 over edwards25519 ---------------------------------------
# The group operations of RFC 8032 (5.1), written out: `cryptography` has no raw point arithmetic.

P25519 = 2**255 - 19
D25519 = -121665 * pow(121666, P25519 - 2, P25519) % P25519  # RFC 8032 5.1: d = -121665/121666
SQRT_M1 = pow(2, (P25519 - 1) // 4, P25519)  # RFC 8032 5.1.3: 2^((p-1)/4), a square root of -1
ORDER_L = 2**252 + 27742317777372353535851937790883648493  # 4.7.2: L
NEUTRAL = (0, 1, 1, 0)  # extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, x*y = T/Z
CODE_ID_PHONE = b"tether-v1 code pairing phone"  # 4.7.2
CODE_ID_DEVICE = b"tether-v1 code pairing device"


def ed_decode(s, strict=True):
    """RFC 8032 5.1.3; None when decoding fails. strict=False: the lax decoding of many libraries
    (y reduced mod p, the sign bit ignored when x = 0), to exercise 4.7.2's canonical-encoding rule."""
    if len(s) != 32:
        return None
    n = int.from_bytes(s, "little")
    y, sign = n & ((1 << 255) - 1), n >> 255
    if y >= P25519:  # step 1: a y of p or more fails
        if strict:
            return None
        y -= P25519
    u, v = (y * y - 1) % P25519, (D25519 * y * y + 1) % P25519
    x = u * pow(v, 3, P25519) * pow(u * pow(v, 7, P25519), (P25519 - 5) // 8, P25519) % P25519
    if v * x * x % P25519 == u:  # step 3
        pass
    elif v * x * x % P25519 == -u % P25519:
        x = x * SQRT_M1 % P25519
    else:
        return None
    if x == 0 and sign:  # step 4: x = 0 with the sign bit set fails
        if strict:
            return None
        sign = 0
    if (x & 1) != sign:
        x = P25519 - x
    return (x, y, 1, x * y % P25519)


def ed_encode(pt):  # RFC 8032 5.1.2: y little-endian, the sign (low bit) of x in bit 255
    X, Y, Z, _ = pt
    zi = pow(Z, P25519 - 2, P25519)
    x, y = X * zi % P25519, Y * zi % P25519
    return (y | (x & 1) << 255).to_bytes(32, "little")


def ed_add(p1, p2):  # RFC 8032 5.1.4 (complete: also doubles)
    X1, Y1, Z1, T1 = p1
    X2, Y2, Z2, T2 = p2
    a = (Y1 - X1) * (Y2 - X2) % P25519
    b = (Y1 + X1) * (Y2 + X2) % P25519
    c = T1 * 2 * D25519 * T2 % P25519
    d = Z1 * 2 * Z2 % P25519
    e, f, g, hh = b - a, d - c, d + c, b + a
    return (e * f % P25519, g * hh % P25519, f * g % P25519, e * hh % P25519)


def ed_neg(pt):
    X, Y, Z, T = pt
    return (-X % P25519, Y, Z, -T % P25519)


def ed_sub(p1, p2):
    return ed_add(p1, ed_neg(p2))


def ed_mul(k, pt):  # double and add, most significant bit first
    acc = NEUTRAL
    for bit in bin(k)[2:]:
        acc = ed_add(acc, acc)
        if bit == "1":
            acc = ed_add(acc, pt)
    return acc


def ed_eq(p1, p2):  # same point whatever Z
    return (p1[0] * p2[2] - p2[0] * p1[2]) % P25519 == 0 and (p1[1] * p2[2] - p2[1] * p1[2]) % P25519 == 0


ED_B = ed_decode(bytes.fromhex("58" + "66" * 31))  # RFC 8032 5.1: B, y = 4/5, x even
CODE_M = ed_decode(h("15cfd18e385952982b6a8f8c7854963b58e34388c8e6dae891db756481a02312"))  # 4.7.2
CODE_N = ed_decode(h("f04f2e7eb734b2a8f8b472eaf9c3c632576ac64aea650b496a8a20ff00e583c3"))  # 4.7.2


def code_w(code):  # 4.7.2: OS2IP(HKDF-SHA-256(salt = "", IKM = code, info = "SPAKE2 pw", L = 48)) mod L
    prk = hmac.new(b"", code, hashlib.sha256).digest()  # RFC 5869 extract; "" pads to the same key as HashLen zeros
    okm, t = b"", b""
    for i in range(1, 3):  # RFC 5869 expand: T(1) || T(2), first 48 bytes
        t = hmac.new(prk, t + b"SPAKE2 pw" + bytes([i]), hashlib.sha256).digest()
        okm += t
    return int.from_bytes(okm[:48], "big") % ORDER_L  # the 48 bytes read big-endian


def scalar_hex(k):  # 8.3: scalars are 32 bytes little-endian
    return k.to_bytes(32, "little").hex()


def check_code_message(unit, first, stream=False, strict=True):
    """4.7.2 "Checks": the point of a code message, or Reject naming the rule it breaks."""
    if stream:  # 3.2: u16 length prefix
        if len(unit) < 2 or int.from_bytes(unit[:2], "big") != len(unit) - 2:
            raise Reject("malformed.length")
        unit = unit[2:]
    if len(unit) != 33:  # body exactly 33 bytes
        raise Reject("malformed.length")
    if unit[0] != first:  # 0x51 at the device, 0x55 at the phone (3.1)
        raise Reject("malformed.first_byte")
    pt = ed_decode(unit[1:], strict)  # the point decodes (RFC 8032 5.1.3)
    if pt is None:
        raise Reject("malformed.point")
    if ed_encode(pt) != unit[1:]:  # re-encoding gives the same 32 bytes
        raise Reject("malformed.non_canonical")
    if ed_eq(ed_mul(8, pt), NEUTRAL):  # small order: 8*P is the neutral element (order 1, 2, 4 or 8)
        raise Reject("peer.small_order")
    if not ed_eq(ed_mul(ORDER_L, pt), NEUTRAL):  # prime-order subgroup: L*P is the neutral element
        raise Reject("peer.not_in_subgroup")
    return pt


def torsion_points():
    """The 8 points of small order, found from scratch: L*P for a point P of order 8*L."""
    yv = 2
    while True:
        pt = ed_decode(yv.to_bytes(32, "little"))
        if pt is not None:
            t = ed_mul(ORDER_L, pt)
            if not ed_eq(ed_mul(4, t), NEUTRAL):  # order 8
                return [ed_mul(i, t) for i in range(8)]
        yv += 1


def check_code_refusals(X, Y):
    """4.7.2 "Checks" on messages built here: the genuine ones pass, every broken one is refused."""
    msg0, msg1 = b"\x51" + ed_encode(X), b"\x55" + ed_encode(Y)
    check(ed_eq(check_code_message(msg0, 0x51), X), "genuine code message 0 accepted")
    check(ed_eq(check_code_message(msg1, 0x55), Y), "genuine code message 1 accepted")
    check(ed_eq(check_code_message(len(msg0).to_bytes(2, "big") + msg0, 0x51, stream=True), X),
          "genuine code message 0 on a stream accepted")
    torsion = torsion_points()
    check(len({ed_encode(t) for t in torsion}) == 8 and ed_eq(ed_mul(8, torsion[1]), NEUTRAL),
          "8 distinct torsion points")
    bad = [
        ("first byte 0x55 at the device", msg1, 0x51, "malformed.first_byte"),
        ("first byte 0x51 at the phone", msg0, 0x55, "malformed.first_byte"),
        ("handshake byte 0x50 at the device", b"\x50" + msg0[1:], 0x51, "malformed.first_byte"),
        ("reserved low bits 0x53", b"\x53" + msg0[1:], 0x51, "malformed.first_byte"),
        ("32 bytes", msg0[:32], 0x51, "malformed.length"),
        ("34 bytes", msg0 + b"\x00", 0x51, "malformed.length"),
        ("empty", b"", 0x51, "malformed.length"),
        ("y = p + 1 (the neutral element, non-canonical)", b"\x51" + (P25519 + 1).to_bytes(32, "little"), 0x51, "malformed.point"),
        ("x = 0 with the sign bit set", b"\x51" + (1 | 1 << 255).to_bytes(32, "little"), 0x51, "malformed.point"),
        ("all ones (y = 2^255 - 1)", b"\x51" + b"\xff" * 32, 0x51, "malformed.point"),
    ]
    # y not on the curve (u/v is not a square): the first such y from 2.
    yv = 2
    while ed_decode(yv.to_bytes(32, "little")) is not None:
        yv += 1
    bad.append((f"y = {yv}, not on the curve", b"\x51" + yv.to_bytes(32, "little"), 0x51, "malformed.point"))
    # Non-canonical y + p for a y < 19 that is on the curve with a large order (decodes if reduced mod p).
    for yv in range(2, 19):
        pt = ed_decode(yv.to_bytes(32, "little"))
        if pt is not None and not ed_eq(ed_mul(8, pt), NEUTRAL):
            bad.append((f"y = {yv} + p, non-canonical", b"\x51" + (yv + P25519).to_bytes(32, "little"), 0x51, "malformed.point"))
            break
    for i, t in enumerate(torsion):
        bad.append((f"small order: torsion point {i}", b"\x51" + ed_encode(t), 0x51, "peer.small_order"))
    bad.append(("X + a point of order 8", b"\x51" + ed_encode(ed_add(X, torsion[1])), 0x51, "peer.not_in_subgroup"))
    bad.append(("Y + a point of order 2", b"\x55" + ed_encode(ed_add(Y, torsion[4])), 0x55, "peer.not_in_subgroup"))
    bad.append(("stream: wrong length prefix", (34).to_bytes(2, "big") + msg0, 0x51, "malformed.length"))
    # Every non-canonical encoding (y + p with y < 19, or x = 0 with the sign bit) fails RFC 8032's
    # strict decoding already; a lax decoder accepts it and the re-encoding rule must refuse it.
    lax = [(f"{what} (lax decoding)", unit, first, "malformed.non_canonical")
           for what, unit, first, want in bad if "non-canonical" in what or "sign bit" in what]
    check(len(lax) == 3, "non-canonical cases")
    for what, unit, first, want in bad + lax:
        try:
            check_code_message(unit, first, stream=what.startswith("stream"), strict="lax" not in what)
            got = "accept"
        except Reject as e:
            got = e.name
        check(got == want, f"code message with {what}: expected {want}, got {got}")
    return len(bad) + len(lax)


def check_code_exchange(v):
    """4.7.2 and 8.3: every field of the `code_exchange` object, recomputed."""
    c = v["code_exchange"]
    code = c["code"].encode()
    check(len(code) == 6 and all(0x30 <= b <= 0x39 for b in code), "code: six ASCII digits")
    w = code_w(code)
    check(scalar_hex(w) == c["w"], "w")
    for pt, name in ((ED_B, "B"), (CODE_M, "M"), (CODE_N, "N")):  # M, N: prime order, as B
        check(pt is not None and ed_eq(ed_mul(ORDER_L, pt), NEUTRAL) and not ed_eq(pt, NEUTRAL), f"{name} has order L")
    x = int.from_bytes(h(c["phone_entropy"]), "little") % ORDER_L  # 4.7.2: x = r_x mod L, r_x little-endian
    y = int.from_bytes(h(c["device_entropy"]), "little") % ORDER_L  # 4.7.2: y = r_y mod L
    check(len(h(c["phone_entropy"])) == 64 and len(h(c["device_entropy"])) == 64, "64 bytes of entropy each")
    check(scalar_hex(x) == c["x"], "x")
    check(scalar_hex(y) == c["y"], "y")
    X = ed_add(ed_mul(x, ED_B), ed_mul(w, CODE_M))  # 4.7.2: X = x*B + w*M
    Y = ed_add(ed_mul(y, ED_B), ed_mul(w, CODE_N))  # 4.7.2: Y = y*B + w*N
    check(ed_encode(X).hex() == c["X"], "X")
    check(ed_encode(Y).hex() == c["Y"], "Y")
    m0, m1 = h(c["code_message_0"]), h(c["code_message_1"])
    check(m0 == b"\x51" + ed_encode(X), "code message 0 = 0x51 || X")  # 4.7.2, datagram framing (3.3)
    check(m1 == b"\x55" + ed_encode(Y), "code message 1 = 0x55 || Y")
    # 3.1: kind 01 (handshake), version 01, index 0 and 1, low bits 01 (short-code pairing message)
    check([(b >> 6, b >> 4 & 3, b >> 2 & 3, b & 3) for b in (m0[0], m1[0])] == [(1, 1, 0, 1), (1, 1, 1, 1)],
          "first bytes of the code messages")
    X_rx = check_code_message(m0, 0x51)  # the device checks X, the phone Y (4.7.2 "Checks")
    Y_rx = check_code_message(m1, 0x55)
    K_phone = ed_mul(x, ed_sub(Y_rx, ed_mul(w, CODE_N)))  # 4.7.2: K_phone = x*(Y - w*N)
    K_device = ed_mul(y, ed_sub(X_rx, ed_mul(w, CODE_M)))  # 4.7.2: K_device = y*(X - w*M)
    check(ed_encode(K_phone) == ed_encode(K_device), "K_phone == K_device")
    check(ed_encode(K_phone).hex() == c["K"], "K")
    K = ed_encode(K_phone)
    sha = lambda b: hashlib.sha256(b).digest()  # noqa: E731
    # 4.7.2: key = SHA-256(SHA-256(code) || SHA-256(id_phone) || SHA-256(id_device) || X || Y || K)
    key = sha(sha(code) + sha(CODE_ID_PHONE) + sha(CODE_ID_DEVICE) + ed_encode(X) + ed_encode(Y) + K)
    check(key.hex() == c["key"], "key")
    psk = hashlib.blake2s(b"tether-v1 code pairing psk" + key).digest()  # 4.7.2: psk = BLAKE2s-256(... || key)
    check(psk.hex() == c["psk"], "code exchange psk")
    check(c["psk"] == v["psk"], "code exchange psk is the handshake's psk")
    # A wrong code gives another K, key and psk (the device's side with the phone's X).
    w2 = code_w(b"306118" if code != b"306118" else b"306119")
    K2 = ed_mul(y, ed_sub(X_rx, ed_mul(w2, CODE_M)))
    check(ed_encode(K2) != K, "a wrong code gives another K")
    return check_code_refusals(X, Y)


def check_record_unit(suite_id, stream, key, unit, ty, epoch, counter, plaintext, max_plaintext=16384):
    """5.1 to 5.3: layout, flags, counter and AEAD of one record the sender produced."""
    if stream:
        check(int.from_bytes(unit[:2], "big") == len(unit) - 2, "stream length prefix")
        flags, low, body = unit[2], int.from_bytes(unit[3:5], "big"), unit[5:]
        check(low == counter & 0xFFFF, f"stream counter bits of {counter}")
    else:
        flags, wire, body = unit[0], int.from_bytes(unit[1:9], "big"), unit[9:]
        check(wire == counter, f"datagram counter {wire} != {counter}")
    check(flags == 0x10 | TYPES[ty] << 2 | epoch & 3, f"flags of record {counter}")
    check(len(body) - 16 <= max_plaintext, "plaintext size")
    pt = decrypt(suite_id, key, counter, flags, body)
    check(pt == plaintext, f"record {counter} does not decrypt to its plaintext")
    return flags


def check_handshake_vector(v):
    """Returns how many constructed code messages were refused (4.7.2), None without a code exchange."""
    suite_id = v["suite_id"]
    refused = None
    stream = v["framing"] == "stream"
    for side in ("initiator", "responder"):
        p = v[side]
        sk = X25519PrivateKey.from_private_bytes(h(p["static_private"]))
        check(raw_public(sk.public_key()).hex() == p["static_public"], f"{side} static public key")
        check(identity_cbor(p["identity"]).hex() == p["identity_cbor"], f"{side} identity CBOR")
    ctx = v["context"].encode()
    prologue = b"tether" + bytes([1, suite_id, v["pattern_id"], v["channel_id"], FRAMING_IDS[v["framing"]], len(ctx)]) + ctx
    check(prologue.hex() == v["prologue"], "prologue")
    if "code_exchange" in v:  # 4.7.2: a short-code pairing, no QR code (8.1)
        check(v["pattern"] == "Pairing" and v["noise_protocol"].startswith("Noise_XXpsk0_"), "code pairing pattern")
        check(not {"pairing_code", "pairing_secret", "fingerprint"} & v.keys(), "no QR-code fields")
        refused = check_code_exchange(v)
    elif v["pattern"] == "Pairing":
        device = h(v["responder"]["static_public"])
        fp = hashlib.blake2s(b"tether-v1 key fingerprint" + device).digest()[:16]
        secret = h(v["pairing_secret"])
        check(fp.hex() == v["fingerprint"], "fingerprint")
        check(hashlib.blake2s(b"tether-v1 pairing psk" + secret + fp).digest().hex() == v["psk"], "psk")
        text = "TETHER1:" + b32encode(secret + fp).decode().rstrip("=")
        check(text == v["pairing_code"] and len(text) == 60, "pairing code text")
    if "credential" in v:
        c = v["credential"]
        device_id, issuer = h(c["device_id"]), h(c["issuer"])
        signed = (b"tether-v1 credential" + bytes([len(device_id)]) + device_id + h(c["device_static_public"])
                  + c["not_before"].to_bytes(8, "big") + c["not_after"].to_bytes(8, "big")
                  + bytes([len(issuer)]) + issuer)
        check(signed.hex() == c["signed"], "credential signed bytes")
        m = Ed25519PrivateKey.from_private_bytes(h(c["manufacturer_seed"]))
        check(raw_public(m.public_key()).hex() == c["manufacturer_public"], "manufacturer public key")
        Ed25519PublicKey.from_public_bytes(h(c["manufacturer_public"])).verify(h(c["signature"]), signed)
        check(m.sign(signed).hex() == c["signature"], "deterministic Ed25519 signature")
        check(c["not_before"] <= c["verified_at"] <= c["not_after"], "validity period")
        ident = v["initiator"]["identity"]
        check(ident["id"].encode() == device_id, "credential device id")
        check(v["initiator"]["static_public"] == c["device_static_public"], "credential device key")
        check(ident["credential"] == {k: c[k] for k in ("not_before", "not_after", "issuer", "signature")},
              "identity credential")
    records = v["records"]
    count = max(r["epoch"] for r in records) + 1
    keys = {"initiator": epoch_keys(suite_id, h(v["split"]["k1"]), count),
            "responder": epoch_keys(suite_id, h(v["split"]["k2"]), count)}
    for side in keys:
        check([k.hex() for k in keys[side]] == v["epoch_keys"][side], f"{side} epoch keys")
    nxt = {"initiator": 0, "responder": 0}
    for r in records:
        side = r["from"]
        counter = nxt[side]
        nxt[side] += 1
        check(r["counter"] == counter, "record counter")
        flags = check_record_unit(suite_id, stream, keys[side][r["epoch"]], h(r["unit"]), r["type"],
                                  r["epoch"], counter, h(r["plaintext"]))
        check(r["nonce"] == nonce(counter).hex(), "nonce")
        check(r["ad"] == associated_data(flags, counter).hex(), "associated data")
    return refused


# --- Record-layer vectors ---------------------------------------------------------------------


class Reject(Exception):
    def __init__(self, name):
        super().__init__(name)
        self.name = name


class Receiver:
    """The receiving direction of section 5.6, from the spec's text."""

    def __init__(self, suite_id, stream, key0, config):
        self.suite_id, self.stream = suite_id, stream
        self.window = config["replay_window"]
        self.previous_key_ms = config["previous_key_ms"]
        self.max_plaintext = config["max_plaintext"]
        self.epoch, self.key = 0, key0
        self.previous = None  # (key, since)
        self.next_counter = 0  # stream
        self.max = None  # datagram: highest accepted counter
        self.seen = set()
        self.lowest = None  # datagram: lowest counter accepted in the current epoch
        self.close_counter = None

    def open(self, now, unit):
        # 1. Parse.
        if self.stream:
            if len(unit) < 2 or int.from_bytes(unit[:2], "big") != len(unit) - 2:
                raise Reject("malformed.length")
            head = 3
            unit = unit[2:]
        else:
            head = 9
        if len(unit) < head + 16:
            raise Reject("malformed.truncated")
        flags = unit[0]
        if flags >> 6 != 0:
            raise Reject("malformed.unknown_type")
        if (flags >> 4) & 3 != 1:
            raise Reject("malformed.version")
        ty = (flags >> 2) & 3
        if ty == 3:
            raise Reject("malformed.unknown_type")
        if len(unit) - head - 16 > self.max_plaintext:
            raise Reject("malformed.oversized")
        bits, body = flags & 3, unit[head:]
        # 2. Counter.
        if self.stream:
            counter = self.next_counter
            if counter > MAX_COUNTER:
                raise Reject("peer.counter_exhausted")
            if int.from_bytes(unit[1:3], "big") != counter & 0xFFFF:
                raise Reject("peer.out_of_order")
        else:
            counter = int.from_bytes(unit[1:9], "big")
            if counter > MAX_COUNTER:
                raise Reject("peer.counter_exhausted")
        # 3. After close.
        if self.close_counter is not None and counter > self.close_counter:
            raise Reject("peer.after_close")
        # 4. Replay window (datagram).
        if not self.stream and self.max is not None and counter <= self.max:
            if self.max - counter >= self.window:
                raise Reject("peer.too_old")
            if counter in self.seen:
                raise Reject("peer.replayed")
        # 5. Key, by the epoch bits (table of 5.5).
        e = self.epoch
        steps, key, plan = 0, None, None
        if self.stream:
            if ty == TYPES["key_update"]:
                if bits == (e + 1) % 4:
                    plan, steps = "ahead", 1
            elif bits == e % 4:
                plan, key = "current", self.key
            if plan is None:
                raise Reject("peer.epoch")
        elif bits == e % 4:
            plan, key = "current", self.key
        elif bits == (e - 1) % 4:
            if self.previous is not None and now - self.previous[1] < self.previous_key_ms:
                plan, key = "previous", self.previous[0]
            else:
                raise Reject("peer.too_old")
        elif bits == (e + 1) % 4:
            plan, steps = "ahead", 1
        else:  # (e + 2) % 4
            plan, steps = "ahead", 2
        derived = []
        if plan == "ahead":
            k = self.key
            for _ in range(steps):
                k = rekey(self.suite_id, k)
                derived.append(k)
            key = derived[-1]
        # 6. Decrypt and authenticate.
        pt = decrypt(self.suite_id, key, counter, flags, body)
        if pt is None:
            raise Reject("peer.authentication")
        # 7. Type check.
        if ty != TYPES["data"] and pt:
            raise Reject("malformed.length")
        # 8. Commit.
        if plan == "ahead":
            before_new = derived[-2] if steps == 2 else self.key
            self.previous = None if self.stream else (before_new, now)
            self.key, self.epoch, self.lowest = key, e + steps, counter
            record_epoch = self.epoch
        elif plan == "previous":
            record_epoch = e - 1
        else:
            self.lowest = counter if self.lowest is None else min(self.lowest, counter)
            record_epoch = e
        if self.stream:
            self.next_counter += 1
        else:
            self.seen.add(counter)
            self.max = counter if self.max is None else max(self.max, counter)
        if ty == TYPES["close"]:
            self.close_counter = counter if self.close_counter is None else min(self.close_counter, counter)
        if self.previous is not None:
            expired = now - self.previous[1] >= self.previous_key_ms
            behind = self.lowest is not None and self.max is not None and self.max >= self.lowest + self.window - 1
            if expired or behind:
                self.previous = None
        if ty == TYPES["data"]:
            return {"type": "data", "plaintext": pt.hex()}
        if ty == TYPES["key_update"]:
            return {"type": "key_update", "epoch": record_epoch}
        return {"type": "close"}


def check_sender(scenario):
    """5.5: seal emits a key update record exactly when a policy limit is reached."""
    cfg = scenario["config"]["key_update"]
    records = scenario["records"]
    check([r["counter"] for r in records] == list(range(len(records))), "contiguous counters")
    epoch, data, size, start = 0, 0, 0, scenario["session_start_ms"]
    i = 0
    while i < len(records):
        r = records[i]
        if r["sealed_by"] == "seal":
            auto = r["type"] == "key_update"
            d = records[i + 1] if auto else r
            check(d["type"] == "data" and d["sealed_by"] == "seal", "seal writes a data record")
            n, now = len(h(d["plaintext"])), d["sealed_at_ms"]
            due = data > 0 and (
                (cfg["records"] and data >= cfg["records"])
                or (cfg["bytes"] and size + n > cfg["bytes"])
                or (cfg["interval_ms"] and now - start >= cfg["interval_ms"]))
            check(due == auto, f"automatic key update before counter {d['counter']}")
            if auto:
                epoch, data, size, start = epoch + 1, 0, 0, now
                check(r["epoch"] == epoch, "key update epoch")
                i += 1
            check(d["epoch"] == epoch, "data epoch")
            data, size = data + 1, size + n
        else:
            if r["type"] == "key_update":
                epoch, data, size, start = epoch + 1, 0, 0, r["sealed_at_ms"]
            check(r["epoch"] == epoch, "record epoch")
        i += 1


def check_records_vector(v):
    suite_id = v["suite_id"]
    stream = v["framing"] == "stream"
    k1 = h(v["split"]["k1"])
    keys = epoch_keys(suite_id, k1, len(v["epoch_keys"]))
    check([k.hex() for k in keys] == v["epoch_keys"], "epoch keys")
    for s in v["scenarios"]:
        where = s["name"]
        by_counter = {}
        for r in s["records"]:
            check_record_unit(suite_id, stream, keys[r["epoch"]], h(r["unit"]), r["type"], r["epoch"],
                              r["counter"], h(r["plaintext"]), s["config"]["max_plaintext"])
            by_counter[r["counter"]] = r
        if s["all_records_listed"]:
            check_sender(s)
        rx = Receiver(suite_id, stream, k1, s["config"])
        last = s["session_start_ms"]
        for i, d in enumerate(s["deliveries"]):
            check(d["now_ms"] >= last, "monotonic clock")
            last = d["now_ms"]
            check(d["unit"] == by_counter[d["counter"]]["unit"], "delivered unit is the listed record")
            try:
                got = ("accept", rx.open(d["now_ms"], h(d["unit"])))
            except Reject as e:
                got = ("reject", e.name)
            want = ("accept", d["event"]) if d["result"] == "accept" else ("reject", d["error"])
            check(got == want, f"{where} delivery {i} (counter {d['counter']}): expected {want}, model says {got}")
            check(rx.epoch == d["receiver_epoch"], f"{where} delivery {i}: receiver epoch")


# --- Relay envelope vectors (section 3.4) ------------------------------------------------------


def parse_relayed(b):
    """Section 3.4: the index and the inner unit, or Reject(error)."""
    if len(b) < 2:
        raise Reject("truncated")
    kind, version = b[0] >> 6, (b[0] >> 4) & 3
    if kind != 0b10:
        raise Reject("unknown_type")
    if version != 1:
        raise Reject("version")
    if len(b) < 3:
        raise Reject("truncated")
    if b[2] >> 6 == 0b10:  # no relayed unit inside a relayed unit, whatever its version
        raise Reject("unknown_type")
    return ((b[0] & 0x0F) << 8) | b[1], b[2:]


def check_relay_vector(v):
    for c in v["valid"]:
        index, unit = c["index"], h(c["unit"])
        check(0 <= index <= 4095, "index range")
        relayed = bytes([0b10 << 6 | 0b01 << 4 | index >> 8, index & 0xFF]) + unit
        check(relayed.hex() == c["relayed"], f"relayed unit for index {index}")
        check(parse_relayed(relayed) == (index, unit), f"parse of index {index}")
    for c in v["invalid"]:
        try:
            parse_relayed(h(c["relayed"]))
        except Reject as r:
            check(r.name == c["error"], f"{c['why']}: {r.name} instead of {c['error']}")
        else:
            check(False, f"{c['why']}: accepted")


def main():
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    # The message layer's vectors (spec/MESSAGES.md) have their own checks: the Rust tests
    # tests/message_vectors_*.rs and, for the signed ones, check_cose.py with pycose; the BLE link
    # layer's (spec/LINK.md), check_link.py.
    files = sorted(
        f
        for f in directory.glob("*.json")
        if not f.name.startswith(("messages_", "pycose_", "link"))
    )
    failed = 0
    for f in files:
        v = json.loads(f.read_text())
        try:
            if f.name == "relay.json":
                check_relay_vector(v)
                print(f"ok   {f.name}: {len(v['valid'])} relayed units, {len(v['invalid'])} refused")
            elif "scenarios" in v:
                check_records_vector(v)
                n = sum(len(s["deliveries"]) for s in v["scenarios"])
                print(f"ok   {f.name}: {len(v['scenarios'])} scenarios, {n} deliveries")
            else:
                refused = check_handshake_vector(v)
                extra = "" if refused is None else f", code exchange and {refused} refused code messages"
                print(f"ok   {f.name}: {len(v['records'])} records{extra}")
        except Exception as e:  # noqa: BLE001 - report every file
            failed += 1
            print(f"FAIL {f.name}: {type(e).__name__}: {e}")
    if not files:
        print(f"no vectors in {directory}")
        return 1
    print(f"{len(files) - failed} of {len(files)} files match")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
