"""A local HTTP API with API Gateway's documented semantics, built from template.yaml.

- Routes: exact and ``{param}``/``{proxy+}`` paths; no match is 404 ``{"message":"Not Found"}``.
- JWT authorizer routes: the token is checked by ``jwt_authorizer.verifier`` (the Lambda authorizer's own
  core, so both paths can never disagree) against keys from the issuer's discovery document.
  Missing or invalid: 401 ``{"message":"Unauthorized"}`` with ``www-authenticate``; route scopes
  not met: 403 ``{"message":"Forbidden"}``. The integration gets ``authorizer.jwt``.
- Lambda authorizer routes: a missing identity source is 401 and the function is not called;
  otherwise the v2 REQUEST event (no body) goes to the authorizer function. Deny: 403; an error
  or a malformed answer: 500. Answers are cached per identity-source values for the TTL.
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
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from devloop.lambdas import FunctionError, Functions
from devloop.template import FAKE_ACCOUNT, FAKE_REGION, Api, Authorizer, Cors, Route
from jwt_authorizer.adapters import bearer_token
from jwt_authorizer.keys import KeySource
from jwt_authorizer.policy import scopes_satisfied, token_scopes
from jwt_authorizer.verifier import JwtVerifier, TokenRejected

LOGGER = logging.getLogger("devloop.gateway")
API_ID = "localapi01"
DOMAIN = f"{API_ID}.execute-api.{FAKE_REGION}.amazonaws.com"
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript", "+json", "+xml")


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
        return cls(status, headers, json.dumps({"message": message}).encode())

    def json(self) -> Any:
        return json.loads(self.body)


def claims_as_aws_passes_them(claims: Mapping[str, Any]) -> dict[str, str]:
    """HTTP APIs hand JWT claims to integrations as strings; arrays become "[a b]"."""

    def flat(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return "[" + " ".join(flat(v) for v in value) + "]"
        if isinstance(value, dict):
            return json.dumps(value, separators=(",", ":"))
        return str(value)

    return {name: flat(value) for name, value in claims.items()}


class _AuthorizerCache:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._entries: dict[tuple[str, tuple[str, ...]], tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def get(self, key: tuple[str, tuple[str, ...]]) -> dict[str, Any] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry and entry[0] > self._clock():
                return entry[1]
            self._entries.pop(key, None)
            return None

    def put(self, key: tuple[str, tuple[str, ...]], ttl: int, answer: dict[str, Any]) -> None:
        with self._lock:
            self._entries[key] = (self._clock() + ttl, answer)


class Gateway:
    def __init__(
        self,
        api: Api,
        functions: Functions,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.functions = functions
        self._cache = _AuthorizerCache(clock)
        self._jwt = {
            name: JwtVerifier(
                issuer=a.issuer,
                audiences=a.audiences,
                keys=KeySource(issuer=a.issuer),
            )
            for name, a in api.authorizers.items()
            if a.kind == "jwt"
        }

    # ------------------------------------------------------------------ request flow
    def handle(self, request: Request) -> Response:
        cors = self.api.cors
        origin = _header(request.headers, "origin")
        path = urlsplit(request.target).path or "/"
        if cors is not None and origin is not None and _is_preflight(request) and not self._match("OPTIONS", path):
            # API Gateway answers preflights itself unless a route (OPTIONS or ANY) takes them.
            return Response(204, _cors_headers(cors, origin, preflight=True) if cors.allows(origin) else [])
        response = self._route(request)
        if cors is None or origin is None:
            return response
        # With CORS configured, API Gateway ignores CORS headers from integrations.
        response.headers = [(k, v) for k, v in response.headers if not k.startswith("access-control-")]
        if cors.allows(origin):
            response.headers += _cors_headers(cors, origin, preflight=False)
        return response

    def _route(self, request: Request) -> Response:
        url = urlsplit(request.target)
        path = url.path or "/"
        matched = self._match(request.method.upper(), path)
        if matched is None:
            return Response.message(404, "Not Found")
        route, path_parameters = matched
        event = self._event(request, route, path, url.query, path_parameters)
        if route.authorizer is not None:
            authorizer = self.api.authorizers[route.authorizer]
            check = self._jwt_authorize if authorizer.kind == "jwt" else self._lambda_authorize
            denied = check(authorizer, route, event)
            if denied is not None:
                return denied
        try:
            result = self.functions.invoke(route.function, event)
        except FunctionError:
            return Response.message(500, "Internal Server Error")
        return self._map_response(result)

    def _match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        candidates = []
        for route in self.api.routes:
            found = route.pattern.match(path)
            if found and route.method in (method, "ANY"):
                candidates.append((route, found.groupdict()))
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
            # 2.0's shortcut: any other JSON answer is a 200 application/json body.
            return Response(200, [("content-type", "application/json")], json.dumps(result).encode())
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
