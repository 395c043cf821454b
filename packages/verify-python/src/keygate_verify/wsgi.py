"""WSGI middleware (Flask, Django, Pyramid, Bottle, …): only verified requests reach the app."""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from ._core import DEFAULT_TOLERANCE, Identity, SecretsLike, Verifier, VerifyError
from ._http import REFUSAL_HEADERS, is_keygate_header, is_signed_header, quote_path, refusal

__all__ = ["KeygateWSGIMiddleware", "ENVIRON_KEY", "request_target", "environ_headers", "verify_environ"]

#: Where the middleware puts the :class:`~keygate_verify.Identity`.
ENVIRON_KEY = "keygate.identity"

Environ = Dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


def _bytes(value: str) -> bytes:
    """PEP 3333 carries the request's bytes as latin-1 ``str``: get the bytes back."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:  # a server that decoded as UTF-8 instead
        return value.encode("utf-8", "surrogateescape")


def request_target(environ: Environ) -> bytes:
    """The path with its query, as the client sent it.

    The signature covers the raw request target. PEP 3333's ``PATH_INFO`` is not that: servers
    percent-decode it (``%20`` becomes a space) and carry it as latin-1. So the raw target is
    used when the server gives it: ``RAW_URI`` (gunicorn, Werkzeug) or ``REQUEST_URI``
    (uWSGI, Apache mod_wsgi, Werkzeug). Otherwise ``SCRIPT_NAME + PATH_INFO`` is re-encoded
    the way keygate's platform encodes a path (exact unless the client wrote an escape in
    another way, such as lower-case hex), and ``?QUERY_STRING`` appended when not empty.
    """
    for key in ("RAW_URI", "REQUEST_URI"):
        raw = environ.get(key)
        if isinstance(raw, str) and raw:
            return _bytes(raw)
    path = quote_path(_bytes(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")))
    query = environ.get("QUERY_STRING", "")
    return path + b"?" + _bytes(query) if query else path


def environ_headers(environ: Environ) -> List[Tuple[str, bytes]]:
    """The ``Keygate-*`` request headers of a WSGI environ, as ``(name, bytes)`` pairs."""
    return [
        (key[5:].replace("_", "-"), _bytes(value))
        for key, value in environ.items()
        if key.startswith("HTTP_KEYGATE_") and isinstance(value, str)
    ]


def _strip(environ: Environ, keep_signed: bool) -> None:
    for key in [k for k in environ if k.startswith("HTTP_")]:
        name = key[5:]
        if is_keygate_header(name) and not (keep_signed and is_signed_header(name.replace("_", "-"))):
            del environ[key]


def verify_environ(environ: Environ, verifier: Verifier, now: Optional[float] = None) -> Identity:
    """Verify the request of a WSGI environ (method, ``Host``, raw request target, headers)."""
    return verifier.verify(
        environ_headers(environ),
        _bytes(environ.get("REQUEST_METHOD", "")),
        _bytes(environ.get("HTTP_HOST", "")),
        request_target(environ),
        now=now,
    )


class KeygateWSGIMiddleware:
    """Verifies every request before the app sees it.

    A verified request reaches ``app`` with its :class:`~keygate_verify.Identity` in
    ``environ["keygate.identity"]``; its signed ``Keygate-*`` headers stay, and any other
    header named like keygate's (``X-Keygate-…``, a name keygate does not set) is removed.
    Any other request is answered ``401`` with
    ``{"error":{"type":"authentication_error","code":…,"message":…}}`` and every
    ``Keygate-*`` header removed from the environ; the app is not called.

    Replays are not refused here: remember ``identity.request_id`` for the tolerance window
    in the app (see the README).
    """

    def __init__(self, app: WSGIApp, secrets: SecretsLike, tolerance: int = DEFAULT_TOLERANCE) -> None:
        self.app = app
        self.verifier = Verifier(secrets, tolerance)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        try:
            identity = verify_environ(environ, self.verifier)
        except VerifyError as error:
            _strip(environ, keep_signed=False)
            body = refusal(error)
            headers = list(REFUSAL_HEADERS) + [("Content-Length", str(len(body)))]
            start_response("401 Unauthorized", headers)
            return [body]
        _strip(environ, keep_signed=True)
        environ[ENVIRON_KEY] = identity
        return self.app(environ, start_response)
