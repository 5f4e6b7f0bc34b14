"""Check the issuer and the template parameters before ``sam build``/``sam deploy``.

A wrong issuer otherwise shows up only after a deploy, as every token answered 401. In about a
second this checks what API Gateway's JWT authorizer will rely on:

- ISSUER and AUDIENCE are given, and they and every ``--parameter`` pass the template's own
  rules (``devkit.parameters``), before anything is fetched;
- the issuer's ``/.well-known/openid-configuration`` names exactly ISSUER as its ``issuer``
  (byte for byte: Auth0's trailing slash is part of it);
- its ``jwks_uri`` answers with at least one signing key that fits ``AllowedAlgorithms`` (what
  the Lambda authorizer will accept; RS256 by default); when none does, the error names the
  algorithms the issuer's keys are for and the parameter to set. An issuer with no RSA key
  passes with a note: ``/test``'s built-in JWT authorizer verifies RSA only.

Fetching goes through the authorizer's own ``jwks`` module, so preflight and the deployed
Lambda authorizer agree on what counts as a usable key. ``SKIP_ISSUER_CHECK=1`` checks the
parameters only (offline, or an issuer not reachable from here).

Usage: ``python -m devkit.deploy.preflight --issuer ISSUER --audience AUDIENCES
[--parameter Name=Value ...] [--template template.yaml]``. Prints one OK line and exits 0;
otherwise one line on stderr, exit 1 (2 for bad usage).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
import ssl
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from devkit.parameters import ParameterError, check_deployable, parse_pairs
from jwt_authorizer import keys as jwks
from jwt_authorizer.algorithms import (
    ALGORITHMS,
    BUILT_IN_ALGORITHMS,
    DEFAULT_ALGORITHMS,
    PUBLIC_KEY_ALGORITHMS,
    VerificationKey,
    fits,
)
from jwt_authorizer.settings import parse_algorithms

# One budget for discovery and keys together: generous next to the authorizer's 2 s, since a
# slow laptop link should not fail the check, yet short enough to beat a deploy by far.
TIMEOUT = 10.0
SKIP_VARIABLE = "SKIP_ISSUER_CHECK"


class PreflightError(Exception):
    """Something a deploy would trip over; the message says what, in one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse's own report is the whole usage block plus the error: keep to one line.
        self.exit(2, f"preflight: error: {message} (see --help)\n")


def check_parameters(template: Path, issuer: str, audience: str, parameters: dict[str, str]) -> dict[str, str]:
    """ISSUER, AUDIENCE and the other parameters, checked against the template's Parameters."""
    if not issuer.strip():
        raise PreflightError(
            'ISSUER is empty: give the issuer URL exactly as in your tokens\' "iss" claim '
            "(Auth0: https://YOUR_TENANT.auth0.com/ with the trailing slash)"
        )
    if not audience.strip():
        raise PreflightError(
            'AUDIENCE is empty: give the audiences your tokens\' "aud" may hold, comma-separated '
            "(Auth0: the API Identifier)"
        )
    values = dict(parameters)
    for name, value, variable in (("Issuer", issuer, "ISSUER"), ("Audience", audience, "AUDIENCE")):
        if values.get(name, value) != value:
            raise PreflightError(f"--parameter {name}={values[name]} contradicts {variable} {value!r}: give it once")
        values[name] = value
    return check_deployable(template, values)


def check_issuer(issuer: str, algorithms: frozenset[str] = DEFAULT_ALGORITHMS) -> str:
    """The OK line for an issuer whose discovery document and keys the stack can use.

    ``algorithms``: what the Lambda authorizer will accept (``AllowedAlgorithms``); at least one
    published key must fit one of them.
    """
    deadline = time.monotonic() + TIMEOUT
    url = jwks.discovery_url(issuer)
    document = _fetch(url, issuer, deadline, "the issuer's discovery document")
    if not isinstance(document, Mapping):
        raise PreflightError(f"the issuer's discovery document at {url} is not a JSON object")
    said = document.get("issuer")
    if not isinstance(said, str):
        raise PreflightError(f'the issuer\'s discovery document at {url} has no "issuer": is {issuer} an OIDC issuer?')
    if said != issuer:
        raise PreflightError(_mismatch(issuer, said))
    jwks_uri = document.get("jwks_uri")
    if not isinstance(jwks_uri, str) or not jwks_uri:
        raise PreflightError(
            f"the issuer's discovery document at {url} has no jwks_uri: "
            "API Gateway's JWT authorizer finds the signing keys only through it"
        )
    key_set = _fetch(jwks_uri, issuer, deadline, "the issuer's signing keys")
    usable, skipped = _usable_keys(key_set, jwks_uri)
    fitting = [key for key in usable.values() if _algorithms_of(key) & algorithms]
    allowed = ",".join(name for name in ALGORITHMS if name in algorithms)
    if not fitting:
        raise PreflightError(_no_fit(issuer, jwks_uri, usable, allowed))
    count = len(fitting)
    line = f"issuer {issuer} checked: discovery matches, {count} signing key{'s' if count != 1 else ''} for {allowed}"
    if skipped:
        line += f" (skipped {'; '.join(skipped)})"
    note = _built_in_note(set().union(*(_algorithms_of(key) for key in usable.values())))
    return line + (f"; note: {note}" if note else "")


def _built_in_note(algorithms: set[str]) -> str:
    """What /test's built-in JWT authorizer will make of tokens of ``algorithms`` (empty: fine)."""
    kinds = {ALGORITHMS[name].built_in for name in algorithms}
    if "yes" in kinds:
        return ""
    if "undocumented" in kinds:
        return (
            "AWS documents /test's built-in JWT authorizer for RSA and shows RS256; whether it takes "
            f"{', '.join(sorted(algorithms))} is not documented (make local refuses it): check /test once deployed"
        )
    return "/test's built-in JWT authorizer verifies RSA only, so only /lambda/test can accept this issuer's tokens"


def _algorithms_of(key: VerificationKey) -> frozenset[str]:
    """The algorithms a published key can verify: its JWK's alg, else every one that fits its type."""
    if key.alg is not None:
        return frozenset({key.alg})
    return frozenset(name for name, algorithm in ALGORITHMS.items() if fits(algorithm, key) and algorithm.kty != "oct")


def _no_fit(issuer: str, url: str, usable: Mapping[str, VerificationKey], allowed: str) -> str:
    """Why no key fits AllowedAlgorithms, naming what the issuer does publish and what to set."""
    seen = sorted(set().union(*(_algorithms_of(key) for key in usable.values())), key=list(ALGORITHMS).index)
    message = (
        f"no signing key at {url} fits AllowedAlgorithms {allowed}: it publishes keys for {', '.join(seen)}; "
        f'deploy with the one your tokens use: PARAMS="AllowedAlgorithms={seen[0]}"'
    )
    note = _built_in_note(set(seen))
    if note:
        message += f" ({note})"
    if (urlsplit(issuer).hostname or "").endswith(".auth0.com"):
        message += "; Auth0 shows the API's algorithm under Applications > APIs > your API > Settings"
    return message


def _mismatch(issuer: str, said: str) -> str:
    if said == issuer + "/":
        how = " (with the trailing slash)"
    elif said + "/" == issuer:
        how = " (without the trailing slash)"
    else:
        how = f' instead of "{issuer}"'
    return f'the issuer\'s discovery document says "{said}": use exactly that{how} as ISSUER'


def _fetch(url: str, issuer: str, deadline: float, what: str) -> Any:
    try:
        # context=None: the default trust store, which honours SSL_CERT_FILE.
        return jwks.fetch_json(url, issuer=issuer, deadline=deadline, context=None)
    except jwks.JwksError as exc:
        # As the authorizer logs it: no userinfo or query, where a credential could be.
        with contextlib.suppress(ValueError):
            url = jwks.shown_url(urlsplit(url))
        words = _in_words(exc.__cause__)
        if words:
            raise PreflightError(f"cannot read {what} at {url}: {words}") from exc
        text = str(exc) if url in str(exc) else f"{exc} ({url})"
        raise PreflightError(f"cannot read {what}: {text}") from exc


def _in_words(cause: BaseException | None) -> str | None:
    """Why a fetch failed, where jwks names only the exception class (its log lines stay small)."""
    if isinstance(cause, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({cause.verify_message})"
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, socket.gaierror):
        return "host not found"
    if isinstance(cause, TimeoutError):
        return f"no answer within {TIMEOUT:g} s"
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    if cause is not None:
        return type(cause).__name__
    return None


class _Skipped(logging.Handler):
    """Collects why ``jwks.parse_jwks`` skipped keys, for the message instead of a log line."""

    def __init__(self) -> None:
        super().__init__()
        self.reasons: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.reasons.extend(str(reason) for reason in getattr(record, "skipped", []))


def _usable_keys(key_set: Any, url: str) -> tuple[dict[str, VerificationKey], list[str]]:
    """The keys the authorizer could use, of any type, and why it would skip the others."""
    collector = _Skipped()
    logger = jwks.LOGGER
    logger.addHandler(collector)
    propagate, logger.propagate = logger.propagate, False
    try:
        keys = jwks.parse_jwks(key_set, PUBLIC_KEY_ALGORITHMS)
    except jwks.JwksError as exc:
        if not isinstance(key_set, Mapping) or not isinstance(key_set.get("keys"), list):
            raise PreflightError(f"the issuer's signing keys at {url} are not a JWKS document (no keys list)") from exc
        why = "; ".join(collector.reasons) or "it has no key with a kid of a type the authorizer verifies"
        raise PreflightError(f"no usable signing key at {url}: {why}") from exc
    finally:
        logger.removeHandler(collector)
        logger.propagate = propagate
    return keys, collector.reasons


def _skip_requested() -> bool:
    return os.environ.get(SKIP_VARIABLE, "").strip().lower() in ("1", "true", "yes")


def run_checks(template: Path, issuer: str, audience: str, parameters: dict[str, str]) -> Iterator[str]:
    """Each check's OK line, in order; ``PreflightError``/``ParameterError`` at the first that fails.

    ``make deploy`` calls this in-process with the parameters it will deploy with.
    """
    values = check_parameters(template, issuer, audience, parameters)
    # The Lambda authorizer's AdditionalIssuers are issuers too: each one's tokens need its keys.
    others = values.get("AdditionalIssuers", "").split(",")
    issuers = [issuer, *(other.strip() for other in others if other.strip())]
    # With a shared secret the Lambda authorizer needs no published key: only /test's RS256 does.
    secret = bool(values.get("SharedSecretParameter", "").strip())
    try:
        algorithms = BUILT_IN_ALGORITHMS if secret else parse_algorithms(values.get("AllowedAlgorithms", "RS256"))
    except ValueError as exc:
        raise PreflightError(f"parameter AllowedAlgorithms: {exc}") from None
    for one in issuers:
        if _skip_requested():
            yield f"parameters valid; issuer {one} not checked ({SKIP_VARIABLE}=1)"
        else:
            yield check_issuer(one, algorithms)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(
        prog="python -m devkit.deploy.preflight",
        description="Check ISSUER and the template parameters before sam build/deploy.",
    )
    parser.add_argument("--issuer", required=True, help="issuer URL exactly as in the tokens' iss claim")
    parser.add_argument("--audience", required=True, help="accepted audiences, comma-separated")
    parser.add_argument("--parameter", action="append", default=[], help="template parameter Name=Value (repeatable)")
    parser.add_argument("--template", default="template.yaml")
    args = parser.parse_args(argv)
    try:
        for line in run_checks(Path(args.template), args.issuer, args.audience, parse_pairs(args.parameter)):
            print(line, flush=True)
    except (PreflightError, ParameterError) as exc:
        print(f"preflight: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
