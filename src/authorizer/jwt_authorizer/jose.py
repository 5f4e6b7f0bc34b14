"""The JOSE wire format, strictly: canonical base64url segments holding I-JSON objects.

Everything here raises ``MalformedSegment``, which the verifier reports as ``malformed``. The key
set's numbers are read with the same decoder as a token's segments, so one notion of "valid
base64url" holds everywhere.
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

# Claims and headers deeper than this are refused: real tokens nest three or four levels
# (Keycloak's resource_access.CLIENT.roles), and nothing downstream, such as the built-in
# authorizer's claim flattening, then has to walk an attacker's 600-level array.
MAX_JSON_DEPTH = 32

# base64url without padding (RFC 7515 2), decoded by a2b_base64 in strict mode once the URL-safe
# alphabet is mapped onto the standard one, and "+", "/", "=" (not base64url) onto "!", which
# strict mode refuses like any other character outside the alphabet.
_TO_STANDARD = bytes.maketrans(b"-_+/=", b"+/!!!")
_PADDING = (b"", b"", b"==", b"=")
_VALUE = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")}
# The bits of the last character that encode nothing, by segment length mod 4.
_SPARE_BITS = (0, 0, 0b1111, 0b11)
# A \u escape of a UTF-16 surrogate: the only way a lone surrogate gets into a parsed string.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class MalformedSegment(ValueError):
    """Not canonical base64url, or not an I-JSON object; the message says which part, for tests."""


def b64url_decode(segment: str) -> bytes:
    """Canonical unpadded base64url (RFC 7515 2), or ``MalformedSegment``."""
    tail = len(segment) % 4
    if tail == 1:
        raise MalformedSegment("base64url length")
    try:
        raw = binascii.a2b_base64(segment.encode("ascii").translate(_TO_STANDARD) + _PADDING[tail], strict_mode=True)
    except ValueError:  # binascii.Error, and UnicodeEncodeError for a non-ASCII character
        raise MalformedSegment("base64url") from None
    # Canonical encodings only: spare bits in the last character would otherwise let many
    # different token strings carry the same signature and pass as "the same" token.
    if tail and _VALUE[segment[-1]] & _SPARE_BITS[tail]:
        raise MalformedSegment("base64url spare bits")
    return raw


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


# One decoder for every token: json.loads with an option builds a new decoder per call.
_JSON = json.JSONDecoder(parse_constant=_reject_constant)


def json_object(raw: bytes, part: str) -> dict[str, Any]:
    """``raw`` as a UTF-8 I-JSON object (RFC 7519 7.2 and RFC 7493), or ``MalformedSegment``."""
    try:
        # RFC 7519: the segments are UTF-8 JSON (json.loads would also guess UTF-16 and -32).
        value = _JSON.decode(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise MalformedSegment(part) from exc
    if not isinstance(value, dict):
        raise MalformedSegment(part)
    # Two cheap byte scans spare almost every token the walk: fewer brackets than the limit
    # cannot nest deeper than it, and no \u escape of a surrogate cannot leave a lone one.
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH or (b"\\u" in raw and _SURROGATE_ESCAPE.search(raw)):
        _check_i_json(value, part)
    return value


def _check_i_json(document: dict[str, Any], part: str) -> None:
    """No nesting deeper than ``MAX_JSON_DEPTH`` and no lone surrogate, walked without recursion.

    RFC 7493 (I-JSON) 2.1: strings must be valid Unicode. Python's json accepts ``"\\ud800"``;
    a claim holding one would reach an answer (``sub``, the context) that the Lambda runtime
    cannot encode as UTF-8, and API Gateway would answer 500.
    """
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if _LONE_SURROGATE.search(value):
                raise MalformedSegment(f"{part}: lone surrogate")
            continue
        if depth > MAX_JSON_DEPTH:
            raise MalformedSegment(f"{part}: nested deeper than {MAX_JSON_DEPTH}")
        if isinstance(value, dict):
            stack += [(key, depth) for key in value]
            stack += [(item, depth + 1) for item in value.values() if isinstance(item, (str, dict, list))]
        elif isinstance(value, list):
            stack += [(item, depth + 1) for item in value if isinstance(item, (str, dict, list))]


class HeaderCache:
    """Parsed JOSE headers by their encoded segment: an issuer's tokens all share one header.

    Parsing is deterministic, so a kept parse is the parse. Only headers of tokens whose
    signature verified are kept (junk cannot take the few places), read-only, and at most
    ``max_entries`` of them.
    """

    def __init__(self, max_entries: int = 64) -> None:
        self._max = max_entries
        self._kept: dict[str, Mapping[str, Any]] = {}

    def parse(self, segment: str) -> Mapping[str, Any]:
        header = self._kept.get(segment)
        if header is None:
            header = json_object(b64url_decode(segment), "header")
        return header

    def keep(self, segment: str, header: Mapping[str, Any]) -> None:
        if segment not in self._kept and len(self._kept) < self._max:
            self._kept[segment] = MappingProxyType(dict(header))

    def __len__(self) -> int:
        return len(self._kept)
