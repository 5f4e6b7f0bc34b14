"""make local against a real OIDC issuer the project does not write: oidc-provider over HTTPS.

Both routes must take its tokens with its CA trusted only through SSL_CERT_FILE (the function
workers included), deny them when it is not (the Lambda authorizer saying that the keys could
not be fetched, and why), and make token must get its tokens the standard way.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator

import jwt
import pytest

from tests.e2e.conftest import http
from tests.e2e.make_local import make_env, make_local, replay
from tests.e2e.real_issuer import CLIENT_ID, CLIENT_SECRET, POST_CLIENT_ID, RESOURCE, RealIssuer, real_issuer
from tests.support import ROOT, free_port


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealIssuer]:
    with real_issuer(tmp_path_factory.mktemp("oidc")) as running:
        yield running


def issued_token(provider: RealIssuer, scope: str = "read:test") -> str:
    """A token straight from the issuer's endpoint, by this test's own request (no project code)."""
    fields = urllib.parse.urlencode({"grant_type": "client_credentials", "resource": RESOURCE, "scope": scope})
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    request = urllib.request.Request(
        provider.issuer + "/token",
        data=fields.encode(),
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request, context=provider.ca.client_context(), timeout=30) as answer:
        return str(json.loads(answer.read())["access_token"])


def trusted_env(provider: RealIssuer, **extra: str) -> dict[str, str]:
    return make_env(SSL_CERT_FILE=str(provider.bundle), **extra)


SPELLINGS = {
    "issuer-and-audience": lambda p: [f"ISSUER={p.issuer}", f"AUDIENCE={RESOURCE}"],
    "params": lambda p: [f"PARAMS=Issuer={p.issuer} Audience={RESOURCE}"],
}


@pytest.mark.parametrize("spelling", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_both_routes_take_the_real_issuers_token_with_its_ca_trusted_through_ssl_cert_file(provider, spelling):
    # GIVEN a standards token (RFC 9068: typ at+jwt, aud from RFC 8707's resource)
    token = issued_token(provider)
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"

    # WHEN make local runs with that issuer, its CA trusted through SSL_CERT_FILE alone
    with make_local(*spelling(provider), env=trusted_env(provider)) as running:
        jwt_reply = http(running.api_url + "/test", token)
        lambda_reply = http(running.api_url + "/lambda/test", token)
        other = http(running.api_url + "/lambda/test", issued_token(provider, scope="write:test"))

    # THEN both authorizers fetched its keys (the gateway in process, the authorizer in its worker)
    assert (jwt_reply.status, lambda_reply.status, other.status) == (200, 200, 200), running.stderr[-5:]
    assert jwt_reply.json()["claims"]["iss"] == provider.issuer
    assert lambda_reply.json()["context"]["clientId"] == CLIENT_ID


def test_the_banner_says_whose_tokens_it_takes_and_its_curl_lines_keep_their_promises(provider):
    env = trusted_env(provider, OIDC_CLIENT_ID=CLIENT_ID, OIDC_CLIENT_SECRET=CLIENT_SECRET, AUDIENCE_PARAM="resource")
    params = "PARAMS=RequiredScope=write:test"
    with make_local(f"ISSUER={provider.issuer}", f"AUDIENCE={RESOURCE}", params, env=env) as running:
        banner = running.banner
        # The banner's own token line, run as printed (with the issuer's RFC 8707 parameter).
        command = banner.split('TOKEN="$(', 1)[1].split(')"', 1)[0]
        token = subprocess.run(
            shlex.split(command), cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
        ).stdout.strip()
        answers = replay(banner, TOKEN=token)
    assert f"issuer     {provider.issuer}  (yours" in banner
    assert f"SSL_CERT_FILE={provider.bundle}, for the gateway and the function workers alike" in banner
    assert f"issuer {provider.issuer} checked: discovery matches, 1 signing key for RS256" in banner
    assert f"/lambda/test  iss {provider.issuer}; aud {RESOURCE}; scope write:test" in banner
    assert f'TOKEN="$(make -s token ISSUER={provider.issuer} AUDIENCE={RESOURCE} SCOPES="write:test")"' in banner
    assert "dev issuer http" not in banner
    assert len(answers) == 4
    assert [(promised, got) for _, promised, got in answers] == [(200, 200), (200, 200), (401, 401), (200, 200)]


def test_without_its_ca_trusted_both_routes_deny_and_the_log_says_the_keys_could_not_be_fetched(provider):
    token = issued_token(provider)
    with make_local(f"ISSUER={provider.issuer}", f"AUDIENCE={RESOURCE}", env=make_env()) as running:
        jwt_reply = http(running.api_url + "/test", token)
        lambda_reply = http(running.api_url + "/lambda/test", token)
        lines = running.log_lines_until(lambda line: '"decision": "deny"' in line)
    assert jwt_reply.status == 401
    assert 'error_description="keys_unavailable"' in jwt_reply.headers["www-authenticate"]
    assert lambda_reply.status == 403
    records = [json.loads(line) for line in lines if line.startswith("{")]
    decisions = [r["message"] for r in records if isinstance(r.get("message"), dict)]
    assert [(d["decision"], d["reason"]) for d in decisions] == [("deny", "keys_unavailable")]
    (failed,) = [r for r in records if str(r.get("message", "")).startswith("jwks refresh failed")]
    assert failed["message"] == "jwks refresh failed; no keys yet, so every token is denied (keys_unavailable)"
    assert failed["error"].startswith("SSLCertVerificationError (unable to get local issuer certificate) fetching ")
    assert provider.issuer + "/.well-known/openid-configuration" in failed["error"]
    assert token not in "".join(lines)
    assert "warning: cannot read the issuer's discovery document" in running.banner
    assert "# 200 built-in JWT authorizer (401 until the warning above is fixed)" in running.banner


# ---------------------------------------------------------------- make token against a standard issuer
def make_token(provider: RealIssuer, *args: str, trusted: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
    base = trusted_env(provider) if trusted else make_env()
    defaults = {"OIDC_CLIENT_ID": CLIENT_ID, "OIDC_CLIENT_SECRET": CLIENT_SECRET}
    return subprocess.run(
        ["make", "-s", "token", f"ISSUER={provider.issuer}", *args],
        cwd=ROOT,
        env={**base, **defaults, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def claims_of(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stderr
    return jwt.decode(result.stdout.strip(), options={"verify_signature": False})


def test_make_token_finds_the_endpoint_by_discovery_and_names_the_api_as_rfc_8707_does(provider):
    claims = claims_of(make_token(provider, f"AUDIENCE={RESOURCE}", "AUDIENCE_PARAM=resource", "SCOPES=write:test"))
    assert (claims["iss"], claims["aud"], claims["client_id"], claims["scope"]) == (
        provider.issuer,
        RESOURCE,
        CLIENT_ID,
        "write:test",
    )


def test_the_secret_goes_in_the_body_when_asked_as_auth0_applications_send_it(provider, monkeypatch):
    # The Auth0 case of the same client (make auth0-token): client_secret_post, here for a client
    # registered that way, and the API named with audience, which this issuer does not know.
    from devkit.tokens import oidc_token  # here: the rest of this module runs on older checkouts too

    monkeypatch.setenv("SSL_CERT_FILE", str(provider.bundle))
    common = {"client_id": POST_CLIENT_ID, "client_secret": CLIENT_SECRET, "auth_method": "client_secret_post"}
    token = oidc_token(provider.issuer, audience=RESOURCE, audience_parameter="resource", **common)
    assert jwt.decode(token, options={"verify_signature": False})["client_id"] == POST_CLIENT_ID
    # audience is not RFC 8707's parameter: a standards issuer ignores it, and the token is not
    # for the API (opaque, here) -- which is why make token asks for AUDIENCE_PARAM=resource
    opaque = oidc_token(provider.issuer, audience=RESOURCE, audience_parameter="audience", **common)
    assert opaque.count(".") != 2


@pytest.mark.parametrize(
    ("args", "env", "trusted", "line"),
    [
        (["VARIANT=expired"], {}, True, "error: VARIANT is for the dev issuer only: with ISSUER=... the token holds"),
        (["AUDIENCE_PARAM=aud"], {}, True, "error: AUDIENCE_PARAM must be one of audience, resource, none (got 'aud')"),
        ([], {"OIDC_CLIENT_SECRET": ""}, True, "error: set OIDC_CLIENT_SECRET (in the environment or .env) for make"),
        (["AUDIENCE=https://other.example", "AUDIENCE_PARAM=resource"], {}, True, "error: https://127.0.0.1:"),
        ([], {"OIDC_CLIENT_SECRET": "wrong"}, True, "error: https://127.0.0.1:"),
        ([], {}, False, "error: cannot reach https://127.0.0.1:"),
    ],
    ids=["dev-only-variable", "bad-audience-param", "no-secret", "unknown-resource", "wrong-secret", "untrusted"],
)
def test_make_token_errors_are_one_line_naming_what_to_change(provider, args, env, trusted, line):
    result = make_token(provider, *args, trusted=trusted, **env)
    ours = [text for text in result.stderr.splitlines() if not text.startswith("make: ***")]
    assert result.returncode != 0 and result.stdout == ""
    assert len(ours) == 1 and ours[0].startswith(line), result.stderr
    if not trusted:
        assert "TLS certificate not trusted" in ours[0] and "SSL_CERT_FILE" in ours[0]
    assert "Traceback" not in result.stderr and CLIENT_SECRET not in result.stderr
    assert os.environ.get("OIDC_CLIENT_SECRET", "") not in ("wrong",)


def test_the_official_mcp_client_gets_an_mcp_token_from_the_real_issuer_and_calls_whoami(tmp_path):
    # GIVEN oidc-provider issuing tokens for the API and for make local's MCP server, by resource
    port = free_port()
    mcp_url = f"http://127.0.0.1:{port}/mcp"
    with real_issuer(tmp_path, resources=(RESOURCE, mcp_url)) as issuer:
        env = trusted_env(issuer)
        with make_local(f"ISSUER={issuer.issuer}", f"AUDIENCE={RESOURCE}", f"API_PORT={port}", env=env) as running:
            assert running.api_url == f"http://127.0.0.1:{port}"
            # WHEN make mcp runs the official client with that issuer's client credentials
            done = subprocess.run(
                ["make", "-s", "mcp", f"API_PORT={port}", f"ISSUER={issuer.issuer}"],
                cwd=ROOT,
                env={**env, "OIDC_CLIENT_ID": CLIENT_ID, "OIDC_CLIENT_SECRET": CLIENT_SECRET},
                capture_output=True,
                text=True,
                timeout=120,
            )
            api_token_on_mcp = http(mcp_url, issued_token(issuer), "POST", {"content-type": "application/json"}, b"{}")

    # THEN it found the issuer from the metadata, asked it for a token bound to the MCP URL, and
    # whoami names its client; the issuer's token for the rest of the API is refused on /mcp
    assert done.returncode == 0, done.stderr
    identity = json.loads(done.stdout)
    assert (identity["sub"], identity["clientId"]) == (CLIENT_ID, CLIENT_ID)
    assert api_token_on_mcp.status == 403
