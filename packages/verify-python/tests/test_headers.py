"""Header lookup: names in any case, in any of the shapes frameworks hand headers over in."""

from __future__ import annotations

import email.message
import http.client
import io
import unittest
from collections import OrderedDict

from keygate_verify import BadSignature, MalformedSignature, MissingHeader, verify
from support import headers, vectors

CASE = vectors()[2]  # a restricted key: every identity header, permissions included
V = CASE["inputs"]
T = V["t"]
PAIRS = headers(V, CASE["header"])


def check(h):
    return verify(h, V["method"], V["host"], V["path"], CASE["secret"], now=T)


class CaseInsensitive(unittest.TestCase):
    def test_any_case_of_the_names(self):
        for transform in (str.lower, str.upper, str.title, lambda s: s.swapcase()):
            with self.subTest(transform=transform):
                got = check({transform(k): v for k, v in PAIRS})
                self.assertEqual(got.permissions, V["permissions"])
                self.assertEqual(got.request_id, V["request_id"])

    def test_mixed_case_in_one_request(self):
        mixed = [(k.upper() if i % 2 else k.lower(), v) for i, (k, v) in enumerate(PAIRS)]
        self.assertEqual(check(mixed).account, V["account"])


class Shapes(unittest.TestCase):
    def test_dict_and_pairs(self):
        self.assertEqual(check(dict(PAIRS)).account, V["account"])
        self.assertEqual(check(OrderedDict(PAIRS)).account, V["account"])
        self.assertEqual(check(PAIRS).account, V["account"])
        self.assertEqual(check(tuple(PAIRS)).account, V["account"])
        self.assertEqual(check(iter(PAIRS)).account, V["account"])

    def test_bytes_names_and_values_as_in_asgi(self):
        raw = [(k.lower().encode(), v.encode()) for k, v in PAIRS]
        self.assertEqual(check(raw).account, V["account"])
        self.assertEqual(check(dict(raw)).verified, V["verified"])

    def test_email_message_and_http_client(self):
        msg = email.message.Message()
        for k, v in PAIRS:
            msg[k] = v
        self.assertEqual(check(msg).account, V["account"])
        wire = "".join(f"{k}: {v}\r\n" for k, v in PAIRS).encode() + b"\r\n"
        parsed = http.client.parse_headers(io.BytesIO(wire))
        self.assertEqual(check(parsed).key_id, V["key_id"])

    def test_list_values(self):
        h = {k: [v] for k, v in PAIRS}
        self.assertEqual(check(h).account, V["account"])

    def test_none_is_absent(self):
        h = dict(PAIRS)
        h["Keygate-Account"] = None
        with self.assertRaises(MissingHeader) as ctx:
            check(h)
        self.assertEqual(ctx.exception.header, "Keygate-Account")

    def test_other_value_types_are_refused(self):
        h = dict(PAIRS)
        h["Keygate-Account"] = 42
        with self.assertRaises(TypeError):
            check(h)

    def test_unrelated_headers_are_not_read(self):
        h = PAIRS + [("X-Anything", 42), ("Content-Length", 10)]
        self.assertEqual(check(h).account, V["account"])


class Repeated(unittest.TestCase):
    """A repeated header is combined as HTTP combines it (", "), so a second value added to a
    signed request breaks it instead of being picked over the signed one."""

    def test_repeated_identity_header_fails(self):
        for name in ("Keygate-Account", "keygate-mode", "KEYGATE-REQUEST-ID", "Keygate-Permissions"):
            with self.subTest(name), self.assertRaises(BadSignature):
                check(PAIRS + [(name, "acct_other")])

    def test_repeated_signature_header_is_malformed(self):
        with self.assertRaises(MalformedSignature) as ctx:
            check(PAIRS + [("keygate-signature", CASE["header"])])
        self.assertEqual(ctx.exception.reason, "t must be one unix time in seconds")

    def test_a_repeated_value_that_is_the_same_still_fails(self):
        # Two copies of the signed value are not the signed value.
        with self.assertRaises(BadSignature):
            check(PAIRS + [("Keygate-Verified", V["verified"])])


if __name__ == "__main__":
    unittest.main()
