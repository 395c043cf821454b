#!/usr/bin/env python3
"""Language-neutral test vectors for Keygate-Signature, computed with Python's hmac and hashlib
only (independently of the Rust code). The signer's and the verifier's tests both read
signatures.json. Deterministic: running it again changes nothing."""
import hashlib, hmac, json

FIELDS = ["t", "method", "host", "path", "account", "key_id", "mode", "key_type", "permissions"]

def canonical(v):
    perm_digest = hashlib.sha256(v["permissions"].encode()).hexdigest()
    values = ["keygate-signature-v1", str(v["t"]), v["method"], v["host"], v["path"], v["account"],
              v["key_id"], v["mode"], v["key_type"], perm_digest]
    return b"".join(str(len(x.encode())).encode() + b":" + x.encode() + b"\n" for x in values)

def sign(secret, v):
    return hmac.new(secret.encode(), canonical(v), hashlib.sha256).hexdigest()

base = {"t": 1795331173, "method": "POST", "host": "api.internal.example:8443",
        "path": "/v1/charges?limit=3&starting_after=ch_1", "account": "acct_123",
        "key_id": "key_UGSYz9IBwekC1nPot4nMoTz1", "mode": "live", "key_type": "secret", "permissions": ""}
S1, S2 = "whsec_current_0123456789abcdef0123456789abcdef", "whsec_previous_fedcba9876543210fedcba9876543210"
cases = [
    dict(base),
    dict(base, method="GET", path="/"),
    dict(base, key_type="restricted", permissions="charges=read,refunds=write"),
    dict(base, mode="test", host="127.0.0.1:8788", path="/v1/files/f%20x?q=%C3%A9"),
    # Fields that would collide under naive concatenation must not:
    dict(base, account="acct_12", key_id="3key_UGSYz9IBwekC1nPot4nMoTz1"),
    dict(base, path="/v1/a:b\\n", host="h"),
    dict(base, t=0),
]
out = []
for i, v in enumerate(cases):
    one = f"t={v['t']},v1={sign(S1, v)}"
    two = f"t={v['t']},v1={sign(S1, v)},v1={sign(S2, v)}"
    out.append({"name": f"case {i}", "inputs": v, "secret": S1, "previous_secret": S2,
                "canonical": canonical(v).decode(), "header": one, "header_with_previous": two})
assert len({c["canonical"] for c in out}) == len(out)
with open("signatures.json", "w") as f:
    json.dump(out, f, indent=1, ensure_ascii=False)
