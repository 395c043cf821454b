"""Shared by the tests: the language-neutral vectors and request builders."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_DIR = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(PACKAGE_DIR))
VECTORS_PATH = os.path.join(REPO, "crates", "keygate-verify", "tests", "data", "signatures.json")

FIELDS = ("method", "host", "path", "account", "key_id", "mode", "key_type", "permissions", "request_id", "verified")

# (lower-case header name, input field), in the order keygate sets them.
IDENTITY = (
    ("keygate-account", "account"),
    ("keygate-key-id", "key_id"),
    ("keygate-mode", "mode"),
    ("keygate-key-type", "key_type"),
    ("keygate-request-id", "request_id"),
    ("keygate-verified", "verified"),
)


def vectors() -> List[Dict[str, Any]]:
    with open(VECTORS_PATH, encoding="utf-8") as f:
        cases = json.load(f)
    assert len(cases) >= 10, "the shared vectors are missing"
    return cases


def fields(inputs: Dict[str, Any]) -> Dict[str, str]:
    return {k: inputs[k] for k in FIELDS}


def headers(inputs: Dict[str, Any], signature: str) -> List[Tuple[str, str]]:
    """The headers keygate sends for `inputs` with `signature`, as (Display-Name, value)."""
    out = [("Keygate-Signature", signature)]
    out += [("-".join(p.capitalize() for p in name.split("-")), inputs[field]) for name, field in IDENTITY]
    if inputs["permissions"]:
        out.append(("Keygate-Permissions", inputs["permissions"]))
    return out


def environ_key(name: str) -> str:
    return "HTTP_" + name.upper().replace("-", "_")
