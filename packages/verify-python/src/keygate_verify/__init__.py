"""Verify keygate's signed identity (``Keygate-Signature``, version 2) at the origin.

keygate checks every request's API key at the edge and forwards it with ``Keygate-*`` identity
headers and a signature over them, the method, the ``Host`` and the path. Verify it before
trusting any of those headers::

    from keygate_verify import verify, VerifyError

    identity = verify(headers, method, host, path_with_query, [secret, previous_secret])

Standard library only. The algorithm is the one in keygate's ``docs/origin.md``.
"""

from __future__ import annotations

from ._core import (
    DEFAULT_TOLERANCE,
    HEADER,
    IDENTITY_HEADERS,
    SCHEME,
    VERSION,
    BadSignature,
    FutureSignature,
    HeadersLike,
    Identity,
    MalformedSignature,
    MissingHeader,
    SecretsLike,
    StaleSignature,
    Verifier,
    VerifyError,
    canonical,
    parse_header,
    sign,
    verify,
)
from .asgi import KeygateASGIMiddleware
from .wsgi import KeygateWSGIMiddleware

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_TOLERANCE",
    "HEADER",
    "IDENTITY_HEADERS",
    "SCHEME",
    "VERSION",
    "BadSignature",
    "FutureSignature",
    "HeadersLike",
    "Identity",
    "KeygateASGIMiddleware",
    "KeygateWSGIMiddleware",
    "MalformedSignature",
    "MissingHeader",
    "SecretsLike",
    "StaleSignature",
    "Verifier",
    "VerifyError",
    "canonical",
    "parse_header",
    "sign",
    "verify",
    "__version__",
]
