"""examples/echo_origin.py, the verifying echo origin the end-to-end suite can run: started as a
process, spoken to over HTTP on loopback."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from keygate_verify import sign, verify
from support import PACKAGE_DIR

SCRIPT = os.path.join(PACKAGE_DIR, "examples", "echo_origin.py")
CURRENT, PREVIOUS = "sig_current_0123456789", "sig_previous_9876543210"


class EchoOrigin(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        secrets_file = os.path.join(cls.tmp.name, "secrets")
        with open(secrets_file, "w", encoding="utf-8") as f:
            f.write(f"{CURRENT}\n\n  {PREVIOUS}  \n")
        cls.proc = subprocess.Popen(
            [sys.executable, SCRIPT, "--port", "0", "--name", "test", "--secrets-file", secrets_file],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cls.tmp.name,
        )
        line = []
        reader = threading.Thread(target=lambda: line.append(cls.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(10)
        if not line or not line[0].startswith("listening "):
            cls.proc.kill()
            raise RuntimeError(f"echo origin did not start: {line!r} {cls.proc.stderr.read()}")
        cls.port = int(line[0].split()[1])
        cls.host = f"127.0.0.1:{cls.port}"

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        try:
            cls.proc.wait(5)
        except subprocess.TimeoutExpired:
            cls.proc.kill()
            cls.proc.wait()
        cls.proc.stdout.close()
        cls.proc.stderr.close()
        cls.tmp.cleanup()

    def identity_headers(self, method, path, secret=CURRENT, request_id="req_echo1", permissions=""):
        f = dict(
            method=method,
            host=self.host,
            path=path,
            account="acct_42",
            key_id="key_42",
            mode="test",
            key_type="restricted" if permissions else "secret",
            permissions=permissions,
            request_id=request_id,
            verified="kv;max-staleness=120",
        )
        h = [
            ("Keygate-Account", f["account"]),
            ("Keygate-Key-Id", f["key_id"]),
            ("Keygate-Mode", f["mode"]),
            ("Keygate-Key-Type", f["key_type"]),
            ("Keygate-Request-Id", f["request_id"]),
            ("Keygate-Verified", f["verified"]),
        ]
        if permissions:
            h.append(("Keygate-Permissions", permissions))
        return [("Keygate-Signature", sign(secret, int(time.time()), **f))] + h

    def send(self, method, path, pairs, body=None, chunked=False):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", self.host)
            for k, v in pairs:
                conn.putheader(k, v)
            if chunked:
                conn.putheader("Transfer-Encoding", "chunked")
                conn.endheaders()
                for piece in body:
                    conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
                conn.send(b"0\r\n\r\n")
            elif body is not None:
                conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
            else:
                conn.endheaders()
            r = conn.getresponse()
            return r.status, r.getheaders(), r.read()
        finally:
            conn.close()

    def test_a_verified_request_is_echoed(self):
        path = "/v1/files/f%20x?q=%C3%A9&limit=3"
        pairs = self.identity_headers("POST", path, permissions="charges=read") + [("X-Dup", "a"), ("x-dup", "b")]
        status, response_headers, body = self.send("POST", path, pairs, body='{"amount":1}'.encode())
        self.assertEqual(status, 200)
        seen = json.loads(body)
        self.assertEqual(
            list(seen),
            ["origin", "method", "path", "query", "headers", "raw_header_names", "body", "verified_by", "identity"],
        )
        self.assertEqual(seen["origin"], "test")
        self.assertEqual(seen["method"], "POST")
        self.assertEqual(seen["path"], "/v1/files/f%20x")
        self.assertEqual(seen["query"], "q=%C3%A9&limit=3")
        self.assertEqual(seen["body"], '{"amount":1}')
        self.assertEqual(seen["verified_by"], "python")
        self.assertEqual(seen["headers"]["x-dup"], "a, b")
        self.assertEqual(seen["headers"]["host"], self.host)
        self.assertEqual(seen["headers"]["keygate-account"], "acct_42")
        self.assertIn("Keygate-Signature", seen["raw_header_names"])
        self.assertIn("x-dup", seen["raw_header_names"])
        self.assertEqual(
            seen["identity"],
            {
                "account": "acct_42",
                "key_id": "key_42",
                "mode": "test",
                "key_type": "restricted",
                "permissions": "charges=read",
                "request_id": "req_echo1",
                "verified": "kv;max-staleness=120",
                "signed_at": seen["identity"]["signed_at"],
            },
        )
        # What the echo shows is enough to verify the request again, as the e2e suite does.
        again = verify(seen["headers"], seen["method"], seen["headers"]["host"], f"{seen['path']}?{seen['query']}", CURRENT)
        self.assertEqual(again.request_id, "req_echo1")
        names = [k.lower() for k, _ in response_headers]
        self.assertEqual(names.count("set-cookie"), 2)
        self.assertIn(("X-Echo-Origin", "test"), response_headers)
        self.assertIn(("Access-Control-Allow-Origin", "*"), response_headers)

    def test_the_previous_secret_is_accepted(self):
        status, _, body = self.send("GET", "/v1/x", self.identity_headers("GET", "/v1/x", secret=PREVIOUS))
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["identity"]["account"], "acct_42")

    def test_refused_requests_get_401(self):
        spoof = [("Keygate-Account", "acct_admin"), ("Keygate-Mode", "live")]
        status, response_headers, body = self.send("GET", "/v1/charges", spoof)
        self.assertEqual(status, 401)
        self.assertIn(("Content-Type", "application/json"), response_headers)
        self.assertEqual(
            json.loads(body),
            {"error": {"type": "authentication_error", "code": "missing", "message": "missing header Keygate-Signature"}},
        )
        # Signed for another path, another secret, another method.
        for method, path, signed_path, secret in (
            ("GET", "/v1/charges", "/v1/refunds", CURRENT),
            ("GET", "/v1/charges", "/v1/charges", "not-a-secret"),
            ("DELETE", "/v1/charges", "/v1/charges", CURRENT),
        ):
            with self.subTest(method=method, signed_path=signed_path, secret=secret):
                status, _, body = self.send(method, path, self.identity_headers("GET", signed_path, secret=secret))
                self.assertEqual(status, 401)
                self.assertEqual(json.loads(body)["error"]["code"], "bad_signature")

    def test_a_refused_request_with_a_body(self):
        # The body is read before the 401, so the answer arrives instead of a connection reset.
        status, _, body = self.send("POST", "/v1/charges", [("Keygate-Account", "acct_1")], body=b"x" * 1_000_000)
        self.assertEqual(status, 401)
        self.assertEqual(json.loads(body)["error"]["code"], "missing")

    def test_head(self):
        # Read the raw answer: http.client would hide a body sent by mistake.
        lines = [f"HEAD /v1/x HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{k}: {v}" for k, v in self.identity_headers("HEAD", "/v1/x")]
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            answer = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        head, _, rest = answer.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.0 200 "), head)
        self.assertIn(b"Content-Type: application/json", head)
        self.assertEqual(rest, b"")

    def test_chunked_body_and_redirect(self):
        pairs = self.identity_headers("PUT", "/v1/upload")
        status, _, body = self.send("PUT", "/v1/upload", pairs, body=[b"hello, ", b"w\xc3\xb6rld"], chunked=True)
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["body"], "hello, w\u00f6rld")
        status, response_headers, _ = self.send("GET", "/v1/redirect", self.identity_headers("GET", "/v1/redirect"))
        self.assertEqual(status, 302)
        self.assertIn(("Location", "https://elsewhere.example/landing"), response_headers)

    def test_concurrent_requests(self):
        results = []

        def one(i):
            path = f"/v1/items/{i}?n={i}"
            status, _, body = self.send("GET", path, self.identity_headers("GET", path, request_id=f"req_{i}"))
            results.append((status, json.loads(body)["identity"]["request_id"] if status == 200 else None, i))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        self.assertEqual(sorted(results, key=lambda r: r[2]), [(200, f"req_{i}", i) for i in range(24)])


if __name__ == "__main__":
    unittest.main()
