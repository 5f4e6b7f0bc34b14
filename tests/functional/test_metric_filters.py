"""Every metric filter of the template, against the lines the code and the stage really write.

- Decision lines: one for every member of ``Reason``, each made by the real authorizer answering a
  real event (keys parsed from a real key set, tokens signed by PyJWT), then written by
  awslambdaric's own ``JsonFormatter``, as the python3.13 runtime writes them with
  ``LogFormat: JSON`` (in .venv-bench, the one environment that has the runtime's code).
- The key source's own lines (a failed refresh, skipped keys), written the same way.
- Lambda's REPORT lines in the JSON log format (``platform.report``), cold and warm, as AWS
  documents their shape.
- Access log lines: the template's own ``AccessLogSettings.Format`` with the stage's values.

Each line is judged by each filter (tests/logfilters.py reads the patterns as CloudWatch's guide
says), and the dimensions a match would publish are checked; lines that must not match are here
too. The Reason filter's pattern is checked to list exactly the enumeration.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest

from devkit.local.issuer import DevIssuer, public_jwk
from devkit.template import translate
from devkit.tokens import flip_signature
from jwt_authorizer.adapters import Decision
from jwt_authorizer.algorithms import VerificationKey
from jwt_authorizer.authorizer import Authorizer
from jwt_authorizer.keys import KeySource, parse_jwks
from jwt_authorizer.reasons import Reason
from jwt_authorizer.secret import SharedSecret
from jwt_authorizer.settings import Settings
from jwt_authorizer.verifier import TokenRejected
from tests.logfilters import dimension, matches
from tests.support import ROOT, FakeClock, StaticKeys, free_port, load_event

BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
ISSUER, AUDIENCE = "https://issuer.example/", "https://api.example.com"
STAGE = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod"
pytestmark = pytest.mark.skipif(
    not BENCH_PYTHON.exists(), reason=".venv-bench (awslambdaric) is absent: `make bench` creates it"
)

# Writes each record as the runtime does: awslambdaric's JsonFormatter, its request id filled in.
FORMAT = """
import json, logging, sys
from awslambdaric.lambda_runtime_log_utils import JsonFormatter
formatter = JsonFormatter()
for item in json.loads(sys.stdin.read()):
    record = logging.getLogger(item["name"]).makeRecord(
        item["name"], item["levelno"], "app.py", 0, item["msg"], (), None, extra=item["extra"])
    record.created = item["created"]
    record.aws_request_id = "8f5e2a1c-4b7d-4e0a-9c3f-2d6b1a0e7f45"
    print(json.dumps(formatter.format(record)))
"""
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def as_runtime_writes(records: list[logging.LogRecord]) -> list[str]:
    items = [
        {
            "name": r.name,
            "levelno": r.levelno,
            "msg": r.msg if isinstance(r.msg, dict) else r.getMessage(),
            "created": r.created,
            "extra": {k: v for k, v in vars(r).items() if k not in _STANDARD},
        }
        for r in records
    ]
    done = subprocess.run(
        [str(BENCH_PYTHON), "-c", FORMAT],
        input=json.dumps(items, default=str),
        capture_output=True,
        text=True,
        check=True,
    )
    return [json.loads(line).rstrip("\n") for line in done.stdout.splitlines()]


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    # "authorizer.jwks" propagates to "authorizer": one handler sees every line once.
    logger = logging.getLogger("authorizer")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


# ---------------------------------------------------------------- one real decision per reason
DEV = DevIssuer(issuer=ISSUER, default_audience=AUDIENCE)
PS512 = DevIssuer(issuer=ISSUER, default_audience=AUDIENCE)
ES256 = DevIssuer(issuer=ISSUER, default_audience=AUDIENCE, algorithm="ES256")
KEYS = parse_jwks({"keys": [*DEV.jwks()["keys"], public_jwk(PS512.key, "ps512-only", alg="PS512")]})


def token(*, headers: dict[str, Any] | None = None, key: Any = None, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "iat": now, "exp": now + 600, "scope": "read"}
    body.update(claims)
    body = {name: value for name, value in body.items() if value is not None}
    header = {"kid": DEV.kid, **(headers or {})}
    return jwt.encode(body, key or DEV.key, algorithm="RS256", headers=header)


def raw_token(header: dict[str, Any]) -> str:
    """A token with exactly this header (PyJWT adds crit to b64: false, as RFC 7797 wants)."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "exp": now + 600}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(jwt.get_algorithm_by_name('RS256').sign(signing_input.encode(), DEV.key))}"


def http_event(value: str | None) -> dict[str, Any]:
    event = load_event("authorizer-v2-valid.json")
    if value is None:
        del event["headers"]["authorization"]
    else:
        event["headers"]["authorization"] = value
    return event


class Refusing:
    """A key source that answers with one reason: how the key source's own tests end."""

    algorithms = frozenset({"RS256"})
    requires_kid = True

    def __init__(self, reason: Reason | None) -> None:
        self.reason = reason

    def key_for(self, kid: str | None) -> VerificationKey:
        if self.reason is None:
            raise MemoryError("no key, and no reason either")
        raise TokenRejected(self.reason)


def app(keys: Any = None, **settings: str) -> Authorizer:
    return Authorizer(
        Settings.parse({"ISSUER": ISSUER, "AUDIENCE": AUDIENCE, **settings}), keys={ISSUER: keys or StaticKeys(KEYS)}
    )


def broken_ssm() -> Any:
    raise ConnectionError("no SSM here")


SCENARIOS: dict[Reason, Callable[[], dict[str, Any]]] = {
    Reason.OK: lambda: app().handle(http_event(f"Bearer {token()}")),
    Reason.UNSUPPORTED_EVENT: lambda: app().handle({"hello": "world"}),
    Reason.MISSING_TOKEN: lambda: app().handle(http_event(None)),
    Reason.UNSUPPORTED_SCHEME: lambda: app().handle(http_event("Basic dXNlcjpwYXNz")),
    Reason.MALFORMED: lambda: app().handle(http_event("Bearer not.a.jwt")),
    Reason.BAD_ALGORITHM: lambda: app().handle(http_event(f"Bearer {ES256.mint()}")),
    Reason.UNSUPPORTED_CRIT: lambda: app().handle(http_event(f"Bearer {token(headers={'crit': ['exp']})}")),
    Reason.UNSUPPORTED_B64: lambda: app().handle(
        http_event(f"Bearer {raw_token({'alg': 'RS256', 'kid': DEV.kid, 'b64': False})}")
    ),
    Reason.MISSING_KID: lambda: app().handle(http_event(f"Bearer {raw_token({'alg': 'RS256'})}")),
    Reason.UNKNOWN_ISSUER: lambda: Authorizer(
        Settings.parse({"ISSUER": f"{ISSUER},https://second.example/", "AUDIENCE": AUDIENCE}),
        keys={ISSUER: StaticKeys(KEYS), "https://second.example/": StaticKeys(KEYS)},
    ).handle(http_event(f"Bearer {token(iss='https://third.example/')}")),
    Reason.KEYS_UNAVAILABLE: lambda: app(
        KeySource(issuer=f"http://127.0.0.1:{free_port()}/", jwks_uri=f"http://127.0.0.1:{free_port()}/jwks")
    ).handle(http_event(f"Bearer {token()}")),
    Reason.KEYS_STALE: lambda: app(Refusing(Reason.KEYS_STALE)).handle(http_event(f"Bearer {token()}")),
    Reason.KEY_UNAVAILABLE: lambda: Authorizer(
        Settings.parse({"ISSUER": ISSUER, "AUDIENCE": AUDIENCE, "HS256_SECRET_PARAMETER": "/x"}),
        keys={ISSUER: SharedSecret("/x", client_factory=broken_ssm)},
    ).handle(http_event(f"Bearer {jwt.encode({'iss': ISSUER}, 'x' * 32, algorithm='HS256')}")),
    Reason.UNKNOWN_KID: lambda: app().handle(http_event(f"Bearer {token(headers={'kid': 'nobody'})}")),
    Reason.KEY_ALG_MISMATCH: lambda: app().handle(
        http_event(f"Bearer {token(headers={'kid': 'ps512-only'}, key=PS512.key)}")
    ),
    Reason.BAD_SIGNATURE: lambda: app().handle(http_event(f"Bearer {flip_signature(token())}")),
    Reason.BAD_ISSUER: lambda: app().handle(http_event(f"Bearer {token(iss='https://other.example/')}")),
    Reason.MISSING_EXP: lambda: app().handle(http_event(f"Bearer {token(exp=None)}")),
    Reason.BAD_EXP: lambda: app().handle(http_event(f"Bearer {token(exp=10**12)}")),
    Reason.EXPIRED: lambda: app().handle(http_event(f"Bearer {token(exp=1000)}")),
    Reason.BAD_NBF: lambda: app().handle(http_event(f"Bearer {token(nbf='soon')}")),
    Reason.NOT_YET_VALID: lambda: app().handle(http_event(f"Bearer {token(nbf=int(time.time()) + 600)}")),
    Reason.BAD_IAT: lambda: app().handle(http_event(f"Bearer {token(iat=-1)}")),
    Reason.ISSUED_IN_FUTURE: lambda: app().handle(http_event(f"Bearer {token(iat=int(time.time()) + 600)}")),
    Reason.BAD_AUDIENCE: lambda: app().handle(http_event(f"Bearer {token(aud='https://other.example')}")),
    Reason.MISSING_CLAIM: lambda: app(REQUIRED_CLAIMS='{"org_id": ["org_a"]}').handle(http_event(f"Bearer {token()}")),
    Reason.CLAIM_MISMATCH: lambda: app(REQUIRED_CLAIMS='{"org_id": ["org_a"]}').handle(
        http_event(f"Bearer {token(org_id='org_b')}")
    ),
    Reason.INSUFFICIENT_SCOPE: lambda: app(REQUIRED_SCOPES="admin").handle(http_event(f"Bearer {token()}")),
    Reason.BAD_METHOD_ARN: lambda: app().handle(
        {"type": "TOKEN", "authorizationToken": f"Bearer {token()}", "methodArn": f"{STAGE}/GET/*"}
    ),
    Reason.INTERNAL_ERROR: lambda: app(Refusing(None)).handle(http_event(f"Bearer {token()}")),
}


def decision_lines(records: Records) -> dict[str, str]:
    """Each reason's decision line (and every other authorizer line) as the runtime writes them."""
    lines: dict[str, str] = {}
    for reason, scenario in SCENARIOS.items():
        start = len(records.records)
        scenario()
        written = as_runtime_writes(records.records[start:])
        decisions = [line for line in written if json.loads(line).get("logger") == "authorizer"]
        assert len(decisions) == 1, (reason, written)
        assert json.loads(decisions[0])["message"]["reason"] == reason.value
        lines[f"decision:{reason.value}"] = decisions[0]
        for extra in written:
            if extra is not decisions[0]:
                lines.setdefault(f"jwks:{json.loads(extra)['message']}", extra)
    return lines


def other_authorizer_lines(records: Records) -> dict[str, str]:
    """The key source's lines: a refresh that fails, keys skipped, and a refresh that works."""
    start = len(records.records)
    parse_jwks({"keys": [*DEV.jwks()["keys"], {**public_jwk(DEV.key, "enc"), "use": "enc"}]})
    (skipped,) = as_runtime_writes(records.records[start:])
    served = DevIssuer().serve().start()
    clock = FakeClock()
    source = KeySource(issuer=served.issuer.issuer, clock=clock)
    try:
        start = len(records.records)
        source.key_for(served.issuer.kid)
        (refreshed,) = as_runtime_writes(records.records[start:])
    finally:
        served.stop()
    # The issuer gone, a kid it never published asks for the keys again, in vain: the last
    # good keys stay (the line the dashboard counts, beside the first-fetch failure above).
    clock.now += 2
    start = len(records.records)
    with contextlib.suppress(TokenRejected):
        source.key_for("rotated-in")
    (kept,) = [line for line in as_runtime_writes(records.records[start:]) if "refresh failed" in line]
    report = {"time": "2026-12-02T10:00:00.000Z", "type": "platform.report", "record": {"requestId": "r1"}}
    cold = {**report, "record": {"metrics": {"durationMs": 180.2, "billedDurationMs": 181, "initDurationMs": 173.4}}}
    warm = {**report, "record": {"metrics": {"durationMs": 1.2, "billedDurationMs": 2}}}
    return {
        "jwks:skipped": skipped,
        "jwks:refreshed": refreshed,
        f"jwks:{json.loads(kept)['message']}": kept,
        "report:cold": json.dumps(cold),
        "report:warm": json.dumps(warm),
        "start": json.dumps({"time": "2026-12-02T10:00:00.000Z", "type": "platform.start", "record": {}}),
        "plain-text": "START RequestId: r1 Version: $LATEST",
    }


# ---------------------------------------------------------------- the stage's access log lines
def access_line(**values: str) -> str:
    text = " ".join(str(TEMPLATE_RESOURCES["HttpApi"]["Properties"]["AccessLogSettings"]["Format"]).split())
    line = re.sub(r"\$context\.([A-Za-z.]+)", lambda m: values.get(m.group(1), "-"), text)
    return json.dumps(json.loads(line))


ACCESS = {
    "jwt-200": {"status": "200", "routeKey": "GET /test", "authorizer.claims.sub": "u"},
    "jwt-401": {"status": "401", "routeKey": "GET /test", "authorizer.error": "the token has expired"},
    "jwt-403-scope": {"status": "403", "routeKey": "GET /test", "authorizer.error": "insufficient scope"},
    "lambda-200": {"status": "200", "routeKey": "GET /lambda/test", "authorizer.sub": "u"},
    "lambda-403": {"status": "403", "routeKey": "GET /lambda/test"},
    "lambda-401-no-header": {"status": "401", "routeKey": "GET /lambda/test"},
    "no-route-404": {"status": "404", "routeKey": "-"},
    "throttled-429": {"status": "429", "routeKey": "GET /health"},
    "invoke-500": {"status": "500", "routeKey": "GET /lambda/test", "integrationErrorMessage": "not authorized"},
    "health-200": {"status": "200", "routeKey": "GET /health"},
    "redirect-302": {"status": "302", "routeKey": "GET /health"},
}
TEMPLATE_RESOURCES = translate(ROOT / "template.yaml")["Resources"]
# SAM writes the Format as a string; the raw template's folded text has the same content.
TEMPLATE_RESOURCES["HttpApi"] = {
    "Properties": {
        "AccessLogSettings": TEMPLATE_RESOURCES["HttpApiApiGatewayDefaultStage"]["Properties"]["AccessLogSettings"]
    }
}


def filters() -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in translate(ROOT / "template.yaml")["Resources"].items()
        if resource["Type"] == "AWS::Logs::MetricFilter"
    }


# Every line the key source writes when a refresh fails (keys.py): with keys to keep, and without.
REFRESH_FAILED = (
    "jwks refresh failed; keeping last good key set",
    "jwks refresh failed; no keys yet, so every token is denied (keys_unavailable)",
)
# Which lines each filter must match; every other line of the same log group must not match.
EXPECTED = {
    "DecisionsByReasonFilter": {f"decision:{reason.value}" for reason in Reason},
    "DecisionTotalsFilter": {f"decision:{reason.value}" for reason in Reason},
    "KeyRefreshFailuresFilter": {f"jwks:{message}" for message in REFRESH_FAILED},
    "KeysSkippedFilter": {"jwks:skipped"},
    "ColdStartsFilter": {"report:cold"},
    "Responses2xxFilter": {"access:jwt-200", "access:lambda-200", "access:health-200", "access:redirect-302"},
    "Responses4xxFilter": {
        "access:jwt-401",
        "access:jwt-403-scope",
        "access:lambda-403",
        "access:lambda-401-no-header",
        "access:no-route-404",
        "access:throttled-429",
    },
    "Responses5xxFilter": {"access:invoke-500"},
    "AuthorizerRefusalsFilter": {"access:jwt-401", "access:jwt-403-scope"},
}


@pytest.fixture(scope="module")
def lines() -> dict[str, dict[str, str]]:
    handler = Records()
    logger = logging.getLogger("authorizer")
    logger.addHandler(handler)
    try:
        authorizer = {**decision_lines(handler), **other_authorizer_lines(handler)}
    finally:
        logger.removeHandler(handler)
    access = {f"access:{name}": access_line(**values) for name, values in ACCESS.items()}
    return {"AuthorizerLogGroup": authorizer, "ApiAccessLogGroup": access}


def test_every_reason_has_a_real_decision_line_and_a_failed_refresh_was_written(lines):
    authorizer = lines["AuthorizerLogGroup"]
    assert {key for key in authorizer if key.startswith("decision:")} == {f"decision:{r.value}" for r in Reason}
    assert {f"jwks:{message}" for message in REFRESH_FAILED} <= set(authorizer)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_filter_matches_exactly_its_lines(lines, name):
    spec = filters()[name]
    group = spec["LogGroupName"]["Ref"]
    matched = {key for key, line in lines[group].items() if matches(spec["FilterPattern"], line)}
    assert matched == EXPECTED[name]


def test_dimensions_take_bounded_values_from_the_lines(lines):
    specs = filters()
    authorizer, access = lines["AuthorizerLogGroup"], lines["ApiAccessLogGroup"]
    (transform,) = specs["DecisionsByReasonFilter"]["MetricTransformations"]
    keys = {d["Key"]: d["Value"] for d in transform["Dimensions"]}
    for reason in Reason:
        line = authorizer[f"decision:{reason.value}"]
        assert dimension(line, keys["Reason"]) == reason.value
        assert dimension(line, keys["Decision"]) == ("allow" if reason is Reason.OK else "deny")
    for name in ("Responses2xxFilter", "Responses4xxFilter", "Responses5xxFilter", "AuthorizerRefusalsFilter"):
        (transform,) = specs[name]["MetricTransformations"]
        for dimension_spec in transform["Dimensions"]:
            for key in EXPECTED[name]:
                assert dimension(access[key], dimension_spec["Value"]) not in (None, ""), (name, key)


def test_the_reason_filter_lists_exactly_the_enumeration():
    # A reason the code does not have can never mint a series: the pattern lists them all, no more.
    pattern = filters()["DecisionsByReasonFilter"]["FilterPattern"]
    listed = re.search(r"%(.*)%", pattern)
    assert listed is not None
    assert [branch.strip("^$") for branch in listed.group(1).split("|")] == [reason.value for reason in Reason]
    assert len(pattern) <= 1024  # CloudWatch's limit for a filter pattern


def test_no_token_material_reaches_a_line(lines):
    # The dimensions and the lines hold reason codes, kids, fingerprints and subjects, never a token.
    for line in lines["AuthorizerLogGroup"].values():
        assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}", line), line


def test_a_decision_is_the_deny_or_allow_the_answer_says(records):
    # What the lines count is what callers got: every scenario's answer agrees with its line.
    for reason, scenario in SCENARIOS.items():
        start = len(records.records)
        answer = scenario()
        (record,) = [r for r in records.records[start:] if r.name == "authorizer"]
        allowed = answer.get("isAuthorized") or any(
            s["Effect"] == "Allow" for s in answer.get("policyDocument", {}).get("Statement", [])
        )
        assert record.msg["decision"] == ("allow" if allowed else "deny"), reason
        assert Decision(reason).allowed is (reason is Reason.OK)
