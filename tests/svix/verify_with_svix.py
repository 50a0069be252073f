"""Verify every request the reference sender recorded with the official Svix library.

Usage: verify_with_svix.py DIR SECRET

DIR holds testing::Fixture JSON files written by `examples/record_for_svix.rs`. Each request
must verify with `svix.webhooks.Webhook(SECRET).verify(body, headers)`; as a control, the
same request with one body byte changed must be refused. Prints 'N passed, 0 failed' and
exits non-zero on any failure (or when DIR holds no request).
"""

import base64
import json
import pathlib
import sys

from svix.webhooks import Webhook, WebhookVerificationError


def load(path):
    fixture = json.loads(path.read_text())
    if "body" in fixture:
        body = fixture["body"].encode("utf-8")
    else:
        body = base64.b64decode(fixture["body_base64"])
    headers = {name: value for name, value in fixture["headers"]}
    return headers, body


def main():
    directory, secret = pathlib.Path(sys.argv[1]), sys.argv[2]
    webhook = Webhook(secret)
    passed, failed = 0, 0
    for path in sorted(directory.glob("*.json")):
        headers, body = load(path)
        try:
            webhook.verify(body, headers)
        except Exception as error:  # noqa: BLE001 (any failure to verify counts)
            failed += 1
            print(f"FAILED {path.name}: {error}")
            continue
        tampered = bytes([body[0] ^ 0x01]) + body[1:]
        try:
            webhook.verify(tampered, headers)
        except WebhookVerificationError:
            passed += 1
        else:
            failed += 1
            print(f"FAILED {path.name}: a tampered body was accepted")
    print(f"{passed} passed, {failed} failed")
    if failed or not passed:
        sys.exit(1)


if __name__ == "__main__":
    main()
