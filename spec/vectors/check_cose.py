#!/usr/bin/env python3
"""Interoperability check of tether's COSE_Sign1 objects against pycose, an independent COSE
implementation (spec/MESSAGES.md section 5, "COSE profile").

Needs Python 3.11+ and pycose (pip install pycose; it brings cbor2 and cryptography). Run:

    python3 spec/vectors/check_cose.py            # check, then write pycose_signed.json
    python3 spec/vectors/check_cose.py --check    # check, and compare with the checked-in file

It reads messages_signed.json (next to this script, or in the directory given) and:

1. verifies every COSE object in it with pycose (Sign1Message decoding, an OKP Ed25519 key built
   from the signer's public key): the signature verifies exactly when the vector says
   "signature_valid"; the object is the body of the message [kind, COSE_Sign1] in "hex"; the
   protected header is {1: -8} and the unprotected header {4: kid} for the profile's objects; the
   payload is "payload", and its CBOR (decoded with cbor2) is the vector's "value" under the key
   numbers of the spec, in preferred encoding with ascending keys;
2. signs the payloads of the vectors command_basal_rate and firmware_manifest with pycose (alg
   EdDSA in the protected header, kid in the unprotected header, the vector's seed) and writes
   the results to pycose_signed.json, noting whether pycose's bytes are identical to tether's
   (Ed25519 is deterministic, so they should be). tests/message_vectors_signed.rs checks that
   tether accepts them.

Exit status 0 when everything matches; 1 with a message on the first mismatch.
"""

import json
import sys
from collections.abc import Mapping
from pathlib import Path

import cbor2
from pycose.algorithms import EdDSA
from pycose.headers import KID, Algorithm
from pycose.keys import OKPKey
from pycose.keys.curves import Ed25519
from pycose.messages import Sign1Message

KINDS = {
    "command": 16,
    "firmware_manifest": 32,
    "app_update_notice": 35,
}
SHA_256 = -16
SIGNED_SOURCES = ["command_basal_rate", "firmware_manifest"]


class Mismatch(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Mismatch(what)


def h(s):
    return bytes.fromhex(s)


def thaw(o):
    """cbor2 6 decodes arrays as tuples and maps as frozendicts; pycose 1.1 wants lists and dicts."""
    if isinstance(o, Mapping):
        return {thaw(k): thaw(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [thaw(x) for x in o]
    return o


def decode_sign1(data):
    """Sign1Message.decode, working around cbor2 >= 6 (tuples) for pycose 1.1."""
    try:
        return Sign1Message.decode(data)
    except TypeError:
        tagged = cbor2.loads(data)
        check(isinstance(tagged, cbor2.CBORTag) and tagged.tag == 18, "not a tagged COSE_Sign1")
        return Sign1Message.from_cose_obj(thaw(tagged.value), True)


def envelope(kind, cose):
    head = bytes([kind]) if kind < 24 else bytes([0x18, kind])
    return b"\x82" + head + cose


def expected_payload(ty, value):
    """The payload map of spec/MESSAGES.md section 5, built from a vector's value."""
    if ty == "command":
        return {
            1: h(value["device_id"]),
            2: value["command_id"],
            3: value["issued_ms"],
            4: value["expires_ms"],
            5: value["operation"],
            6: {p[0]: p[1] for p in value["params"]},
        }
    if ty == "firmware_manifest":
        m = {
            1: h(value["vendor_id"]),
            2: h(value["class_id"]),
            3: value["version"],
            4: value["sequence"],
            5: value["image_size"],
            6: [SHA_256, h(value["digest"])],
        }
        if value["uri"] is not None:
            m[7] = value["uri"]
        return m
    if ty == "app_update_notice":
        m = {
            1: value["app_id"],
            2: value["version"],
            3: value["sequence"],
            4: [SHA_256, h(value["digest"])],
        }
        if value["uri"] is not None:
            m[5] = value["uri"]
        if value["min_firmware_sequence"] is not None:
            m[6] = value["min_firmware_sequence"]
        return m
    raise Mismatch(f"unknown type {ty}")


def verify_key(keys, name):
    return OKPKey(crv=Ed25519, x=h(keys[name]["public"]))


def check_vectors(data):
    keys = data["keys"]
    checked = 0
    for v in data["vectors"]:
        if "cose" not in v:
            continue
        name = v["name"]
        cose = h(v["cose"])
        check(h(v["hex"]) == envelope(KINDS[v["type"]], cose), f"{name}: hex is not [kind, cose]")
        msg = decode_sign1(cose)
        msg.key = verify_key(keys, v["signer"])
        try:
            valid = msg.verify_signature()
        except Exception:  # pycose raises for an algorithm that does not fit the key
            valid = False
        check(valid == v["signature_valid"], f"{name}: pycose says signature valid = {valid}")
        check(msg.payload == h(v["payload"]), f"{name}: payload")
        profile = msg.phdr_encoded == b"\xa1\x01\x27"
        if profile:
            check(msg.phdr == {Algorithm: EdDSA}, f"{name}: protected header")
            check(msg.uhdr == {KID: h(keys[v["signer"]]["kid"])}, f"{name}: unprotected header")
        else:
            check(v["expect"]["result"] == "malformed", f"{name}: outside the profile but accepted")
        if "value" in v:
            want = expected_payload(v["type"], v["value"])
            got = thaw(cbor2.loads(msg.payload))
            check(got == want, f"{name}: payload CBOR {got} is not the value {want}")
            check(cbor2.dumps(want, canonical=True) == msg.payload, f"{name}: payload not canonical")
        checked += 1
    check(checked >= 20, f"only {checked} COSE objects")
    return checked


def sign_with_pycose(data):
    keys = data["keys"]
    by_name = {v["name"]: v for v in data["vectors"]}
    objects = []
    for source in SIGNED_SOURCES:
        v = by_name[source]
        key = keys[v["signer"]]
        msg = Sign1Message(
            phdr={Algorithm: EdDSA},
            uhdr={KID: h(key["kid"])},
            payload=h(v["payload"]),
        )
        msg.key = OKPKey(crv=Ed25519, d=h(key["seed"]), x=h(key["public"]))
        cose = msg.encode()  # tagged (18) by default
        whole = envelope(KINDS[v["type"]], cose)
        # pycose reads back its own object.
        back = decode_sign1(cose)
        back.key = verify_key(keys, v["signer"])
        check(back.verify_signature(), f"pycose cannot verify its own {source}")
        objects.append(
            {
                "name": f"pycose_{source}",
                "source": source,
                "type": v["type"],
                "kind": KINDS[v["type"]],
                "signer": v["signer"],
                "payload": v["payload"],
                "cose": cose.hex(),
                "hex": whole.hex(),
                "identical_to_tether": whole.hex() == v["hex"],
            }
        )
    return {
        "description": "COSE_Sign1 objects made by pycose from payloads and seeds in messages_signed.json (written by spec/vectors/check_cose.py). tether must accept them; 'identical_to_tether' says whether the bytes equal tether's own encoding of the same payload (Ed25519 is deterministic).",
        "generator": "pycose Sign1Message, phdr {Algorithm: EdDSA}, uhdr {KID: kid}, encode() tagged",
        "objects": objects,
    }


def main(argv):
    args = [a for a in argv if a != "--check"]
    check_only = "--check" in argv
    directory = Path(args[0]) if args else Path(__file__).resolve().parent
    data = json.loads((directory / "messages_signed.json").read_text())
    try:
        n = check_vectors(data)
        out = sign_with_pycose(data)
        text = json.dumps(out, indent=2) + "\n"
        target = directory / "pycose_signed.json"
        if check_only:
            current = target.read_text() if target.exists() else ""
            check(current == text, f"{target} differs from what pycose produces now")
        else:
            target.write_text(text)
    except Mismatch as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    same = all(o["identical_to_tether"] for o in out["objects"])
    print(
        f"ok: {n} COSE objects verified by pycose; {len(out['objects'])} signed by pycose, "
        f"{'identical to' if same else 'different from'} tether's bytes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
