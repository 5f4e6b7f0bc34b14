"""The key source against a real JWKS server on 127.0.0.1: discovery, cooldown, faults, rotation."""

from __future__ import annotations

import pytest

from devloop.issuer import new_rsa_key, public_jwk
from jwks import KeySource, discovery_url, parse_jwks
from tests.jwks_server import FaultyJwksServer, running
from tests.support import FakeClock, free_port

KEY_A, KEY_B = new_rsa_key(), new_rsa_key()
JWKS_A = {"keys": [public_jwk(KEY_A, "a")]}


@pytest.fixture
def server():
    with running(FaultyJwksServer(JWKS_A)) as srv:
        yield srv


def _numbers(key) -> tuple[int, int]:
    numbers = key.public_numbers()
    return numbers.n, numbers.e


def test_discovery_url_keeps_auth0_trailing_slash_semantics():
    assert discovery_url("https://t.auth0.com/") == "https://t.auth0.com/.well-known/openid-configuration"
    assert discovery_url("https://idp.example.com/realms/x") == (
        "https://idp.example.com/realms/x/.well-known/openid-configuration"
    )


def test_keys_come_from_discovery_once_and_are_reused(server):
    source = KeySource(issuer=server.issuer)
    for _ in range(1000):
        assert _numbers(source.key_for("a")) == _numbers(KEY_A.public_key())
    assert server.requests == ["/.well-known/openid-configuration", "/jwks.json"]


def test_discovery_issuer_mismatch_is_refused(server):
    source = KeySource(issuer=server.base_url + "/other/")
    assert source.key_for("a") is None
    assert "/jwks.json" not in server.requests


def test_unknown_kid_refetches_at_most_once_per_cooldown(server):
    clock = FakeClock()
    source = KeySource(issuer=server.issuer, jwks_uri=server.jwks_uri, cooldown=60, clock=clock)
    assert source.key_for("a") is not None
    for _ in range(500):
        assert source.key_for("forged") is None
    assert server.jwks_fetches == 1
    clock.now += 61
    assert source.key_for("forged") is None
    assert server.jwks_fetches == 2


def test_rotation_new_kid_is_picked_up_and_withdrawn_key_stops_working(server):
    clock = FakeClock()
    source = KeySource(issuer=server.issuer, jwks_uri=server.jwks_uri, cooldown=10, max_age=3600, clock=clock)
    assert source.key_for("a") is not None
    server.jwks = {"keys": [public_jwk(KEY_A, "a"), public_jwk(KEY_B, "b")]}
    clock.now += 11
    assert _numbers(source.key_for("b")) == _numbers(KEY_B.public_key())
    server.jwks = {"keys": [public_jwk(KEY_B, "b")]}
    clock.now += 3600
    assert source.key_for("a") is None
    assert source.key_for("b") is not None


@pytest.mark.parametrize("fault", ["500", "garbage", "empty", "huge", "slow"])
def test_failed_refresh_keeps_the_last_good_key_set(server, fault):
    clock = FakeClock()
    source = KeySource(issuer=server.issuer, jwks_uri=server.jwks_uri, cooldown=1, max_age=10, timeout=0.3, clock=clock)
    assert source.key_for("a") is not None
    server.mode = fault
    clock.now += 20  # stale and past the cooldown: the next lookup refreshes, and the refresh fails
    assert _numbers(source.key_for("a")) == _numbers(KEY_A.public_key())
    assert source.key_for("unknown") is None
    assert server.jwks_fetches == 2


def test_connection_refused_keeps_the_last_good_key_set(server):
    clock = FakeClock()
    source = KeySource(issuer=server.issuer, jwks_uri=server.jwks_uri, cooldown=1, max_age=10, clock=clock)
    assert source.key_for("a") is not None
    source._jwks_uri = f"http://127.0.0.1:{free_port()}/jwks.json"
    clock.now += 20
    assert source.key_for("a") is not None


def test_cold_start_with_a_dead_endpoint_denies_instead_of_raising():
    source = KeySource(issuer=f"http://127.0.0.1:{free_port()}/", timeout=0.5)
    assert source.key_for("a") is None


def test_plain_http_keys_are_refused_for_an_https_issuer(server):
    source = KeySource(issuer="https://tenant.example.com/", jwks_uri=server.jwks_uri)
    assert source.key_for("a") is None
    assert server.requests == []


def test_parse_jwks_keeps_only_public_rsa_signing_keys():
    private_member_leak = public_jwk(KEY_A, "leaky") | {"d": "AQAB"}
    document = {
        "keys": [
            public_jwk(KEY_A, "good"),
            private_member_leak,
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
            public_jwk(KEY_B, "enc") | {"use": "enc"},
            {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
            public_jwk(KEY_B, ""),
            "not a key",
        ]
    }
    keys = parse_jwks(document)
    assert sorted(keys) == ["good", "leaky"]
    assert not hasattr(keys["leaky"], "private_numbers")
