"""The tolerance between the signed time and the verifier's clock, at its edges, both ways."""

from __future__ import annotations

import time
import unittest

from keygate_verify import DEFAULT_TOLERANCE, FutureSignature, StaleSignature, sign, verify
from support import fields, headers, vectors

CASE = vectors()[0]
V = CASE["inputs"]
T = V["t"]


def at(now, **kw):
    return verify(headers(V, CASE["header"]), V["method"], V["host"], V["path"], CASE["secret"], now=now, **kw)


class Tolerance(unittest.TestCase):
    def test_default_is_300_seconds(self):
        self.assertEqual(DEFAULT_TOLERANCE, 300)

    def test_edges_of_the_default_window(self):
        for now in (T - 300, T - 299, T, T + 299, T + 300):
            with self.subTest(now=now - T):
                self.assertEqual(at(now).signed_at, T)
        with self.assertRaises(StaleSignature) as ctx:
            at(T + 301)
        self.assertEqual(ctx.exception.age, 301)
        with self.assertRaises(FutureSignature) as ctx:
            at(T - 301)
        self.assertEqual(ctx.exception.ahead, 301)

    def test_a_custom_tolerance(self):
        self.assertEqual(at(T + 5, tolerance=5).signed_at, T)
        self.assertEqual(at(T - 5, tolerance=5).signed_at, T)
        with self.assertRaises(StaleSignature) as ctx:
            at(T + 6, tolerance=5)
        self.assertEqual(ctx.exception.age, 6)
        with self.assertRaises(FutureSignature) as ctx:
            at(T - 6, tolerance=5)
        self.assertEqual(ctx.exception.ahead, 6)
        # Zero: only the same second.
        self.assertEqual(at(T, tolerance=0).signed_at, T)
        with self.assertRaises(StaleSignature):
            at(T + 1, tolerance=0)
        with self.assertRaises(FutureSignature):
            at(T - 1, tolerance=0)
        # A longer one.
        self.assertEqual(at(T + 3600, tolerance=3600).signed_at, T)

    def test_fractional_clock_counts_whole_seconds(self):
        self.assertEqual(at(T + 300.99).signed_at, T)
        with self.assertRaises(StaleSignature):
            at(T + 301.0)
        # T - 300.5 is more than 300 s before T.
        with self.assertRaises(FutureSignature):
            at(T - 300.5)
        self.assertEqual(at(T - 299.5).signed_at, T)

class Clock(unittest.TestCase):
    def test_now_defaults_to_the_clock(self):
        t = int(time.time())
        f = fields(V)
        header = sign(CASE["secret"], t, **f)
        h = headers(V, header)
        self.assertEqual(verify(h, V["method"], V["host"], V["path"], CASE["secret"]).signed_at, t)
        old = sign(CASE["secret"], t - 1000, **f)
        with self.assertRaises(StaleSignature):
            verify(headers(V, old), V["method"], V["host"], V["path"], CASE["secret"])


if __name__ == "__main__":
    unittest.main()
