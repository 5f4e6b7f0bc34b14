"""``python -m devkit.local``: bad settings are one line naming the make variable, before any socket is used."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from devkit.local.__main__ import main
from tests.support import ROOT, free_port

AUTH0 = ("AUTH0_DOMAIN", "AUTH0_CLIENT_ID", "AUTH0_CLIENT_SECRET", "AUTH0_AUDIENCE")


def local_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AUTH0_")}
    return subprocess.run(
        [sys.executable, "-m", "devkit.local", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={**base, **env},
    )


def test_make_local_with_an_out_of_range_port_is_one_line():
    # What `make local API_PORT=99999` runs.
    result = local_cli("serve", "--api-port", "99999", "--issuer-port", "3001")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.splitlines() == ["error: API_PORT must be a port number from 0 to 65535 (got 99999)"]


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--api-port", "-1"], "error: API_PORT must be a port number from 0 to 65535 (got -1)"),
        (["--api-port", "abc"], "error: API_PORT must be a port number from 0 to 65535 (got abc)"),
        (["--api-port", ""], "error: API_PORT must be a port number from 0 to 65535 (got '')"),
        (["--issuer-port", "65536"], "error: ISSUER_PORT must be a port number from 0 to 65535 (got 65536)"),
        (
            ["--algorithm", "HS256"],
            "error: ALG must be one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA "
            "(got 'HS256')",
        ),
        (
            ["--algorithm", "es256"],
            "error: ALG must be one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA "
            "(got 'es256')",
        ),
        (["--issuer-port", "3001.5"], "error: ISSUER_PORT must be a port number from 0 to 65535 (got 3001.5)"),
    ],
)
def test_bad_ports_name_the_make_variable(capsys: pytest.CaptureFixture[str], args: list[str], line: str):
    assert main(["serve", *args]) == 1
    captured = capsys.readouterr()
    assert (captured.out, captured.err.splitlines()) == ("", [line])


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A socket listening on 127.0.0.1 that nobody accepts from: any connect lands in its backlog."""
    sock = socket.create_server(("127.0.0.1", 0))
    sock.setblocking(False)
    yield sock
    sock.close()


def nothing_connected(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


def auth0_env(monkeypatch: pytest.MonkeyPatch, **settings: str) -> None:
    for name in AUTH0:
        monkeypatch.delenv(name, raising=False)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize(
    ("settings", "missing"),
    [
        ({"AUTH0_DOMAIN": "DOMAIN"}, "AUTH0_CLIENT_ID, AUTH0_CLIENT_SECRET, AUTH0_AUDIENCE"),
        ({"AUTH0_DOMAIN": "DOMAIN", "AUTH0_CLIENT_ID": "id", "AUTH0_AUDIENCE": "aud"}, "AUTH0_CLIENT_SECRET"),
        (
            {"AUTH0_DOMAIN": "DOMAIN", "AUTH0_CLIENT_ID": " ", "AUTH0_CLIENT_SECRET": "s"},
            "AUTH0_CLIENT_ID, AUTH0_AUDIENCE",
        ),
    ],
)
def test_auth0_token_names_every_missing_setting_and_connects_to_nothing(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    listener: socket.socket,
    settings: dict[str, str],
    missing: str,
):
    domain = f"127.0.0.1:{listener.getsockname()[1]}"
    auth0_env(monkeypatch, **{k: v.replace("DOMAIN", domain) for k, v in settings.items()})
    assert main(["auth0-token"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [f"error: set {missing} (in the environment or .env) for make auth0-token"]
    assert nothing_connected(listener)


def test_auth0_token_without_any_setting_names_all_four(capsys: pytest.CaptureFixture[str]):
    result = local_cli("auth0-token")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.splitlines() == [
        "error: set AUTH0_DOMAIN, AUTH0_CLIENT_ID, AUTH0_CLIENT_SECRET, AUTH0_AUDIENCE "
        "(in the environment or .env) for make auth0-token"
    ]


def test_auth0_token_with_every_setting_does_connect_and_gives_no_make_local_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    # The control for the tests above: the same listener does see the request once all is set.
    accepted: list[bool] = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(10)

        def refuse() -> None:
            conn, _ = server.accept()
            accepted.append(True)
            conn.close()  # the TLS handshake fails at once, as an unreachable tenant would

        thread = threading.Thread(target=refuse, daemon=True)
        thread.start()
        port = server.getsockname()[1]
        auth0_env(
            monkeypatch,
            AUTH0_DOMAIN=f"127.0.0.1:{port}",
            AUTH0_CLIENT_ID="id",
            AUTH0_CLIENT_SECRET="secret",
            AUTH0_AUDIENCE="https://api.example.com",
        )
        assert main(["auth0-token"]) == 1
        thread.join(10)
    assert accepted == [True]
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"error: cannot reach https://127.0.0.1:{port}/.well-known/openid-configuration"
    )
    assert "make local" not in lines[0]
    assert "AUTH0_DOMAIN" in lines[0]


def test_the_dev_issuer_keeps_its_make_local_hint(capsys: pytest.CaptureFixture[str]):
    assert main(["token", "--issuer", f"http://127.0.0.1:{free_port()}/"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].endswith("(is the issuer running? try: make local)")


# ---------------------------------------------------------------- one line naming the make variable
def own_lines(stderr: str) -> list[str]:
    """What our command said, without make's own "make: *** [...] Error 1" line."""
    return [line for line in stderr.splitlines() if not line.startswith("make: ***")]


def make(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ISSUER", "AUDIENCE", "PARAMS")}
    return subprocess.run(["make", "-s", *args], capture_output=True, text=True, cwd=ROOT, timeout=120, env=env)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["local", "ISSUERS=3"], "error: ISSUERS must be 1 or 2 (got '3')"),
        (["local", "ISSUERS=two"], "error: ISSUERS must be 1 or 2 (got 'two')"),
        (["token", "ISSUER_INDEX=3"], "error: ISSUER_INDEX must be 1 or 2 (got '3')"),
        (
            ["token", "VARIANT=nonsense"],
            "error: VARIANT must be one of expired, wrong_audience, foreign_key, bad_signature, not_yet_valid, "
            "unknown_kid, or empty for a valid token (got 'nonsense')",
        ),
        (
            ["local", "ISSUER=https://a.example/", "PARAMS=Issuer=https://b.example/"],
            'error: ISSUER=https://a.example/ and PARAMS="Issuer=https://b.example/" differ: give it once',
        ),
        (
            ["local", "ISSUER=https://a.example/", "ISSUERS=2"],
            'error: ISSUERS=2 adds a second dev issuer; with ISSUER=... name more in PARAMS="AdditionalIssuers=..."',
        ),
        (
            ["local", "ISSUER=http://127.0.0.1:9/"],
            "error: parameter Issuer: 'http://127.0.0.1:9/' does not match the allowed pattern; must be an https://",
        ),
    ],
    ids=["issuers-3", "issuers-word", "issuer-index-3", "variant", "issuer-twice", "real-issuer-and-2", "http-issuer"],
)
def test_a_make_variable_it_cannot_take_is_one_line_naming_it_and_connects_to_nothing(
    listener: socket.socket, args: list[str], line: str
):
    port = listener.getsockname()[1]
    result = make(*args, f"ISSUER_PORT={port}", "API_PORT=0")
    assert result.returncode != 0 and result.stdout == ""
    (said,) = own_lines(result.stderr)
    assert said.startswith(line), said
    assert nothing_connected(listener)
