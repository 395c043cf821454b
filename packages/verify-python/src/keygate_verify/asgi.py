"""ASGI middleware (FastAPI, Starlette, Litestar, Quart, …): only verified requests reach the app."""

from __future__ import annotations

from typing import Any, Awaitable, Callable, List, MutableMapping, Optional, Tuple

from ._core import DEFAULT_TOLERANCE, Identity, SecretsLike, Verifier, VerifyError
from ._http import REFUSAL_HEADERS, is_keygate_header, is_signed_header, quote_path, refusal

__all__ = ["KeygateASGIMiddleware", "SCOPE_KEY", "STATE_KEY", "request_target", "verify_scope"]

#: The scope key of the :class:`~keygate_verify.Identity`.
SCOPE_KEY = "keygate.identity"
#: Its key in ``scope["state"]`` (Starlette and FastAPI: ``request.state.keygate_identity``).
STATE_KEY = "keygate_identity"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def request_target(scope: Scope) -> bytes:
    """The path with its query, as the client sent it: ``scope["raw_path"]`` (the received
    bytes) plus ``?`` and ``query_string`` when that is not empty. A server without
    ``raw_path`` leaves only the decoded ``path``, which is re-encoded the way keygate's
    platform encodes a path (exact unless the client wrote an escape another way)."""
    query = bytes(scope.get("query_string") or b"")
    raw = scope.get("raw_path")
    if raw:
        raw = bytes(raw)
        if b"?" in raw:  # a server that left the query in raw_path
            return raw
    else:
        raw = quote_path(str(scope.get("path", "")).encode("utf-8", "surrogateescape"))
    return raw + b"?" + query if query else raw


def _headers(scope: Scope) -> List[Tuple[bytes, bytes]]:
    return [(bytes(k), bytes(v)) for k, v in scope.get("headers") or ()]


def _host(headers: List[Tuple[bytes, bytes]]) -> bytes:
    return b", ".join(v for k, v in headers if k.lower() == b"host")


def verify_scope(scope: Scope, verifier: Verifier, now: Optional[float] = None) -> Identity:
    """Verify the request of an ASGI ``http`` scope (method, ``Host``, raw target, headers)."""
    headers = _headers(scope)
    return verifier.verify(headers, str(scope.get("method", "")), _host(headers), request_target(scope), now=now)


def _strip(scope: Scope, keep_signed: bool) -> None:
    kept = []
    for k, v in scope.get("headers") or ():
        name = bytes(k).decode("latin-1")
        if is_keygate_header(name) and not (keep_signed and is_signed_header(name)):
            continue
        kept.append((k, v))
    scope["headers"] = kept


class KeygateASGIMiddleware:
    """Verifies every HTTP request before the app sees it.

    A verified request reaches ``app`` with its :class:`~keygate_verify.Identity` in
    ``scope["state"]["keygate_identity"]`` (``request.state.keygate_identity`` in Starlette
    and FastAPI; ``state`` is created when the server gave none) and in
    ``scope["keygate.identity"]``; its signed ``Keygate-*`` headers stay, any other header
    named like keygate's is removed. Any other request is answered ``401`` with
    ``{"error":{"type":"authentication_error","code":…,"message":…}}`` and every
    ``Keygate-*`` header removed from the scope; the app is not called. ``lifespan`` and
    ``websocket`` scopes pass through untouched.

    Replays are not refused here: remember ``identity.request_id`` for the tolerance window
    in the app (see the README).
    """

    def __init__(self, app: ASGIApp, secrets: SecretsLike, tolerance: int = DEFAULT_TOLERANCE) -> None:
        self.app = app
        self.verifier = Verifier(secrets, tolerance)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        try:
            identity = verify_scope(scope, self.verifier)
        except VerifyError as error:
            _strip(scope, keep_signed=False)
            body = refusal(error)
            headers = [(k.lower().encode(), v.encode()) for k, v in REFUSAL_HEADERS]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({"type": "http.response.start", "status": 401, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        _strip(scope, keep_signed=True)
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state[STATE_KEY] = identity
        scope[SCOPE_KEY] = identity
        await self.app(scope, receive, send)

