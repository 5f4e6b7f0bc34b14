"""One table of template parameter values, fed to every door a value can come in by.

The doors: the template itself (CloudFormation's parameter rules on it, as cfn-lint checks a
Default, plus our rules); ``make local PARAMS=...``; and ``make deploy``'s preflight, without its
network part (``SKIP_ISSUER_CHECK=1``) and with it, against issuers served over TLS on
127.0.0.1 under the table's own host names. Each door must accept exactly the values the table
accepts, and refuse the others in one line that names the parameter: never crash, never pass a
value another door refuses.
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import trustme
from samtranslator.yaml_helper import yaml_parse

from devkit.deploy import preflight
from devkit.local.issuer import new_rsa_key, public_jwk
from devkit.local.serve import LocalStack, local_settings
from devkit.parameters import ParameterError, format_override
from tests.support import CFN_LINT, ROOT, FakeClock

TEMPLATE = ROOT / "template.yaml"
ISSUER = "https://example-tenant.us.auth0.com/"
AUDIENCE = "https://api.example.com"
ACCEPT, REFUSE = True, False

# (parameter, value, accepted). Issuers are served (with the network part) under their own names.
ROWS: list[tuple[str, str, bool]] = [
    ("Issuer", ISSUER, ACCEPT),
    ("Issuer", "https://example-tenant.us.auth0.com", REFUSE),  # Auth0's iss ends with a slash
    ("Issuer", "http://example-tenant.us.auth0.com/", REFUSE),
    ("Issuer", "https://example-tenant.us.auth0.com/ ", REFUSE),
    ("Issuer", "https://login.example.com", ACCEPT),  # not Auth0: no slash is its own business
    ("AdditionalIssuers", "", ACCEPT),
    ("AdditionalIssuers", "https://second.eu.auth0.com/", ACCEPT),
    ("AdditionalIssuers", "https://second.eu.auth0.com", REFUSE),
    ("AdditionalIssuers", "https://login.example.com,https://second.eu.auth0.com", REFUSE),
    ("Audience", AUDIENCE, ACCEPT),
    ("Audience", "https://api.example.com,urn:orders", ACCEPT),
    ("Audience", "https://api.example.com,,urn:orders", REFUSE),
    ("Audience", "", REFUSE),
    ("AuthorizerCacheTtl", "0", ACCEPT),
    ("AuthorizerCacheTtl", "300", ACCEPT),
    ("AuthorizerCacheTtl", "3600", ACCEPT),
    ("AuthorizerCacheTtl", "1.5", REFUSE),
    ("AuthorizerCacheTtl", "300.0", REFUSE),
    ("AuthorizerCacheTtl", "3601", REFUSE),
    ("AuthorizerCacheTtl", "-1", REFUSE),
    ("AuthorizerCacheTtl", "0300", REFUSE),
    ("AuthorizerCacheTtl", "3e2", REFUSE),
    ("AuthorizerCacheTtl", "", REFUSE),
    ("AuthorizerCacheTtl", "abc", REFUSE),
    ("ThrottlingRateLimit", "1", ACCEPT),
    ("ThrottlingRateLimit", "10000", ACCEPT),
    ("ThrottlingRateLimit", "0", REFUSE),
    ("ThrottlingRateLimit", "0.5", REFUSE),
    ("ThrottlingRateLimit", "10001", REFUSE),
    ("ThrottlingBurstLimit", "5000", ACCEPT),
    ("ThrottlingBurstLimit", "2.0", REFUSE),
    ("ThrottlingBurstLimit", "5001", REFUSE),
    ("LogRetentionDays", "30", ACCEPT),
    ("LogRetentionDays", "3653", ACCEPT),
    ("LogRetentionDays", "30.0", REFUSE),
    ("LogRetentionDays", "2", REFUSE),
    ("RequiredScope", "", ACCEPT),
    ("RequiredScope", "read:test", ACCEPT),
    ("RequiredScope", "read test", REFUSE),
    ("CorsAllowedOrigins", "", ACCEPT),
    ("CorsAllowedOrigins", "https://app.example.com,http://localhost:5173", ACCEPT),
    ("CorsAllowedOrigins", "https://app.example.com/", REFUSE),
    ("AllowedAlgorithms", "RS256,ES256", ACCEPT),
    ("AllowedAlgorithms", "HS256", REFUSE),
    ("ScopeClaims", "scope,scp,permissions", ACCEPT),
    ("ScopeClaims", "", REFUSE),
    ("SharedSecretParameter", "/jwt/secret", ACCEPT),
    ("SharedSecretParameter", "jwt/secret", REFUSE),
    ("AuthorizerTracing", "PassThrough", ACCEPT),
    ("AuthorizerTracing", "active", REFUSE),
    ("RequiredClaims", '{"org_id": ["org_abc123"]}', ACCEPT),
    ("RequiredClaims", "org_id=org_abc123", REFUSE),
    ("RequiredClaims", '{"org_id": "org_abc123"}', REFUSE),  # the authorizer takes a list per claim
]
ISSUER_ROWS = ("Issuer", "AdditionalIssuers")
HOSTS = sorted(
    {urlsplit(ISSUER).hostname or ""}
    | {urlsplit(item).hostname or "" for name, value, _ in ROWS if name in ISSUER_ROWS for item in value.split(",")}
    - {""}
)


def _row_id(row: tuple[str, str, bool]) -> str:
    return f"{row[0]}={row[1]!r}"


def _disagreements(verdicts: dict[tuple[str, str, bool], str | None]) -> list[str]:
    """Rows a door answers differently from the table: None is accepted, a string is the refusal."""
    wrong = []
    for row, refusal in verdicts.items():
        name, _, accepted = row
        if accepted and refusal is not None:
            wrong.append(f"{_row_id(row)}: refused ({refusal})")
        elif not accepted and refusal is None:
            wrong.append(f"{_row_id(row)}: accepted")
        elif refusal is not None and (name.lower() not in refusal.lower() or "\n" in refusal):
            wrong.append(f"{_row_id(row)}: the refusal does not name {name} in one line: {refusal!r}")
    return wrong


# ---------------------------------------------------------------- the template: cfn-lint on a Default
def test_the_template_accepts_exactly_the_tables_values(tmp_path: Path):
    # Each value becomes its parameter's Default, which cfn-lint checks against AllowedPattern,
    # AllowedValues and MinValue/MaxValue (E2015), as CloudFormation checks a value, and which our
    # rules read (E9104 for issuers, E9106 for what the authorizer parses at start). One template per
    # round, each parameter once per round.
    document = yaml_parse(TEMPLATE.read_text())
    rounds: list[dict[str, tuple[str, str, bool]]] = []
    for row in ROWS:
        free = next((r for r in rounds if row[0] not in r), None)
        if free is None:
            free = {}
            rounds.append(free)
        free[row[0]] = row
    files = {}
    for index, chosen in enumerate(rounds):
        copy = json.loads(json.dumps(document))
        for name, (_, value, _) in chosen.items():
            copy["Parameters"][name]["Default"] = value
        path = tmp_path / f"round{index}.json"
        path.write_text(json.dumps(copy))
        files[str(path)] = chosen
    result = subprocess.run(
        [str(CFN_LINT), *files, "--format", "json", "--append-rules", str(ROOT / "lint" / "rules")],
        capture_output=True,
        text=True,
        check=False,
    )
    verdicts: dict[tuple[str, str, bool], str | None] = {row: None for row in ROWS}
    for finding in json.loads(result.stdout or "[]"):
        path = finding["Location"]["Path"]
        assert path[:1] == ["Parameters"] and path[1] in files[finding["Filename"]], finding
        row = files[finding["Filename"]][path[1]]
        verdicts[row] = f"{path[1]}: {finding['Rule']['Id']} {finding['Message']}"
    assert _disagreements(verdicts) == []


# ---------------------------------------------------------------- make local
def local_door(name: str, value: str) -> str | None:
    # What `make local PARAMS=...` does before serving: the parameter check, then the stack built
    # from the template with those values (where a value the check let through would break).
    args = argparse.Namespace(
        parameters=format_override(name, value), template=str(TEMPLATE), issuers=1, issuer="", audience=""
    )
    try:
        local = local_settings(args)
    except ParameterError as exc:
        return str(exc)
    # As make local's run() builds it: the stack's own Issuer and Audience as arguments.
    others = {k: v for k, v in local.parameters.items() if k not in ("Issuer", "Audience")}
    LocalStack(TEMPLATE, parameters=others, audience=local.audience, issuer=local.issuer, clock=FakeClock()).close()
    return None


def test_make_local_accepts_exactly_the_tables_values():
    assert _disagreements({row: local_door(row[0], row[1]) for row in ROWS}) == []


# ---------------------------------------------------------------- make deploy's preflight
def preflight_door(name: str, value: str) -> str | None:
    """``make deploy ISSUER=... AUDIENCE=... PARAMS=Name=value``'s check, in process as deploy runs it."""
    issuer = value if name == "Issuer" else ISSUER
    audience = value if name == "Audience" else AUDIENCE
    others = {} if name in ("Issuer", "Audience") else {name: value}
    try:
        list(preflight.run_checks(TEMPLATE, issuer, audience, others))
    except (preflight.PreflightError, ParameterError) as exc:
        return str(exc)
    return None


def test_the_offline_preflight_accepts_exactly_the_tables_values(monkeypatch):
    monkeypatch.setenv("SKIP_ISSUER_CHECK", "1")
    assert _disagreements({row: preflight_door(row[0], row[1]) for row in ROWS}) == []


class _Issuers(ThreadingHTTPServer):
    """Discovery and keys over TLS for any of the table's hosts: each names the issuer the test set."""

    daemon_threads = True

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _IssuerHandler)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.jwks = {"keys": [public_jwk(new_rsa_key(), "k1")]}
        self.issuers: dict[str, str] = {}
        self.requests: list[str] = []


class _IssuerHandler(BaseHTTPRequestHandler):
    server: _Issuers

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return

    def do_GET(self) -> None:
        host = (self.headers.get("Host") or "").split(":")[0]
        self.server.requests.append(f"{host}{self.path}")
        if self.path == "/.well-known/openid-configuration":
            body: dict[str, Any] = {"issuer": self.server.issuers.get(host, f"https://{host}/")}
            body["jwks_uri"] = f"https://{host}/jwks.json"
        else:
            body = self.server.jwks
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def issuers_online(monkeypatch, tmp_path: Path) -> Iterator[_Issuers]:
    """The table's issuer hosts, resolved to a TLS server on 127.0.0.1 that the process trusts."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*HOSTS).configure_cert(context)
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(ca.cert_pem.bytes())
    server = _Issuers(context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    real: Callable[..., Any] = socket.getaddrinfo

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in HOSTS:
            return real("127.0.0.1", server.server_address[1], *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, f"{host}: not one of this test's hosts")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.delenv("SKIP_ISSUER_CHECK", raising=False)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_the_preflight_with_its_network_part_accepts_exactly_the_tables_values(issuers_online: _Issuers):
    verdicts = {}
    for row in ROWS:
        name, value, _ = row
        given = value.split(",") if name in ISSUER_ROWS else [ISSUER]
        # Each issuer says it is exactly what was given: only the parameter check can refuse it.
        issuers_online.issuers = {urlsplit(item).hostname or "": item for item in [ISSUER, *given] if item}
        issuers_online.requests.clear()
        verdicts[row] = preflight_door(name, value)
        if verdicts[row] is None:
            assert issuers_online.requests, f"{_row_id(row)}: passed without asking any issuer"
    assert _disagreements(verdicts) == []
