"""The authorizer's settings: every environment variable it reads, read and checked in one place.

``Settings.from_environ`` is the only code that reads the environment. A value that cannot be
right stops the function at INIT with one line naming the variable (never a guess, never a
silent default for a value that was given). ``template.yaml`` sets every variable listed in
``VARIABLES`` (a template test compares the two), and tests build ``Settings`` directly, so
nothing in a developer's shell can change their result.

``JWKS_COOLDOWN_SECONDS`` is not a pause between fetches: a ``kid`` the cached key set lacks
fetches at once (at most one such fetch a second, ``keys.MIN_FETCH_INTERVAL``). It is how long a
``kid`` that a fresh fetch did not hold is refused without another fetch (the penalty box), and
how long nothing is fetched after a failed fetch.

The log level is not a setting: Lambda's own ``LoggingConfig`` (``ApplicationLogLevel``) sets it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from jwt_authorizer.algorithms import ALGORITHMS, DEFAULT_ALGORITHMS, SHARED_SECRET_ALGORITHMS
from jwt_authorizer.policy import BUILT_IN_SCOPE_CLAIMS, ROUTE_KEY, scope_token


class SettingError(ValueError):
    """A setting that cannot be right; the message names it, in one line."""


class Settings(NamedTuple):
    """The authorizer's configuration, validated. Each field's comment names its variable."""

    issuers: tuple[str, ...]  # ISSUER: comma-separated; each verified with its own keys only
    audiences: tuple[str, ...]  # AUDIENCE: comma-separated; aud must hold one (client_id without aud)
    jwks_uri: str | None = None  # JWKS_URI: one issuer only; else from each issuer's discovery
    algorithms: frozenset[str] = DEFAULT_ALGORITHMS  # ALLOWED_ALGORITHMS
    scope_claims: tuple[str, ...] = BUILT_IN_SCOPE_CLAIMS  # SCOPE_CLAIMS
    required_claims: Mapping[str, frozenset[str]] = MappingProxyType({})  # REQUIRED_CLAIMS (JSON)
    required_scopes: tuple[str, ...] = ()  # REQUIRED_SCOPES: a token needs one of them
    route_scopes: Mapping[str, tuple[str, ...]] = MappingProxyType({})  # ROUTE_SCOPES (JSON)
    # RESOURCE_ROUTES (JSON): route key -> the resource URL its tokens must name as aud
    # (RFC 8707), "" to take it from the request; AUDIENCE does not apply on those routes.
    resource_routes: Mapping[str, str] = MappingProxyType({})
    jwks_cooldown: float = 60.0  # JWKS_COOLDOWN_SECONDS: a kid not found, a failed fetch
    jwks_max_stale: float = 3600.0  # JWKS_MAX_STALE_SECONDS
    verified_cache_size: int = 1024  # VERIFIED_CACHE_SIZE: 0 turns the cache off
    hs256_secret_parameter: str = ""  # HS256_SECRET_PARAMETER: an SSM SecureString name

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """The settings in ``environ`` (``os.environ`` in Lambda), or ``SettingError``."""
        return cls.parse({name: environ[name] for name in VARIABLES if name in environ})

    @classmethod
    def parse(cls, values: Mapping[str, str]) -> Settings:
        """Settings from variable name -> text, absent or blank meaning the default."""

        def text(name: str) -> str:
            return (values.get(name) or "").strip()

        issuers = _required_list(text("ISSUER"), "ISSUER")
        secret = text("HS256_SECRET_PARAMETER")
        settings = cls(
            issuers=issuers,
            audiences=_required_list(text("AUDIENCE"), "AUDIENCE"),
            jwks_uri=text("JWKS_URI") or None,
            algorithms=parse_algorithms(text("ALLOWED_ALGORITHMS"), shared_secret=bool(secret)),
            scope_claims=parse_list(text("SCOPE_CLAIMS")) or BUILT_IN_SCOPE_CLAIMS,
            required_claims=parse_required_claims(text("REQUIRED_CLAIMS")),
            required_scopes=parse_scopes(text("REQUIRED_SCOPES"), "REQUIRED_SCOPES"),
            route_scopes=parse_route_scopes(text("ROUTE_SCOPES")),
            resource_routes=parse_resource_routes(text("RESOURCE_ROUTES")),
            jwks_cooldown=_seconds(text("JWKS_COOLDOWN_SECONDS"), "JWKS_COOLDOWN_SECONDS", 60.0),
            jwks_max_stale=_seconds(text("JWKS_MAX_STALE_SECONDS"), "JWKS_MAX_STALE_SECONDS", 3600.0),
            verified_cache_size=_whole(text("VERIFIED_CACHE_SIZE"), "VERIFIED_CACHE_SIZE", 1024),
            hs256_secret_parameter=secret,
        )
        if settings.jwks_uri and len(issuers) > 1:
            raise SettingError(
                f"JWKS_URI names the keys of one issuer, but ISSUER lists {len(issuers)}: leave JWKS_URI empty"
            )
        if secret and len(issuers) > 1:
            raise SettingError(
                f"HS256_SECRET_PARAMETER gives one key for every issuer, but ISSUER lists {len(issuers)}"
            )
        return settings


# Every variable Settings reads, in the order of its fields.
VARIABLES = (
    "ISSUER",
    "AUDIENCE",
    "JWKS_URI",
    "ALLOWED_ALGORITHMS",
    "SCOPE_CLAIMS",
    "REQUIRED_CLAIMS",
    "REQUIRED_SCOPES",
    "ROUTE_SCOPES",
    "RESOURCE_ROUTES",
    "JWKS_COOLDOWN_SECONDS",
    "JWKS_MAX_STALE_SECONDS",
    "VERIFIED_CACHE_SIZE",
    "HS256_SECRET_PARAMETER",
)


def parse_list(value: str | None) -> tuple[str, ...]:
    """Comma- or space-separated values, blanks dropped."""
    return tuple(part for part in re.split(r"[,\s]+", value or "") if part)


def _required_list(value: str, name: str) -> tuple[str, ...]:
    listed = parse_list(value)
    if not listed:
        raise SettingError(f"environment variable {name} is required (see template.yaml)")
    return listed


def parse_algorithms(value: str, *, shared_secret: bool = False) -> frozenset[str]:
    """``ALLOWED_ALGORITHMS``: names from the algorithm table; HS256 only with a shared secret, alone.

    Empty means RS256, or HS256 in the shared-secret mode (the one algorithm it can verify).
    """
    names = frozenset(parse_list(value))
    if not names:
        return SHARED_SECRET_ALGORITHMS if shared_secret else DEFAULT_ALGORITHMS
    unknown = sorted(names - set(ALGORITHMS))
    if unknown:
        known = ", ".join(name for name in ALGORITHMS if name not in SHARED_SECRET_ALGORITHMS)
        raise SettingError(f"ALLOWED_ALGORITHMS holds {unknown[0]!r}, which is not one of {known}")
    if shared_secret and names != SHARED_SECRET_ALGORITHMS:
        raise SettingError("with HS256_SECRET_PARAMETER set, ALLOWED_ALGORITHMS must be HS256 alone (or empty)")
    if not shared_secret and names & SHARED_SECRET_ALGORITHMS:
        raise SettingError("ALLOWED_ALGORITHMS may hold HS256 only with HS256_SECRET_PARAMETER set, and then alone")
    return names


def parse_scopes(value: str, name: str) -> tuple[str, ...]:
    scopes = parse_list(value)
    bad = [scope for scope in scopes if not scope_token(scope)]
    if bad:
        raise SettingError(f"{name} holds {bad[0]!r}, which is not an RFC 6749 scope-token")
    return scopes


def parse_route_scopes(text: str) -> Mapping[str, tuple[str, ...]]:
    """``ROUTE_SCOPES``: a JSON object of route key (``"GET /path"``) to a list of scopes."""
    raw = json_setting("ROUTE_SCOPES", text, "route key to scopes")
    routes: dict[str, tuple[str, ...]] = {}
    for route_key, scopes in raw.items():
        if not ROUTE_KEY.fullmatch(route_key):
            raise SettingError(f'ROUTE_SCOPES key {route_key!r} is not a route key like "GET /path"')
        listed = parse_list(scopes) if isinstance(scopes, str) else scopes
        if not isinstance(listed, (list, tuple)) or not all(scope_token(s) for s in listed):
            raise SettingError(
                f"ROUTE_SCOPES[{route_key!r}] must be a list of scope strings, each an RFC 6749 scope-token"
            )
        routes[route_key] = tuple(listed)
    return MappingProxyType(routes)


# An absolute http(s) URL without query or fragment (RFC 8707 2: a resource indicator has none),
# nothing JSON or a header would have to escape.
_RESOURCE_URL = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?")


def parse_resource_routes(text: str) -> Mapping[str, str]:
    """``RESOURCE_ROUTES``: a JSON object of route key to resource URL ("" takes it from the request)."""
    raw = json_setting("RESOURCE_ROUTES", text, 'route key to resource URL, e.g. {"POST /mcp": ""}')
    for route_key, url in raw.items():
        if not ROUTE_KEY.fullmatch(route_key) or route_key == "$default":
            raise SettingError(f'RESOURCE_ROUTES key {route_key!r} is not a route key like "POST /mcp"')
        if not isinstance(url, str) or (url and not _RESOURCE_URL.fullmatch(url)):
            raise SettingError(
                f'RESOURCE_ROUTES[{route_key!r}] must be an http(s) URL without query or fragment, or ""'
            )
        if not url and (route_key.startswith("ANY ") or "{" in route_key):
            # The URL would change with the path while the route key, in the cache key, does not:
            # an answer cached for one path would answer for another.
            raise SettingError(
                f'RESOURCE_ROUTES[{route_key!r}] takes its URL from the request ("") but the route covers '
                "more than one path or method: name its URL"
            )
    return MappingProxyType(dict(raw))


def parse_required_claims(text: str) -> Mapping[str, frozenset[str]]:
    """``REQUIRED_CLAIMS``: a JSON object of claim name to a non-empty list of accepted strings."""
    raw = json_setting("REQUIRED_CLAIMS", text, 'claim name to accepted values, e.g. {"gty": ["x"]}')
    for name, values in raw.items():
        if not name or not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise SettingError(f"REQUIRED_CLAIMS[{name!r}] must be a non-empty list of strings")
    return MappingProxyType({name: frozenset(values) for name, values in raw.items()})


def json_setting(name: str, text: str | None, shape: str) -> dict[str, Any]:
    """A setting that holds a JSON object (empty: none), or ``SettingError`` naming it.

    A name given twice is refused: JSON would keep the last silently, and a duplicated route
    with ``[]`` would drop the stricter rule written above it.
    """
    text = (text or "").strip()
    try:
        value = json.loads(text, object_pairs_hook=_unique_names) if text else {}
    except _GivenTwice as exc:
        raise SettingError(f"{name} gives {exc} twice: keep one") from None
    except ValueError as exc:
        raise SettingError(f"{name} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise SettingError(f"{name} must be a JSON object of {shape}")
    return value


class _GivenTwice(ValueError):
    """A JSON object names a member twice (the message is the name, quoted)."""


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen:
            raise _GivenTwice(repr(name))
        seen.add(name)
    return dict(pairs)


def _seconds(text: str, name: str, default: float) -> float:
    """A duration: a plain decimal number of seconds, 0 or more (no nan, inf or sign games)."""
    if not text:
        return default
    if not re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", text):
        raise SettingError(f"environment variable {name} must be a number of seconds, 0 or more (got {text!r})")
    return float(text)


def _whole(text: str, name: str, default: int) -> int:
    if not text:
        return default
    if not re.fullmatch(r"[0-9]+", text):
        raise SettingError(f"environment variable {name} must be a whole number, 0 or more (got {text!r})")
    return int(text)
