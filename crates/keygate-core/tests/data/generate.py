#!/usr/bin/env python3
"""Known-answer vectors for keygate-core, computed independently of the Rust code with Python's
zlib (CRC32), hmac and base64. Deterministic: run it again and the files do not change."""
import base64, hashlib, hmac, json, random, zlib

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

def b62(n, width):
    out = ""
    for _ in range(width):
        out = B62[n % 62] + out
        n //= 62
    assert n == 0
    return out

def checksum(payload):
    return b62(zlib.crc32(payload.encode()) & 0xFFFFFFFF, 6)

rnd = random.Random(20261122)
def body():
    return "".join(rnd.choice(B62) for _ in range(32))

def key(prefix):
    p = prefix + body()
    return p + checksum(p)

payloads = ["", "a", "sk_test_", "sk_test_" + "0" * 32, "pk_live_" + "z" * 32,
            "The quick brown fox jumps over the lazy dog"] + \
           [p + body() for p in ["sk_test_", "sk_live_", "pk_test_", "pk_live_", "rk_test_", "rk_live_"]]
with open("checksum.json", "w") as f:
    json.dump([{"payload": p, "checksum": checksum(p), "crc32": zlib.crc32(p.encode()) & 0xFFFFFFFF}
               for p in payloads], f, indent=1)

peppers = ["0123456789abcdef0123456789abcdef", "a-much-longer-pepper-" + "x" * 80]
digests = []
for pep in peppers:
    for k in [key("sk_test_"), key("pk_live_"), key("rk_test_"), "not-a-key"]:
        tag = hmac.new(pep.encode(), k.encode(), hashlib.sha256).hexdigest()
        digests.append({"pepper": pep, "key": k, "digest": "v1:" + tag})
with open("digest.json", "w") as f:
    json.dump(digests, f, indent=1)

valid = [{"key": key(p), "type": t, "mode": m} for p, t, m in [
    ("sk_test_", "secret", "test"), ("sk_live_", "secret", "live"), ("pk_test_", "publishable", "test"),
    ("pk_live_", "publishable", "live"), ("rk_test_", "restricted", "test"), ("rk_live_", "restricted", "live")]]
good = valid[0]["key"]
bad_check = good[:-1] + ("A" if good[-1] != "A" else "B")
swapped = good[:8] + good[9] + good[8] + good[10:]
invalid = [
    {"key": "", "why": "empty"},
    {"key": good[:-1], "why": "one character short"},
    {"key": good + "0", "why": "one character long"},
    {"key": bad_check, "why": "checksum off by one character"},
    {"key": swapped if swapped != good else bad_check, "why": "two body characters transposed"},
    {"key": "xk_test_" + good[8:], "why": "unknown type prefix"},
    {"key": "sk_prod_" + good[8:], "why": "unknown mode"},
    {"key": "SK_TEST_" + good[8:], "why": "upper-case prefix"},
    {"key": "sk-test-" + good[8:], "why": "dashes instead of underscores"},
    {"key": good[:20] + "_" + good[21:], "why": "underscore in body"},
    {"key": good[:20] + "\u0430" + good[22:], "why": "Cyrillic look-alike, same byte length"},
    {"key": good[:20] + "\u0000" + good[21:], "why": "NUL byte"},
    {"key": good[:20] + "\n" + good[21:], "why": "control byte"},
    {"key": good[:20] + " " + good[21:], "why": "space"},
    {"key": "sk_tes\u00e9" + good[8:], "why": "non-ASCII prefix of the right byte length"},
    {"key": "sk_test\u00e9" + good[9:], "why": "a character across the prefix's end"},
]
with open("keys.json", "w") as f:
    json.dump({"valid": valid, "invalid": invalid}, f, indent=1)

def basic(s):
    return "Basic " + base64.b64encode(s.encode()).decode()

creds = [
    {"authorization": "Bearer " + good, "ok": good},
    {"authorization": basic(good + ":"), "ok": good},
    {"authorization": basic(good + ":").rstrip("="), "ok": good},
    {"authorization": "Bearer not-a-key", "ok": "not-a-key"},
    {"authorization": None, "code": "api_key_missing"},
    {"authorization": "", "code": "api_key_missing"},
    {"authorization": "   ", "code": "api_key_missing"},
    {"authorization": "Bearer", "code": "authorization_malformed"},
    {"authorization": "Bearer ", "code": "authorization_malformed"},
    {"authorization": "Bearer  " + good, "code": "authorization_malformed"},
    {"authorization": "Bearer " + good + " junk", "code": "authorization_malformed"},
    {"authorization": "bearer " + good, "code": "authorization_scheme_case"},
    {"authorization": "BEARER " + good, "code": "authorization_scheme_case"},
    {"authorization": "basic " + base64.b64encode((good + ":").encode()).decode(), "code": "authorization_scheme_case"},
    {"authorization": "Token " + good, "code": "authorization_scheme_unsupported"},
    {"authorization": good, "code": "authorization_scheme_unsupported"},
    {"authorization": "Digest username=x", "code": "authorization_scheme_unsupported"},
    {"authorization": "Bearer " + good + ", Bearer " + good, "code": "multiple_credentials"},
    {"authorization": "Bearer a,b", "code": "multiple_credentials"},
    {"authorization": "Basic !!!notbase64", "code": "basic_auth_malformed"},
    {"authorization": basic(good), "code": "basic_auth_malformed"},
    {"authorization": basic(":"), "code": "basic_auth_malformed"},
    {"authorization": "Basic " + base64.b64encode(b"\xff\xfe:").decode(), "code": "basic_auth_malformed"},
    {"authorization": basic(good + ":secret"), "code": "basic_auth_password_not_empty"},
    {"authorization": "Bearer " + "a" * 5000, "code": "authorization_too_large"},
    {"authorization": "Bearer " + good, "query": "api_key=" + good, "code": "api_key_in_query", "param": "api_key"},
    {"authorization": None, "query": "key=abc", "code": "api_key_in_query", "param": "key"},
    {"authorization": None, "query": "limit=3&API_KEY=x", "code": "api_key_in_query", "param": "API_KEY"},
    {"authorization": "Bearer " + good, "query": "q=" + good, "code": "api_key_in_query", "param": "q"},
    {"authorization": "Bearer " + good, "query": "api%5Fkey=x", "code": "api_key_in_query", "param": "api_key"},
    {"authorization": "Bearer " + good, "query": "limit=3&starting_after=key_1", "ok": good},
]
with open("credentials.json", "w") as f:
    json.dump(creds, f, indent=1)

# Dates: HTTP-date (IMF-fixdate) and UTC day keys, from Python's email.utils and datetime.
import datetime, email.utils
times = [0, 1, 59, 86399, 86400, 784111777, 951782400, 951868799, 1709164800, 1795331173,
         4102444800, 253402300799, 1234567890, 1330473600 - 1]
with open("dates.json", "w") as f:
    json.dump([{"t": t, "http_date": email.utils.formatdate(t, usegmt=True),
                "day": datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%d")}
               for t in times], f, indent=1)
