"""Read the HTTP API out of template.yaml, through the real SAM translator.

The local gateway keeps no route table of its own: it asks the SAM translator for the
CloudFormation that would be deployed, then reads the API's OpenAPI body (routes, authorizers,
route scopes) and the functions (code, handler, environment, timeout) from it, resolving the
intrinsics with the parameter values given (dev issuer instead of Auth0, for example).
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FAKE_ACCOUNT = "123456789012"
FAKE_REGION = "us-east-1"
_ARN_FN = re.compile(r"arn:aws:lambda:[^:]+:[^:]+:function:([A-Za-z0-9_-]+)")
_METHODS = {"get", "post", "put", "patch", "delete", "head", "options", "x-amazon-apigateway-any-method"}


class TemplateError(Exception):
    """The template cannot be served locally; the message says why, in one line."""


@dataclass(frozen=True)
class Function:
    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    timeout: float
    memory: int


@dataclass(frozen=True)
class Authorizer:
    name: str
    kind: str  # "jwt" or "request"
    identity_sources: tuple[str, ...]
    issuer: str = ""
    audiences: tuple[str, ...] = ()
    function: str = ""
    ttl: int = 0


@dataclass(frozen=True)
class Route:
    method: str  # upper case, or ANY
    path: str
    function: str
    authorizer: str | None
    scopes: tuple[str, ...] = ()

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, segments: tuple[str, ...]) -> dict[str, str] | None:
        """The path parameters if the route takes a path of these (percent-decoded) segments, else None.

        Matching is per segment, so a ``%2F`` inside a segment never makes two of it. ``{name}``
        takes one whole segment; ``{name+}``, last, takes one or more (joined by ``/``).
        """
        pieces = self.path.strip("/").split("/") if self.path != "/" else []
        parameters: dict[str, str] = {}
        for index, piece in enumerate(pieces):
            if index >= len(segments):
                return None
            if piece.startswith("{") and piece.endswith("+}") and index == len(pieces) - 1:
                parameters[piece[1:-2]] = "/".join(segments[index:])
                return parameters
            if piece.startswith("{") and piece.endswith("}"):
                parameters[piece[1:-1]] = segments[index]
            elif piece != segments[index]:
                return None
        return parameters if len(segments) == len(pieces) else None


@dataclass(frozen=True)
class Cors:
    """The API's CORS configuration (``x-amazon-apigateway-cors``), lower-cased where HTTP is."""

    allow_origins: tuple[str, ...]
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False

    def allows(self, origin: str) -> bool:
        return "*" in self.allow_origins or origin.lower() in (o.lower() for o in self.allow_origins)


@dataclass(frozen=True)
class Api:
    routes: tuple[Route, ...]
    authorizers: dict[str, Authorizer]
    functions: dict[str, Function]
    cors: Cors | None = None


_NO_VALUE = object()  # Ref AWS::NoValue: the key or item disappears
_INTRINSICS = {
    "Ref",
    "Condition",
    "Fn::GetAtt",
    "Fn::Sub",
    "Fn::Join",
    "Fn::If",
    "Fn::Equals",
    "Fn::Not",
    "Fn::And",
    "Fn::Or",
}


class _Resolver:
    """Just enough of CloudFormation's intrinsic functions for an API and its functions."""

    def __init__(self, template: dict[str, Any], parameters: dict[str, str]) -> None:
        self.template = template
        self.parameters = {
            name: str(parameters.get(name, spec.get("Default", "")))
            for name, spec in template.get("Parameters", {}).items()
        }
        self.parameter_types = {name: spec.get("Type") for name, spec in template.get("Parameters", {}).items()}
        self.conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            self.conditions[name] = bool(self.resolve(self.template["Conditions"][name]))
        return self.conditions[name]

    def resolve(self, value: Any) -> Any:  # noqa: C901 - one branch per intrinsic
        if isinstance(value, list):
            return [v for v in (self.resolve(v) for v in value) if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) != 1 or next(iter(value)) not in _INTRINSICS:
            return {k: v for k, v in ((k, self.resolve(v)) for k, v in value.items()) if v is not _NO_VALUE}
        ((name, arg),) = value.items()
        if name == "Ref":
            return self._ref(arg)
        if name == "Fn::GetAtt":
            logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            return self._getatt(logical_id, attribute)
        if name == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))
            return re.sub(r"\$\{([^}!]+)\}", lambda m: str(self._sub_var(m.group(1), variables)), text)
        if name == "Fn::Join":
            separator, items = arg
            return separator.join(str(i) for i in self.resolve(items))
        if name == "Fn::If":
            condition, if_true, if_false = arg
            return self.resolve(if_true if self.condition(condition) else if_false)
        if name == "Fn::Equals":
            left, right = self.resolve(arg)
            return left == right
        if name == "Fn::Not":
            return not self.resolve(arg[0])
        if name == "Fn::And":
            return all(self.resolve(a) for a in arg)
        if name == "Fn::Or":
            return any(self.resolve(a) for a in arg)
        if name == "Condition":
            return self.condition(arg)
        return {name: self.resolve(arg)}

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        pseudo = {
            "AWS::Region": FAKE_REGION,
            "AWS::AccountId": FAKE_ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "local",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            value = self.parameters[name]
            if self.parameter_types.get(name) == "CommaDelimitedList":
                return [v.strip() for v in value.split(",") if v.strip()]
            return value
        return name

    def _getatt(self, logical_id: str, attribute: str) -> str:
        if attribute == "Arn":
            return f"arn:aws:lambda:{FAKE_REGION}:{FAKE_ACCOUNT}:function:{logical_id}"
        return f"{logical_id}.{attribute}"

    def _sub_var(self, name: str, variables: dict[str, Any]) -> Any:
        if name in variables:
            return variables[name]
        if "." in name:
            logical_id, attribute = name.split(".", 1)
            return self._getatt(logical_id, attribute)
        return self._ref(name)


def yaml_error_message(template_path: Path, exc: Exception) -> str:
    """One line for a template that does not parse, keeping where (1-based) and what went wrong.

    yaml's own message spans several lines (it quotes the source with a caret), and its first
    line alone ("while parsing a flow sequence") says neither where nor what.
    """
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
    what = ", ".join(" ".join(part.split()) for part in parts if isinstance(part, str) and part.strip())
    if not what:
        what = " ".join(str(exc).split()) or type(exc).__name__
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{template_path} is not valid YAML: {where}{what}"


def translate(template_path: Path) -> dict[str, Any]:
    """The CloudFormation the SAM translator makes of the template (CodeUri kept in the S3 key)."""
    os.environ.setdefault("AWS_DEFAULT_REGION", FAKE_REGION)
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    try:
        template = yaml_parse(template_path.read_text())
    except OSError as exc:
        raise TemplateError(f"cannot read {template_path}: {exc.strerror}") from exc
    except Exception as exc:  # yaml errors come in many types
        raise TemplateError(yaml_error_message(template_path, exc)) from exc
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise TemplateError(f"{template_path} has no Resources section")
    template = copy.deepcopy(template)
    for resource in template["Resources"].values():
        props = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = "s3://local/" + props["CodeUri"]
    try:
        result: dict[str, Any] = transform(template, {}, NoManagedPolicies())
    except InvalidDocumentException as exc:
        causes = "; ".join(str(cause) for cause in exc.causes)
        raise TemplateError(f"{template_path} does not translate: {causes}") from exc
    return result


def load_api(template_path: Path, parameters: dict[str, str]) -> Api:
    """Routes, authorizers and functions of the (single) HTTP API in the template."""
    cfn = translate(template_path)
    resolver = _Resolver(cfn, parameters)
    base = template_path.parent
    apis = [r for r in cfn["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Api" and "Body" in r["Properties"]]
    if len(apis) != 1:
        raise TemplateError(f"expected one HTTP API with an OpenAPI body in {template_path}, found {len(apis)}")
    body = resolver.resolve(apis[0]["Properties"]["Body"])
    functions = {
        name: _function(name, resolver.resolve(r["Properties"]), base)
        for name, r in cfn["Resources"].items()
        if r["Type"] == "AWS::Lambda::Function"
    }
    authorizers = {
        name: _authorizer(name, scheme["x-amazon-apigateway-authorizer"])
        for name, scheme in body.get("components", {}).get("securitySchemes", {}).items()
        if "x-amazon-apigateway-authorizer" in scheme
    }
    routes = tuple(_routes(body, functions, authorizers))
    return Api(routes=routes, authorizers=authorizers, functions=functions, cors=_cors(body))


def _cors(body: dict[str, Any]) -> Cors | None:
    spec = body.get("x-amazon-apigateway-cors")
    if not isinstance(spec, dict):
        return None

    def names(key: str, lower: bool = True) -> tuple[str, ...]:
        values = spec.get(key) or []
        return tuple(str(v).lower() if lower else str(v) for v in (values if isinstance(values, list) else [values]))

    max_age = spec.get("maxAge")
    return Cors(
        allow_origins=names("allowOrigins", lower=False),
        allow_methods=tuple(m.upper() for m in names("allowMethods")),
        allow_headers=names("allowHeaders"),
        expose_headers=names("exposeHeaders"),
        max_age=int(max_age) if max_age is not None else None,
        allow_credentials=spec.get("allowCredentials") is True,
    )


def _function(name: str, props: dict[str, Any], base: Path) -> Function:
    key = props["Code"]["S3Key"]
    env = (props.get("Environment") or {}).get("Variables") or {}
    return Function(
        logical_id=name,
        code_dir=(base / key).resolve(),
        handler=props.get("Handler", "app.lambda_handler"),
        environment={k: str(v) for k, v in env.items()},
        timeout=float(props.get("Timeout", 3)),
        memory=int(props.get("MemorySize", 128)),
    )


def _function_from_arn(text: str) -> str:
    match = _ARN_FN.search(text)
    if not match:
        raise TemplateError(f"cannot find a Lambda function in {text!r}")
    return match.group(1)


def _authorizer(name: str, spec: dict[str, Any]) -> Authorizer:
    kind = str(spec.get("type", "")).lower()
    sources = spec.get("identitySource", [])
    sources = tuple(s.strip() for s in (sources.split(",") if isinstance(sources, str) else sources))
    if kind == "jwt":
        config = spec.get("jwtConfiguration", {})
        audiences = config.get("audience", [])
        return Authorizer(
            name=name,
            kind="jwt",
            identity_sources=sources,
            issuer=str(config.get("issuer", "")),
            audiences=tuple(audiences if isinstance(audiences, list) else [audiences]),
        )
    if kind == "request":
        if not spec.get("enableSimpleResponses") or spec.get("authorizerPayloadFormatVersion") != "2.0":
            raise TemplateError(f"authorizer {name}: only payload 2.0 with simple responses is emulated locally")
        return Authorizer(
            name=name,
            kind="request",
            identity_sources=sources,
            function=_function_from_arn(str(spec.get("authorizerUri", ""))),
            ttl=int(spec.get("authorizerResultTtlInSeconds", 300)),
        )
    raise TemplateError(f"authorizer {name}: type {kind!r} is not emulated locally")


def _routes(body: dict[str, Any], functions: dict[str, Function], authorizers: dict[str, Authorizer]) -> list[Route]:
    routes = []
    default_security = body.get("security")
    for path, item in body.get("paths", {}).items():
        for method, operation in item.items():
            if method.lower() not in _METHODS:
                continue
            integration = operation.get("x-amazon-apigateway-integration") or {}
            function = _function_from_arn(str(integration.get("uri", "")))
            if function not in functions:
                raise TemplateError(f"{method.upper()} {path}: function {function} is not in the template")
            security = operation.get("security", default_security) or []
            authorizer, scopes = None, ()
            if security and security[0]:
                ((authorizer, scopes),) = security[0].items()
                if authorizer not in authorizers:
                    raise TemplateError(f"{method.upper()} {path}: authorizer {authorizer} is not defined")
            name = "ANY" if method.lower() == "x-amazon-apigateway-any-method" else method.upper()
            version = str(integration.get("payloadFormatVersion", "2.0"))
            if version != "2.0":
                # The gateway builds payload 2.0 events only; a 1.0 route would get the wrong shape.
                raise TemplateError(
                    f"{name} {path}: payloadFormatVersion {version} is not emulated by make local (2.0 only); "
                    "use 2.0, or sam local start-api for this route"
                )
            routes.append(
                Route(
                    method=name,
                    path=path,
                    function=function,
                    authorizer=authorizer,
                    scopes=tuple(scopes or ()),
                )
            )
    return routes
