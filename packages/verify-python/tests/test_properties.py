"""Randomised properties, with a fixed seed: sign then verify round-trips; changing any one signed
part (method, host, path, each identity header, t) breaks the signature; the canonical encoding
is injective where naive concatenation is not; the header parser only ever refuses with
MalformedSignature."""

from __future__ import annotations

import random
import unittest

from keygate_verify import BadSignature, MalformedSignature, canonical, parse_header, sign, verify

CASES = 300
# Characters that could confuse an encoding (":", "\n", digits, ",", "="), multi-byte UTF-8.
ALPHABET = "abcXYZ019_-/?&=:;,.%~ \n\u00e9\u00fc\u00df\u4e2d\u20ac\U0001f511"
NAMES = (
    ("account", "keygate-account"),
    ("key_id", "keygate-key-id"),
    ("mode", "keygate-mode"),
    ("key_type", "keygate-key-type"),
    ("permissions", "keygate-permissions"),
    ("request_id", "keygate-request-id"),
    ("verified", "keygate-verified"),
)
SIGNED = ("method", "host", "path") + tuple(f for f, _ in NAMES) + ("t",)


def text(rng, lo=0, hi=12):
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(lo, hi)))


def request(rng):
    f = {
        "method": rng.choice(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]),
        "host": rng.choice(["api.internal:8443", "127.0.0.1:8788", "origin.example"]) + text(rng, 0, 3),
        "path": "/" + text(rng, 0, 40),
    }
    for field, _ in NAMES:
        f[field] = text(rng, 1 if field != "permissions" else 0)
    return f


def header_pairs(f, signature):
    pairs = [("Keygate-Signature", signature)]
    pairs += [(name, f[field]) for field, name in NAMES if field != "permissions" or f[field]]
    return pairs


def different(rng, old):
    while True:
        new = text(rng)
        if new != old:
            return new


class Properties(unittest.TestCase):
    def test_sign_then_verify_round_trips(self):
        rng = random.Random(20250101)
        for i in range(CASES):
            f = request(rng)
            t = rng.randint(0, 10**12 - 1)
            secrets = [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64))) for _ in range(rng.randint(1, 3))]
            header = sign(secrets, t, **f)
            accept = rng.choice(secrets)
            with self.subTest(i=i):
                got = verify(header_pairs(f, header), f["method"], f["host"], f["path"], accept, now=t)
                self.assertEqual(
                    (got.account, got.key_id, got.mode, got.key_type, got.permissions, got.request_id, got.verified),
                    tuple(f[k] for k, _ in NAMES),
                )
                self.assertEqual(got.signed_at, t)

    def test_changing_any_signed_part_breaks_the_signature(self):
        rng = random.Random(7)
        seen = set()
        for i in range(CASES):
            f = request(rng)
            t = rng.randint(1000, 10**11)
            secret = text(rng, 1, 40)
            header = sign(secret, t, **f)
            which = SIGNED[i % len(SIGNED)] if i < 2 * len(SIGNED) else rng.choice(SIGNED)
            seen.add(which)
            g = dict(f)
            sent = header
            if which == "t":
                delta = rng.choice([d for d in range(-300, 301) if d])
                sent = header.replace(f"t={t},", f"t={t + delta},", 1)
            elif which == "method":
                g["method"] = rng.choice([m for m in ("GET", "POST", "PUT", "get", "post") if m != f["method"]])
            else:
                g[which] = different(rng, f[which])
            with self.subTest(i=i, changed=which), self.assertRaises(BadSignature):
                verify(header_pairs(g, sent), g["method"], g["host"], g["path"], secret, now=t)
        self.assertEqual(seen, set(SIGNED))

    def test_moving_a_boundary_changes_the_message(self):
        rng = random.Random(11)
        order = ("method", "host", "path", "account", "key_id", "mode", "key_type", "permissions", "request_id", "verified")
        for i in range(CASES):
            f = request(rng)
            k = rng.randrange(len(order) - 1)
            a, b = order[k], order[k + 1]
            if not f[a]:
                f[a] = "x"
            g = dict(f)
            g[a], g[b] = f[a][:-1], f[a][-1] + f[b]
            self.assertEqual("".join(f[x] for x in order), "".join(g[x] for x in order))
            with self.subTest(i=i, boundary=(a, b)):
                self.assertNotEqual(canonical(1, *(f[x] for x in order)), canonical(1, *(g[x] for x in order)))

    def test_parser_only_refuses_as_malformed(self):
        rng = random.Random(3)
        hexsig = "0123456789abcdef" * 4
        parts = [
            "t=1795331173", "t=0", " t=12 ", "v2=" + hexsig, "\tv2=" + hexsig + " ", "v1=zz", "v3=", "k=v",
            "t=", "t=-1", "t=1.0", "v2=abc", "v2=" + hexsig.upper(), "x", "", " ", "=", "\u00e9=\u00e9",
        ]
        accepted = refused = 0
        for _ in range(CASES * 3):
            value = ",".join(rng.choice(parts) for _ in range(rng.randint(1, 6)))
            try:
                t, sigs = parse_header(value)
            except MalformedSignature:
                refused += 1
                continue
            accepted += 1
            self.assertIsInstance(t, int)
            self.assertTrue(sigs and all(len(s) == 32 for s in sigs))
            # Accepted only with exactly one t and at least one v2.
            keys = [p.strip().partition("=")[0] for p in value.split(",")]
            self.assertEqual(keys.count("t"), 1)
            self.assertGreaterEqual(keys.count("v2"), 1)
        self.assertGreater(accepted, 10)
        self.assertGreater(refused, 10)

if __name__ == "__main__":
    unittest.main()
