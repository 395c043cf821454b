#!/usr/bin/env python3
"""Language-neutral test vectors for Keygate-Signature version 2, computed with Python's hmac and
hashlib only (independently of the Rust code). The signer's and the verifier's tests both read
signatures.json. Deterministic: running it again changes nothing. Run it from this directory.

Each case holds the inputs, the canonical message, the header with one secret, the header with
the previous secret too, and `header_v1_only`: what a version 1 signer sent for the same request
(`v1=` over the version 1 message, which signed neither the request id nor the verified bound).
A version 2 verifier must refuse that one."""
import hashlib, hmac, json

FIELDS = ["t", "method", "host", "path", "account", "key_id", "mode", "key_type", "permissions",
          "request_id", "verified"]

def encode(values):
    # For each value: its length in bytes (decimal), ":", its UTF-8 bytes, "\n".
    return b"".join(str(len(x.encode())).encode() + b":" + x.encode() + b"\n" for x in values)

def canonical(v):
    perm_digest = hashlib.sha256(v["permissions"].encode()).hexdigest()
    return encode(["keygate-signature-v2", str(v["t"]), v["method"], v["host"], v["path"],
                   v["account"], v["key_id"], v["mode"], v["key_type"], perm_digest,
                   v["request_id"], v["verified"]])

def canonical_v1(v):
    perm_digest = hashlib.sha256(v["permissions"].encode()).hexdigest()
    return encode(["keygate-signature-v1", str(v["t"]), v["method"], v["host"], v["path"],
                   v["account"], v["key_id"], v["mode"], v["key_type"], perm_digest])

def mac(secret, message):
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()

REQ = "req_4QbH7mZk2TfX9cLw1NpR8sVy"
assert len(REQ) == 28 and REQ[4:].isalnum() and REQ[4:].isascii()
base = {"t": 1795331173, "method": "POST", "host": "api.internal.example:8443",
        "path": "/v1/charges?limit=3&starting_after=ch_1", "account": "acct_123",
        "key_id": "key_UGSYz9IBwekC1nPot4nMoTz1", "mode": "live", "key_type": "secret", "permissions": "",
        "request_id": REQ, "verified": "kv;max-staleness=120"}
S1, S2 = "whsec_current_0123456789abcdef0123456789abcdef", "whsec_previous_fedcba9876543210fedcba9876543210"
cases = [
    dict(base),
    dict(base, method="GET", path="/", verified="do"),
    dict(base, key_type="restricted", permissions="charges=read,refunds=write",
         request_id="req_Zz09AaBbCcDdEeFfGgHhIiJj"),
    dict(base, mode="test", host="127.0.0.1:8788", path="/v1/files/f%20x?q=%C3%A9", verified="kv;max-staleness=96"),
    # Fields that would collide under naive concatenation must not:
    dict(base, account="acct_12", key_id="3key_UGSYz9IBwekC1nPot4nMoTz1"),
    dict(base, path="/v1/a:b\\n", host="h"),
    # ... the boundary between the request id and the verified bound moved by one character:
    dict(base, request_id=REQ[:-1], verified=REQ[-1] + "kv;max-staleness=120"),
    dict(base, t=0),
    # Lengths are in bytes, not characters.
    dict(base, path="/v1/café?q=ü"),
    # A message too long for the signer's stack buffer.
    dict(base, path="/v1/search?q=" + "x" * 600),
]
out = []
for i, v in enumerate(cases):
    assert list(v) == FIELDS
    one = f"t={v['t']},v2={mac(S1, canonical(v))}"
    two = f"t={v['t']},v2={mac(S1, canonical(v))},v2={mac(S2, canonical(v))}"
    old = f"t={v['t']},v1={mac(S1, canonical_v1(v))},v1={mac(S2, canonical_v1(v))}"
    out.append({"name": f"case {i}", "inputs": v, "secret": S1, "previous_secret": S2,
                "canonical": canonical(v).decode(), "header": one, "header_with_previous": two,
                "header_v1_only": old})
assert len({c["canonical"] for c in out}) == len(out)
# The collision case is a collision under naive concatenation, and not under the encoding.
naive = lambda v: "".join(str(v[k]) for k in FIELDS)
assert naive(cases[0]) == naive(cases[6]) and canonical(cases[0]) != canonical(cases[6])
with open("signatures.json", "w") as f:
    json.dump(out, f, indent=1, ensure_ascii=False)
    f.write("\n")
