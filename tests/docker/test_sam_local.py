"""The REAL `sam local invoke` and `sam local start-api`, against the dev issuer on the host.

Needs a Docker engine and the Lambda images (`../shared/tools/sam-local-lab.sh` makes both
here); skipped, with the reason, when they are not there. Containers reach the dev issuer
through the docker bridge's gateway address, so the issuer listens there too; the token's
``iss`` stays http://127.0.0.1:PORT/ and JWKS_URI points at host.docker.internal.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devloop.issuer import DevIssuer, IssuerServer
from tests.e2e.conftest import http
from tests.support import EVENTS, ROOT, SAM, free_port, load_event

pytestmark = [pytest.mark.docker, pytest.mark.slow]
IMAGE = "public.ecr.aws/lambda/python:3.13-arm64"
BUILD_IMAGE = "public.ecr.aws/sam/build-python3.13:latest-arm64"
ENV = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}
LOCAL_FLAGS = ["--skip-pull-image", "--add-host", "host.docker.internal:host-gateway"]


def run_sam(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SAM, *args], capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=timeout, check=False)


def _docker_problem() -> str | None:
    if shutil.which("docker") is None:
        return "no docker client on PATH"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    if info.returncode != 0:
        return "no Docker engine reachable (run ../shared/tools/sam-local-lab.sh setup)"
    for image in (IMAGE, BUILD_IMAGE):
        if subprocess.run(["docker", "image", "inspect", image], capture_output=True, check=False).returncode:
            return f"image {image} missing (sam-local-lab.sh setup --archs arm64 --build-images)"
    return None


def _bridge_gateway() -> str:
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "docker0"], capture_output=True, text=True, check=False)
    fields = out.stdout.split()
    if "inet" not in fields:
        pytest.skip("no docker0 bridge address for containers to reach the host")
    return fields[fields.index("inet") + 1].split("/")[0]


@pytest.fixture(scope="module")
def built() -> Path:
    problem = _docker_problem()
    if problem:
        pytest.skip(problem)
    result = run_sam("build", "--use-container", "--skip-pull-image", timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return ROOT / ".aws-sam" / "build" / "template.yaml"


@pytest.fixture(scope="module")
def issuer_on_host(built: Path) -> Iterator[DevIssuer]:
    issuer = DevIssuer(default_audience="https://api.example.com")
    servers = [issuer.serve("127.0.0.1", 0)]
    servers.append(IssuerServer(issuer, _bridge_gateway(), servers[0].port))
    for server in servers:
        server.start()
    yield issuer
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def env_file(issuer_on_host: DevIssuer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    port = issuer_on_host.issuer.rsplit(":", 1)[1].rstrip("/")
    settings = json.loads((EVENTS / "env.json").read_text())
    settings["AuthorizerFunction"].update(
        ISSUER=issuer_on_host.issuer, JWKS_URI=f"http://host.docker.internal:{port}/.well-known/jwks.json"
    )
    path = tmp_path_factory.mktemp("sam") / "env.json"
    path.write_text(json.dumps(settings))
    return path


def sam_invoke(built: Path, function: str, event: dict[str, Any], env_file: Path, tmp_path: Path) -> Any:
    event_path = tmp_path / "event.json"
    event_path.write_text(json.dumps(event))
    result = run_sam(
        "local", "invoke", function, "-t", str(built), "-e", str(event_path), "--env-vars", str(env_file), *LOCAL_FLAGS
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_sam_local_invoke_authorizer_allows_a_fresh_dev_token(built, issuer_on_host, env_file, tmp_path):
    event = load_event("authorizer-v2-valid.json", token=issuer_on_host.mint(scopes=["read:test"]))
    answer = sam_invoke(built, "AuthorizerFunction", event, env_file, tmp_path)
    assert answer == {
        "isAuthorized": True,
        "context": {"sub": "dev-client@clients", "scope": "read:test", "clientId": "dev-client"},
    }


@pytest.mark.parametrize("name", ["authorizer-v2-malformed.json", "authorizer-v2-missing-header.json"])
def test_sam_local_invoke_authorizer_denies_bad_events(built, env_file, tmp_path, name):
    assert sam_invoke(built, "AuthorizerFunction", load_event(name), env_file, tmp_path) == {"isAuthorized": False}


@pytest.mark.parametrize("name", ["test-route-jwt.json", "test-route-lambda.json", "test-route-health.json"])
def test_sam_local_invoke_test_route_events(built, env_file, tmp_path, name):
    answer = sam_invoke(built, "TestRouteFunction", load_event(name), env_file, tmp_path)
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"])["route"] == load_event(name)["routeKey"]


@pytest.fixture(scope="module")
def start_api(built: Path, env_file: Path) -> Iterator[str]:
    port = free_port()
    log = (env_file.parent / "start-api.log").open("w")
    process = subprocess.Popen(
        [SAM, "local", "start-api", "-t", str(built), "--port", str(port), "--env-vars", str(env_file), *LOCAL_FLAGS],
        cwd=ROOT,
        env=ENV,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.5)
    if process.poll() is not None or time.monotonic() >= deadline:
        process.kill()
        pytest.fail("sam local start-api did not start: " + (env_file.parent / "start-api.log").read_text()[-2000:])
    yield url
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
    leftovers = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "label=sam.cli.container.type"], capture_output=True, text=True, check=False
    ).stdout.split()
    if leftovers:
        subprocess.run(["docker", "rm", "-f", *leftovers], capture_output=True, check=False)


def test_start_api_lambda_route_200_with_a_good_token(start_api, issuer_on_host):
    reply = http(start_api + "/lambda/test", issuer_on_host.mint(scopes=["read:test"]))
    assert reply.status == 200
    assert reply.json()["context"]["sub"] == "dev-client@clients"


def test_start_api_lambda_route_401_without_a_token(start_api):
    assert http(start_api + "/lambda/test").status == 401


@pytest.mark.parametrize("variant", ["bad_signature", "expired", "wrong_audience"])
def test_start_api_lambda_route_403_on_a_bad_token_with_sam_cli_s_own_message(start_api, issuer_on_host, variant):
    reply = http(start_api + "/lambda/test", issuer_on_host.mint(variant=variant))
    # AWS says {"message":"Forbidden"}; SAM CLI's wording differs (README parity table).
    assert (reply.status, reply.json()) == (403, {"message": "User is not authorized to access this resource"})


def test_start_api_health_is_public(start_api):
    assert http(start_api + "/health").status == 200


def test_start_api_does_not_check_jwt_routes_which_is_why_make_local_exists(start_api):
    # SAM CLI skips JWT authorizers: the JWT route is served without any token check.
    reply = http(start_api + "/test")
    assert reply.status == 200
    assert reply.json()["authorizer"] is None
