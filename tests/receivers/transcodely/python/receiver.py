"""Transcodely's published Python verification, served over HTTP."""

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

# ---- as published by Transcodely (Signature Verification, Python) ----
import hashlib
import hmac
import time

WEBHOOK_SECRET = "whsec_your_signing_secret"

def verify_webhook(request):
    signature = request.headers.get("X-Transcodely-Signature", "")
    timestamp = request.headers.get("X-Transcodely-Timestamp", "")
    body = request.body.decode("utf-8")

    # Check timestamp freshness (5-minute window)
    if abs(time.time() - int(timestamp)) > 300:
        return False

    # Compute expected signature
    signed_payload = f"{timestamp}.{body}"
    expected = hmac.new(
        WEBHOOK_SECRET.encode("utf-8"),
        signed_payload.encode("utf-8"),
        hashlib.sha256,
    ).hexdigest()

    # Constant-time comparison
    expected_sig = f"sha256={expected}"
    return hmac.compare_digest(expected_sig, signature)
# ---- end of published code ----


class Request:
    def __init__(self, headers, body):
        self.headers = headers
        self.body = body


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        try:
            ok = verify_webhook(Request(self.headers, body))
        except Exception:  # a malformed timestamp raises: that is a rejection
            ok = False
        print(json.dumps({"ok": ok, "headers": dict(self.headers.items()), "body": body.decode("utf-8", "replace")}), flush=True)
        self.send_response(200 if ok else 401)
        self.end_headers()
        self.wfile.write(b"OK" if ok else b"Invalid signature")

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Handler)
print(f"listening {server.server_address[1]}", flush=True)
server.serve_forever()
