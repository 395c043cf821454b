"""The shared, language-neutral vectors (crates/keygate-verify/tests/data/signatures.json, made
with Python's hmac by generate.py): the verifier accepts them with one secret, with two, with the
previous one alone where it signed, and refuses what a version 1 signer sent."""

from __future__ import annotations

import unittest

from keygate_verify import BadSignature, Identity, MalformedSignature, Verifier, canonical, sign, verify
from support import fields, headers, vectors


def expected_identity(inputs):
    return Identity(
        account=inputs["account"],
        key_id=inputs["key_id"],
        mode=inputs["mode"],
        key_type=inputs["key_type"],
        permissions=inputs["permissions"],
        request_id=inputs["request_id"],
        verified=inputs["verified"],
        signed_at=inputs["t"],
    )


def check(case, header, secrets, now=None):
    v = case["inputs"]
    return verify(
        headers(v, header), v["method"], v["host"], v["path"], secrets, now=v["t"] if now is None else now
    )


class Vectors(unittest.TestCase):
    def test_canonical_message_of_every_vector(self):
        for case in vectors():
            with self.subTest(case["name"]):
                v = case["inputs"]
                f = fields(v)
                got = canonical(v["t"], *(f[k] for k in f))
                self.assertEqual(got, case["canonical"].encode("utf-8"))

    def test_signer_matches_every_vector(self):
        for case in vectors():
            with self.subTest(case["name"]):
                v = case["inputs"]
                self.assertEqual(sign(case["secret"], v["t"], **fields(v)), case["header"])
                both = [case["secret"], case["previous_secret"]]
                self.assertEqual(sign(both, v["t"], **fields(v)), case["header_with_previous"])

    def test_one_secret(self):
        for case in vectors():
            with self.subTest(case["name"]):
                self.assertEqual(check(case, case["header"], case["secret"]), expected_identity(case["inputs"]))
                # A list of one, and the secret as bytes.
                self.assertEqual(check(case, case["header"], [case["secret"]]).request_id, case["inputs"]["request_id"])
                self.assertEqual(check(case, case["header"], case["secret"].encode()).account, case["inputs"]["account"])

    def test_two_secrets_in_rotation(self):
        for case in vectors():
            with self.subTest(case["name"]):
                both = [case["secret"], case["previous_secret"]]
                want = expected_identity(case["inputs"])
                for header in (case["header"], case["header_with_previous"]):
                    self.assertEqual(check(case, header, both), want)
                    self.assertEqual(check(case, header, tuple(reversed(both))), want)
                self.assertEqual(check(case, case["header_with_previous"], case["secret"]), want)

    def test_previous_secret_alone(self):
        for case in vectors():
            with self.subTest(case["name"]):
                # It signed the rotation header, not the one with the current secret only.
                prev = case["previous_secret"]
                self.assertEqual(check(case, case["header_with_previous"], prev), expected_identity(case["inputs"]))
                with self.assertRaises(BadSignature):
                    check(case, case["header"], [prev])

    def test_v1_only_header_is_refused(self):
        for case in vectors():
            with self.subTest(case["name"]):
                old = case["header_v1_only"]
                self.assertIn(",v1=", old)
                self.assertNotIn("v2=", old)
                both = [case["secret"], case["previous_secret"]]
                with self.assertRaises(MalformedSignature) as ctx:
                    check(case, old, both)
                self.assertEqual(ctx.exception.code, "malformed")
                self.assertEqual(ctx.exception.reason, "no v2 signature")
                # The version 2 signatures relabelled as v1 are refused the same way.
                with self.assertRaises(MalformedSignature) as ctx:
                    check(case, case["header_with_previous"].replace("v2=", "v1="), both)
                self.assertEqual(ctx.exception.reason, "no v2 signature")

    def test_a_vector_does_not_verify_another(self):
        cases = vectors()
        # Case 6 moves one character across the request id / verified boundary of case 0.
        a, b = cases[0], cases[6]
        self.assertEqual(
            a["inputs"]["request_id"] + a["inputs"]["verified"], b["inputs"]["request_id"] + b["inputs"]["verified"]
        )
        with self.assertRaises(BadSignature):
            check(b, a["header"], a["secret"])
        for i, case in enumerate(cases):
            other = cases[(i + 1) % len(cases)]
            with self.subTest(case["name"]), self.assertRaises(BadSignature):
                check(case, other["header"], case["secret"], now=other["inputs"]["t"])

    def test_verifier_object_is_reusable(self):
        verifier = Verifier(["not-this-one", vectors()[0]["secret"]])
        for case in vectors():
            v = case["inputs"]
            with self.subTest(case["name"]):
                got = verifier.verify(headers(v, case["header"]), v["method"], v["host"], v["path"], now=v["t"])
                self.assertEqual(got, expected_identity(v))
        self.assertNotIn("whsec", repr(verifier))


if __name__ == "__main__":
    unittest.main()
