#!/usr/bin/env python3
"""An echo origin that verifies keygate's signature: standard library only (wsgiref).

    python3 echo_origin.py --port 8790 --name test --secrets-file secrets.txt

It serves HTTP on 127.0.0.1 (``--host`` to change), behind :class:`KeygateWSGIMiddleware`
with the secrets of ``--secrets-file`` (one a line, the current first; blank lines and the
white space around a secret are ignored). It prints ``listening <port>`` on stdout once it
accepts connections (``--port 0``: a free port, the one printed).

A verified request is answered like keygate's Node echo origin (``scripts/echo-origin.mjs``):
JSON with ``origin``, ``method``, ``path``, ``query``, ``headers`` (lower-case names, a
repeated header's values joined with ``", "``), ``raw_header_names`` and ``body``, plus
``"verified_by": "python"`` and ``"identity"``; ``/v1/redirect`` answers a 302. The headers
are echoed as they arrived on the wire, before the middleware removes anything, so that a
test can see exactly what keygate forwarded. Any other request gets the middleware's 401.

The signature covers the raw request target, which wsgiref does not pass on (its
``PATH_INFO`` is percent-decoded): the request handler here adds it as ``RAW_URI``, as
gunicorn does.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import socketserver
import sys
from dataclasses import asdict
from socketserver import ThreadingMixIn
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

# Run from the repository, use the package next to this file rather than an installed one.
_SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
if os.path.isdir(os.path.join(_SRC, "keygate_verify")):
    sys.path.insert(0, _SRC)

from keygate_verify import KeygateWSGIMiddleware  # noqa: E402

RAW_HEADERS = "echo.raw_headers"
BODY = "echo.body"
Environ = Dict[str, Any]
StartResponse = Callable[..., Any]

# http.server refuses a request with more than 100 header lines; a test may send more.
http.client._MAXHEADERS = 1000  # type: ignore[attr-defined]


class Handler(WSGIRequestHandler):
    """wsgiref's handler, plus the raw request target and the headers as they came."""

    quiet = True

    def get_environ(self) -> Environ:
        env = super().get_environ()
        # The target as sent (latin-1 text, as PEP 3333 carries bytes). self.path may have been
        # rewritten by http.server (a leading "//" is collapsed), the request line is not.
        words = self.requestline.split()
        env["RAW_URI"] = words[1] if len(words) >= 2 else self.path
        env[RAW_HEADERS] = [(k, v.strip(" \t")) for k, v in self.headers.items()]
        return env

    def log_message(self, format: str, *args: Any) -> None:
        if not self.quiet:
            super().log_message(format, *args)


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host's name up (socket.getfqdn); not needed here.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)
        self.setup_environ()


def _read_body(environ: Environ) -> bytes:
    stream = environ["wsgi.input"]
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        chunks: List[bytes] = []
        while True:
            size_line = stream.readline(65537)
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while stream.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(stream.read(size))
            stream.readline(3)  # CRLF after the chunk
    length = environ.get("CONTENT_LENGTH") or "0"
    return stream.read(int(length)) if int(length) > 0 else b""


WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


def read_body_first(app: WSGIApp) -> WSGIApp:
    """Read the whole body before anything answers, as the Node echo origin does: a refused
    request's unread body would otherwise make the socket close with a reset."""

    def outer(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        body = _read_body(environ)
        environ[BODY] = body
        environ["wsgi.input"] = io.BytesIO(body)
        return app(environ, start_response)

    return outer


def echo_app(name: str) -> WSGIApp:
    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        body: bytes = environ[BODY]
        target: str = environ["RAW_URI"]
        path, _, query = target.partition("?")
        query = query.split("#", 1)[0]
        if path == "/v1/redirect":
            start_response(
                "302 Found",
                [
                    ("Location", "https://elsewhere.example/landing"),
                    ("X-Echo-Origin", name),
                    ("Content-Length", "0"),
                ],
            )
            return [b""]
        raw: List[Tuple[str, str]] = environ[RAW_HEADERS]
        headers: Dict[str, str] = {}
        for k, v in raw:
            key = k.lower()
            headers[key] = v if key not in headers else f"{headers[key]}, {v}"
        payload = {
            "origin": name,
            "method": environ["REQUEST_METHOD"],
            "path": path,
            "query": query,
            "headers": headers,
            "raw_header_names": [k for k, _ in raw],
            "body": body.decode("utf-8", "replace"),
            "verified_by": "python",
            "identity": asdict(environ["keygate.identity"]),
        }
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/json"),
                ("X-Echo-Origin", name),
                # A permissive origin: keygate must replace this with its own CORS decision.
                ("Access-Control-Allow-Origin", "*"),
                ("Access-Control-Allow-Credentials", "true"),
                ("Vary", "Accept-Encoding"),
                ("Set-Cookie", "echo_a=1; Path=/"),
                ("Set-Cookie", "echo_b=2; Path=/"),
                ("Content-Length", str(len(data))),
            ],
        )
        # Like Node: a HEAD answer has the headers of the GET one and no body.
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [data]

    return app


def read_secrets(path: str) -> List[str]:
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--name", default="python", help='the "origin" field of every answer')
    parser.add_argument("--secrets-file", required=True, help="signing secrets, one a line, current first")
    parser.add_argument("--tolerance", type=int, default=300, help="seconds, both ways (default 300)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    secrets = read_secrets(args.secrets_file)
    if not secrets:
        parser.error(f"{args.secrets_file}: no secret")
    Handler.quiet = not args.verbose
    app = read_body_first(KeygateWSGIMiddleware(echo_app(args.name), secrets, tolerance=args.tolerance))
    server = Server((args.host, args.port), Handler)
    server.set_app(app)
    print(f"listening {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
