"""Optional HS256 mode: the secret comes from SSM once, HS256 only, and RS256 never loads boto3.

SSM is a real boto3 client with botocore's Stubber, so the exact call (name, decryption) is
checked; the secret is generated at test time.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time

import boto3
import jwt
import pytest
from botocore.stub import Stubber

from jwt_authorizer.authorizer import Authorizer
from jwt_authorizer.secret import MIN_SECRET_BYTES, SharedSecret
from jwt_authorizer.settings import Settings
from jwt_authorizer.verifier import TokenRejected
from tests.support import AUTHORIZER_DIR, FakeClock

PARAMETER = "/jwt-api/hs256-secret"
AUDIENCE = "https://api.example.com"


def ssm_with(*answers) -> tuple[object, Stubber]:
    client = boto3.client("ssm", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    expected = {"Name": PARAMETER, "WithDecryption": True}
    for answer in answers:
        if isinstance(answer, str):
            stubber.add_response("get_parameter", {"Parameter": {"Name": PARAMETER, "Value": answer}}, expected)
        else:
            stubber.add_client_error("get_parameter", answer[0], answer[1], expected_params=expected)
    stubber.activate()
    return client, stubber


def hs256(secret: str, issuer: str, **claims) -> str:
    now = int(time.time())
    payload = {"iss": issuer, "aud": AUDIENCE, "sub": "svc", "iat": now, "exp": now + 300, **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


class Factory:
    """The SSM client factory SharedSecret is given: counts how often a client is asked for."""

    def __init__(self, client: object) -> None:
        self.client = client
        self.calls = 0

    def __call__(self) -> object:
        self.calls += 1
        return self.client


def hs256_authorizer(issuer: str, factory: Factory) -> Authorizer:
    settings = Settings.parse({"ISSUER": issuer, "AUDIENCE": AUDIENCE, "HS256_SECRET_PARAMETER": PARAMETER})
    return Authorizer(settings, keys={issuer: SharedSecret(PARAMETER, client_factory=factory)})


@pytest.fixture
def hs_app(issuer):
    secret = secrets.token_urlsafe(48)
    client, stubber = ssm_with(secret)
    factory = Factory(client)
    return hs256_authorizer(issuer.issuer, factory), secret, stubber, factory


def test_hs256_tokens_are_allowed_and_the_secret_is_read_once(hs_app, issuer):
    app, secret, stubber, factory = hs_app
    token = hs256(secret, issuer.issuer, scope="read:test")
    for _ in range(3):
        answer = app.handle({"version": "2.0", "headers": {"authorization": f"Bearer {token}"}})
        assert answer["isAuthorized"] is True
    assert app.decide(f"Bearer {hs256(secret, issuer.issuer, jti='2')}").allowed
    stubber.assert_no_pending_responses()
    assert factory.calls == 1


def test_the_template_default_settings_give_hs256_mode_hs256_alone():
    # The template sets ALLOWED_ALGORITHMS to HS256 in this mode; left empty it means the same.
    for value in ("", "HS256"):
        values = {"ISSUER": "https://a/", "AUDIENCE": AUDIENCE, "HS256_SECRET_PARAMETER": PARAMETER}
        assert Settings.parse({**values, "ALLOWED_ALGORITHMS": value}).algorithms == {"HS256"}
    with pytest.raises(ValueError, match="HS256 alone"):
        Settings.parse({**values, "ALLOWED_ALGORITHMS": "RS256,HS256"})
    with pytest.raises(ValueError, match="only with HS256_SECRET_PARAMETER"):
        Settings.parse({"ISSUER": "https://a/", "AUDIENCE": AUDIENCE, "ALLOWED_ALGORITHMS": "HS256"})


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda secret, dev: hs256("another secret of enough length, 32+ bytes!", dev.issuer), "bad_signature"),
        (lambda secret, dev: dev.mint(), "bad_algorithm"),  # RS256, from the issuer's real key
        (lambda secret, dev: jwt.encode({"iss": dev.issuer}, secret, algorithm="HS512"), "bad_algorithm"),
        (lambda secret, dev: hs256(secret, "https://someone.else/"), "bad_issuer"),
    ],
)
def test_only_hs256_with_this_secret_and_the_usual_claims_pass(hs_app, issuer, make, reason):
    app, secret, _, _ = hs_app
    assert app.decide(f"Bearer {make(secret, issuer)}").reason == reason


def test_an_rs256_stack_refuses_hs256_tokens(load_authorizer, issuer):
    app = load_authorizer()
    assert app.decide(f"Bearer {hs256(secrets.token_urlsafe(48), issuer.issuer)}").reason == "bad_algorithm"


def missing(source: SharedSecret) -> str:
    with pytest.raises(TokenRejected) as rejected:
        source.key_for(None)
    return rejected.value.reason


def test_an_ssm_failure_denies_and_retries_only_after_the_cooldown(caplog):
    secret = secrets.token_urlsafe(48)
    client, stubber = ssm_with(("AccessDeniedException", "not allowed"), secret)
    clock, factory = FakeClock(), Factory(client)
    source = SharedSecret(PARAMETER, client_factory=factory, cooldown=10, clock=clock)
    assert missing(source) == "key_unavailable"
    clock.now += 5
    assert missing(source) == "key_unavailable"
    assert factory.calls == 1
    clock.now += 6
    assert source.key_for(None).key == secret.encode()
    stubber.assert_no_pending_responses()
    assert [r.getMessage() for r in caplog.records] == ["shared secret unavailable", "shared secret loaded"]


def test_a_short_secret_is_refused_and_never_logged(caplog):
    short = secrets.token_hex(MIN_SECRET_BYTES // 2 - 1)
    client, _ = ssm_with(short)
    source = SharedSecret(PARAMETER, client_factory=lambda: client)
    assert missing(source) == "key_unavailable"
    assert short not in json.dumps([vars(r) for r in caplog.records], default=str)


def test_the_deny_reason_when_the_secret_cannot_be_read(issuer):
    client, _ = ssm_with(("ParameterNotFound", "no such parameter"))
    app = hs256_authorizer(issuer.issuer, Factory(client))
    token = hs256(secrets.token_urlsafe(48), issuer.issuer)
    event = {"version": "2.0", "headers": {"authorization": f"Bearer {token}"}}
    assert app.handle(event) == {"isAuthorized": False}
    assert app.decide(f"Bearer {token}").reason == "key_unavailable"


def test_the_rs256_path_never_imports_boto3(issuer_server):
    script = (
        "import json, sys, app\n"
        "event = {'version': '2.0', 'headers': {'authorization': 'Bearer ' + sys.stdin.readline().strip()}}\n"
        "print(json.dumps([app.lambda_handler(event, None)['isAuthorized'], 'boto3' in sys.modules]))\n"
    )
    # The function's own directory as the working directory, as Lambda's /var/task.
    env = {"ISSUER": issuer_server.issuer.issuer, "AUDIENCE": AUDIENCE}
    result = subprocess.run(
        [sys.executable, "-c", script],
        input=issuer_server.issuer.mint() + "\n",
        env=env,
        cwd=AUTHORIZER_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout) == [True, False]
