"""The ASGI middleware, driven directly with scopes and message lists (no server)."""

from __future__ import annotations

import asyncio
import json
import time
import unittest
import urllib.parse

from keygate_verify import Identity, KeygateASGIMiddleware, sign
from keygate_verify.asgi import request_target
from support import fields, headers, vectors

CASES = vectors()
WHENEVER = 10**12


def make_scope(inputs, signature, raw_path=True, extra_headers=(), state=None):
    path, _, query = inputs["path"].partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": inputs["method"],
        "scheme": "http",
        "path": urllib.parse.unquote(path),
        "query_string": query.encode("utf-8"),
        "root_path": "",
        "headers": [(b"host", inputs["host"].encode())],
    }
    if raw_path:
        scope["raw_path"] = path.encode("utf-8")
    if signature is not None:
        scope["headers"] += [(k.lower().encode(), v.encode("utf-8")) for k, v in headers(inputs, signature)]
    scope["headers"] += [(k.encode(), v.encode()) for k, v in extra_headers]
    if state is not None:
        scope["state"] = state
    return scope


def fresh(case):
    v = dict(case["inputs"], t=int(time.time()))
    return v, sign(case["secret"], v["t"], **fields(v))


class Recorder:
    def __init__(self):
        self.scope = None

    async def __call__(self, scope, receive, send):
        self.scope = scope
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"reached the app"})


def call(app, scope):
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def names(scope):
    return [k.decode("latin-1") for k, _ in scope["headers"]]


class Verified(unittest.TestCase):
    def test_every_vector_reaches_the_app_with_its_identity(self):
        for case in CASES:
            with self.subTest(case["name"]):
                app = Recorder()
                mw = KeygateASGIMiddleware(app, [case["secret"], case["previous_secret"]], tolerance=WHENEVER)
                sent = call(mw, make_scope(case["inputs"], case["header_with_previous"]))
                self.assertEqual(sent[0]["status"], 200)
                identity = app.scope["state"]["keygate_identity"]
                self.assertIsInstance(identity, Identity)
                self.assertIs(app.scope["keygate.identity"], identity)
                self.assertEqual(identity.request_id, case["inputs"]["request_id"])
                self.assertEqual(identity.verified, case["inputs"]["verified"])

    def test_state_is_created_or_kept(self):
        v, header = fresh(CASES[0])
        app = Recorder()
        call(KeygateASGIMiddleware(app, CASES[0]["secret"]), make_scope(v, header))
        self.assertEqual(app.scope["state"]["keygate_identity"].account, v["account"])
        state = {"db": "pool"}
        app = Recorder()
        call(KeygateASGIMiddleware(app, CASES[0]["secret"]), make_scope(v, header, state=state))
        self.assertIs(app.scope["state"], state)
        self.assertEqual(state["db"], "pool")
        self.assertEqual(state["keygate_identity"].account, v["account"])

    def test_unsigned_keygate_named_headers_are_removed(self):
        v, header = fresh(CASES[2])
        extra = [("keygate-admin", "1"), ("x-keygate-account", "acct_evil"), ("Keygate_Mode", "test"), ("x-other", "kept")]
        app = Recorder()
        call(KeygateASGIMiddleware(app, CASES[2]["secret"]), make_scope(v, header, extra_headers=extra))
        got = names(app.scope)
        self.assertNotIn("keygate-admin", got)
        self.assertNotIn("x-keygate-account", got)
        self.assertNotIn("Keygate_Mode", got)
        self.assertIn("x-other", got)
        self.assertIn("keygate-account", got)
        self.assertIn("keygate-permissions", got)

    def test_raw_path_and_its_fallback(self):
        case = CASES[3]  # "/v1/files/f%20x?q=%C3%A9"
        scope = make_scope(case["inputs"], case["header"])
        self.assertEqual(scope["path"], "/v1/files/f x")
        self.assertEqual(request_target(scope), b"/v1/files/f%20x?q=%C3%A9")
        del scope["raw_path"]
        self.assertEqual(request_target(scope), b"/v1/files/f%20x?q=%C3%A9")
        scope["raw_path"] = None
        self.assertEqual(request_target(scope), b"/v1/files/f%20x?q=%C3%A9")
        app = Recorder()
        sent = call(KeygateASGIMiddleware(app, case["secret"], tolerance=WHENEVER), scope)
        self.assertEqual(sent[0]["status"], 200)
        # A server that left the query in raw_path.
        scope = make_scope(case["inputs"], case["header"])
        scope["raw_path"] = case["inputs"]["path"].encode()
        self.assertEqual(request_target(scope), b"/v1/files/f%20x?q=%C3%A9")
        # No query.
        scope = make_scope(CASES[1]["inputs"], CASES[1]["header"])
        self.assertEqual(request_target(scope), b"/")

    def test_utf8_path(self):
        case = CASES[8]
        app = Recorder()
        sent = call(KeygateASGIMiddleware(app, case["secret"], tolerance=WHENEVER), make_scope(case["inputs"], case["header"]))
        self.assertEqual(sent[0]["status"], 200)
        # The fallback on a decoded non-ASCII path encodes it, which is another path: refused.
        scope = make_scope(case["inputs"], case["header"], raw_path=False)
        sent = call(KeygateASGIMiddleware(Recorder(), case["secret"], tolerance=WHENEVER), scope)
        self.assertEqual(sent[0]["status"], 401)


class Refused(unittest.TestCase):
    def refused(self, scope, code, secret=None, **kw):
        app = Recorder()
        sent = call(KeygateASGIMiddleware(app, secret or CASES[0]["secret"], **kw), scope)
        self.assertIsNone(app.scope, "the app must not be called")
        self.assertEqual(len(sent), 2)
        start, body = sent
        self.assertEqual(start["type"], "http.response.start")
        self.assertEqual(start["status"], 401)
        response_headers = dict(start["headers"])
        self.assertEqual(response_headers[b"content-type"], b"application/json")
        self.assertEqual(response_headers[b"content-length"], str(len(body["body"])).encode())
        self.assertEqual(body["type"], "http.response.body")
        self.assertFalse(body.get("more_body", False))
        doc = json.loads(body["body"])
        self.assertEqual(doc["error"]["type"], "authentication_error")
        self.assertEqual(doc["error"]["code"], code)
        self.assertNotIn("keygate.identity", scope)
        self.assertFalse([n for n in names(scope) if "keygate" in n.lower()])
        return doc["error"]

    def test_no_signature_and_spoofed_identity(self):
        spoof = [("keygate-account", "acct_admin"), ("Keygate-Mode", "live"), ("x-keygate-verified", "do")]
        err = self.refused(make_scope(CASES[0]["inputs"], None, extra_headers=spoof), "missing")
        self.assertEqual(err["message"], "missing header Keygate-Signature")

    def test_a_valid_signature_with_a_changed_identity(self):
        v, header = fresh(CASES[0])
        for name in ("keygate-account", "keygate-key-id", "keygate-mode", "keygate-key-type", "keygate-request-id", "keygate-verified"):
            with self.subTest(name):
                scope = make_scope(v, header)
                scope["headers"] = [(k, b"changed" if k == name.encode() else val) for k, val in scope["headers"]]
                self.refused(scope, "bad_signature")
        for key, value in (("method", "DELETE"), ("raw_path", b"/v1/admin"), ("query_string", b"limit=4")):
            with self.subTest(key):
                scope = make_scope(v, header)
                scope[key] = value
                self.refused(scope, "bad_signature")
        scope = make_scope(v, header)
        scope["headers"] = [(k, b"evil.example" if k == b"host" else val) for k, val in scope["headers"]]
        self.refused(scope, "bad_signature")

    def test_malformed_stale_future_wrong_secret(self):
        v = CASES[0]["inputs"]
        self.refused(make_scope(v, CASES[0]["header_v1_only"]), "malformed")
        self.refused(make_scope(v, CASES[0]["header"]), "stale")
        later = dict(v, t=int(time.time()) + 600)
        self.refused(make_scope(later, sign(CASES[0]["secret"], later["t"], **fields(later))), "future")
        now, header = fresh(CASES[0])
        self.refused(make_scope(now, header), "bad_signature", secret="another")


class PassThrough(unittest.TestCase):
    def test_lifespan_and_websocket_scopes_are_untouched(self):
        for scope in (
            {"type": "lifespan", "asgi": {"version": "3.0"}},
            {"type": "websocket", "path": "/ws", "headers": [(b"keygate-account", b"acct_1")], "query_string": b""},
        ):
            with self.subTest(scope["type"]):
                before = dict(scope)
                app = Recorder()
                call(KeygateASGIMiddleware(app, "secret"), scope)
                self.assertIs(app.scope, scope)
                self.assertEqual(scope, before)


if __name__ == "__main__":
    unittest.main()
