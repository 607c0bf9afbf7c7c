"""Cross-checks hookline's signatures with the official Standard Webhooks library.

Reads JSON from stdin: {"verify": [{secret, headers, body}], "sign": [{secret, id, body}]}.
Every "verify" case must pass the library's Webhook.verify, and the same
request with one body byte changed must fail it. Every "sign" case is signed
by the library at the current time. Writes JSON to stdout:
{"verified": n, "tampered_rejected": n, "signed": [{secret, id, timestamp, signature, body}]}.
Exits non-zero with a message on the first disagreement.
"""

import json
import sys
from datetime import datetime, timezone

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> int:
    cases = json.load(sys.stdin)
    verified = 0
    tampered_rejected = 0
    for i, case in enumerate(cases["verify"]):
        wh = Webhook(case["secret"])
        try:
            wh.verify(case["body"], case["headers"], json_parse=False)
        except WebhookVerificationError as e:
            print(f"case {i}: standardwebhooks rejected hookline's signature: {e}", file=sys.stderr)
            return 1
        verified += 1
        body = case["body"]
        tampered = ("X" if body[:1] != "X" else "Y") + body[1:]
        try:
            wh.verify(tampered, case["headers"], json_parse=False)
        except WebhookVerificationError:
            tampered_rejected += 1
        else:
            print(f"case {i}: a tampered body verified", file=sys.stderr)
            return 1
    signed = []
    now = datetime.now(tz=timezone.utc)
    for case in cases["sign"]:
        wh = Webhook(case["secret"])
        signed.append(
            {
                "secret": case["secret"],
                "id": case["id"],
                "timestamp": int(now.timestamp()),
                "signature": wh.sign(case["id"], now, case["body"]),
                "body": case["body"],
            }
        )
    json.dump({"verified": verified, "tampered_rejected": tampered_rejected, "signed": signed}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
