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

from secret import MIN_SECRET_BYTES, SharedSecret
from tests.support import AUTHORIZER_DIR, ROOT, FakeClock

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


@pytest.fixture
def hs_app(load_authorizer):
    app = load_authorizer(HS256_SECRET_PARAMETER=PARAMETER)
    secret = secrets.token_urlsafe(48)
    client, stubber = ssm_with(secret)
    app.KEYS[app.ISSUERS[0]].client_factory = lambda: client
    return app, secret, stubber


def test_hs256_tokens_are_allowed_and_the_secret_is_read_once(hs_app, issuer, lambda_context):
    app, secret, stubber = hs_app
    token = hs256(secret, issuer.issuer, scope="read:test")
    for _ in range(3):
        answer = app.lambda_handler({"version": "2.0", "headers": {"authorization": f"Bearer {token}"}}, lambda_context)
        assert answer["isAuthorized"] is True
    assert app.decide(f"Bearer {hs256(secret, issuer.issuer, jti='2')}").allowed
    stubber.assert_no_pending_responses()
    assert app.KEYS[app.ISSUERS[0]].reads == 1


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
    app, secret, _ = hs_app
    assert app.decide(f"Bearer {make(secret, issuer)}").reason == reason


def test_an_rs256_stack_refuses_hs256_tokens(load_authorizer, issuer):
    app = load_authorizer()
    assert app.decide(f"Bearer {hs256(secrets.token_urlsafe(48), issuer.issuer)}").reason == "bad_algorithm"


def test_an_ssm_failure_denies_and_retries_only_after_the_cooldown(caplog):
    secret = secrets.token_urlsafe(48)
    client, stubber = ssm_with(("AccessDeniedException", "not allowed"), secret)
    clock = FakeClock()
    source = SharedSecret(PARAMETER, client_factory=lambda: client, cooldown=10, clock=clock)
    assert source.key_for(None) is None
    clock.now += 5
    assert source.key_for(None) is None
    assert source.reads == 1
    clock.now += 6
    loaded = source.key_for(None)
    assert loaded is not None and loaded.key == secret.encode()
    stubber.assert_no_pending_responses()
    assert [r.getMessage() for r in caplog.records] == ["shared secret unavailable", "shared secret loaded"]


def test_a_short_secret_is_refused_and_never_logged(caplog):
    short = secrets.token_hex(MIN_SECRET_BYTES // 2 - 1)
    client, _ = ssm_with(short)
    source = SharedSecret(PARAMETER, client_factory=lambda: client)
    assert source.key_for(None) is None
    assert short not in json.dumps([vars(r) for r in caplog.records], default=str)


def test_the_deny_reason_when_the_secret_cannot_be_read(load_authorizer, issuer, lambda_context):
    app = load_authorizer(HS256_SECRET_PARAMETER=PARAMETER)
    client, _ = ssm_with(("ParameterNotFound", "no such parameter"))
    app.KEYS[app.ISSUERS[0]].client_factory = lambda: client
    token = hs256(secrets.token_urlsafe(48), issuer.issuer)
    event = {"version": "2.0", "headers": {"authorization": f"Bearer {token}"}}
    assert app.lambda_handler(event, lambda_context) == {"isAuthorized": False}
    assert app.decide(f"Bearer {token}").reason == "key_unavailable"


def test_the_rs256_path_never_imports_boto3(issuer_server):
    script = (
        "import json, sys, app\n"
        "event = {'version': '2.0', 'headers': {'authorization': 'Bearer ' + sys.stdin.readline().strip()}}\n"
        "print(json.dumps([app.lambda_handler(event, None)['isAuthorized'], 'boto3' in sys.modules]))\n"
    )
    env = {"ISSUER": issuer_server.issuer.issuer, "AUDIENCE": AUDIENCE, "PYTHONPATH": str(AUTHORIZER_DIR)}
    result = subprocess.run(
        [sys.executable, "-c", script],
        input=issuer_server.issuer.mint() + "\n",
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout) == [True, False]
