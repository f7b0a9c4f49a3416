#!/usr/bin/env python3
"""An independent judge of case-harness's signed evidence: none of our code is used.

securesystemslib (PyPI) verifies each DSSE envelope's Ed25519 signature with the public key
loaded from its PEM file; the in-toto-attestation bindings (PyPI) parse and validate the
Statement v1 and the Test Result predicate; hashlib recomputes every subject's sha256 from
the files beside the envelope, and every file there must be a subject.

Usage:
  verify-attestation.py --key KEY.pub ENVELOPE...          every envelope must verify (exit 0)
  verify-attestation.py --key KEY.pub --flip-byte ENVELOPE  the negative case: flips one byte
      of the signed payload in memory and exits 0 only if securesystemslib REJECTS it

Run with the venv made by scripts/attestation-judge.sh.
"""
import argparse
import base64
import hashlib
import json
import os
import sys

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from google.protobuf import json_format
from in_toto_attestation.predicates.test_result.v0 import test_result_pb2
from in_toto_attestation.v1.statement import Statement
from in_toto_attestation.v1 import statement_pb2
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey

PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE_TYPE = "https://in-toto.io/attestation/test-result/v0.1"


def load_key(path):
    with open(path, "rb") as handle:
        return SSlibKey.from_crypto(load_pem_public_key(handle.read()))


def load_envelope(path):
    with open(path, encoding="utf-8") as handle:
        return Envelope.from_dict(json.load(handle))


def check_statement(payload, folder, problems):
    statement_json = json.loads(payload)
    proto = json_format.ParseDict(statement_json, statement_pb2.Statement())
    Statement.copy_from_pb(proto).validate()  # raises ValueError
    if proto.predicate_type != PREDICATE_TYPE:
        problems.append(f"predicateType is {proto.predicate_type!r}")
    # The Test Result predicate, parsed by its own bindings (our extension field is ignored).
    result = json_format.ParseDict(
        statement_json["predicate"], test_result_pb2.TestResult(), ignore_unknown_fields=True
    )
    if result.result not in ("PASSED", "WARNED", "FAILED"):
        problems.append(f"predicate result is {result.result!r}")
    signed = {}
    for subject in proto.subject:
        signed[subject.name] = subject.digest["sha256"]
        path = os.path.join(folder, subject.name)
        try:
            with open(path, "rb") as handle:
                actual = hashlib.sha256(handle.read()).hexdigest()
        except OSError as err:
            problems.append(f"subject {subject.name}: {err}")
            continue
        if actual != subject.digest["sha256"]:
            problems.append(f"subject {subject.name}: sha256 differs from the signed one")
    for root, _dirs, files in os.walk(folder):
        for name in files:
            relative = os.path.relpath(os.path.join(root, name), folder).replace(os.sep, "/")
            if relative == "attestation.dsse.json":
                continue
            if relative not in signed:
                problems.append(f"{relative} is in the folder but not a signed subject")
    return result, len(signed)


def verify(key, path):
    problems = []
    envelope = load_envelope(path)
    if envelope.payload_type != PAYLOAD_TYPE:
        return [f"payloadType {envelope.payload_type!r}"]
    try:
        accepted = envelope.verify([key], 1)
    except VerificationError as err:
        return [f"securesystemslib rejected the signature: {err}"]
    if key.keyid not in accepted:
        return ["the key did not verify the envelope"]
    result, count = check_statement(envelope.payload, os.path.dirname(os.path.abspath(path)), problems)
    if not problems:
        print(f"ok: {path}: signed by {key.keyid[:16]}…, {count} subject(s), result {result.result}")
    return problems


def flipped_is_rejected(key, path):
    envelope = load_envelope(path)
    payload = bytearray(envelope.payload)
    payload[len(payload) // 2] ^= 0x01
    envelope.payload = bytes(payload)
    try:
        envelope.verify([key], 1)
    except VerificationError as err:
        print(f"ok: {path} with one payload byte flipped is rejected by securesystemslib ({err})")
        return True
    print(f"FAIL: {path} with one payload byte flipped still verifies", file=sys.stderr)
    return False


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--key", required=True, help="the signer's public key (PEM)")
    parser.add_argument("--flip-byte", action="store_true", help="negative case: expect rejection")
    parser.add_argument("envelopes", nargs="+")
    args = parser.parse_args()
    key = load_key(args.key)
    if args.flip_byte:
        return 0 if all(flipped_is_rejected(key, path) for path in args.envelopes) else 1
    failed = 0
    for path in args.envelopes:
        try:
            problems = verify(key, path)
        except (ValueError, KeyError, OSError, json_format.ParseError) as err:
            problems = [f"{type(err).__name__}: {err}"]
        for problem in problems:
            print(f"FAIL: {path}: {problem}", file=sys.stderr)
        failed += bool(problems)
    print(f"{len(args.envelopes) - failed}/{len(args.envelopes)} envelope(s) verified")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
