"""A local HTTP API with API Gateway's documented semantics, built from template.yaml.

- Routes: exact and ``{param}``/``{proxy+}`` paths; no match is 404 ``{"message":"Not Found"}``.
  The path is routed as sent: an origin-form target is split at its first ``?`` (never read
  as a URL, where ``//lambda/test`` would name a host), then matched segment by segment, each
  percent-decoded, so ``%2F`` never makes a segment. A path the gateway will not guess about
  is 404 without reaching any route or authorizer: any other target form (``*``,
  ``http://host/x``), an empty segment (``//x``, ``/x/``, ``/a//b``), a dot segment (``.``,
  ``..``, also as ``%2e``), a ``#``, a byte outside printable ASCII, a malformed escape or one
  that is not UTF-8.
- JWT authorizer routes: the token is checked by ``jwt_authorizer.verifier`` (the Lambda authorizer's own
  core, so both paths can never disagree) against keys from the issuer's discovery document.
  Missing or invalid: 401 ``{"message":"Unauthorized"}`` with ``www-authenticate``; route scopes
  not met: 403 ``{"message":"Forbidden"}``. The integration gets ``authorizer.jwt``.
- Lambda authorizer routes: a missing identity source is 401 and the function is not called;
  otherwise the v2 REQUEST event (no body) goes to the authorizer function. Deny: 403; an error
  or a malformed answer: 500. Answers are cached per identity-source values for the TTL
  (expired ones purged once a minute, and at most 1000, the oldest out first).
  The integration gets ``authorizer.lambda``.
- Integrations get payload 2.0 events and their answers are mapped back as 2.0 prescribes.
- CORS (``x-amazon-apigateway-cors``): a preflight that no OPTIONS or ANY route takes is
  answered 204 by the gateway itself, never by an authorizer; responses to an allowed
  ``Origin`` carry the configured headers, and integrations' own CORS headers are dropped.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from devkit.local.functions import FunctionError, Functions
from devkit.local.tally import Tally
from devkit.template import FAKE_ACCOUNT, FAKE_REGION, Api, Authorizer, Cors, Route
from jwt_authorizer.adapters import bearer_token
from jwt_authorizer.algorithms import BUILT_IN_ALGORITHMS
from jwt_authorizer.keys import KeySource
from jwt_authorizer.policy import scopes_satisfied, token_scopes
from jwt_authorizer.verifier import JwtVerifier, TokenRejected

LOGGER = logging.getLogger("devkit.local.gateway")
API_ID = "localapi01"
DOMAIN = f"{API_ID}.execute-api.{FAKE_REGION}.amazonaws.com"
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript", "+json", "+xml")
_MALFORMED_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# API Gateway does not say how many answers it keeps; far more than local use needs, at about
# 10 KB (the head quota) a key at worst.
AUTHORIZER_CACHE_ENTRIES = 1000
AUTHORIZER_CACHE_SWEEP_SECONDS = 60.0


@dataclass
class Request:
    method: str
    target: str  # path and query string, as on the request line
    headers: list[tuple[str, str]]
    body: bytes = b""
    source_ip: str = "127.0.0.1"


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @classmethod
    def message(cls, status: int, message: str, *extra: tuple[str, str]) -> Response:
        headers = [("content-type", "application/json"), *extra]
        # Byte for byte as API Gateway writes it: {"message":"Unauthorized"}, no space.
        return cls(status, headers, json.dumps({"message": message}, separators=(",", ":")).encode())

    def json(self) -> Any:
        return json.loads(self.body)


def claims_as_aws_passes_them(claims: Mapping[str, Any]) -> dict[str, str]:
    """HTTP APIs hand JWT claims to integrations as strings; arrays become "[a b]".

    Booleans are ``true``/``false``, objects compact JSON, anything else ``str()``. Neither this
    nor the JSON is recursive (each keeps a stack of its own), so no depth of claim a signed
    token can carry can exhaust the interpreter's stack. Claims come from JSON, so hold no cycles.
    """
    return {name: _flat_claim(value) for name, value in claims.items()}


def _flat_claim(value: Any) -> str:
    out: list[str] = []
    pending: list[Any] = [value]  # popped from the end: pushed in reverse
    while pending:
        item = pending.pop()
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, list):
            pending.append("]")
            for index, element in enumerate(reversed(item)):
                if index:
                    pending.append(" ")
                pending.append(element)
            pending.append("[")
        elif isinstance(item, dict):
            out.append(_compact_json(item))
        else:
            out.append(str(item))  # a string claim, or one of the brackets and spaces pushed above
    return "".join(out)


class _JsonText(str):
    """JSON punctuation on the encoder's stack, written as it is (a plain ``str`` is a value)."""


def _compact_json(value: Any) -> str:
    """``json.dumps(value, separators=(",", ":"))``, the same text, without recursion."""
    out: list[str] = []
    pending: list[Any] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, _JsonText):
            out.append(item)
        elif isinstance(item, dict):
            pending.append(_JsonText("}"))
            for index, (key, element) in enumerate(reversed(item.items())):
                if index:
                    pending.append(_JsonText(","))
                pending.append(element)
                # json.dumps writes a non-string key (number, bool, null) as its JSON text, quoted.
                pending.append(_JsonText(json.dumps(key if isinstance(key, str) else json.dumps(key)) + ":"))
            pending.append(_JsonText("{"))
        elif isinstance(item, (list, tuple)):
            pending.append(_JsonText("]"))
            for index, element in enumerate(reversed(item)):
                if index:
                    pending.append(_JsonText(","))
                pending.append(element)
            pending.append(_JsonText("["))
        else:
            out.append(json.dumps(item))  # a scalar: one level, whatever its type
    return "".join(out)


class _AuthorizerCache:
    """Lambda authorizer answers per identity-source values, each for its TTL.

    Every distinct header a client sends is a key, so the cache is bounded twice over: expired
    answers are purged when a put finds a sweep due (one pass per ``sweep_every`` seconds), and
    past ``max_entries`` the oldest answer goes first.
    """

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        max_entries: int = AUTHORIZER_CACHE_ENTRIES,
        sweep_every: float = AUTHORIZER_CACHE_SWEEP_SECONDS,
    ) -> None:
        self._entries: dict[tuple[str, tuple[str, ...]], tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._max_entries = max_entries
        self._sweep_every = sweep_every
        self._next_sweep = clock() + sweep_every

    def get(self, key: tuple[str, tuple[str, ...]]) -> dict[str, Any] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry and entry[0] > self._clock():
                return entry[1]
            self._entries.pop(key, None)
            return None

    def put(self, key: tuple[str, tuple[str, ...]], ttl: int, answer: dict[str, Any]) -> None:
        with self._lock:
            now = self._clock()
            if now >= self._next_sweep:
                self._entries = {k: entry for k, entry in self._entries.items() if entry[0] > now}
                self._next_sweep = now + self._sweep_every
            self._entries.pop(key, None)  # a fresh answer is the newest, whatever its key held
            self._entries[key] = (now + ttl, answer)
            while len(self._entries) > self._max_entries:
                del self._entries[next(iter(self._entries))]  # dicts keep insertion order


class Gateway:
    def __init__(
        self,
        api: Api,
        functions: Functions,
        *,
        clock: Callable[[], float] = time.monotonic,
        tally: Tally | None = None,
    ) -> None:
        """``tally``: where the session's answers are counted (make local's summary on exit)."""
        self.api = api
        self.functions = functions
        self.tally = tally
        self._cache = _AuthorizerCache(clock)
        self._jwt = {
            # RS256 alone: what AWS shows its built-in authorizer accepting ("RSA-based
            # algorithms"; the others are not named), so a local 200 promises no more than that.
            name: JwtVerifier(
                issuer=a.issuer,
                audiences=a.audiences,
                keys=KeySource(issuer=a.issuer, algorithms=BUILT_IN_ALGORITHMS),
                algorithms=BUILT_IN_ALGORITHMS,
            )
            for name, a in api.authorizers.items()
            if a.kind == "jwt"
        }

    # ------------------------------------------------------------------ request flow
    def handle(self, request: Request) -> Response:
        cors = self.api.cors
        origin = _header(request.headers, "origin")
        path, query = split_target(request.target)
        segments = path_segments(path)
        if cors is not None and origin is not None and _is_preflight(request) and not self._match("OPTIONS", segments):
            # API Gateway answers preflights itself unless a route (OPTIONS or ANY) takes them.
            preflight = Response(204, _cors_headers(cors, origin, preflight=True) if cors.allows(origin) else [])
            return self._counted(None, preflight)
        response = self._route(request, path, query, segments)
        if cors is None or origin is None:
            return response
        # With CORS configured, API Gateway ignores CORS headers from integrations.
        response.headers = [(k, v) for k, v in response.headers if not k.startswith("access-control-")]
        if cors.allows(origin):
            response.headers += _cors_headers(cors, origin, preflight=False)
        return response

    def _route(self, request: Request, path: str, query: str, segments: tuple[str, ...] | None) -> Response:
        matched = self._match(request.method.upper(), segments)
        if matched is None:
            return self._counted(None, Response.message(404, "Not Found"))
        route, path_parameters = matched
        event = self._event(request, route, path, query, path_parameters)
        if route.authorizer is not None:
            authorizer = self.api.authorizers[route.authorizer]
            check = self._jwt_authorize if authorizer.kind == "jwt" else self._lambda_authorize
            denied = check(authorizer, route, event)
            if denied is not None:
                # The access log's authorizerError: the built-in authorizer refused a token it read.
                refused = authorizer.kind == "jwt" and any(
                    k == "www-authenticate" and "error=" in v for k, v in denied.headers
                )
                return self._counted(route, denied, refused)
        try:
            result = self.functions.invoke(route.function, event)
        except FunctionError:
            return self._counted(route, Response.message(500, "Internal Server Error"))
        return self._counted(route, self._map_response(result))

    def _counted(self, route: Route | None, response: Response, builtin_refusal: bool = False) -> Response:
        if self.tally is not None:
            self.tally.response(route.route_key if route is not None else None, response.status, builtin_refusal)
        return response

    def _match(self, method: str, segments: tuple[str, ...] | None) -> tuple[Route, dict[str, str]] | None:
        if segments is None:
            return None
        candidates = []
        for route in self.api.routes:
            parameters = route.match(segments)
            if parameters is not None and route.method in (method, "ANY"):
                candidates.append((route, parameters))
        # Most specific first: exact paths, then fewer parameters, then a concrete method.
        candidates.sort(key=lambda c: ("{" in c[0].path, c[0].path.count("{"), c[0].method == "ANY"))
        return candidates[0] if candidates else None

    # ------------------------------------------------------------------ authorizers
    def _jwt_authorize(self, authorizer: Authorizer, route: Route, event: dict[str, Any]) -> Response | None:
        values = _identity_values(authorizer, event)
        if values is None:
            return Response.message(401, "Unauthorized", ("www-authenticate", "Bearer"))
        try:
            verified = self._jwt[authorizer.name].verify(bearer_token(values[0]))
        except TokenRejected as rejected:
            challenge = f'Bearer error="invalid_token" error_description="{rejected.reason}"'
            return Response.message(401, "Unauthorized", ("www-authenticate", challenge))
        except Exception:  # a verifier bug must still look like AWS: no token earns a 500
            LOGGER.exception("JWT authorizer emulation error")
            return Response.message(401, "Unauthorized", ("www-authenticate", 'Bearer error="invalid_token"'))
        scopes = token_scopes(verified.claims)
        if not scopes_satisfied(scopes, route.scopes):
            challenge = f'Bearer scope="{" ".join(route.scopes)}" error="insufficient_scope"'
            return Response.message(403, "Forbidden", ("www-authenticate", challenge))
        event["requestContext"]["authorizer"] = {
            "jwt": {
                "claims": claims_as_aws_passes_them(verified.claims),
                "scopes": scopes if route.scopes else None,
            }
        }
        return None

    def _lambda_authorize(self, authorizer: Authorizer, route: Route, event: dict[str, Any]) -> Response | None:
        values = _identity_values(authorizer, event)
        if values is None:
            return Response.message(401, "Unauthorized")
        key = (authorizer.name, tuple(values))
        answer = self._cache.get(key) if authorizer.ttl > 0 else None
        if answer is None:
            request = {k: v for k, v in event.items() if k not in ("body", "isBase64Encoded")}
            request.update(
                type="REQUEST",
                identitySource=values,
                routeArn=f"arn:aws:execute-api:{FAKE_REGION}:{FAKE_ACCOUNT}:{API_ID}/$default/"
                + f"{route.method}{route.path}",
            )
            try:
                answer = self.functions.invoke(authorizer.function, request)
            except FunctionError:
                return Response.message(500, "Internal Server Error")
            if not isinstance(answer, dict) or not isinstance(answer.get("isAuthorized"), bool):
                return Response.message(500, "Internal Server Error")
            if authorizer.ttl > 0:
                self._cache.put(key, authorizer.ttl, answer)
        if not answer["isAuthorized"]:
            return Response.message(403, "Forbidden")
        context = answer.get("context")
        event["requestContext"]["authorizer"] = {"lambda": context if isinstance(context, dict) else None}
        return None

    # ------------------------------------------------------------------ payload 2.0
    def _event(
        self, request: Request, route: Route, path: str, query: str, path_parameters: dict[str, str]
    ) -> dict[str, Any]:
        headers: dict[str, str] = {}
        cookies: list[str] = []
        for name, value in request.headers:
            lower = name.lower()
            if lower == "cookie":
                cookies.extend(c.strip() for c in value.split(";") if c.strip())
            else:
                headers[lower] = f"{headers[lower]},{value}" if lower in headers else value
        query_parameters: dict[str, str] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            query_parameters[name] = f"{query_parameters[name]},{value}" if name in query_parameters else value
        now = time.time()
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.route_key,
            "rawPath": path,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": {
                "accountId": FAKE_ACCOUNT,
                "apiId": API_ID,
                "domainName": DOMAIN,
                "domainPrefix": API_ID,
                "http": {
                    "method": request.method.upper(),
                    "path": path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": request.source_ip,
                    "userAgent": headers.get("user-agent", ""),
                },
                "requestId": base64.b64encode(uuid.uuid4().bytes[:11]).decode(),
                "routeKey": route.route_key,
                "stage": "$default",
                "time": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "timeEpoch": int(now * 1000),
            },
            "isBase64Encoded": False,
        }
        if cookies:
            event["cookies"] = cookies
        if query_parameters:
            event["queryStringParameters"] = query_parameters
        if path_parameters:
            event["pathParameters"] = path_parameters
        if request.body:
            content_type = headers.get("content-type", "")
            if any(t in content_type for t in _TEXT_TYPES):
                try:
                    event["body"] = request.body.decode("utf-8")
                except UnicodeDecodeError:
                    event["body"], event["isBase64Encoded"] = base64.b64encode(request.body).decode(), True
            else:
                event["body"], event["isBase64Encoded"] = base64.b64encode(request.body).decode(), True
        return event

    @staticmethod
    def _map_response(result: Any) -> Response:
        if not (isinstance(result, dict) and "statusCode" in result):
            # 2.0's shortcut: any other JSON answer is a 200 application/json body, the answer as
            # the runtime wrote it (non-ASCII as UTF-8, not \u escapes; see devkit.local.functions).
            as_sent = json.dumps(result, ensure_ascii=False).encode()
            return Response(200, [("content-type", "application/json")], as_sent)
        status = result["statusCode"]
        headers = result.get("headers") or {}
        body = result.get("body")
        cookies = result.get("cookies") or []
        if (
            not isinstance(status, int)
            or not 100 <= status <= 599
            or not isinstance(headers, dict)
            or not isinstance(cookies, list)
            or not isinstance(body, (str, type(None)))
        ):
            return Response.message(500, "Internal Server Error")
        try:
            encoded = bool(result.get("isBase64Encoded"))
            data = base64.b64decode(body or "", validate=True) if encoded else (body or "").encode()
        except ValueError:
            return Response.message(500, "Internal Server Error")
        out = [(str(k).lower(), str(v)) for k, v in headers.items()]
        out += [("set-cookie", str(c)) for c in cookies]
        if not any(k == "content-type" for k, _ in out) and body is not None:
            out.append(("content-type", "application/json"))
        return Response(status, out, data)


def split_target(target: str) -> tuple[str, str]:
    """The path and query of an origin-form request target (RFC 9112 section 3.2.1), as sent.

    Split at the first ``?`` by hand: ``urlsplit`` reads ``//lambda/test`` as a host and a path
    ``/test``. Any other form (``*``, ``http://host/x``) gives no path at all (``""``).
    """
    if not target.startswith("/"):
        return "", ""
    path, _, query = target.partition("?")
    return path, query


def path_segments(path: str) -> tuple[str, ...] | None:
    """The path's percent-decoded segments, or None for a path the gateway answers 404.

    API Gateway's normalisation is not documented, so where AWS might route a spelling to one
    route or another (``//x``, ``/x/``, ``/./x``, ``/%2e%2e/x``), no route takes it: an empty or
    dot segment (RFC 3986 section 3.3 and 5.2.4, decoded as RFC 3986 section 6.2.2.2 allows) ends
    the match, and so does a segment that cannot be decoded the one way.
    """
    if path == "/":
        return ()
    if not path.startswith("/"):
        return None
    segments = []
    for raw in path[1:].split("/"):
        segment = _decoded_segment(raw)
        if segment is None or segment in ("", ".", ".."):
            return None
        segments.append(segment)
    return tuple(segments)


def _decoded_segment(raw: str) -> str | None:
    # A fragment is never part of a request target (RFC 9112 section 3.2), and raw bytes outside
    # printable ASCII are not URI characters (RFC 3986 section 2): no guess at what they meant.
    if not (raw.isascii() and raw.isprintable()) or "#" in raw or _MALFORMED_ESCAPE.search(raw):
        return None
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        return None


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _is_preflight(request: Request) -> bool:
    return request.method.upper() == "OPTIONS" and _header(request.headers, "access-control-request-method") is not None


def _cors_headers(cors: Cors, origin: str, *, preflight: bool) -> list[tuple[str, str]]:
    allow_origin = "*" if "*" in cors.allow_origins and not cors.allow_credentials else origin
    headers = [("access-control-allow-origin", allow_origin)]
    if cors.allow_credentials:
        headers.append(("access-control-allow-credentials", "true"))
    if preflight:
        if cors.allow_methods:
            headers.append(("access-control-allow-methods", ",".join(cors.allow_methods)))
        if cors.allow_headers:
            headers.append(("access-control-allow-headers", ",".join(cors.allow_headers)))
        if cors.max_age is not None:
            headers.append(("access-control-max-age", str(cors.max_age)))
    elif cors.expose_headers:
        headers.append(("access-control-expose-headers", ",".join(cors.expose_headers)))
    return headers


def _identity_values(authorizer: Authorizer, event: dict[str, Any]) -> list[str] | None:
    """The identity-source values in order, or None if any is missing or empty."""
    values = []
    for source in authorizer.identity_sources:
        value: Any = None
        if source.startswith("$request.header."):
            value = event["headers"].get(source.removeprefix("$request.header.").lower())
        elif source.startswith("$request.querystring."):
            value = (event.get("queryStringParameters") or {}).get(source.removeprefix("$request.querystring."))
        elif source.startswith("$context."):
            value = event["requestContext"].get(source.removeprefix("$context."))
        if not isinstance(value, str) or not value:
            return None
        values.append(value)
    return values
