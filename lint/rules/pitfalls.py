"""cfn-lint rules for the HTTP API + authorizer mistakes that only show up after a deploy.

Run by ``make lint`` (``cfn-lint template.yaml --append-rules lint/rules``). cfn-lint checks
SAM templates as written (it no longer expands the transform), so these rules read what users
write: ``AWS::Serverless::HttpApi`` (``Auth``, ``DefinitionBody``, ``CorsConfiguration``),
``HttpApi`` events on functions, and ``AWS::ApiGatewayV2::Api`` with an OpenAPI ``Body``.

- E9101 a route integration or a Lambda authorizer that API Gateway has no way to invoke;
- E9102 an authorizer that would receive CORS preflight requests;
- E9103 a cached Lambda authorizer without identity sources, or with per-route rules
  (``ROUTE_SCOPES`` giving some route other scopes than ``REQUIRED_SCOPES``, as the
  authorizer's own ``ScopeRules.route_specific`` decides, or any ``RESOURCE_ROUTES``) but no
  ``$context.routeKey`` in its cache key, or a resource route whose audience is the URL the
  request came to but no ``$context.domainName`` in it;
- E9104 an issuer that cannot match a token's ``iss`` (not https, whitespace, an Auth0
  issuer without its trailing slash), for the JWT authorizer and for the issuers a Lambda
  authorizer's function gets in ``ISSUER``; the rule is ``devkit.parameters.issuer_problem``,
  the same one ``make deploy`` and ``make local`` apply to the parameters given to them;
- E9105 a route with no authorizer that is not declared public (``security: []`` on the
  operation, or ``Auth: {Authorizer: NONE}`` on a function event), on an API with no default
  authorizer: a route added without a ``security`` entry is open to anyone, silently;
- E9106 a Lambda authorizer setting (a literal, or the default of the parameter it is given)
  that the authorizer's own parser refuses, so the function would fail at every cold start:
  ``REQUIRED_CLAIMS``, ``REQUIRED_SCOPES``, ``ROUTE_SCOPES``, ``RESOURCE_ROUTES``, ``ALLOWED_ALGORITHMS``. ``make
  deploy`` and ``make local`` refuse the same values when they are given as parameters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar, NamedTuple

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from devkit.parameters import issuer_problem
from jwt_authorizer.policy import ScopeRules
from jwt_authorizer.settings import (
    SettingError,
    parse_algorithms,
    parse_required_claims,
    parse_resource_routes,
    parse_route_scopes,
    parse_scopes,
)

Path = tuple[Any, ...]
FUNCTION_TYPES = {"AWS::Serverless::Function", "AWS::Lambda::Function"}
API_TYPES = {"AWS::Serverless::HttpApi": "DefinitionBody", "AWS::ApiGatewayV2::Api": "Body"}
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "x-amazon-apigateway-any-method"}
_SUB_NAME = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}")


# ---------------------------------------------------------------------------- template reading
def references(value: Any) -> set[str]:
    """Logical IDs a value points at through Ref, Fn::GetAtt or Fn::Sub, at any depth."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                target = inner[0] if isinstance(inner, list) and inner else inner
                if isinstance(target, str):
                    found.add(target.split(".")[0])
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) and inner else inner
                if isinstance(text, str):
                    found.update(_SUB_NAME.findall(text))
                found.update(references(inner[1] if isinstance(inner, list) and len(inner) > 1 else None))
            else:
                found.update(references(inner))
    elif isinstance(value, list):
        for inner in value:
            found.update(references(inner))
    return found


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def parameter_values(cfn: Any, value: Any) -> list[Any]:
    """A literal, or a referenced parameter's default (None when it has none: unknown)."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        parameter = cfn.template.get("Parameters", {}).get(value["Ref"])
        if isinstance(parameter, dict):
            return [parameter.get("Default")]
        return [None]
    return [value]


# NamedTuples and plain classes: cfn-lint loads rule files outside sys.modules, where
# dataclasses cannot resolve their own module.
class Integration(NamedTuple):
    path: Path
    function: str | None
    credentials: Any


class LambdaAuthorizer(NamedTuple):
    name: str
    path: Path
    function: str | None
    credentials: Any
    default_permissions: bool
    identity_sources: list[Any]
    ttl: Any


class Api:
    def __init__(self, logical_id: str) -> None:
        self.logical_id = logical_id
        self.cors = False
        self.routes: list[tuple[Path, str, bool]] = []  # (where, method, has an authorizer)
        # Routes with no authorizer that say nothing about it: (where, "METHOD /path").
        self.undeclared: list[tuple[Path, str]] = []
        self.integrations: list[Integration] = []
        self.authorizers: list[LambdaAuthorizer] = []
        self.jwt_issuers: list[tuple[Path, Any]] = []


def _function_of(cfn: Any, value: Any) -> str | None:
    resources = cfn.template.get("Resources", {})
    for name in references(value):
        if resources.get(name, {}).get("Type") in FUNCTION_TYPES:
            return str(name)
    return None


def apis(cfn: Any) -> Iterator[Api]:
    resources = cfn.template.get("Resources", {})
    for logical_id, resource in resources.items():
        body_key = API_TYPES.get(str(mapping(resource).get("Type")))
        if body_key is None:
            continue
        props = resource.get("Properties") or {}
        api = Api(logical_id)
        base: Path = ("Resources", logical_id, "Properties")
        auth = mapping(props.get("Auth"))
        default_authorizer = auth.get("DefaultAuthorizer") not in (None, "NONE")
        _read_sam_auth(cfn, api, auth, (*base, "Auth", "Authorizers"))
        cors = props.get("CorsConfiguration")
        api.cors = cors not in (None, False, {"Ref": "AWS::NoValue"})
        body = props.get(body_key)
        if isinstance(body, dict):
            api.cors = api.cors or "x-amazon-apigateway-cors" in body
            _read_body(cfn, api, body, (*base, body_key), default_authorizer)
        _read_function_events(cfn, api, default_authorizer)
        yield api


def _read_sam_auth(cfn: Any, api: Api, auth: dict[str, Any], path: Path) -> None:
    for name, spec in (auth.get("Authorizers") or {}).items():
        if not isinstance(spec, dict):
            continue
        if "JwtConfiguration" in spec:
            jwt_config = spec["JwtConfiguration"] or {}
            issuer_key = "issuer" if "issuer" in jwt_config else "Issuer"
            api.jwt_issuers.append(((*path, name, "JwtConfiguration", issuer_key), jwt_config.get(issuer_key)))
        elif "FunctionArn" in spec:
            identity = mapping(spec.get("Identity"))
            sources = [
                f"{prefix}{item}"
                for key, prefix in (
                    ("Headers", "$request.header."),
                    ("QueryStrings", "$request.querystring."),
                    ("Context", "$context."),
                    ("StageVariables", "$stageVariables."),
                )
                for item in as_list(identity.get(key) or [])
            ]
            api.authorizers.append(
                LambdaAuthorizer(
                    name=name,
                    path=(*path, name),
                    function=_function_of(cfn, spec["FunctionArn"]),
                    credentials=spec.get("FunctionInvokeRole"),
                    default_permissions=spec.get("EnableFunctionDefaultPermissions") is True,
                    identity_sources=sources,
                    ttl=identity.get("ReauthorizeEvery", 300),
                )
            )


def _read_body(cfn: Any, api: Api, body: dict[str, Any], path: Path, default_authorizer: bool) -> None:
    for route, item in (body.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        for method, operation in item.items():
            if method.lower() not in METHODS or not isinstance(operation, dict):
                continue
            where = (*path, "paths", route, method)
            security = operation.get("security")
            # A body-level security list is the default for operations without their own.
            inherited = body.get("security") if "security" in body else None
            authorized = bool(security) if security is not None else bool(inherited) or default_authorizer
            api.routes.append((where, method.lower(), authorized))
            if security is None and inherited is None and not default_authorizer:
                api.undeclared.append((where, f"{_shown_method(method)} {route}"))
            integration = operation.get("x-amazon-apigateway-integration")
            if isinstance(integration, dict):
                api.integrations.append(
                    Integration(
                        (*where, "x-amazon-apigateway-integration"),
                        _function_of(cfn, integration.get("uri")),
                        integration.get("credentials"),
                    )
                )
    schemes = (body.get("components") or {}).get("securitySchemes") or {}
    for name, scheme in schemes.items():
        spec = scheme.get("x-amazon-apigateway-authorizer") if isinstance(scheme, dict) else None
        if not isinstance(spec, dict):
            continue
        where = (*path, "components", "securitySchemes", name, "x-amazon-apigateway-authorizer")
        if spec.get("type") == "jwt":
            issuer = (spec.get("jwtConfiguration") or {}).get("issuer")
            api.jwt_issuers.append(((*where, "jwtConfiguration", "issuer"), issuer))
        elif spec.get("type") == "request":
            api.authorizers.append(
                LambdaAuthorizer(
                    name=name,
                    path=where,
                    function=_function_of(cfn, spec.get("authorizerUri")),
                    credentials=spec.get("authorizerCredentialsArn"),
                    default_permissions=False,
                    identity_sources=as_list(spec.get("identitySource") or []),
                    ttl=spec.get("authorizerResultTtlInSeconds", 0),
                )
            )


def _read_function_events(cfn: Any, api: Api, default_authorizer: bool) -> None:
    for name, resource in cfn.template.get("Resources", {}).items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event_name, event in ((resource.get("Properties") or {}).get("Events") or {}).items():
            if not isinstance(event, dict) or event.get("Type") != "HttpApi":
                continue
            props = event.get("Properties") or {}
            if api.logical_id not in references(props.get("ApiId")):
                continue
            authorizer = (props.get("Auth") or {}).get("Authorizer")
            authorized = authorizer != "NONE" and (authorizer is not None or default_authorizer)
            method = str(props.get("Method", "x-amazon-apigateway-any-method")).lower()
            method = "x-amazon-apigateway-any-method" if method == "any" else method
            where = ("Resources", name, "Properties", "Events", event_name)
            api.routes.append((where, method, authorized))
            if authorizer is None and not default_authorizer:
                api.undeclared.append((where, f"{_shown_method(method)} {props.get('Path', '$default')}"))


def _shown_method(method: str) -> str:
    return "ANY" if method.lower() in ("x-amazon-apigateway-any-method", "any") else method.upper()


# ---------------------------------------------------------------------------- IAM reading
def _statements(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, dict):
        return []
    return [s for s in as_list(document.get("Statement") or []) if isinstance(s, dict)]


def _role_policies(cfn: Any, role: str) -> list[Any]:
    resources = cfn.template.get("Resources", {})
    props = resources[role].get("Properties") or {}
    documents = [p.get("PolicyDocument") for p in as_list(props.get("Policies") or []) if isinstance(p, dict)]
    for resource in resources.values():
        if isinstance(resource, dict) and resource.get("Type") in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            attached = resource.get("Properties") or {}
            if role in references(attached.get("Roles")):
                documents.append(attached.get("PolicyDocument"))
    return documents


def role_may_invoke(cfn: Any, role: str, function: str) -> bool:
    props = cfn.template["Resources"][role].get("Properties") or {}
    trusted = any(
        s.get("Effect") == "Allow" and "apigateway.amazonaws.com" in as_list((s.get("Principal") or {}).get("Service"))
        for s in _statements(props.get("AssumeRolePolicyDocument"))
    )
    if not trusted:
        return False
    for document in _role_policies(cfn, role):
        for statement in _statements(document):
            actions = {str(a).lower() for a in as_list(statement.get("Action"))}
            if statement.get("Effect") != "Allow" or not actions & {"lambda:invokefunction", "lambda:*", "*"}:
                continue
            targets = as_list(statement.get("Resource"))
            if "*" in targets or function in references(targets):
                return True
    return False


def has_permission(cfn: Any, function: str) -> bool:
    for resource in cfn.template.get("Resources", {}).values():
        if isinstance(resource, dict) and resource.get("Type") == "AWS::Lambda::Permission":
            props = resource.get("Properties") or {}
            principal = str(props.get("Principal", ""))
            if function in references(props.get("FunctionName")) and principal.startswith("apigateway."):
                return True
    return False


def invocable(cfn: Any, function: str, credentials: Any, default_permissions: bool = False) -> bool:
    resources = cfn.template.get("Resources", {})
    roles = [r for r in references(credentials) if resources.get(r, {}).get("Type") == "AWS::IAM::Role"]
    if credentials is not None and not roles:
        return True  # a role from outside the template: nothing here to check it against
    if any(role_may_invoke(cfn, role, function) for role in roles):
        return True
    return default_permissions or has_permission(cfn, function)


# ---------------------------------------------------------------------------- the rules
class ApiGatewayCannotInvoke(CloudFormationLintRule):
    id = "E9101"
    shortdesc = "API Gateway has no way to invoke a route's function or a Lambda authorizer"
    description = (
        "Every Lambda integration and Lambda authorizer needs an invoke role that API Gateway may "
        "assume and that allows lambda:InvokeFunction on that function, or an AWS::Lambda::Permission "
        "for apigateway.amazonaws.com. Without either, every request is a 500."
    )
    source_url = "https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html"
    tags: ClassVar[list[str]] = ["apigateway", "lambda", "iam"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for api in apis(cfn):
            for integration in api.integrations:
                function = integration.function
                if function and not invocable(cfn, function, integration.credentials):
                    roles = sorted(r for r in references(integration.credentials) if r in cfn.template["Resources"])
                    if roles:
                        # The usual slip when adding a function: its route names the role, the role not it.
                        message = (
                            f"API Gateway cannot invoke {function} for this route: its credentials role "
                            f"{roles[0]} does not allow lambda:InvokeFunction on it; add !GetAtt {function}.Arn "
                            f"to that role's Resource list"
                        )
                    else:
                        message = (
                            f"API Gateway cannot invoke {function} for this route: set 'credentials' "
                            f"to a role that allows lambda:InvokeFunction on it, or add an AWS::Lambda::Permission"
                        )
                    matches.append(RuleMatch(list(integration.path), message))
            for authorizer in api.authorizers:
                function = authorizer.function
                if function and not invocable(cfn, function, authorizer.credentials, authorizer.default_permissions):
                    message = (
                        f"API Gateway cannot invoke authorizer {authorizer.name} ({function}): give it an invoke "
                        f"role that allows lambda:InvokeFunction on it, or add an AWS::Lambda::Permission"
                    )
                    matches.append(RuleMatch(list(authorizer.path), message))
        return matches


class AuthorizerOnCorsPreflight(CloudFormationLintRule):
    id = "E9102"
    shortdesc = "An authorizer would receive CORS preflight requests"
    description = (
        "With CORS configured, API Gateway answers preflight OPTIONS requests itself, unless a route "
        "matches OPTIONS (an OPTIONS, ANY or $default route). If that route has an authorizer, "
        "preflights (which never carry credentials) are refused and browsers block every call."
    )
    source_url = "https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html"
    tags: ClassVar[list[str]] = ["apigateway", "cors"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for api in apis(cfn):
            if not api.cors:
                continue
            for path, method, authorized in api.routes:
                if authorized and method in ("options", "x-amazon-apigateway-any-method"):
                    shown = "ANY" if method != "options" else "OPTIONS"
                    message = (
                        f"{shown} route with an authorizer on an API with CORS: preflight requests would reach the "
                        f"authorizer and fail; use explicit methods, or an OPTIONS route without authorization"
                    )
                    matches.append(RuleMatch(list(path), message))
        return matches


class AuthorizerCacheKey(CloudFormationLintRule):
    id = "E9103"
    shortdesc = "A Lambda authorizer's result cache is keyed wrongly"
    description = (
        "A cached Lambda authorizer needs identity sources (they are the cache key). If its function "
        "gives routes different rules (ROUTE_SCOPES), the key must include $context.routeKey, or an "
        "answer cached for one route is reused for another."
    )
    source_url = "https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html"
    tags: ClassVar[list[str]] = ["apigateway", "lambda", "cache"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for api in apis(cfn):
            for authorizer in api.authorizers:
                if not self._may_cache(cfn, authorizer.ttl):
                    continue
                if not authorizer.identity_sources:
                    message = f"authorizer {authorizer.name} caches results but has no identity sources to key them by"
                    matches.append(RuleMatch(list(authorizer.path), message))
                elif self._route_specific(cfn, authorizer.function) and not any(
                    s == "$context.routeKey" for s in authorizer.identity_sources
                ):
                    message = (
                        f"authorizer {authorizer.name} has per-route rules (ROUTE_SCOPES or RESOURCE_ROUTES) and a "
                        "result cache, but "
                        f"$context.routeKey is not in its identity sources: an allow for one route would open another"
                    )
                    matches.append(RuleMatch(list(authorizer.path), message))
                elif self._audience_from_domain(cfn, authorizer.function) and not any(
                    s == "$context.domainName" for s in authorizer.identity_sources
                ):
                    message = (
                        f"authorizer {authorizer.name} has a resource route whose audience is the URL the request "
                        'came to (RESOURCE_ROUTES "") and a result cache, but $context.domainName is not in its '
                        "identity sources: an allow on one domain would open the route on another"
                    )
                    matches.append(RuleMatch(list(authorizer.path), message))
        return matches

    @staticmethod
    def _resource_routes(cfn: Any, function: str | None) -> list[dict[str, str] | None]:
        """The function's RESOURCE_ROUTES, parsed as the authorizer parses them; None where the value
        is not known here (an intrinsic, a parameter without a default) or would be refused."""
        if function is None:
            return []
        props = cfn.template["Resources"][function].get("Properties") or {}
        variables = (props.get("Environment") or {}).get("Variables") or {}
        found: list[dict[str, str] | None] = []
        for value in parameter_values(cfn, variables.get("RESOURCE_ROUTES", "")):
            try:
                found.append(dict(parse_resource_routes(value)) if isinstance(value, str) else None)
            except SettingError:
                found.append(None)
        return found

    @classmethod
    def _audience_from_domain(cls, cfn: Any, function: str | None) -> bool:
        return any(routes is None or "" in routes.values() for routes in cls._resource_routes(cfn, function))

    @staticmethod
    def _may_cache(cfn: Any, ttl: Any) -> bool:
        for value in parameter_values(cfn, ttl):
            if value is None:
                return True
            try:
                if int(value) > 0:
                    return True
            except (TypeError, ValueError):
                return True
        return False

    @staticmethod
    def _route_specific(cfn: Any, function: str | None) -> bool:
        """Do the function's rules differ per route? The authorizer's own definition decides
        (``ScopeRules.route_specific``); a value not known here (a parameter without a default,
        an intrinsic) or one the authorizer would refuse counts as route-specific."""
        if function is None:
            return False
        # A resource route's audience is its own: its answers differ from every other route's.
        if any(routes is None or routes for routes in AuthorizerCacheKey._resource_routes(cfn, function)):
            return True
        props = cfn.template["Resources"][function].get("Properties") or {}
        variables = (props.get("Environment") or {}).get("Variables") or {}
        if "ROUTE_SCOPES" not in variables:
            return False
        routes = parameter_values(cfn, variables["ROUTE_SCOPES"])
        defaults = parameter_values(cfn, variables.get("REQUIRED_SCOPES", ""))
        for route_scopes in routes:
            for required in defaults:
                if not isinstance(route_scopes, str) or not isinstance(required, str):
                    return True
                try:
                    rules = ScopeRules(parse_scopes(required, "REQUIRED_SCOPES"), parse_route_scopes(route_scopes))
                except SettingError:
                    return True
                if rules.route_specific:
                    return True
        return False


class IssuerNotAnIssuerUrl(CloudFormationLintRule):
    id = "E9104"
    shortdesc = "A JWT authorizer's issuer cannot match a token's iss"
    description = (
        "The JWT authorizer compares iss byte for byte with an https:// issuer URL. A value or default "
        "without https://, with whitespace, or an Auth0 issuer without its trailing slash never matches."
    )
    source_url = "https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html"
    tags: ClassVar[list[str]] = ["apigateway", "jwt"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        seen: set[tuple[Path, str]] = set()
        for api in apis(cfn):
            candidates = [c for path, issuer in api.jwt_issuers for c in self._candidates(cfn, path, issuer)]
            for authorizer in api.authorizers:
                candidates += self._function_issuers(cfn, authorizer.function)
            for where, value in candidates:
                problem = issuer_problem(value)
                if problem and (where, value) not in seen:
                    seen.add((where, value))
                    matches.append(RuleMatch(list(where), f"issuer {value!r} {problem}"))
        return matches

    @staticmethod
    def _candidates(cfn: Any, path: Path, issuer: Any) -> list[tuple[Path, Any]]:
        if isinstance(issuer, dict) and set(issuer) == {"Ref"}:
            parameter = cfn.template.get("Parameters", {}).get(issuer["Ref"])
            if isinstance(parameter, dict) and "Default" in parameter:
                return [(("Parameters", issuer["Ref"], "Default"), parameter["Default"])]
            return []
        return [(path, issuer)] if isinstance(issuer, str) else []

    @staticmethod
    def _function_issuers(cfn: Any, function: str | None) -> list[tuple[Path, Any]]:
        """The issuers a Lambda authorizer's function compares iss with: its ``ISSUER`` variable,
        a literal or the defaults of the parameters it is built from (comma-separated lists)."""
        if function is None:
            return []
        props = cfn.template["Resources"][function].get("Properties") or {}
        variables = (props.get("Environment") or {}).get("Variables") or {}
        value = variables.get("ISSUER") if isinstance(variables, dict) else None
        where: Path = ("Resources", function, "Properties", "Environment", "Variables", "ISSUER")
        if isinstance(value, str):
            return [(where, item.strip()) for item in value.split(",") if item.strip()]
        found = []
        for name in sorted(references(value)):
            parameter = cfn.template.get("Parameters", {}).get(name)
            if isinstance(parameter, dict) and isinstance(parameter.get("Default"), str):
                items = parameter["Default"].split(",")
                found += [(("Parameters", name, "Default"), item.strip()) for item in items if item.strip()]
        return found


class RouteNeitherAuthorizedNorPublic(CloudFormationLintRule):
    id = "E9105"
    shortdesc = "A route has no authorizer and is not declared public"
    description = (
        "On an API without a default authorizer, an operation without a security entry is open to "
        "anyone. Give it an authorizer (security: [{JwtAuthorizer: []}]) or declare it public on "
        "purpose (security: [] on the operation; Auth: {Authorizer: NONE} on a function's HttpApi event)."
    )
    source_url = "https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-access-control.html"
    tags: ClassVar[list[str]] = ["apigateway", "security"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        for api in apis(cfn):
            for path, route in api.undeclared:
                message = (
                    f"route {route} has no authorizer and is not declared public: add a security entry "
                    f"(- JwtAuthorizer: [] or - LambdaAuthorizer: []), or security: [] if it is public on purpose"
                )
                matches.append(RuleMatch(list(path), message))
        return matches


# The authorizer's own parser for each setting it reads at start, as its Settings.parse calls it.
SETTING_PARSERS: dict[str, Any] = {
    "REQUIRED_CLAIMS": parse_required_claims,
    "REQUIRED_SCOPES": lambda text: parse_scopes(text, "REQUIRED_SCOPES"),
    "ROUTE_SCOPES": parse_route_scopes,
    "RESOURCE_ROUTES": parse_resource_routes,
    "ALLOWED_ALGORITHMS": parse_algorithms,
}


class AuthorizerSettingRefused(CloudFormationLintRule):
    id = "E9106"
    shortdesc = "A Lambda authorizer setting its function refuses at start"
    description = (
        "The Lambda authorizer parses its settings when it starts; a value it refuses (REQUIRED_CLAIMS "
        "that is not a JSON object of claim to list of strings, a malformed scope, an unknown algorithm) "
        "fails every cold start, so every request to its routes is a 500."
    )
    source_url = "https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html"
    tags: ClassVar[list[str]] = ["apigateway", "lambda"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches = []
        functions = {a.function for api in apis(cfn) for a in api.authorizers if a.function}
        for function in sorted(functions):
            props = cfn.template["Resources"][function].get("Properties") or {}
            variables = mapping(mapping(props.get("Environment")).get("Variables"))
            base: Path = ("Resources", function, "Properties", "Environment", "Variables")
            for name, parse in SETTING_PARSERS.items():
                where, text = self._known(cfn, (*base, name), variables.get(name))
                if not isinstance(text, str):
                    continue  # absent, or built by an intrinsic: not known here
                try:
                    parse(text.strip())
                except SettingError as exc:
                    matches.append(RuleMatch(list(where), f"{function} would refuse {name} at start: {exc}"))
        return matches

    @staticmethod
    def _known(cfn: Any, where: Path, value: Any) -> tuple[Path, Any]:
        """The literal, or the default of the parameter a plain Ref names, and where it is written."""
        if isinstance(value, dict) and set(value) == {"Ref"}:
            parameter = cfn.template.get("Parameters", {}).get(value["Ref"])
            if isinstance(parameter, dict) and "Default" in parameter:
                return ("Parameters", value["Ref"], "Default"), parameter["Default"]
            return where, None
        return where, value
