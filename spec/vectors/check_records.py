#!/usr/bin/env python3
"""Independent checker for the tether v1 vectors, written from spec/PROTOCOL.md alone.

Needs Python 3.11+ and the `cryptography` package (pip install cryptography). Run from anywhere:

    python3 spec/vectors/check_records.py [directory]

For every file in the directory (default: the one this script is in) it checks, without tether:

* handshake vectors (files with "handshake"): static public keys (X25519), the prologue (4.2),
  identity CBOR (4.4), pairing fingerprint, PSK and code text (4.7), the manufacturer credential
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
    suite_id = v["suite_id"]
    stream = v["framing"] == "stream"
    for side in ("initiator", "responder"):
        p = v[side]
        sk = X25519PrivateKey.from_private_bytes(h(p["static_private"]))
        check(raw_public(sk.public_key()).hex() == p["static_public"], f"{side} static public key")
        check(identity_cbor(p["identity"]).hex() == p["identity_cbor"], f"{side} identity CBOR")
    ctx = v["context"].encode()
    prologue = b"tether" + bytes([1, suite_id, v["pattern_id"], v["channel_id"], FRAMING_IDS[v["framing"]], len(ctx)]) + ctx
    check(prologue.hex() == v["prologue"], "prologue")
    if v["pattern"] == "Pairing":
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
            if "scenarios" in v:
                check_records_vector(v)
                n = sum(len(s["deliveries"]) for s in v["scenarios"])
                print(f"ok   {f.name}: {len(v['scenarios'])} scenarios, {n} deliveries")
            else:
                check_handshake_vector(v)
                print(f"ok   {f.name}: {len(v['records'])} records")
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
