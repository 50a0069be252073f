#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora from tests/data (the known-answer vectors and the Amps
fixtures) into fuzz/corpus/<target>/. Small and regenerated on every run: nothing is committed.

Usage: python3 fuzz/seed_corpus.py   (from anywhere)
"""
import base64
import hashlib
import hmac
import json
import pathlib

FUZZ = pathlib.Path(__file__).resolve().parent
DATA = FUZZ.parent / "tests" / "data"
CORPUS = FUZZ / "corpus"
# The verify and event targets verify with this secret at this time (the spec's shared vector).
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOW = 1614265330
MAX_SEED_BODY = 64 * 1024


def body_of(vector):
    if "payload" in vector:
        return vector["payload"].encode()
    if "payload_repeat" in vector:
        repeat = vector["payload_repeat"]
        return repeat["byte"].encode() * repeat["count"]
    return base64.b64decode(vector["payload_base64"])


def sign(secret, msg_id, timestamp, body):
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def request(msg_id, timestamp, signature, body, prefix="webhook"):
    head = f"{prefix}-id: {msg_id}\n{prefix}-timestamp: {timestamp}\n{prefix}-signature: {signature}\n"
    return head.encode() + b"content-type: application/json\n\n" + body


def main():
    vectors = json.loads((DATA / "standard-webhooks.json").read_text())
    fixtures = sorted((DATA / "amps").glob("*.json"))
    seeds = {name: [] for name in ("signature_header", "verify", "secret", "event")}

    for vector in vectors["valid"] + vectors["invalid"]:
        header = vector.get("signature_header") or vector["signature"]
        body = body_of(vector)
        seeds["signature_header"].append(header.encode())
        seeds["secret"].append(vector["secret"].encode())
        seeds["secret"].append(vector["secret"].removeprefix("whsec_").encode())
        if len(body) <= MAX_SEED_BODY:
            seeds["event"].append(body)
            for prefix in ("webhook", "svix"):
                seeds["verify"].append(
                    request(vector["id"], vector["timestamp"], header, body, prefix)
                )

    # Prefixes of a valid signature, a right tag under another version, repeated entries.
    right_vector = vectors["valid"][0]
    right, right_body = right_vector["signature"], body_of(right_vector)
    seeds["signature_header"] += [right[:n].encode() for n in (3, 7, 20, len(right) - 1)]
    seeds["signature_header"] += [f"v1a,{right[3:]} {right}".encode(), " ".join([right] * 3).encode()]

    # Headers around the 8 KiB limit: many wrong entries with the right one last, and one byte
    # over. They also raise libFuzzer's default input size past the limit.
    wrong = "v1," + base64.b64encode(bytes(32)).decode()
    near_limit = " ".join([wrong] * 169 + [right]).encode()
    over_limit = (right + " ").encode().ljust(8 * 1024 + 1, b"x")
    seeds["signature_header"] += [near_limit, over_limit]
    for header in (near_limit, over_limit):
        seeds["verify"].append(
            request(right_vector["id"], right_vector["timestamp"], header.decode(), right_body)
        )

    asymmetric = vectors["asymmetric_v1a"]
    seeds["secret"] += [asymmetric["secret_key"].encode(), asymmetric["public_key"].encode()]
    seeds["signature_header"].append(asymmetric["signature"].encode())

    for fixture in fixtures:
        body = fixture.read_bytes()
        seeds["event"].append(body)
        msg_id = "msg_" + fixture.stem.replace(".", "_")[:40]
        seeds["verify"].append(request(msg_id, NOW, sign(SECRET, msg_id, NOW, body), body))

    # Inputs the fuzzers once failed on, kept as regression tests (tests/hostile.rs), named
    # after their target.
    for kept in sorted((DATA / "hostile").glob("*")):
        target = kept.name.split("-", 1)[0]
        if target in seeds:
            seeds[target].append(kept.read_bytes())

    for target, inputs in seeds.items():
        directory = CORPUS / target
        directory.mkdir(parents=True, exist_ok=True)
        for data in inputs:
            (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)
        print(f"{target}: {len(set(inputs))} seeds in {directory}")


if __name__ == "__main__":
    main()
