"""Every refusal, with the stable code and the same reason as keygate's Rust verifier, in the
same order of checks: the signature header's shape, then time, then the identity headers, then
the signature itself."""

from __future__ import annotations

import unittest

from keygate_verify import (
    BadSignature,
    FutureSignature,
    MalformedSignature,
    MissingHeader,
    StaleSignature,
    VerifyError,
    parse_header,
    verify,
)
from support import headers, vectors

CASE = vectors()[0]
V = CASE["inputs"]
T = V["t"]
SECRET = CASE["secret"]
SIG = CASE["header"][CASE["header"].index(",v2=") :]  # ",v2=<hex>"
HEX = SIG[4:]


def run(signature=None, drop=(), now=T, **kw):
    h = headers(V, CASE["header"] if signature is None else signature)
    h = [(k, v) for k, v in h if k.lower() not in drop]
    return verify(h, V["method"], V["host"], V["path"], SECRET, now=now, **kw)


class Codes(unittest.TestCase):
    def test_codes_are_stable_strings(self):
        self.assertEqual(MissingHeader("X").code, "missing")
        self.assertEqual(MalformedSignature("x").code, "malformed")
        self.assertEqual(StaleSignature(1).code, "stale")
        self.assertEqual(FutureSignature(1).code, "future")
        self.assertEqual(BadSignature().code, "bad_signature")
        for cls in (MissingHeader, MalformedSignature, StaleSignature, FutureSignature, BadSignature):
            self.assertTrue(issubclass(cls, VerifyError))
            self.assertTrue(issubclass(cls, Exception))


class Missing(unittest.TestCase):
    def test_no_signature_header(self):
        with self.assertRaises(MissingHeader) as ctx:
            verify({}, "GET", "h", "/", SECRET, now=T)
        self.assertEqual(ctx.exception.code, "missing")
        self.assertEqual(ctx.exception.header, "Keygate-Signature")
        self.assertEqual(str(ctx.exception), "missing header Keygate-Signature")

    def test_each_required_identity_header(self):
        for name in (
            "Keygate-Account",
            "Keygate-Key-Id",
            "Keygate-Mode",
            "Keygate-Key-Type",
            "Keygate-Request-Id",
            "Keygate-Verified",
        ):
            with self.subTest(name), self.assertRaises(MissingHeader) as ctx:
                run(drop=(name.lower(),))
            self.assertEqual(ctx.exception.header, name)
            self.assertEqual(ctx.exception.message, f"missing header {name}")

    def test_the_first_missing_header_is_named(self):
        with self.assertRaises(MissingHeader) as ctx:
            run(drop=("keygate-verified", "keygate-mode"))
        self.assertEqual(ctx.exception.header, "Keygate-Mode")

    def test_permissions_are_optional_and_signed(self):
        self.assertEqual(run().permissions, "")
        # Present but empty is the same message as absent.
        h = headers(V, CASE["header"]) + [("Keygate-Permissions", "")]
        self.assertEqual(verify(h, V["method"], V["host"], V["path"], SECRET, now=T).permissions, "")
        restricted = vectors()[2]
        r = restricted["inputs"]
        h = [(k, v) for k, v in headers(r, restricted["header"]) if k != "Keygate-Permissions"]
        with self.assertRaises(BadSignature):
            verify(h, r["method"], r["host"], r["path"], restricted["secret"], now=r["t"])

    def test_an_empty_value_is_present(self):
        # The header is there; its value then fails the signature, not the presence check.
        h = [(k, "" if k == "Keygate-Account" else v) for k, v in headers(V, CASE["header"])]
        with self.assertRaises(BadSignature):
            verify(h, V["method"], V["host"], V["path"], SECRET, now=T)


class Malformed(unittest.TestCase):
    # (header, reason): the cases of the Rust crate's tests, and the edges of each rule.
    CASES = [
        ("", "expected key=value pairs"),
        ("garbage", "expected key=value pairs"),
        (f"t={T}", "no v2 signature"),
        (f"t=,v2={HEX}", "t must be one unix time in seconds"),
        (f"t=-5{SIG}", "t must be one unix time in seconds"),
        (f"t=+5{SIG}", "t must be one unix time in seconds"),
        (f"t=1.5{SIG}", "t must be one unix time in seconds"),
        (f"t={T},t={T}{SIG}", "t must be one unix time in seconds"),
        (f"t=1234567890123{SIG}", "t must be one unix time in seconds"),
        (f"t=\u0661\u0662{SIG}", "t must be one unix time in seconds"),  # Arabic-Indic digits
        (f"t=1_000{SIG}", "t must be one unix time in seconds"),
        (f"t= {T}{SIG}", "t must be one unix time in seconds"),
        (f"t={T},v2=abc", "v2 must be 64 hex digits"),
        (f"t={T},v2={'G' * 64}", "v2 must be 64 hex digits"),
        (f"t={T},v2={'A' * 64}", "v2 must be 64 hex digits"),
        (f"t={T},v2={HEX.upper()}", "v2 must be 64 hex digits"),
        (f"t={T},v2={HEX[:-1]}", "v2 must be 64 hex digits"),
        (f"t={T},v2={HEX}0", "v2 must be 64 hex digits"),
        (f"t={T},v2=", "v2 must be 64 hex digits"),
        (f"t={T},v1={HEX}", "no v2 signature"),
        (f"v2={HEX}", "no t"),
        (f"{CASE['header']},", "expected key=value pairs"),
        (f"t={T},,v2={HEX}", "expected key=value pairs"),
        ("x" * 2000, "too long"),
        (f"t={T}{SIG}," + "v9=" + "z" * 1024, "too long"),
        # U+001C is white space to Python's str.strip(), not to Unicode (nor Rust's trim): the key
        # is then "\x1cv2", an unknown one.
        (f"t={T},\x1cv2={HEX}", "no v2 signature"),
        # The first error in the header wins, as in the Rust parser.
        (f"v2=bad,t={T},t={T}", "v2 must be 64 hex digits"),
        (f"t={T},t={T},v2=bad", "t must be one unix time in seconds"),
    ]

    def test_each_reason(self):
        for header, reason in self.CASES:
            with self.subTest(header=header[:80]):
                with self.assertRaises(MalformedSignature) as ctx:
                    run(header)
                self.assertEqual(ctx.exception.code, "malformed")
                self.assertEqual(ctx.exception.reason, reason)
                self.assertEqual(str(ctx.exception), f"malformed Keygate-Signature: {reason}")
                with self.assertRaises(MalformedSignature):
                    parse_header(header)

    def test_length_limit_is_in_bytes(self):
        pad = 1024 - len(CASE["header"]) - len(",x=")
        self.assertEqual(run(CASE["header"] + ",x=" + "a" * pad).account, V["account"])
        with self.assertRaises(MalformedSignature) as ctx:
            run(CASE["header"] + ",x=" + "a" * (pad + 1))
        self.assertEqual(ctx.exception.reason, "too long")
        # "é" is two bytes: half as many fit.
        with self.assertRaises(MalformedSignature):
            run(CASE["header"] + ",x=" + "\u00e9" * (pad // 2 + 1))
        self.assertEqual(run(CASE["header"] + ",x=" + "\u00e9" * (pad // 2)).account, V["account"])

    def test_accepted_shapes(self):
        accepted = [
            f"{CASE['header']},v1=zzz,v3=zzz",
            f"v1={'0' * 64},{CASE['header']}",
            f"v2={HEX},t={T}",
            f"  t={T} ,\tv2={HEX}  ",
            f"t={T},\u3000v2={HEX}\u00a0",  # Unicode White_Space around a pair is trimmed
            f"t={T},v2={'0' * 64}{SIG}",  # one of several candidates matches
            f"t={T},t ={T + 1}{SIG}",  # "t " is another key
            f"t=00{T}{SIG}",  # leading zeros: 12 digits, the same time
        ]
        for header in accepted:
            with self.subTest(header=header[:80]):
                self.assertEqual(run(header).signed_at, T)

    def test_parse_header(self):
        t, sigs = parse_header(CASE["header_with_previous"])
        self.assertEqual(t, T)
        self.assertEqual(len(sigs), 2)
        self.assertEqual(sigs[0], bytes.fromhex(HEX))
        self.assertEqual(parse_header(CASE["header"].encode()), (T, [bytes.fromhex(HEX)]))

    def test_malformed_comes_before_time(self):
        with self.assertRaises(MalformedSignature):
            run(f"t={T},v2=abc", now=T + 10_000)


class Time(unittest.TestCase):
    def test_stale_and_future_carry_the_distance(self):
        with self.assertRaises(StaleSignature) as ctx:
            run(now=T + 301)
        self.assertEqual((ctx.exception.code, ctx.exception.age), ("stale", 301))
        self.assertEqual(str(ctx.exception), "signature is 301 s old")
        with self.assertRaises(FutureSignature) as ctx:
            run(now=T - 301)
        self.assertEqual((ctx.exception.code, ctx.exception.ahead), ("future", 301))
        self.assertEqual(str(ctx.exception), "signature is 301 s in the future")

    def test_time_comes_before_the_identity_headers(self):
        with self.assertRaises(StaleSignature):
            run(drop=("keygate-account",), now=T + 1000)


class Signature(unittest.TestCase):
    def test_bad_signature(self):
        flipped = CASE["header"][:-1] + ("1" if CASE["header"][-1] == "0" else "0")
        for header, secret in ((flipped, SECRET), (CASE["header"], "another secret")):
            with self.subTest(secret=secret), self.assertRaises(BadSignature) as ctx:
                h = headers(V, header)
                verify(h, V["method"], V["host"], V["path"], secret, now=T)
            self.assertEqual(ctx.exception.code, "bad_signature")
            self.assertEqual(str(ctx.exception), "no signature matches")

    def test_missing_comes_before_the_signature(self):
        with self.assertRaises(MissingHeader):
            run(CASE["header"][:-1] + "0", drop=("keygate-verified",))

    def test_secrets_are_checked(self):
        for bad in ([], (), "", b"", ["ok", ""]):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                verify(headers(V, CASE["header"]), "GET", "h", "/", bad, now=T)
        with self.assertRaises(TypeError):
            verify(headers(V, CASE["header"]), "GET", "h", "/", [42], now=T)  # type: ignore[list-item]


if __name__ == "__main__":
    unittest.main()
