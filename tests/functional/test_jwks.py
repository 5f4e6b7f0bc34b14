"""The key source against a real JWKS server on 127.0.0.1: discovery, cooldown, faults, rotation."""

from __future__ import annotations

import base64
import logging
import random
import socket
import threading
import time
from typing import Any

import pytest

from devkit.jwks_server import JwksServer, running
from devkit.local.issuer import new_rsa_key, public_jwk
from devkit.tls import LocalCA
from jwt_authorizer import keys as jwks
from jwt_authorizer.algorithms import VerificationKey
from jwt_authorizer.keys import KeySource, discovery_url, parse_jwks
from jwt_authorizer.verifier import TokenRejected
from tests.support import FakeClock, free_port

KEY_A, KEY_B = new_rsa_key(), new_rsa_key()
JWKS_A = {"keys": [public_jwk(KEY_A, "a")]}


def lookup(source: KeySource, kid: str) -> VerificationKey | None:
    """The key, or None when the source refuses to give one (its reason is tested on its own)."""
    try:
        return source.key_for(kid)
    except TokenRejected:
        return None


@pytest.fixture
def server():
    with running(JwksServer(JWKS_A)) as srv:
        yield srv


def _numbers(key) -> tuple[int, int]:
    numbers = getattr(key, "key", key).public_numbers()
    return numbers.n, numbers.e


def test_discovery_url_keeps_auth0_trailing_slash_semantics():
    assert discovery_url("https://t.auth0.com/") == "https://t.auth0.com/.well-known/openid-configuration"
    assert discovery_url("https://idp.example.com/realms/x") == (
        "https://idp.example.com/realms/x/.well-known/openid-configuration"
    )


def test_keys_come_from_discovery_once_and_are_reused(server):
    source = KeySource(issuer=server.issuer)
    for _ in range(1000):
        assert _numbers(lookup(source, "a")) == _numbers(KEY_A.public_key())
    assert server.requests == ["/.well-known/openid-configuration", "/jwks.json"]


def test_discovery_issuer_mismatch_is_refused(server):
    source = KeySource(issuer=server.base_url + "/other/")
    assert lookup(source, "a") is None
    assert "/jwks.json" not in server.requests


def test_unknown_kid_refetches_at_most_once_per_cooldown(server):
    clock = FakeClock()
    source = KeySource(issuer=server.issuer, jwks_uri=server.jwks_uri, cooldown=60, clock=clock)
    assert lookup(source, "a") is not None
    for _ in range(500):
        assert lookup(source, "forged") is None
    assert server.jwks_fetches == 1
    clock.now += 61
    assert lookup(source, "forged") is None
    assert server.jwks_fetches == 2


def test_rotation_new_kid_is_picked_up_and_withdrawn_key_stops_working(server):
    clock = FakeClock()
    source = KeySource(issuer=server.issuer, jwks_uri=server.jwks_uri, cooldown=10, max_age=3600, clock=clock)
    assert lookup(source, "a") is not None
    server.jwks = {"keys": [public_jwk(KEY_A, "a"), public_jwk(KEY_B, "b")]}
    clock.now += 11
    assert _numbers(lookup(source, "b")) == _numbers(KEY_B.public_key())
    server.jwks = {"keys": [public_jwk(KEY_B, "b")]}
    clock.now += 3600
    assert lookup(source, "a") is None
    assert lookup(source, "b") is not None


@pytest.mark.parametrize("fault", ["500", "garbage", "empty", "huge", "slow"])
def test_failed_refresh_keeps_the_last_good_key_set(server, fault):
    clock = FakeClock()
    source = KeySource(issuer=server.issuer, jwks_uri=server.jwks_uri, cooldown=1, max_age=10, timeout=0.3, clock=clock)
    assert lookup(source, "a") is not None
    server.mode = fault
    clock.now += 20  # stale and past the cooldown: the next lookup refreshes, and the refresh fails
    assert _numbers(lookup(source, "a")) == _numbers(KEY_A.public_key())
    assert lookup(source, "unknown") is None
    assert server.jwks_fetches == 2


def test_connection_refused_keeps_the_last_good_key_set(server):
    clock = FakeClock()
    source = KeySource(issuer=server.issuer, jwks_uri=server.jwks_uri, cooldown=1, max_age=10, clock=clock)
    assert lookup(source, "a") is not None
    source._jwks_uri = f"http://127.0.0.1:{free_port()}/jwks.json"
    clock.now += 20
    assert lookup(source, "a") is not None


def test_cold_start_with_a_dead_endpoint_denies_instead_of_raising():
    source = KeySource(issuer=f"http://127.0.0.1:{free_port()}/", timeout=0.5)
    assert lookup(source, "a") is None


def test_plain_http_keys_are_refused_for_an_https_issuer(server):
    source = KeySource(issuer="https://tenant.example.com/", jwks_uri=server.jwks_uri)
    assert lookup(source, "a") is None
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
    assert not hasattr(keys["leaky"].key, "private_numbers")


# ---------------------------------------------------------------- a hostile or broken issuer
@pytest.fixture
def tls_ca(monkeypatch: pytest.MonkeyPatch) -> LocalCA:
    """A CA made now; the key client trusts it through SSL_CERT_FILE, as it would a public CA."""
    ca = LocalCA()
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.bundle))
    return ca


def test_a_redirect_to_plain_http_is_never_followed(tls_ca: LocalCA):
    # GIVEN an https key URL that answers 302 with a plain-http URL serving an attacker's key
    with (
        running(JwksServer({"keys": [public_jwk(KEY_B, "b")]})) as plain,
        running(JwksServer(JWKS_A, tls=tls_ca)) as secure,
    ):
        clock = FakeClock()
        source = KeySource(issuer=secure.issuer, jwks_uri=secure.jwks_uri, cooldown=5, max_age=10, clock=clock)
        assert lookup(source, "a") is not None
        secure.mode, secure.redirect_to = "redirect", plain.jwks_uri

        # WHEN the keys are refreshed
        clock.now += 20

        # THEN the http URL is never requested, the attacker's kid is unknown, the last good keys stay
        assert lookup(source, "b") is None
        assert lookup(source, "a") is not None
        assert plain.requests == []
        assert secure.jwks_fetches == 2


def test_one_deadline_bounds_a_whole_refresh_against_a_dripping_server(server):
    # GIVEN keys known, then a server that sends the key set in 20 pieces 0.35 s apart (7 s)
    clock = FakeClock()
    source = KeySource(issuer=server.issuer, jwks_uri=server.jwks_uri, cooldown=0, max_age=10, timeout=1.0, clock=clock)
    assert lookup(source, "a") is not None
    server.mode = "drip"
    clock.now += 20

    # WHEN the stale keys are refreshed
    started = time.monotonic()
    key = lookup(source, "a")
    elapsed = time.monotonic() - started

    # THEN the refresh gives up at its deadline, far from the 7 s the server would take and inside
    # the function's 5 s (the margin is for a loaded machine), and the keys stay
    assert elapsed < 3.0, f"refresh took {elapsed:.2f} s"
    assert key is not None
    assert server.jwks_fetches == 2


def test_a_refresh_in_progress_does_not_hold_up_lookups_of_known_keys(server):
    clock = FakeClock()
    source = KeySource(issuer=server.issuer, jwks_uri=server.jwks_uri, cooldown=0, max_age=10, timeout=3.0, clock=clock)
    assert lookup(source, "a") is not None
    server.mode = "drip"
    clock.now += 20
    refreshing = threading.Thread(target=lookup, args=(source, "a"))
    refreshing.start()
    try:
        waited = time.monotonic() + 10
        while server.jwks_fetches < 2 and time.monotonic() < waited:
            time.sleep(0.01)  # until the refresh has reached the server (it then drips for 3 s)
        assert server.jwks_fetches == 2
        started = time.monotonic()
        assert lookup(source, "a") is not None
        assert time.monotonic() - started < 1.0, "a known key waited for the refresh in progress"
    finally:
        refreshing.join()


@pytest.mark.parametrize(
    "discovery",
    [
        {"jwks_uri": "https://[bad-ipv6/x"},
        {"jwks_uri": "https://"},
        {"jwks_uri": 7},
        {"jwks_uri": "http://127.0.0.1:9/downgrade.json"},
    ],
    ids=["unparsable-url", "no-host", "not-a-string", "plain-http"],
)
def test_a_malformed_discovery_document_is_a_failed_refresh_that_changes_nothing(server, discovery):
    # GIVEN keys found through discovery
    clock = FakeClock()
    source = KeySource(issuer=server.issuer, cooldown=0, max_age=10, clock=clock)
    assert lookup(source, "a") is not None
    fetches = server.jwks_fetches

    # WHEN discovery starts answering garbage
    server.discovery_override = {"issuer": server.issuer, **discovery}
    clock.now += 20

    # THEN the lookup never raises, the last good keys answer, and no key URL was stored
    assert lookup(source, "a") is not None
    assert server.jwks_fetches == fetches
    server.discovery_override = None
    server.jwks = {"keys": [public_jwk(KEY_B, "b")]}
    clock.now += 20
    assert lookup(source, "b") is not None


def test_deeply_nested_json_is_a_failed_refresh(server):
    clock = FakeClock()
    source = KeySource(issuer=server.issuer, jwks_uri=server.jwks_uri, cooldown=0, max_age=10, clock=clock)
    assert lookup(source, "a") is not None
    server.mode = "nested"
    clock.now += 20
    assert lookup(source, "a") is not None
    assert server.jwks_fetches == 2


def _odd_modulus(bits: int) -> str:
    n = (1 << (bits - 1)) | 1 | random.getrandbits(bits - 2) << 1
    return _b64url(n.to_bytes(bits // 8, "big"))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_keys_that_must_not_be_trusted_are_skipped_and_logged_once_by_kid(caplog: pytest.LogCaptureFixture):
    weak = {"kty": "RSA", "kid": "weak-512", "n": _odd_modulus(512), "e": "AQAB"}
    document = {
        "keys": [
            public_jwk(KEY_A, "good"),
            weak,
            {**weak, "kid": "weak-1024", "n": _odd_modulus(1024)},
            public_jwk(KEY_B, "for-encryption") | {"key_ops": ["encrypt"]},
            public_jwk(KEY_B, "wrap") | {"alg": "RSA-OAEP"},
            public_jwk(KEY_A, "twice"),
            public_jwk(KEY_B, "twice"),
            public_jwk(KEY_B, "verify-ops") | {"key_ops": ["verify"]},
            public_jwk(KEY_B, "ps512") | {"alg": "PS512"},
        ]
    }
    with caplog.at_level(logging.WARNING, logger="authorizer.jwks"):
        keys = parse_jwks(document)
    assert sorted(keys) == ["good", "ps512", "verify-ops"]
    assert keys["ps512"].alg == "PS512"
    assert keys["good"].alg == "RS256"
    skipped = [r for r in caplog.records if r.getMessage() == "jwks keys skipped"]
    assert len(skipped) == 1
    assert sorted(getattr(skipped[0], "skipped")) == sorted(  # noqa: B009 - set via extra=
        [
            "weak-512: key under 2048 bits",
            "weak-1024: key under 2048 bits",
            "for-encryption: key_ops lacks verify",
            "wrap: alg RSA-OAEP is not an RSA signature algorithm",
            "twice: kid appears more than once",
        ]
    )


def test_each_key_is_judged_alone_so_one_odd_key_never_spoils_the_set(caplog: pytest.LogCaptureFixture):
    # GIVEN one good key beside keys that are each wrong in one way, some in ways that used to
    # raise while the set was read (an alg that is an array cannot even be looked up)
    n = public_jwk(KEY_B, "x")["n"]
    assert "-" in n or "_" in n, "the test needs a modulus whose base64url differs from base64"
    even = int.from_bytes(base64.urlsafe_b64decode(n + "=" * (-len(n) % 4)), "big") ^ 1
    odd_ones: dict[str, dict[str, Any]] = {
        "alg-array": {"alg": ["RS256"]},
        "use-list": {"use": ["sig"]},
        "key-ops-string": {"key_ops": "verify"},
        "n-padded": {"n": n + "=" * (4 - len(n) % 4 or 4)},
        "n-standard-alphabet": {"n": n.replace("-", "+").replace("_", "/")},
        "n-junk-inside": {"n": n[:20] + "!" + n[20:]},
        "n-a-number": {"n": 12345},
        "n-even": {"n": _b64url(even.to_bytes(256, "big"))},
        "e-even": {"e": "AQAA"},
        "e-one": {"e": "AQ"},
    }
    document = {"keys": [public_jwk(KEY_A, "good"), *(public_jwk(KEY_B, kid) | odd for kid, odd in odd_ones.items())]}

    # WHEN the set is read
    with caplog.at_level(logging.WARNING, logger="authorizer.jwks"):
        keys = parse_jwks(document)

    # THEN the good key is there, and each other key is skipped and logged by its kid
    assert sorted(keys) == ["good"]
    (record,) = [r for r in caplog.records if r.getMessage() == "jwks keys skipped"]
    skipped = dict(line.split(": ", 1) for line in getattr(record, "skipped"))  # noqa: B009 - set via extra=
    assert sorted(skipped) == sorted(odd_ones)
    assert skipped["alg-array"] == "alg ['RS256'] is not an RSA signature algorithm"
    assert skipped["n-padded"] == skipped["n-standard-alphabet"] == "n is not a base64url integer"
    assert skipped["n-even"] == "modulus or exponent is even"


def test_a_key_fetch_error_never_logs_the_urls_userinfo_or_query(server, caplog: pytest.LogCaptureFixture):
    # GIVEN a key URL that carries credentials (a JWKS_URI someone pasted with a token in it)
    url = server.base_url.replace("http://", "http://user:secret-pass@") + "/jwks.json?access_token=secret-token"
    source = KeySource(issuer=server.issuer, jwks_uri=url)
    server.mode = "500"

    # WHEN the fetch fails
    with caplog.at_level(logging.WARNING, logger="authorizer.jwks"):
        assert lookup(source, "a") is None

    # THEN the failure is logged with the host and path, never the secrets
    text = " ".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert "jwks refresh failed" in text and "/jwks.json" in text
    assert "secret" not in text


def _host_with_addresses(monkeypatch: pytest.MonkeyPatch, *targets: tuple[str, int]) -> None:
    """``issuer.test`` resolves to ``targets``, in that order."""
    real = socket.getaddrinfo

    def addresses(host, port, *args):
        if host != "issuer.test":
            return real(host, port, *args)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", target) for target in targets]

    monkeypatch.setattr(socket, "getaddrinfo", addresses)


def test_a_key_fetch_through_many_slow_addresses_ends_at_its_deadline(monkeypatch):
    # GIVEN a host with three addresses, none of which completes a connection (a full listen queue)
    with socket.socket() as stuck:
        stuck.bind(("127.0.0.1", 0))
        stuck.listen(0)
        with socket.create_connection(stuck.getsockname()):  # takes the queue's only place
            _host_with_addresses(monkeypatch, *[stuck.getsockname()] * 3)
            # WHEN the keys are fetched through that host with half a second left
            started = time.monotonic()
            with pytest.raises(jwks.JwksError):
                jwks.fetch_json("http://issuer.test/jwks.json", issuer="http://issuer.test/", deadline=started + 0.5)
            elapsed = time.monotonic() - started
    # THEN the first address uses the half second up and the others get none of their own
    # (http.client alone gives each address the whole timeout: 1.5 s here)
    assert elapsed < 1.2, elapsed


def test_each_address_of_a_host_gets_only_the_time_left(server, monkeypatch: pytest.MonkeyPatch):
    # GIVEN a host name whose first address refuses and whose second answers
    _host_with_addresses(monkeypatch, ("127.0.0.1", free_port()), ("127.0.0.1", server.server_address[1]))
    live = ("127.0.0.1", server.server_address[1])
    # THEN the second is tried within the same deadline, and a passed deadline tries none
    with jwks._connect_by(time.monotonic() + 2, ("issuer.test", 443)) as sock:
        assert sock.getpeername() == live
    with pytest.raises(TimeoutError):
        jwks._connect_by(time.monotonic() - 1, ("issuer.test", 443))


def reason_for(source: KeySource, kid: str) -> str:
    with pytest.raises(TokenRejected) as rejected:
        source.key_for(kid)
    return rejected.value.reason


def test_why_there_is_no_key_is_told_apart(server):
    # Keys that could never be fetched are not the same as a kid the issuer does not publish.
    server.mode = "500"
    clock = FakeClock()
    source = KeySource(issuer=server.issuer, cooldown=0, clock=clock)
    assert reason_for(source, "a") == "keys_unavailable"
    server.mode = "ok"
    clock.now += 1  # the least time between two fetches, even with no cooldown
    assert lookup(source, "a") is not None
    assert reason_for(source, "nobody") == "unknown_kid"


def test_last_good_keys_serve_for_max_stale_past_max_age_then_are_refused_until_the_issuer_answers(server):
    # GIVEN keys fetched once, then an issuer whose every answer fails
    clock = FakeClock()
    source = KeySource(issuer=server.issuer, cooldown=60, max_age=3600, max_stale=1800, clock=clock)
    assert lookup(source, "a") is not None
    server.mode = "500"

    # WHEN refreshes keep failing: the last good keys serve up to max_age + max_stale
    clock.now += 3600 + 1799
    assert lookup(source, "a") is not None
    # THEN past it, every lookup is refused with a reason of its own, an unknown kid's too
    clock.now += 1
    assert reason_for(source, "a") == "keys_stale"
    assert reason_for(source, "other") == "keys_stale"

    # AND as soon as the issuer answers (the next try, after the cooldown), the keys are trusted again
    server.mode = "ok"
    clock.now += 60
    assert lookup(source, "a") is not None
    assert server.jwks_fetches >= 2


# ---------------------------------------------------------------- rotation as API Gateway does it
KEY_C = new_rsa_key()


def rotating_source(server, clock: FakeClock, cooldown: float) -> KeySource:
    """Keys found once (``a``), as a warm container holds them."""
    source = KeySource(issuer=server.issuer, jwks_uri=server.jwks_uri, clock=clock, cooldown=cooldown)
    assert lookup(source, "a") is not None
    assert server.jwks_fetches == 1
    return source


def test_a_key_published_a_second_before_its_first_token_is_accepted_on_that_token(server):
    # GIVEN keys fetched 30 s ago, well inside the 60 s penalty the old cooldown imposed on every kid
    clock = FakeClock()
    source = rotating_source(server, clock, cooldown=60)
    clock.now += 29

    # WHEN the issuer publishes b, and b's first token arrives a second later
    server.jwks = {"keys": [public_jwk(KEY_A, "a"), public_jwk(KEY_B, "b")]}
    clock.now += 1

    # THEN that token's kid causes a fetch at once and b is found: one fetch more
    assert _numbers(lookup(source, "b")) == _numbers(KEY_B.public_key())
    assert server.jwks_fetches == 2
    assert lookup(source, "b") is not None
    assert server.jwks_fetches == 2


def test_a_made_up_kid_does_not_hold_up_the_next_real_key(server):
    # GIVEN a made-up kid looked up (one fetch, not found: in the penalty box for 60 s)
    clock = FakeClock()
    source = rotating_source(server, clock, cooldown=60)
    clock.now += 10
    assert reason_for(source, "made-up") == "unknown_kid"
    assert server.jwks_fetches == 2

    # WHEN c is published and its first token comes 5 s later, inside the made-up kid's penalty
    server.jwks = {"keys": [public_jwk(KEY_A, "a"), public_jwk(KEY_C, "c")]}
    clock.now += 5

    # THEN the penalty is that kid's alone: c fetches and is accepted
    assert _numbers(lookup(source, "c")) == _numbers(KEY_C.public_key())
    assert server.jwks_fetches == 3


def test_a_kid_looked_up_and_not_found_waits_out_the_penalty_before_it_fetches_again(server):
    clock = FakeClock()
    source = rotating_source(server, clock, cooldown=60)
    clock.now += 5

    # WHEN a made-up kid is looked up: one fetch, and it is not there
    assert reason_for(source, "made-up") == "unknown_kid"
    assert server.jwks_fetches == 2

    # THEN it is refused without a fetch for the whole penalty, however often it comes
    for step in (0.5, 1, 10, 40, 8.4):
        clock.now += step
        for _ in range(100):
            assert reason_for(source, "made-up") == "unknown_kid"
    assert server.jwks_fetches == 2

    # AND once the penalty is over, it may cause one fetch again (and is boxed again)
    clock.now += 0.2
    assert reason_for(source, "made-up") == "unknown_kid"
    assert server.jwks_fetches == 3
    clock.now += 30
    assert reason_for(source, "made-up") == "unknown_kid"
    assert server.jwks_fetches == 3


def test_a_storm_of_fifty_made_up_kids_in_two_seconds_costs_two_fetches(server):
    clock = FakeClock()
    source = rotating_source(server, clock, cooldown=60)
    clock.now += 120

    # WHEN fifty different made-up kids arrive 40 ms apart
    for n in range(50):
        assert reason_for(source, f"made-up-{n}") == "unknown_kid"
        clock.now += 0.04

    # THEN they fetched once a second at most: at 0 s and 1 s, two fetches; the known key still answers
    assert server.jwks_fetches == 1 + 2
    assert lookup(source, "a") is not None
    assert server.jwks_fetches == 3


def test_a_storm_of_fifty_made_up_kids_at_once_costs_one_fetch(server):
    # GIVEN a warm source; WHEN fifty threads bring fifty made-up kids in the same instant
    clock = FakeClock()
    source = rotating_source(server, clock, cooldown=60)
    clock.now += 120
    start = threading.Barrier(50)
    reasons: list[str] = []

    def made_up(n: int) -> None:
        start.wait()
        reasons.append(reason_for(source, f"made-up-{n}"))

    threads = [threading.Thread(target=made_up, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    # THEN each is refused, and the storm cost one fetch: the others waited for it, then found
    # the set a moment old
    assert reasons == ["unknown_kid"] * 50
    assert server.jwks_fetches == 1 + 1


def test_after_a_failed_refresh_nothing_is_fetched_for_the_cooldown(server):
    # GIVEN keys, then an issuer that fails the fetch an unknown kid causes
    clock = FakeClock()
    source = rotating_source(server, clock, cooldown=60)
    server.mode = "500"
    clock.now += 5
    assert reason_for(source, "b") == "unknown_kid"
    assert server.jwks_fetches == 2

    # WHEN other unknown kids come within the cooldown: no fetch, and the known key answers
    server.mode = "ok"
    server.jwks = {"keys": [public_jwk(KEY_A, "a"), public_jwk(KEY_B, "b")]}
    for n in range(20):
        clock.now += 2.9
        assert reason_for(source, f"other-{n}") == "unknown_kid"
    assert lookup(source, "a") is not None
    assert server.jwks_fetches == 2

    # THEN past the cooldown, the next unknown kid fetches (b was never boxed: its fetch failed)
    clock.now += 2.1
    assert lookup(source, "b") is not None
    assert server.jwks_fetches == 3


def test_keys_never_fetched_for_want_of_a_trusted_ca_are_logged_as_such(caplog: pytest.LogCaptureFixture):
    # GIVEN an https issuer whose CA this process does not trust (TLS inspection, mkcert)
    with LocalCA() as ca, running(JwksServer(JWKS_A, tls=ca)) as secure:
        source = KeySource(issuer=secure.issuer, clock=FakeClock())

        # WHEN a token's key is looked up
        with caplog.at_level(logging.WARNING, logger="authorizer.jwks"):
            reason = reason_for(source, "a")

    # THEN it is denied for want of keys, and the line says there are none and why the fetch failed
    assert reason == "keys_unavailable"
    (record,) = [r for r in caplog.records if r.getMessage().startswith("jwks refresh failed")]
    assert record.getMessage() == "jwks refresh failed; no keys yet, so every token is denied (keys_unavailable)"
    error = getattr(record, "error")  # noqa: B009 - set via extra=
    assert error == (
        "SSLCertVerificationError (unable to get local issuer certificate) fetching "
        f"{secure.issuer}.well-known/openid-configuration"
    )
