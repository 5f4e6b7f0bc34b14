"""Fixtures of the tool tests: a stand-in sam, a stand-in AWS endpoint, a TLS issuer on 127.0.0.1."""

from __future__ import annotations

import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devkit.jwks_server import JwksServer, running
from devkit.local.issuer import new_rsa_key, public_jwk
from devkit.tls import LocalCA
from tests.fake_aws import FakeAws, fake_aws

FAKE_SAM = Path(__file__).with_name("fake_sam.py")


@pytest.fixture
def sam(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """An executable stand-in for sam, and the log of its calls."""
    script = tmp_path / "sam"
    script.write_text(f'#!/bin/sh\nexec {sys.executable} {FAKE_SAM} "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    yield script, tmp_path / "sam-calls.jsonl"


@pytest.fixture(scope="module")
def aws() -> Iterator[FakeAws]:
    with fake_aws() as server:
        yield server


@pytest.fixture(scope="module")
def tls_issuer() -> Iterator[tuple[str, LocalCA]]:
    ca = LocalCA()
    with running(JwksServer({"keys": [public_jwk(new_rsa_key(), "k1")]}, tls=ca)) as server:
        yield server.issuer, ca
