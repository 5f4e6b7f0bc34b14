"""make local's banner keeps its promises: each curl line answers the status it prints.

Run as a user runs it (``make local PARAMS=...`` in a subprocess), the banner read from its
output and each curl line sent over real HTTP with the tokens the banner printed.
"""

from __future__ import annotations

import signal

import pytest

from tests.e2e.conftest import http
from tests.e2e.make_local import curl_lines, make_local, replay

CASES = {
    "defaults": [],
    "required-scope": ["PARAMS=RequiredScope=write:test"],
    "audience": ["PARAMS=Audience=https://orders.example.com"],
    "audience-option": ["AUDIENCE=https://orders.example.com"],
    "two-audiences-and-scope": ["PARAMS=Audience=https://a.example,https://b.example RequiredScope=admin"],
    "permissions-only": ["PARAMS=ScopeClaims=permissions RequiredScope=read:orders"],
    "several-issuers-and-claims": [
        "ISSUERS=2",
        "PARAMS=ScopeClaims=scope,scp,permissions RequiredScope=read:test "
        """RequiredClaims='{"org_id": ["org_abc123"]}'""",
    ],
    "algorithm-not-allowed": ["PARAMS=AllowedAlgorithms=ES256"],
    "ec-issuer": ["ALG=ES256", "PARAMS=RequiredScope=write:test"],
}


@pytest.mark.parametrize("args", CASES.values(), ids=CASES.keys())
def test_every_curl_line_of_the_banner_gets_the_status_it_promises(args: list[str]):
    with make_local(*args) as running:
        answers = replay(running.banner)
    assert len(answers) >= 6, running.banner
    broken = [f"{line}  -> {got}" for line, promised, got in answers if got != promised]
    assert not broken, "\n".join(broken)


def test_the_banner_prints_the_rules_in_effect():
    params = "PARAMS=Audience=https://orders.example.com RequiredScope=write:test ScopeClaims=scope,permissions"
    with make_local(params) as running:
        banner = running.banner
    rules = [line for line in banner.splitlines() if "/test " in line and " iss " in line]
    assert len(rules) == 2, banner
    assert "aud https://orders.example.com; scope write:test; RS256" in rules[0]
    assert "aud https://orders.example.com; scope write:test (from scope,permissions); RS256" in rules[1]
    # and the fresh-token hint asks for what the rules need
    assert 'make -s token [SCOPES="write:test"' in banner


def test_a_route_that_cannot_take_dev_tokens_is_promised_as_refused_and_says_why():
    with make_local("PARAMS=AllowedAlgorithms=ES256") as running:
        banner = running.banner
    token_lines = [c for c in curl_lines(banner, {}) if c.token is not None]
    promised = {(c.url.split("/", 3)[-1], c.token == token_lines[0].token): c.promised for c in token_lines}
    assert promised == {
        ("test", True): 200,
        ("lambda/test", True): 403,
        ("test", False): 401,
        ("lambda/test", False): 403,
    }
    assert "# 403 Lambda authorizer: AllowedAlgorithms lacks RS256" in banner


def test_ctrl_c_stops_make_local_and_its_workers_without_a_traceback():
    with make_local() as running:
        answers = replay(running.banner)  # the Lambda routes start function workers
        assert [got for _, promised, got in answers] == [promised for _, promised, _ in answers]
    assert running.process.returncode is not None  # make itself ends on SIGINT, as in a terminal
    assert not [line for line in running.stderr if "Traceback" in line or "KeyboardInterrupt" in line]
    # ... and says what the session came to, as the dashboard would count it.
    assert "this session, as the dashboard counts it" in running.after
    assert "GET /lambda/test" in running.after and "Lambda authorizer decisions: " in running.after


@pytest.mark.parametrize(
    ("stop", "sigint_ignored"),
    [(signal.SIGTERM, False), (signal.SIGINT, True)],
    ids=["sigterm", "sigint-ignored-as-in-a-background-job"],
)
def test_a_background_make_local_stops_on_a_kill_and_says_what_the_session_came_to(stop, sigint_ignored):
    with make_local(stop=stop, sigint_ignored=sigint_ignored) as running:
        assert http(running.api_url + "/health").status == 200
    assert running.process.returncode is not None
    assert "this session, as the dashboard counts it" in running.after
    assert "GET /health 2xx 1" in running.after


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_a_stop_that_arrives_again_during_the_shutdown_still_ends_with_the_summary(stop):
    # make passes a SIGTERM it gets on to its children, so a kill of the group reaches the server
    # twice; a user may press Ctrl-C twice. Neither may cut the shutdown short.
    with make_local(stop=stop, stops=3) as running:
        assert http(running.api_url + "/health").status == 200
    assert not [line for line in running.stderr if "Traceback" in line or "KeyboardInterrupt" in line]
    assert "this session, as the dashboard counts it" in running.after
    assert "GET /health 2xx 1" in running.after
