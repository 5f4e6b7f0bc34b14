"""``python -m devkit.deploy.preflight`` against a stub issuer on 127.0.0.1 over TLS: one line per failure."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from devkit.jwks_server import JwksServer, running
from devkit.local.issuer import new_rsa_key, public_jwk
from devkit.tls import LocalCA
from jwt_authorizer.keys import discovery_url
from tests.support import ROOT, free_port

AUDIENCE = "https://api.example.com"
DISCOVERY = "/.well-known/openid-configuration"
TWO_RSA_KEYS = {"keys": [public_jwk(new_rsa_key(), "a"), public_jwk(new_rsa_key(), "b")]}


def _ec_jwk(kid: str) -> dict[str, Any]:
    numbers = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "kid": kid,
        "alg": "ES256",
        "use": "sig",
        "x": _b64(numbers.x),
        "y": _b64(numbers.y),
    }


def _b64(number: int) -> str:
    return base64.urlsafe_b64encode(number.to_bytes(32, "big")).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def ca() -> LocalCA:
    return LocalCA()


@pytest.fixture
def issuer(ca: LocalCA) -> Iterator[JwksServer]:
    with running(JwksServer(TWO_RSA_KEYS, tls=ca)) as server:
        yield server


def preflight(ca: LocalCA, *args: str, trust: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("SKIP_ISSUER_CHECK", "SSL_CERT_FILE", "SSL_CERT_DIR")}
    if trust:
        base["SSL_CERT_FILE"] = str(ca.bundle)
    return subprocess.run(
        [sys.executable, "-m", "devkit.deploy.preflight", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={**base, **env},
    )


def failure(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The one stderr line of a failed run, without its prefix."""
    assert (result.returncode, result.stdout) == (code, ""), result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("preflight: error: ")
    return line.removeprefix("preflight: error: ")


def test_a_good_issuer_is_one_ok_line(ca: LocalCA, issuer: JwksServer):
    result = preflight(ca, "--issuer", issuer.issuer, "--audience", AUDIENCE)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"issuer {issuer.issuer} checked: discovery matches, 2 signing keys for RS256\n"
    assert issuer.requests == [DISCOVERY, "/jwks.json"]


def test_a_missing_trailing_slash_fails_and_shows_the_right_issuer(ca: LocalCA, issuer: JwksServer):
    # Auth0's iss ends in "/": without it, every token is a 401 after the deploy.
    assert issuer.issuer == issuer.base_url + "/"
    result = preflight(ca, "--issuer", issuer.base_url, "--audience", AUDIENCE)
    assert failure(result) == (
        f'the issuer\'s discovery document says "{issuer.issuer}": use exactly that (with the trailing slash) as ISSUER'
    )


def test_a_different_issuer_in_discovery_fails(ca: LocalCA, issuer: JwksServer):
    issuer.issuer = "https://elsewhere.example/"
    result = preflight(ca, "--issuer", issuer.base_url + "/", "--audience", AUDIENCE)
    assert failure(result) == (
        'the issuer\'s discovery document says "https://elsewhere.example/": '
        f'use exactly that instead of "{issuer.base_url}/" as ISSUER'
    )


@pytest.mark.parametrize(("flag", "variable"), [("--issuer", "ISSUER"), ("--audience", "AUDIENCE")])
@pytest.mark.parametrize("empty", ["", "  "])
def test_an_empty_issuer_or_audience_is_refused_first(ca: LocalCA, issuer: JwksServer, flag, variable, empty):
    given = {"--issuer": issuer.issuer, "--audience": AUDIENCE, flag: empty}
    result = preflight(ca, *[part for pair in given.items() for part in pair])
    assert failure(result).startswith(f"{variable} is empty: ")
    assert issuer.requests == []


def test_an_unreachable_issuer_names_the_url_and_why(ca: LocalCA):
    port = free_port()
    result = preflight(ca, "--issuer", f"https://127.0.0.1:{port}/", "--audience", AUDIENCE)
    assert failure(result) == (
        f"cannot read the issuer's discovery document at https://127.0.0.1:{port}{DISCOVERY}: connection refused"
    )


def test_an_untrusted_certificate_says_so(ca: LocalCA, issuer: JwksServer):
    result = preflight(ca, "--issuer", issuer.issuer, "--audience", AUDIENCE, trust=False)
    message = failure(result)
    assert message.startswith(f"cannot read the issuer's discovery document at {discovery_url(issuer.issuer)}: ")
    assert "TLS certificate not trusted" in message


@pytest.mark.parametrize(("mode", "why"), [("500", "HTTP 500 from"), ("garbage", "invalid JSON at")])
def test_a_failing_discovery_document_names_the_url(ca: LocalCA, issuer: JwksServer, mode, why):
    # The stub answers any path but its root discovery document as it answers for keys, so an
    # issuer with a path gets the fault on its discovery document.
    issuer.mode = mode
    tenant = issuer.base_url + "/tenant/"
    result = preflight(ca, "--issuer", tenant, "--audience", AUDIENCE)
    assert failure(result) == f"cannot read the issuer's discovery document: {why} {discovery_url(tenant)}"


@pytest.mark.parametrize(("mode", "why"), [("500", "HTTP 500 from"), ("garbage", "invalid JSON at")])
def test_failing_keys_name_the_url(ca: LocalCA, issuer: JwksServer, mode, why):
    issuer.mode = mode
    result = preflight(ca, "--issuer", issuer.issuer, "--audience", AUDIENCE)
    assert failure(result) == f"cannot read the issuer's signing keys: {why} {issuer.jwks_uri}"


def test_a_discovery_document_without_jwks_uri_fails(ca: LocalCA, issuer: JwksServer):
    issuer.discovery_override = {"issuer": issuer.issuer}
    result = preflight(ca, "--issuer", issuer.issuer, "--audience", AUDIENCE)
    url = discovery_url(issuer.issuer)
    assert failure(result).startswith(f"the issuer's discovery document at {url} has no jwks_uri")
    assert issuer.requests == [DISCOVERY]


def test_keys_for_no_allowed_algorithm_name_what_the_issuer_publishes_and_what_to_set(ca, issuer):
    # An EC-only issuer (Supabase's default) with the default AllowedAlgorithms (RS256).
    issuer.jwks = {"keys": [_ec_jwk("ec-1")]}
    message = failure(preflight(ca, "--issuer", issuer.issuer, "--audience", AUDIENCE))
    assert message == (
        f"no signing key at {issuer.jwks_uri} fits AllowedAlgorithms RS256: it publishes keys for ES256; "
        'deploy with the one your tokens use: PARAMS="AllowedAlgorithms=ES256" '
        "(/test's built-in JWT authorizer verifies RSA only, so only /lambda/test can accept this issuer's tokens)"
    )


def test_a_ps256_only_issuer_no_longer_passes_for_an_rs256_stack(ca, issuer):
    # The key's JWK binds it to PS256: an RS256 stack would refuse every token this issuer signs.
    issuer.jwks = {"keys": [public_jwk(new_rsa_key(), "ps", alg="PS256")]}
    message = failure(preflight(ca, "--issuer", issuer.issuer, "--audience", AUDIENCE))
    assert message == (
        f"no signing key at {issuer.jwks_uri} fits AllowedAlgorithms RS256: it publishes keys for PS256; "
        'deploy with the one your tokens use: PARAMS="AllowedAlgorithms=PS256" '
        "(AWS documents /test's built-in JWT authorizer for RSA and shows RS256; whether it takes PS256 is not "
        "documented (make local refuses it): check /test once deployed)"
    )
    result = preflight(ca, "--issuer", issuer.issuer, "--audience", AUDIENCE, "--parameter", "AllowedAlgorithms=PS256")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"issuer {issuer.issuer} checked: discovery matches, 1 signing key for PS256;")
    assert "whether it takes PS256 is not documented" in result.stdout


def test_an_ec_issuer_passes_when_allowed_and_the_line_says_test_will_refuse_it(ca, issuer):
    issuer.jwks = {"keys": [_ec_jwk("ec-1"), _ec_jwk("ec-2")]}
    args = ["--issuer", issuer.issuer, "--audience", AUDIENCE, "--parameter", "AllowedAlgorithms=ES256,RS256"]
    result = preflight(ca, *args)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        f"issuer {issuer.issuer} checked: discovery matches, 2 signing keys for RS256,ES256; note: /test's "
        "built-in JWT authorizer verifies RSA only, so only /lambda/test can accept this issuer's tokens\n"
    )


@pytest.mark.parametrize(
    ("issuer", "auth0"), [("https://tenant.us.auth0.com/", True), ("https://kc.example/realms/r", False)]
)
def test_the_auth0_hint_is_given_for_auth0_issuers_only(issuer, auth0):
    from devkit.deploy.preflight import _no_fit
    from jwt_authorizer.algorithms import PUBLIC_KEY_ALGORITHMS
    from jwt_authorizer.keys import parse_jwks

    keys = parse_jwks({"keys": [_ec_jwk("ec-1")]}, PUBLIC_KEY_ALGORITHMS)
    assert ("Auth0 shows the API's algorithm" in _no_fit(issuer, "https://x/jwks", keys, "RS256")) is auth0


def test_keys_the_authorizer_would_skip_say_why(ca: LocalCA, issuer: JwksServer):
    issuer.jwks = {"keys": [{**public_jwk(new_rsa_key(), "enc-1"), "use": "enc"}]}
    message = failure(preflight(ca, "--issuer", issuer.issuer, "--audience", AUDIENCE))
    assert message == f"no usable signing key at {issuer.jwks_uri}: enc-1: use 'enc' is not sig"


def test_the_ok_line_mentions_keys_the_authorizer_would_skip(ca: LocalCA, issuer: JwksServer):
    issuer.jwks = {"keys": [public_jwk(new_rsa_key(), "a"), {**public_jwk(new_rsa_key(), "enc-1"), "use": "enc"}]}
    result = preflight(ca, "--issuer", issuer.issuer, "--audience", AUDIENCE)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        f"issuer {issuer.issuer} checked: discovery matches, 1 signing key for RS256 "
        "(skipped enc-1: use 'enc' is not sig)\n"
    )


def test_skip_issuer_check_fetches_nothing(ca: LocalCA):
    port = free_port()
    result = preflight(ca, "--issuer", f"https://127.0.0.1:{port}/", "--audience", AUDIENCE, SKIP_ISSUER_CHECK="1")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"parameters valid; issuer https://127.0.0.1:{port}/ not checked (SKIP_ISSUER_CHECK=1)\n"


def test_skip_issuer_check_makes_no_request_even_to_a_live_issuer(ca: LocalCA, issuer: JwksServer):
    result = preflight(ca, "--issuer", issuer.base_url, "--audience", AUDIENCE, SKIP_ISSUER_CHECK="1")
    assert result.returncode == 0, result.stderr
    assert issuer.requests == []


@pytest.mark.parametrize(
    ("args", "start"),
    [
        (["--parameter", "LogRetentionDays=2"], "parameter LogRetentionDays: '2' is not one of the allowed values; "),
        (
            ["--parameter", "AuthorizerCacheTtl=1.5"],
            "parameter AuthorizerCacheTtl: '1.5' does not match the allowed pattern; ",
        ),
        (["--parameter", "Nope=1"], "unknown parameter 'Nope' (template.yaml has: "),
        (["--parameter", "RequiredScope"], "parameter 'RequiredScope' is not Name=value"),
        (["--audience", "https://a.example, b c"], "parameter Audience: 'b c' (in 'https://a.example, b c') "),
        (["--parameter", "Issuer=https://other.example/"], "--parameter Issuer=https://other.example/ contradicts"),
    ],
)
def test_a_bad_parameter_fails_by_name_before_anything_is_fetched(
    ca: LocalCA, issuer: JwksServer, args: list[str], start: str
):
    given = ["--issuer", issuer.issuer, "--audience", AUDIENCE, *args]
    assert failure(preflight(ca, *given)).startswith(start)
    assert issuer.requests == []


def test_bad_usage_is_one_line_and_exit_2(ca: LocalCA):
    assert failure(preflight(ca, "--issuer", "https://t.auth0.com/"), code=2) == (
        "the following arguments are required: --audience (see --help)"
    )


def test_additional_issuers_are_checked_too(ca: LocalCA, issuer: JwksServer):
    # The Lambda authorizer's AdditionalIssuers: a typo there would deny every token of that issuer.
    with running(JwksServer(TWO_RSA_KEYS, tls=ca)) as second:
        good = preflight(
            ca, "--issuer", issuer.issuer, "--audience", AUDIENCE, "--parameter", f"AdditionalIssuers={second.issuer}"
        )
        assert good.returncode == 0, good.stderr
        assert (
            good.stdout.splitlines()[1]
            == f"issuer {second.issuer} checked: discovery matches, 2 signing keys for RS256"
        )
        typo = preflight(
            ca, "--issuer", issuer.issuer, "--audience", AUDIENCE, "--parameter", f"AdditionalIssuers={second.base_url}"
        )
    assert typo.returncode == 1
    assert f'says "{second.issuer}": use exactly that' in typo.stderr
