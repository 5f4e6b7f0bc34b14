"""What a configuration imports at INIT: only what its algorithms need (cold start is imports)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support import AUTHORIZER_DIR

PROBE = (
    "import json, sys, app\n"
    "print(json.dumps(sorted(m for m in sys.modules if m.endswith(('.ec', '.ed25519', '.ed448')) or m == 'hmac')))\n"
)


def modules_after_init(algorithms: str) -> list[str]:
    # The function's own directory as the working directory, as Lambda's /var/task.
    env = {"ISSUER": "https://issuer.example/", "AUDIENCE": "aud", "ALLOWED_ALGORITHMS": algorithms}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=AUTHORIZER_DIR, env=env, capture_output=True, text=True, check=True
    )
    loaded: list[str] = json.loads(done.stdout)
    return loaded


@pytest.mark.parametrize(
    ("algorithms", "expected"),
    [
        ("RS256", []),
        ("RS256,PS256,RS512", []),
        ("ES256", ["cryptography.hazmat.primitives.asymmetric.ec"]),
        ("EdDSA", []),  # Ed25519's module loads with its first key, not before
    ],
)
def test_a_configuration_imports_no_module_of_a_family_it_does_not_allow(algorithms, expected):
    assert [m for m in modules_after_init(algorithms) if m != "hmac"] == expected
