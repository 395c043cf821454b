"""What the WSGI and ASGI middleware share: which headers are keygate's, the refusal, and the
fallback path when a server does not give the raw request target."""

from __future__ import annotations

import json

from ._core import IDENTITY_HEADERS, VerifyError

__all__ = ["is_keygate_header", "is_signed_header", "refusal", "quote_path"]

_SIGNED = frozenset(IDENTITY_HEADERS)


def is_keygate_header(name: str) -> bool:
    """Whether ``name`` could be taken for one of keygate's headers: starts with ``keygate-``
    in any case, with ``_`` for ``-``, with or without ``X-`` (keygate's own rule for what it
    strips from clients)."""
    lower = name.lower().replace("_", "-")
    bare = lower[2:] if lower.startswith("x-") else lower
    return bare.startswith("keygate-")


def is_signed_header(name: str) -> bool:
    """Whether ``name`` is exactly one of the headers keygate sets (lower-case, with ``-``)."""
    return name.lower() in _SIGNED


def refusal(error: VerifyError) -> bytes:
    """The 401 body: ``{"error":{"type":"authentication_error","code":…,"message":…}}``."""
    body = {"error": {"type": "authentication_error", "code": error.code, "message": error.message}}
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


REFUSAL_HEADERS = (
    ("Content-Type", "application/json"),
    ("Cache-Control", "no-store"),
)

# The WHATWG URL parser's path percent-encode set (C0 controls, space, ", #, <, >, ?, `, {, }
# and every byte above 0x7E), which is how keygate's platform writes a path. "%" is left as it
# is: after a server's decoding it can only come from "%25", which keygate refuses anyway.
_ENCODE = frozenset(list(range(0x21)) + list(range(0x7F, 0x100)) + [ord(c) for c in '"#<>?`{}'])
_HEX = "0123456789ABCDEF"


def quote_path(path: bytes) -> bytes:
    """Re-encode a percent-decoded path the way keygate's platform encodes one. Exact for
    paths whose only escapes are those (upper-case ``%C3%A9``, ``%20``); an escape the client
    wrote otherwise (``%c3%a9``, ``%41``) cannot be recovered, which is why the raw request
    target is preferred whenever the server gives it."""
    out = bytearray()
    for b in path:
        if b in _ENCODE:
            out += b"%" + _HEX[b >> 4].encode() + _HEX[b & 15].encode()
        else:
            out.append(b)
    return bytes(out)
