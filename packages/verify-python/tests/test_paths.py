"""Paths: lengths are counted in UTF-8 bytes, and the path is the raw request target."""

from __future__ import annotations

import unittest

from keygate_verify import BadSignature, canonical, sign, verify
from keygate_verify._http import quote_path
from support import fields, headers, vectors

CAFE = vectors()[8]  # "/v1/café?q=ü"
ESCAPED = vectors()[3]  # "/v1/files/f%20x?q=%C3%A9"


def check(case, path, **kw):
    v = case["inputs"]
    return verify(headers(v, case["header"]), v["method"], v["host"], path, case["secret"], now=v["t"], **kw)


class Utf8(unittest.TestCase):
    def test_lengths_are_bytes_not_characters(self):
        v = CAFE["inputs"]
        self.assertEqual(v["path"], "/v1/caf\u00e9?q=\u00fc")
        message = canonical(v["t"], *fields(v).values())
        self.assertIn("14:/v1/caf\u00e9?q=\u00fc\n".encode(), message)
        self.assertEqual(message, CAFE["canonical"].encode())

    def test_a_utf8_path_as_text_or_bytes(self):
        path = CAFE["inputs"]["path"]
        self.assertEqual(check(CAFE, path).account, CAFE["inputs"]["account"])
        self.assertEqual(check(CAFE, path.encode("utf-8")).account, CAFE["inputs"]["account"])
        # The same bytes carried as latin-1 text (PEP 3333 style) are other characters: refused.
        with self.assertRaises(BadSignature):
            check(CAFE, path.encode("utf-8").decode("latin-1"))

    def test_the_escaped_form_is_another_path(self):
        v = CAFE["inputs"]
        escaped = "/v1/caf%C3%A9?q=%C3%BC"
        with self.assertRaises(BadSignature):
            check(CAFE, escaped)
        header = sign(CAFE["secret"], v["t"], **dict(fields(v), path=escaped))
        got = verify(headers(v, header), v["method"], v["host"], escaped, CAFE["secret"], now=v["t"])
        self.assertEqual(got.request_id, v["request_id"])

    def test_percent_escapes_are_compared_as_sent(self):
        v = ESCAPED["inputs"]
        self.assertEqual(check(ESCAPED, v["path"]).mode, "test")
        for other in ("/v1/files/f x?q=%C3%A9", "/v1/files/f%20x?q=\u00e9", "/v1/files/f%20x?q=%c3%a9", "/v1/files/f%20x"):
            with self.subTest(other), self.assertRaises(BadSignature):
                check(ESCAPED, other)

    def test_non_ascii_identity_values(self):
        f = dict(fields(CAFE["inputs"]), account="acct_\u00e9\u4e2d", verified="do")
        header = sign("k", 100, **f)
        h = [
            ("keygate-signature", header),
            ("keygate-account", f["account"].encode("utf-8")),  # bytes from the wire
            ("keygate-key-id", f["key_id"]),
            ("keygate-mode", f["mode"]),
            ("keygate-key-type", f["key_type"]),
            ("keygate-request-id", f["request_id"]),
            ("keygate-verified", f["verified"]),
        ]
        self.assertEqual(verify(h, f["method"], f["host"], f["path"], "k", now=100).account, "acct_\u00e9\u4e2d")


class FallbackQuoting(unittest.TestCase):
    """When a server gives only the decoded path, it is re-encoded as keygate's platform
    encodes one."""

    def test_quote_path(self):
        self.assertEqual(quote_path(b"/v1/files/f x"), b"/v1/files/f%20x")
        self.assertEqual(quote_path("/v1/caf\u00e9".encode()), b"/v1/caf%C3%A9")
        self.assertEqual(quote_path(b'/a"b<c>d`e{f}g#h?i'), b"/a%22b%3Cc%3Ed%60e%7Bf%7Dg%23h%3Fi")
        self.assertEqual(quote_path(b"/\x00\x1f\x7f"), b"/%00%1F%7F")
        # Kept as they are: what the platform leaves, and "%".
        kept = b"/AZaz09-._~!$&'()*+,;=:@[]|^\\%"
        self.assertEqual(quote_path(kept), kept)


if __name__ == "__main__":
    unittest.main()
