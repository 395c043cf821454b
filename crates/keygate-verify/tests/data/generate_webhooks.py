#!/usr/bin/env python3
"""Language-neutral test vectors for keygate's webhook signature (Keygate-Webhook-Signature),
computed with Python's hmac and hashlib only (independently of the Rust and JavaScript code).
Both verifiers' tests read webhooks.json. Deterministic: running it again changes nothing. Run it
from this directory.

The signature is Stripe's scheme: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`,
with one `v1=` per signing secret during a rotation (current first)."""
import hmac, hashlib, json

def sign(secret, t, body):
    return hmac.new(secret.encode(), str(t).encode() + b"." + body.encode(), hashlib.sha256).hexdigest()

CASES = [
    ("a key event", 1767225600, "whsec_0123456789abcdef0123456789abcdef",
     '{"id":"evt_0123456789abcdef01234567","object":"event","type":"key.revoked","created":1767225600,"livemode":false,"account":"acct_1","data":{"object":{"id":"key_1"}}}'),
    ("non-ASCII in the body", 1767225601, "whsec_another_secret_of_32_bytes_at_least",
     '{"id":"evt_1","type":"key.updated","data":{"object":{"name":"clé – ключ – 鍵"}}}'),
    ("an empty body", 1767225602, "whsec_0123456789abcdef0123456789abcdef", ""),
    ("a body with a newline and spaces", 1767225603, "whsec_0123456789abcdef0123456789abcdef", '{\n  "a": 1\n}\n'),
]
PREVIOUS = "whsec_previous_previous_previous_prev"

out = []
for name, t, secret, body in CASES:
    out.append({
        "name": name,
        "t": t,
        "secret": secret,
        "previous_secret": PREVIOUS,
        "body": body,
        "signed_payload": f"{t}.{body}",
        "header": f"t={t},v1={sign(secret, t, body)}",
        "header_rotating": f"t={t},v1={sign(secret, t, body)},v1={sign(PREVIOUS, t, body)}",
    })
with open("webhooks.json", "w") as f:
    json.dump(out, f, indent=1, ensure_ascii=False)
    f.write("\n")
