"""Keygate-Signature (version 2): the canonical message, the header parser and the verifier.

The rules are those of keygate's ``docs/origin.md`` ("Signed identity") and of its Rust crate
``keygate-verify``, which is keygate's own signer: the header is parsed exactly as the crate
parses it and every refusal has the same reason.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

__all__ = [
    "DEFAULT_TOLERANCE",
    "HEADER",
    "VERSION",
    "SCHEME",
    "IDENTITY_HEADERS",
    "Identity",
    "VerifyError",
    "MissingHeader",
    "MalformedSignature",
    "StaleSignature",
    "FutureSignature",
    "BadSignature",
    "Verifier",
    "verify",
    "parse_header",
    "canonical",
    "sign",
    "HeadersLike",
    "SecretsLike",
]

#: The version tag, the first field of the signed message.
VERSION = "keygate-signature-v2"
#: The header's key for a signature of this version: ``v2=<hex>``.
SCHEME = "v2"
#: The signature header.
HEADER = "Keygate-Signature"
#: Default tolerance between ``t`` and the verifier's clock, in seconds, both ways.
DEFAULT_TOLERANCE = 300
#: The longest signature header accepted, in bytes.
MAX_HEADER_BYTES = 1024

#: Every header keygate sets on a proxied request, lower-case. The signature covers all of them
#: but itself.
IDENTITY_HEADERS = (
    "keygate-signature",
    "keygate-account",
    "keygate-key-id",
    "keygate-mode",
    "keygate-key-type",
    "keygate-permissions",
    "keygate-request-id",
    "keygate-verified",
)

_Text = Union[str, bytes]
#: Request headers: any mapping (``dict``, ``email.message.Message``, Werkzeug's or Starlette's
#: ``Headers``: its ``items()`` are read, so repeated names count) or an iterable of
#: ``(name, value)`` pairs. Names are case-insensitive; names and values may be ``str`` or
#: ``bytes`` (ASGI); a value may also be a list of values.
HeadersLike = Union[Mapping[str, Any], Mapping[bytes, Any], Iterable[Tuple[_Text, Any]]]
#: One secret (``str``, used as its UTF-8 bytes, or ``bytes``), or several during a rotation.
SecretsLike = Union[str, bytes, Sequence[Union[str, bytes]]]

# Unicode White_Space, which Rust's str::trim removes (Python's str.strip() would also remove
# U+001C..U+001F, which are not White_Space).
_WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_DIGITS = frozenset("0123456789")
_LOWER_HEX = frozenset("0123456789abcdef")
_EMPTY_SHA256_HEX = hashlib.sha256(b"").hexdigest()


class VerifyError(Exception):
    """Why a request was refused. :attr:`code` is stable: ``missing``, ``malformed``,
    ``stale``, ``future`` or ``bad_signature``; the message is for people."""

    code: str = "bad_signature"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MissingHeader(VerifyError):
    """A required header is absent (:attr:`header` names it)."""

    code = "missing"

    def __init__(self, header: str) -> None:
        super().__init__(f"missing header {header}")
        self.header = header


class MalformedSignature(VerifyError):
    """``Keygate-Signature`` is not ``t=<digits>,v2=<64 hex>[,v2=…]``."""

    code = "malformed"

    def __init__(self, reason: str) -> None:
        super().__init__(f"malformed Keygate-Signature: {reason}")
        self.reason = reason


class StaleSignature(VerifyError):
    """``t`` is more than the tolerance behind the verifier's clock (by :attr:`age` s)."""

    code = "stale"

    def __init__(self, age: int) -> None:
        super().__init__(f"signature is {age} s old")
        self.age = age


class FutureSignature(VerifyError):
    """``t`` is more than the tolerance ahead of the verifier's clock (by :attr:`ahead` s)."""

    code = "future"

    def __init__(self, ahead: int) -> None:
        super().__init__(f"signature is {ahead} s in the future")
        self.ahead = ahead


class BadSignature(VerifyError):
    """No ``v2`` signature matches any accepted secret."""

    code = "bad_signature"

    def __init__(self) -> None:
        super().__init__("no signature matches")


@dataclass(frozen=True)
class Identity:
    """What a verified request proves: the ``Keygate-*`` values the signature covers."""

    #: ``acct_…``.
    account: str
    #: ``key_…``.
    key_id: str
    #: ``test`` or ``live``.
    mode: str
    #: ``secret``, ``publishable`` or ``restricted``.
    key_type: str
    #: ``charges=read,refunds=write`` for a restricted key, else empty.
    permissions: str
    #: ``req_…``: this request's own id. Remember it for the tolerance window and refuse a
    #: repeat to refuse replays.
    request_id: str
    #: ``do``, or ``kv;max-staleness=<seconds>``: how stale the key's state may have been when
    #: keygate accepted it.
    verified: str
    #: The signed time, unix seconds.
    signed_at: int


def _utf8(value: _Text) -> bytes:
    """The bytes of a field. ``str`` is encoded as UTF-8; a string that came from bytes that
    were not UTF-8 (decoded with ``surrogateescape``) gets those bytes back."""
    if isinstance(value, bytes):
        return value
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        # Lone surrogates: bytes that are not UTF-8, which keygate never signs.
        return value.encode("utf-8", "surrogatepass")


def _text(value: Any, name: str) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        # Round-trips through _utf8: the signed bytes are the received bytes.
        return bytes(value).decode("utf-8", "surrogateescape")
    if isinstance(value, (list, tuple)):
        parts = [_text(v, name) for v in value]
        kept = [p for p in parts if p is not None]
        return ", ".join(kept) if kept else None
    raise TypeError(f"header {name!r}: expected str or bytes, got {type(value).__name__}")


def _name(name: Any) -> str:
    if isinstance(name, str):
        return name.lower()
    if isinstance(name, (bytes, bytearray, memoryview)):
        return bytes(name).decode("latin-1").lower()
    raise TypeError(f"header name: expected str or bytes, got {type(name).__name__}")


def _keygate_headers(headers: HeadersLike) -> Dict[str, str]:
    """The ``keygate-*`` headers by lower-case name; repeated names joined with ``", "`` as
    HTTP combines them (a repeated identity header then matches no signature)."""
    items: Iterable[Tuple[Any, Any]]
    get_items = getattr(headers, "items", None)
    items = get_items() if callable(get_items) else headers  # type: ignore[assignment]
    found: Dict[str, str] = {}
    for name, value in items:
        key = _name(name)
        if key not in IDENTITY_HEADERS:
            continue
        text = _text(value, key)
        if text is None:
            continue
        found[key] = text if key not in found else f"{found[key]}, {text}"
    return found


def parse_header(value: _Text) -> Tuple[int, List[bytes]]:
    """Parse ``t=<digits>,v2=<64 lower-case hex>[,v2=…]`` into ``(t, [32-byte signature, …])``.

    Exactly as keygate's Rust crate: comma-separated ``key=value`` pairs, each trimmed of
    white space; exactly one ``t`` of 1 to 12 ASCII digits; at least one ``v2``; other keys
    (``v1`` included) are ignored, so a version 1 header alone is refused; more than 1024 bytes
    is refused. Raises :class:`MalformedSignature`.
    """
    text = _text(value, "keygate-signature")
    assert text is not None
    if len(_utf8(text)) > MAX_HEADER_BYTES:
        raise MalformedSignature("too long")
    t: Optional[int] = None
    signatures: List[bytes] = []
    for part in text.split(","):
        k, eq, v = part.strip(_WHITE_SPACE).partition("=")
        if not eq:
            raise MalformedSignature("expected key=value pairs")
        if k == "t":
            if t is not None or not v or len(v) > 12 or not _DIGITS.issuperset(v):
                raise MalformedSignature("t must be one unix time in seconds")
            t = int(v)
        elif k == SCHEME:
            if len(v) != 64 or not _LOWER_HEX.issuperset(v):
                raise MalformedSignature("v2 must be 64 hex digits")
            signatures.append(bytes.fromhex(v))
    if t is None:
        raise MalformedSignature("no t")
    if not signatures:
        raise MalformedSignature("no v2 signature")
    return t, signatures


def canonical(
    t: int,
    method: _Text,
    host: _Text,
    path: _Text,
    account: _Text,
    key_id: _Text,
    mode: _Text,
    key_type: _Text,
    permissions: _Text,
    request_id: _Text,
    verified: _Text,
) -> bytes:
    """The signed message: for each of the twelve values, its length in bytes (decimal), ``:``,
    its UTF-8 bytes and ``\\n``. ``permissions`` is given as the header's value (empty when
    absent); the message holds its lower-case hex SHA-256."""
    perm = _utf8(permissions)
    perm_digest = hashlib.sha256(perm).hexdigest() if perm else _EMPTY_SHA256_HEX
    fields = (
        VERSION.encode(),
        str(int(t)).encode(),
        _utf8(method),
        _utf8(host),
        _utf8(path),
        _utf8(account),
        _utf8(key_id),
        _utf8(mode),
        _utf8(key_type),
        perm_digest.encode(),
        _utf8(request_id),
        _utf8(verified),
    )
    return b"".join(b"%d:%s\n" % (len(f), f) for f in fields)


def _secret_list(secrets: SecretsLike) -> List[bytes]:
    if isinstance(secrets, (str, bytes, bytearray)):
        listed: Sequence[Union[str, bytes]] = [bytes(secrets) if isinstance(secrets, bytearray) else secrets]
    else:
        listed = list(secrets)
    out: List[bytes] = []
    for s in listed:
        if isinstance(s, str):
            out.append(s.encode("utf-8"))
        elif isinstance(s, (bytes, bytearray)):
            out.append(bytes(s))
        else:
            raise TypeError(f"a secret must be str or bytes, not {type(s).__name__}")
    if not out:
        raise ValueError("at least one secret is needed")
    if any(not s for s in out):
        raise ValueError("an empty secret would let anyone sign")
    return out


def sign(
    secrets: SecretsLike,
    t: int,
    *,
    method: _Text,
    host: _Text,
    path: _Text,
    account: _Text,
    key_id: _Text,
    mode: _Text,
    key_type: _Text,
    request_id: _Text,
    verified: _Text,
    permissions: _Text = "",
) -> str:
    """``Keygate-Signature`` for a request, one ``v2=`` per secret (current first), exactly as
    keygate sends it. For tests and tools that stand in for keygate."""
    message = canonical(
        t, method, host, path, account, key_id, mode, key_type, permissions, request_id, verified
    )
    tags = (hmac.new(s, message, hashlib.sha256).hexdigest() for s in _secret_list(secrets))
    return f"t={int(t)}" + "".join(f",{SCHEME}={tag}" for tag in tags)


class Verifier:
    """Verifies requests with a fixed set of secrets (during a rotation, the current and the
    previous) and tolerance. :func:`verify` is this in one call."""

    __slots__ = ("_keys", "tolerance")

    def __init__(self, secrets: SecretsLike, tolerance: int = DEFAULT_TOLERANCE) -> None:
        # Each secret's HMAC key schedule, computed once and copied per request.
        self._keys = [hmac.new(s, digestmod=hashlib.sha256) for s in _secret_list(secrets)]
        self.tolerance = int(tolerance)

    def __repr__(self) -> str:
        return f"Verifier(<{len(self._keys)} secret(s)>, tolerance={self.tolerance})"

    def verify(
        self,
        headers: HeadersLike,
        method: _Text,
        host: _Text,
        path: _Text,
        *,
        now: Optional[float] = None,
    ) -> Identity:
        """Verify one request. ``method``, ``host`` (the ``Host`` header) and ``path`` (with
        its query) exactly as the origin received them; ``now`` in unix seconds (the clock when
        omitted). Returns the :class:`Identity`, or raises a :class:`VerifyError`."""
        found = _keygate_headers(headers)
        value = found.get("keygate-signature")
        if value is None:
            raise MissingHeader(HEADER)
        t, candidates = parse_header(value)
        clock = int(time.time()) if now is None else math.floor(now)
        if clock - t > self.tolerance:
            raise StaleSignature(clock - t)
        if t - clock > self.tolerance:
            raise FutureSignature(t - clock)

        def need(name: str, display: str) -> str:
            got = found.get(name)
            if got is None:
                raise MissingHeader(display)
            return got

        identity = Identity(
            account=need("keygate-account", "Keygate-Account"),
            key_id=need("keygate-key-id", "Keygate-Key-Id"),
            mode=need("keygate-mode", "Keygate-Mode"),
            key_type=need("keygate-key-type", "Keygate-Key-Type"),
            permissions=found.get("keygate-permissions", ""),
            request_id=need("keygate-request-id", "Keygate-Request-Id"),
            verified=need("keygate-verified", "Keygate-Verified"),
            signed_at=t,
        )
        message = canonical(
            t,
            method,
            host,
            path,
            identity.account,
            identity.key_id,
            identity.mode,
            identity.key_type,
            identity.permissions,
            identity.request_id,
            identity.verified,
        )
        # Every candidate against every secret, in constant time, without stopping at a match.
        ok = False
        for key in self._keys:
            mac = key.copy()
            mac.update(message)
            expected = mac.digest()
            for candidate in candidates:
                ok |= hmac.compare_digest(expected, candidate)
        if not ok:
            raise BadSignature()
        return identity


def verify(
    headers: HeadersLike,
    method: _Text,
    host: _Text,
    path: _Text,
    secrets: SecretsLike,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: Optional[float] = None,
) -> Identity:
    """Verify a request as the origin received it; only then trust its ``Keygate-*`` headers.

    ``headers``: a mapping or ``(name, value)`` pairs, names case-insensitive. ``method``,
    ``host`` (the ``Host`` header) and ``path`` (with its query string, exactly as received:
    the raw request target, not a decoded path). ``secrets``: one secret or a sequence of them
    (rotation). ``tolerance``: seconds, both ways. ``now``: unix seconds (the clock when
    omitted).

    Returns an :class:`Identity`; raises a :class:`VerifyError` whose ``code`` is ``missing``,
    ``malformed``, ``stale``, ``future`` or ``bad_signature``.
    """
    return Verifier(secrets, tolerance).verify(headers, method, host, path, now=now)
