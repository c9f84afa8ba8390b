#!/usr/bin/env python3
"""Independent check of spec/vectors/messages_delivery.json against spec/MESSAGES.md section 6.

Written from the spec text only (sections 2, 3 and 6); no cbor2, no tether code.
  - frames:          strict CBOR frame decoder/encoder (6.2, 6.2.1) -> decode == frame, encode == hex
  - invalid_frames:  decoder must refuse; field and problem compared with 6.2.1's table
  - outbox:          a model of 6.5 (AES-256-GCM, nonce 0^32 || c, ad layouts, index layout,
                     block reservation) recomputes every stored byte after every step; every
                     stored item is also opened independently and its fields/invariants checked;
                     the final storage is opened per 6.5.6 and must give back `unacknowledged`.
Usage: python3 spec/vectors/check_delivery.py [path-to-json]
"""
import json
import os
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_MESSAGE = 1024
MAX_SEQ = 2**63 - 2
STREAM_LEN = 8

results = []  # (ok, name, detail)
notes = []    # places where the spec alone did not decide


def report(ok, name, detail=""):
    results.append((ok, name, detail))
    print(("ok   " if ok else "FAIL ") + name + ((": " + detail) if detail else ""))


# ---------------------------------------------------------------------------
# 6.2 frames: strict CBOR (section 2) restricted to what a frame may contain
# ---------------------------------------------------------------------------

class FrameError(Exception):
    def __init__(self, field, problem):
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem


MIN_FOR_AI = {24: 24, 25: 256, 26: 65536, 27: 2**32}
LEN_FOR_AI = {24: 1, 25: 2, 26: 4, 27: 8}


def read_head(buf, pos, field):
    """Return (major, argument, new_pos). Enforces preferred encoding, no indefinite, no reserved."""
    if pos >= len(buf):
        raise FrameError(field, "Truncated")
    ib = buf[pos]
    major, ai = ib >> 5, ib & 0x1F
    if ai < 24:
        return major, ai, pos + 1
    if ai >= 28:  # 28..30 reserved, 31 indefinite length / break
        raise FrameError(field, "NotCanonical")
    n = LEN_FOR_AI[ai]
    if pos + 1 + n > len(buf):
        raise FrameError(field, "Truncated")
    arg = int.from_bytes(buf[pos + 1:pos + 1 + n], "big")
    if major == 7:
        # 25..27 are floats (no "shortest argument" rule applies to their bits);
        # 24 is a simple value, which must be >= 32 in the two-byte form (section 2).
        if ai == 24 and arg < 32:
            raise FrameError(field, "NotCanonical")
    elif arg < MIN_FOR_AI[ai]:
        raise FrameError(field, "NotCanonical")
    return major, arg, pos + 1 + n


def read_uint(buf, pos, field, lo, hi):
    major, v, pos = read_head(buf, pos, field)
    if major != 0:
        raise FrameError(field, "WrongType")
    if v < lo or v > hi:
        raise FrameError(field, "OutOfRange")
    return v, pos


def read_bstr(buf, pos, field, min_len, max_len, short_problem, long_problem):
    major, n, pos = read_head(buf, pos, field)
    if major != 2:
        raise FrameError(field, "WrongType")
    if n > max_len:  # from the head, before any byte of the string is read
        raise FrameError(field, long_problem)
    if n < min_len:
        raise FrameError(field, short_problem)
    if pos + n > len(buf):
        raise FrameError(field, "Truncated")
    return bytes(buf[pos:pos + n]), pos + n


FRAME_FIELDS = {
    0: ("data", ["seq", "message"]),
    1: ("ack", ["seq"]),
    2: ("hello", ["stream", "first_seq"]),
}


def decode_frame(buf):
    buf = bytes(buf)
    major, count, pos = read_head(buf, 0, "frame")
    if major != 4:
        raise FrameError("frame", "WrongType")
    if count > 3:
        raise FrameError("frame", "TooMany")
    if count == 0:
        raise FrameError("frame.type", "Missing")
    ftype, pos = read_uint(buf, pos, "frame.type", 0, 2)
    name, fields = FRAME_FIELDS[ftype]
    # Element count against the type, checked before any field is read (order not fixed by 6.2.1).
    if count - 1 > len(fields):
        raise FrameError("frame", "TooMany")
    if count - 1 < len(fields):
        raise FrameError("frame." + fields[count - 1], "Missing")
    out = {"type": name}
    for f in fields:
        fld = "frame." + f
        if f == "seq":
            lo = 1 if ftype == 0 else 0
            out["seq"], pos = read_uint(buf, pos, fld, lo, MAX_SEQ)
        elif f == "first_seq":
            out["first_seq"], pos = read_uint(buf, pos, fld, 1, MAX_SEQ + 1)
        elif f == "message":
            m, pos = read_bstr(buf, pos, fld, 0, MAX_MESSAGE, "OutOfRange", "TooLong")
            out["message"] = m.hex()
        elif f == "stream":
            s, pos = read_bstr(buf, pos, fld, STREAM_LEN, STREAM_LEN, "OutOfRange", "TooLong")
            out["stream"] = s.hex()
    if pos != len(buf):
        raise FrameError("frame", "TrailingBytes")
    return out


def enc_head(major, arg):
    if arg < 24:
        return bytes([major << 5 | arg])
    for ai, n in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if arg < 256**n:
            return bytes([major << 5 | ai]) + arg.to_bytes(n, "big")
    raise ValueError("argument too large")


def encode_frame(fr):
    t = fr["type"]
    if t == "data":
        seq, msg = fr["seq"], bytes.fromhex(fr["message"])
        if not (1 <= seq <= MAX_SEQ) or len(msg) > MAX_MESSAGE:
            raise ValueError("data frame out of bounds")
        return enc_head(4, 3) + enc_head(0, 0) + enc_head(0, seq) + enc_head(2, len(msg)) + msg
    if t == "ack":
        if not (0 <= fr["seq"] <= MAX_SEQ):
            raise ValueError("ack out of bounds")
        return enc_head(4, 2) + enc_head(0, 1) + enc_head(0, fr["seq"])
    if t == "hello":
        s = bytes.fromhex(fr["stream"])
        if len(s) != STREAM_LEN or not (1 <= fr["first_seq"] <= MAX_SEQ + 1):
            raise ValueError("hello out of bounds")
        return enc_head(4, 3) + enc_head(0, 2) + enc_head(2, 8) + s + enc_head(0, fr["first_seq"])
    raise ValueError("unknown frame type " + repr(t))


def check_frames(vec):
    for v in vec["frames"]:
        name = "frame " + v["name"]
        want = bytes.fromhex(v["hex"])
        problems = []
        try:
            got = decode_frame(want)
            if got != v["frame"]:
                problems.append(f"decoded {got} != {v['frame']}")
        except FrameError as e:
            problems.append(f"decoder refused: {e}")
        try:
            enc = encode_frame(v["frame"])
            if enc != want:
                problems.append(f"encoded {enc.hex()} != {want.hex()}")
            if len(enc) > 1038:
                problems.append("longer than MAX_FRAME")
        except ValueError as e:
            problems.append(f"encoder refused: {e}")
        report(not problems, name, "; ".join(problems))

    for v in vec["invalid_frames"]:
        name = "invalid frame " + v["name"]
        try:
            got = decode_frame(bytes.fromhex(v["hex"]))
            report(False, name, f"decoder accepted it as {got}")
        except FrameError as e:
            ok = (e.field, e.problem) == (v["field"], v["problem"])
            report(ok, name, "" if ok else f"got {e.field} {e.problem}, vector says {v['field']} {v['problem']}")


# Examples quoted in the text of 6.2.2 (extra: spec text vs. the same decoder/encoder).
SPEC_EXAMPLES = [
    ({"type": "data", "seq": 1, "message": "820180"}, "83000143820180"),
    ({"type": "data", "seq": 2, "message": ""}, "83000240"),
    ({"type": "data", "seq": 24, "message": "820180"}, "8300181843820180"),
    ({"type": "data", "seq": 2**32, "message": "820180"}, "83001b000000010000000043820180"),
    ({"type": "ack", "seq": 0}, "820100"),
    ({"type": "ack", "seq": 500}, "82011901f4"),
    ({"type": "hello", "stream": "0001020304050607", "first_seq": 1}, "830248000102030405060701"),
    ({"type": "hello", "stream": "0001020304050607", "first_seq": 24}, "83024800010203040506071818"),
]
SPEC_REJECTED = [
    ("8300180140", "frame.seq", "NotCanonical"),
    ("83000040", "frame.seq", "OutOfRange"),
    ("830001590401", "frame.message", "TooLong"),
    ("8300014000", "frame", "TrailingBytes"),
]


def check_spec_examples():
    bad = []
    for fr, hx in SPEC_EXAMPLES:
        if encode_frame(fr).hex() != hx or decode_frame(bytes.fromhex(hx)) != fr:
            bad.append(hx)
    m24 = bytes(range(24))
    hx = "8300035818" + m24.hex()
    if encode_frame({"type": "data", "seq": 3, "message": m24.hex()}).hex() != hx:
        bad.append(hx)
    for hx, f, p in SPEC_REJECTED:
        try:
            decode_frame(bytes.fromhex(hx))
            bad.append(hx + " accepted")
        except FrameError as e:
            if (e.field, e.problem) != (f, p):
                bad.append(f"{hx}: {e.field} {e.problem}")
    # MAX_FRAME: data frame with MAX_SEQ and a MAX_MESSAGE message is 1038 bytes
    n = len(encode_frame({"type": "data", "seq": MAX_SEQ, "message": "00" * MAX_MESSAGE}))
    if n != 1038:
        bad.append(f"MAX_FRAME computed {n}")
    report(not bad, "spec 6.2.2 examples and MAX_FRAME", "; ".join(bad))


# ---------------------------------------------------------------------------
# 6.5 the sealed outbox
# ---------------------------------------------------------------------------

ENTRY_AD = b"tether outbox v1"
INDEX_AD = b"tether outbox index v1"
assert len(ENTRY_AD) == 16 and len(INDEX_AD) == 22

u64 = lambda x: x.to_bytes(8, "big")   # byte order: not stated in MESSAGES.md 6.5 (see notes)
u32 = lambda x: x.to_bytes(4, "big")
u16 = lambda x: x.to_bytes(2, "big")


def nonce(c):
    return b"\x00\x00\x00\x00" + u64(c)


class OutboxError(Exception):
    def __init__(self, kind, what=""):
        super().__init__(kind + (" " + what if what else ""))
        self.kind = kind


def entry_seal(key, c, stream, seq, slot, msg):
    ad = ENTRY_AD + stream + u64(seq) + u32(slot)
    return u64(c) + u64(seq) + u32(slot) + u16(len(msg)) + AESGCM(key).encrypt(nonce(c), msg, ad)


def entry_open(key, stream, slots, seq, raw):
    """6.5.2 reading; returns (message, c)."""
    t = seq % slots
    if raw is None or len(raw) < 22:
        raise OutboxError("Truncated", f"entry {seq}")
    ln = int.from_bytes(raw[20:22], "big")
    if ln > MAX_MESSAGE:
        raise OutboxError("Tampered", f"entry {seq} len")
    if len(raw) < 38 + ln:
        raise OutboxError("Truncated", f"entry {seq}")
    if len(raw) > 38 + ln:
        raise OutboxError("Tampered", f"entry {seq} length")
    c = int.from_bytes(raw[0:8], "big")
    sseq = int.from_bytes(raw[8:16], "big")
    sslot = int.from_bytes(raw[16:20], "big")
    ad = ENTRY_AD + stream + u64(sseq) + u32(sslot)
    try:
        msg = AESGCM(key).decrypt(nonce(c), raw[22:], ad)
    except InvalidTag:
        raise OutboxError("Tampered", f"entry {seq} tag")
    if sseq != seq or sslot != t:
        raise OutboxError("Reordered", f"entry {seq}")
    return msg, c


def index_seal(key, c, s, gen, head, nxt, reserved, block, stream):
    pt = u64(gen) + u64(head) + u64(nxt) + u64(reserved) + u32(block) + stream
    assert len(pt) == 44
    return u64(c) + AESGCM(key).encrypt(nonce(c), pt, INDEX_AD + bytes([s]))


def index_open(key, s, raw, slots):
    """6.5.3: returns dict or raises; s is 0 for A, 1 for B."""
    if len(raw) < 68:
        raise OutboxError("Truncated", "index")
    if len(raw) != 68:
        raise OutboxError("Tampered", "index length")
    c = int.from_bytes(raw[:8], "big")
    try:
        pt = AESGCM(key).decrypt(nonce(c), raw[8:], INDEX_AD + bytes([s]))
    except InvalidTag:
        raise OutboxError("Tampered", "index tag")
    I = {
        "c": c,
        "generation": int.from_bytes(pt[0:8], "big"),
        "head": int.from_bytes(pt[8:16], "big"),
        "next": int.from_bytes(pt[16:24], "big"),
        "reserved": int.from_bytes(pt[24:32], "big"),
        "block": int.from_bytes(pt[32:36], "big"),
        "stream": pt[36:44],
    }
    ok = (I["generation"] >= 1 and I["generation"] % 2 == s and I["head"] >= 1
          and I["head"] <= I["next"] <= MAX_SEQ + 1 and I["next"] - I["head"] <= slots
          and 4 <= I["block"] <= 2**20)
    if not ok:
        raise OutboxError("Tampered", "index fields")
    return I


class Model:
    """The writer side of 6.5.4-6.5.8, recomputing what must be stored."""

    def __init__(self, key, slots, block, stream):
        self.key, self.slots, self.block, self.stream = key, slots, block, stream
        self.counter = 0
        self.index = [None, None]
        self.entries = [None] * slots
        self.gen = 0
        self.head = self.next = 1
        self.nc = None          # next nonce counter to use in the current block
        self.block_end = None   # R + block of the current block (its last counter is block_end-1)
        self.idx_block = None   # `block` recorded in the newest durable index
        self.idx_reserved = None
        self.sealed = []        # every nonce counter used, in order

    def take_nonce(self):
        # 6.5.4 rules 1, 2, 4 and 6.5.7 step 2: reserve when only the block's last counter is left
        if self.nc is None or self.nc >= self.block_end - 1:
            assert self.idx_reserved is None or self.idx_reserved == self.counter, "rule 2"
            R = self.counter
            b = self.idx_block if self.idx_block is not None else self.block
            self.counter = R + b          # cell written before any nonce of the block is used
            self.nc, self.block_end = R, R + b
        c = self.nc
        self.nc += 1
        self.sealed.append(c)
        return c

    def write_index(self):
        c = self.take_nonce()
        self.gen += 1
        s = self.gen % 2
        self.index[s] = index_seal(self.key, c, s, self.gen, self.head, self.next,
                                   self.counter, self.block, self.stream)
        self.idx_block, self.idx_reserved = self.block, self.counter

    def create(self):  # 6.5.6 step 2 -> 6.5.8 without erasing, storage empty, C = 0
        assert self.counter == 0 and self.index == [None, None]
        self.head = self.next = 1
        self.write_index()

    def push(self, msg):
        if len(msg) > MAX_MESSAGE:
            raise OutboxError("PlaintextTooLarge")
        if self.next > MAX_SEQ:
            raise OutboxError("LimitReached")
        if self.next - self.head == self.slots:
            raise OutboxError("Full")
        seq = self.next
        t = seq % self.slots
        c = self.take_nonce()
        self.entries[t] = entry_seal(self.key, c, self.stream, seq, t, msg)
        self.next = seq + 1
        self.write_index()
        return seq

    def release(self, upto):
        assert self.head <= upto < self.next
        self.head = upto + 1
        self.write_index()

    def storage(self):
        hx = lambda b: None if b is None else b.hex()
        return {"counter": self.counter, "entries": [hx(e) for e in self.entries],
                "index_a": hx(self.index[0]), "index_b": hx(self.index[1])}


def open_storage(key, slots, st):
    """6.5.6 on a JSON storage snapshot (read-only); returns (I, [(seq, msg)], repair_needed)."""
    C = st["counter"]
    raws = [st["index_a"], st["index_b"]]
    valid, errs = [], []
    for s, r in enumerate(raws):
        if r is None:
            continue
        try:
            valid.append(index_open(key, s, bytes.fromhex(r), slots))
        except OutboxError as e:
            errs.append(e)
    if not valid:
        if errs:
            raise errs[0]
        if C == 0:
            return None, [], False   # unused storage: would create a stream
        raise OutboxError("Truncated", "no index but counter > 0")
    I = max(valid, key=lambda x: x["generation"])
    if not (I["reserved"] == C or I["reserved"] + I["block"] == C):
        raise OutboxError("RolledBack")
    msgs = []
    for seq in range(I["head"], I["next"]):
        raw = st["entries"][seq % slots]
        m, _ = entry_open(key, I["stream"], slots, seq, None if raw is None else bytes.fromhex(raw))
        msgs.append((seq, m))
    return I, msgs, I["reserved"] + I["block"] == C


def check_outbox(vec):
    ob = vec["outbox"]
    key, stream = bytes.fromhex(ob["key"]), bytes.fromhex(ob["stream"])
    slots, block = ob["slots"], ob["block"]
    model = Model(key, slots, block, stream)
    prev = {"counter": 0, "entries": [None] * slots, "index_a": None, "index_b": None}
    prev_gen, prev_head, prev_next, prev_reserved = 0, 1, 1, None
    pushed = {}
    all_nonces = {}  # c -> stored bytes (hex) sealed with it
    for i, step in enumerate(ob["steps"]):
        got = step["storage_after"]
        if step.get("open"):
            label = "create/open"
            model.create()
        elif "push" in step:
            label = f"push seq {step['seq']}"
            seq = model.push(bytes.fromhex(step["push"]))
            pushed[seq] = bytes.fromhex(step["push"])
            if seq != step["seq"]:
                report(False, f"outbox step {i} {label}", f"model assigned seq {seq}")
        elif "release" in step:
            label = f"release {step['release']}"
            model.release(step["release"])
        else:
            report(False, f"outbox step {i}", f"unknown step {step}")
            continue
        name = f"outbox step {i} {label}"

        # (1) byte-for-byte recomputation of the whole storage
        want = model.storage()
        diffs = [k for k in want if want[k] != got[k]]
        if "entries" in diffs:
            diffs.remove("entries")
            diffs += [f"entry slot {j}" for j in range(slots) if want["entries"][j] != got["entries"][j]]
        report(not diffs, name + " recomputed storage", "differs: " + ", ".join(diffs) if diffs else "")

        # (2) independent authentication of the stored bytes and the invariants of 6.5
        p = []
        C = got["counter"]
        if C < prev["counter"]:
            p.append("counter went down")
        if C != prev["counter"] and (C - prev["counter"]) % block:
            p.append("counter did not advance by whole blocks")
        idx = {}
        for s, k in enumerate(("index_a", "index_b")):
            if got[k] is None:
                continue
            try:
                I = index_open(key, s, bytes.fromhex(got[k]), slots)
            except OutboxError as e:
                p.append(f"{k} invalid: {e}")
                continue
            idx[s] = I
            if I["stream"] != stream:
                p.append(f"{k} stream")
            if I["c"] >= C:
                p.append(f"{k} nonce {I['c']} not below the cell {C}")
            if I["reserved"] > C:
                p.append(f"{k} reserved above cell")
            if all_nonces.setdefault(I["c"], got[k]) != got[k]:
                p.append(f"{k}: nonce counter {I['c']} reused for different bytes")
        if not idx:
            p.append("no valid index")
        else:
            N = max(idx.values(), key=lambda x: x["generation"])
            ns = N["generation"] % 2
            if N["generation"] != prev_gen + 1:
                p.append(f"generation {N['generation']} != {prev_gen + 1}")
            # the slot not written this step is untouched
            other = ("index_a", "index_b")[1 - ns]
            if got[other] != prev[other]:
                p.append(f"{other} changed but newest index is in the other slot")
            if N["reserved"] != C:
                p.append(f"newest index reserved {N['reserved']} != cell {C}")
            if N["block"] != block:
                p.append(f"index block {N['block']} != {block}")
            # open-time rollback rule (6.5.5) would accept this state
            if not (N["reserved"] == C or N["reserved"] + N["block"] == C):
                p.append("state would be RolledBack")
            exp_head, exp_next = prev_head, prev_next
            if "push" in step:
                exp_next = step["seq"] + 1
                if step["seq"] != prev_next:
                    p.append("seq is not the previous next")
            if "release" in step:
                exp_head = step["release"] + 1
            if (N["head"], N["next"]) != (exp_head, exp_next):
                p.append(f"index head/next {N['head']}/{N['next']} != {exp_head}/{exp_next}")
            # a reservation happens only when the prior newest index recorded the prior cell (rule 2)
            if C != prev["counter"] and i > 0 and prev_reserved != prev["counter"]:
                p.append("cell advanced while the newest index did not record it")
            # live entries authenticate and give back what was pushed
            for seq in range(N["head"], N["next"]):
                raw = got["entries"][seq % slots]
                try:
                    m, c = entry_open(key, stream, slots, seq, None if raw is None else bytes.fromhex(raw))
                except OutboxError as e:
                    p.append(f"entry {seq}: {e}")
                    continue
                if m != pushed.get(seq):
                    p.append(f"entry {seq} plaintext differs from what was pushed")
                if c >= C:
                    p.append(f"entry {seq} nonce not below the cell")
                if all_nonces.setdefault(c, raw) != raw:
                    p.append(f"entry {seq}: nonce counter {c} reused for different bytes")
                if len(bytes.fromhex(raw)) != 38 + len(m):
                    p.append(f"entry {seq} size")
            # entries changed only in the slot of the pushed seq
            for j in range(slots):
                if got["entries"][j] != prev["entries"][j] and not ("push" in step and j == step["seq"] % slots):
                    p.append(f"entry slot {j} changed unexpectedly")
            prev_gen, prev_head, prev_next, prev_reserved = N["generation"], N["head"], N["next"], N["reserved"]
        # no nonce counter of the form R + block - 1 (a block's last, kept for repair) was used,
        # blocks here being reserved from 0 in steps of `block` since no open abandoned one
        lasts = [c for c in all_nonces if (c + 1) % block == 0]
        if lasts:
            p.append(f"a block's last nonce counter was used: {lasts}")
        report(not p, name + " authenticated and invariants", "; ".join(p))
        prev = got

    # final storage opened per 6.5.6
    name = "outbox final open gives back unacknowledged"
    try:
        I, msgs, repair = open_storage(key, slots, ob["steps"][-1]["storage_after"])
        want = [(u["seq"], bytes.fromhex(u["message"])) for u in ob["unacknowledged"]]
        ok = msgs == want and not repair and I["stream"] == stream
        report(ok, name, "" if ok else f"got {[(s, m.hex()) for s, m in msgs]}, repair={repair}")
    except OutboxError as e:
        report(False, name, f"open refused: {e}")

    # 6.5.9 example text vs the vector
    p = []
    ex = ("0000000000000008" "0000000000000003" "00000003" "0000"
          "5a6616c2ad45bb0db3f925062bbf144e")
    if ob["steps"][-1]["storage_after"]["entries"][3] != ex:
        p.append("entry slot 3 differs from 6.5.9 text")
    if model.sealed != [0, 1, 2, 4, 5, 6, 8, 9]:
        p.append(f"nonce sequence {model.sealed} != 0,1,2,4,5,6,8,9 of 6.5.9")
    if [s["storage_after"]["counter"] for s in ob["steps"]] != [4, 4, 8, 8, 12]:
        p.append("cell values differ from 6.5.9 (4, 8, 12)")
    if (key, stream, slots, block) != (bytes(range(32)), bytes(range(0xa1, 0xa9)), 4, 4):
        p.append("parameters differ from 6.5.9")
    report(not p, "outbox spec 6.5.9 example", "; ".join(p))

    # detections of 6.5.2 on the final storage (reader self-test against the stated outcomes)
    st = ob["steps"][-1]["storage_after"]
    e2, e3 = bytes.fromhex(st["entries"][2]), bytes.fromhex(st["entries"][3])
    cases = [
        ("entry 2 put in slot 3", 3, e2, "Reordered"),
        ("entry 2 bit flipped in stored c", 2, bytes([e2[0] ^ 1]) + e2[1:], "Tampered"),
        ("entry 2 bit flipped in stored seq", 2, e2[:15] + bytes([e2[15] ^ 1]) + e2[16:], "Tampered"),
        ("entry 2 cut", 2, e2[:-1], "Truncated"),
        ("entry 2 extra byte", 2, e2 + b"\x00", "Tampered"),
        ("entry 3 under wrong stream", None, e3, "Tampered"),
        ("entry slot empty", 2, None, "Truncated"),
    ]
    p = []
    for label, seq, raw, kind in cases:
        try:
            if seq is None:
                entry_open(key, b"\x00" * 8, slots, 3, raw)
            else:
                entry_open(key, stream, slots, seq, raw)
            p.append(f"{label}: accepted")
        except OutboxError as e:
            if e.kind != kind:
                p.append(f"{label}: {e.kind} != {kind}")
    # rollback: restoring the index of two reservations ago must be refused
    old = dict(st, index_a=ob["steps"][1]["storage_after"]["index_a"], index_b=ob["steps"][0]["storage_after"]["index_b"])
    try:
        open_storage(key, slots, old)
        p.append("restore of old indexes accepted")
    except OutboxError as e:
        if e.kind != "RolledBack":
            p.append(f"restore: {e.kind} != RolledBack")
    report(not p, "outbox reader detections (6.5.2, 6.5.5)", "; ".join(p))


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "messages_delivery.json")
    with open(path) as f:
        vec = json.load(f)
    for section in (check_frames, check_spec_examples, check_outbox):
        try:
            section(vec) if section is not check_spec_examples else section()
        except Exception as e:  # a malformed vector file must fail, not crash
            report(False, section.__name__, f"aborted: {type(e).__name__}: {e}")
    n_fail = sum(1 for r in results if not r[0])
    print(f"\n{len(results) - n_fail} ok, {n_fail} failed, {len(results)} checks "
          f"({len(vec['frames'])} frames, {len(vec['invalid_frames'])} invalid frames, "
          f"{len(vec['outbox']['steps'])} outbox steps)")
    sys.exit(1 if n_fail else 0)


if __name__ == "__main__":
    main()
