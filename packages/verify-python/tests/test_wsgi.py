"""The WSGI middleware, driven directly with environ dicts (no server)."""

from __future__ import annotations

import io
import json
import time
import unittest
import urllib.parse

from keygate_verify import Identity, KeygateWSGIMiddleware, sign
from keygate_verify.wsgi import request_target
from support import environ_key, fields, headers, vectors

CASES = vectors()
WHENEVER = 10**12  # a tolerance that accepts the vectors' fixed times


def latin1(text):
    """How PEP 3333 carries the bytes of `text` (UTF-8 on the wire)."""
    return text.encode("utf-8").decode("latin-1")


def make_environ(inputs, signature, raw_key="RAW_URI", extra=None):
    path, _, query = inputs["path"].partition("?")
    env = {
        "REQUEST_METHOD": inputs["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": urllib.parse.unquote(latin1(path), "latin-1"),
        "QUERY_STRING": latin1(query),
        "SERVER_NAME": "origin",
        "SERVER_PORT": "8443",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": inputs["host"],
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
    }
    if raw_key:
        env[raw_key] = latin1(inputs["path"])
    if signature is not None:
        for name, value in headers(inputs, signature):
            env[environ_key(name)] = latin1(value)
    env.update(extra or {})
    return env


def fresh(case, **changes):
    """The case's inputs signed now, with its secret."""
    v = dict(case["inputs"], t=int(time.time()))
    v.update(changes)
    return v, sign(case["secret"], v["t"], **fields(v))


class Recorder:
    def __init__(self):
        self.environ = None

    def __call__(self, environ, start_response):
        self.environ = environ
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"reached the app"]


def call(app, environ):
    seen = {}

    def start_response(status, response_headers, exc_info=None):
        seen["status"], seen["headers"] = status, response_headers

    body = b"".join(app(environ, start_response))
    return seen["status"], dict(seen["headers"]), body


class Verified(unittest.TestCase):
    def test_every_vector_reaches_the_app_with_its_identity(self):
        for case in CASES:
            with self.subTest(case["name"]):
                app = Recorder()
                mw = KeygateWSGIMiddleware(app, [case["secret"], case["previous_secret"]], tolerance=WHENEVER)
                env = make_environ(case["inputs"], case["header_with_previous"])
                status, _, body = call(mw, env)
                self.assertEqual((status, body), ("200 OK", b"reached the app"))
                identity = app.environ["keygate.identity"]
                self.assertIsInstance(identity, Identity)
                self.assertEqual(identity.account, case["inputs"]["account"])
                self.assertEqual(identity.permissions, case["inputs"]["permissions"])
                self.assertEqual(identity.signed_at, case["inputs"]["t"])

    def test_signed_now_with_the_default_tolerance(self):
        v, header = fresh(CASES[2])
        app = Recorder()
        status, _, _ = call(KeygateWSGIMiddleware(app, CASES[2]["secret"]), make_environ(v, header))
        self.assertEqual(status, "200 OK")
        self.assertEqual(app.environ["keygate.identity"].request_id, v["request_id"])
        # The signed headers stay for the app to read.
        self.assertEqual(app.environ["HTTP_KEYGATE_ACCOUNT"], v["account"])
        self.assertEqual(app.environ["HTTP_KEYGATE_SIGNATURE"], header)

    def test_unsigned_keygate_named_headers_are_removed(self):
        v, header = fresh(CASES[0])
        extra = {"HTTP_KEYGATE_ADMIN": "1", "HTTP_X_KEYGATE_ACCOUNT": "acct_evil", "HTTP_X_OTHER": "kept"}
        app = Recorder()
        status, _, _ = call(KeygateWSGIMiddleware(app, CASES[0]["secret"]), make_environ(v, header, extra=extra))
        self.assertEqual(status, "200 OK")
        self.assertNotIn("HTTP_KEYGATE_ADMIN", app.environ)
        self.assertNotIn("HTTP_X_KEYGATE_ACCOUNT", app.environ)
        self.assertEqual(app.environ["HTTP_X_OTHER"], "kept")
        self.assertEqual(app.environ["HTTP_KEYGATE_ACCOUNT"], v["account"])

    def test_request_uri_and_raw_uri(self):
        case = CASES[3]  # "/v1/files/f%20x?q=%C3%A9"
        for key in ("RAW_URI", "REQUEST_URI"):
            with self.subTest(key):
                app = Recorder()
                mw = KeygateWSGIMiddleware(app, case["secret"], tolerance=WHENEVER)
                status, _, _ = call(mw, make_environ(case["inputs"], case["header"], raw_key=key))
                self.assertEqual(status, "200 OK")

    def test_the_raw_target_is_preferred_over_path_info(self):
        case = CASES[3]
        env = make_environ(case["inputs"], case["header"])
        self.assertEqual(env["PATH_INFO"], "/v1/files/f x")
        self.assertEqual(request_target(env), b"/v1/files/f%20x?q=%C3%A9")
        env["RAW_URI"] = "/v1/files/f%20y?q=%C3%A9"
        status, _, body = call(KeygateWSGIMiddleware(Recorder(), case["secret"], tolerance=WHENEVER), env)
        self.assertEqual(status, "401 Unauthorized")
        self.assertEqual(json.loads(body)["error"]["code"], "bad_signature")

    def test_fallback_without_a_raw_target(self):
        for case, script_name in ((CASES[0], ""), (CASES[0], "/v1"), (CASES[3], ""), (CASES[1], "")):
            with self.subTest(case["name"], script_name=script_name):
                env = make_environ(case["inputs"], case["header"], raw_key=None)
                if script_name:
                    env["SCRIPT_NAME"], env["PATH_INFO"] = script_name, env["PATH_INFO"][len(script_name) :]
                self.assertEqual(request_target(env), case["inputs"]["path"].encode())
                status, _, _ = call(KeygateWSGIMiddleware(Recorder(), case["secret"], tolerance=WHENEVER), env)
                self.assertEqual(status, "200 OK")

    def test_utf8_path_through_the_raw_target(self):
        case = CASES[8]
        env = make_environ(case["inputs"], case["header"])
        self.assertEqual(env["RAW_URI"], "/v1/caf\u00c3\u00a9?q=\u00c3\u00bc")  # latin-1 text of UTF-8 bytes
        app = Recorder()
        status, _, _ = call(KeygateWSGIMiddleware(app, case["secret"], tolerance=WHENEVER), env)
        self.assertEqual(status, "200 OK")
        self.assertEqual(app.environ["keygate.identity"].account, case["inputs"]["account"])


class Refused(unittest.TestCase):
    def refused(self, env, secret=None, code=None, **kw):
        app = Recorder()
        mw = KeygateWSGIMiddleware(app, secret or CASES[0]["secret"], **kw)
        status, response_headers, body = call(mw, env)
        self.assertEqual(status, "401 Unauthorized")
        self.assertIsNone(app.environ, "the app must not be called")
        self.assertEqual(response_headers["Content-Type"], "application/json")
        self.assertEqual(response_headers["Content-Length"], str(len(body)))
        self.assertEqual(response_headers["Cache-Control"], "no-store")
        doc = json.loads(body)
        self.assertEqual(set(doc), {"error"})
        self.assertEqual(set(doc["error"]), {"type", "code", "message"})
        self.assertEqual(doc["error"]["type"], "authentication_error")
        if code:
            self.assertEqual(doc["error"]["code"], code)
        self.assertNotIn("keygate.identity", env)
        return doc["error"]

    def test_no_signature(self):
        err = self.refused(make_environ(CASES[0]["inputs"], None), code="missing")
        self.assertEqual(err["message"], "missing header Keygate-Signature")

    def test_identity_headers_are_not_trusted_before_verification(self):
        v = CASES[0]["inputs"]
        spoof = {
            "HTTP_KEYGATE_ACCOUNT": "acct_admin",
            "HTTP_KEYGATE_KEY_TYPE": "secret",
            "HTTP_KEYGATE_MODE": "live",
            "HTTP_X_KEYGATE_VERIFIED": "do",
        }
        env = make_environ(v, None, extra=spoof)
        self.refused(env, code="missing")
        # Every keygate-named header is gone from the environ.
        self.assertFalse([k for k in env if "KEYGATE" in k])

    def test_a_valid_signature_with_a_changed_identity(self):
        v, header = fresh(CASES[0])
        for key, value in (
            ("HTTP_KEYGATE_ACCOUNT", "acct_admin"),
            ("HTTP_KEYGATE_MODE", "test"),
            ("HTTP_KEYGATE_KEY_TYPE", "restricted"),
            ("HTTP_KEYGATE_PERMISSIONS", "charges=write"),
            ("HTTP_KEYGATE_REQUEST_ID", "req_other"),
            ("HTTP_KEYGATE_VERIFIED", "do"),
            ("HTTP_HOST", "evil.example"),
            ("REQUEST_METHOD", "DELETE"),
            ("RAW_URI", "/v1/admin"),
        ):
            with self.subTest(key):
                env = make_environ(v, header, extra={key: value})
                self.refused(env, code="bad_signature")
                self.assertFalse([k for k in env if "KEYGATE" in k])

    def test_malformed_stale_future(self):
        v = CASES[0]["inputs"]
        err = self.refused(make_environ(v, CASES[0]["header_v1_only"]), code="malformed")
        self.assertEqual(err["message"], "malformed Keygate-Signature: no v2 signature")
        self.refused(make_environ(v, CASES[0]["header"]), code="stale")  # the vector's time is past
        later, header = fresh(CASES[0])
        later["t"] += 600
        header = sign(CASES[0]["secret"], later["t"], **fields(later))
        self.refused(make_environ(later, header), code="future")
        # Within a tolerance given to the middleware.
        self.refused(make_environ(later, header), code="future", tolerance=599)
        app = Recorder()
        status, _, _ = call(KeygateWSGIMiddleware(app, CASES[0]["secret"], tolerance=601), make_environ(later, header))
        self.assertEqual(status, "200 OK")

    def test_wrong_secret(self):
        v, header = fresh(CASES[0])
        self.refused(make_environ(v, header), secret="not the secret", code="bad_signature")


if __name__ == "__main__":
    unittest.main()
