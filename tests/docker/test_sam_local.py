"""The REAL `sam build`, `sam local invoke` and `sam local start-api`, against the dev issuer on the host.

Needs a Docker engine (skipped, with the reason, when there is none). SAM CLI pulls the images
it needs, as on any machine with a registry; where ``SAM_LOCAL_FLAGS`` says
``--skip-pull-image`` (this repository's CI, which builds them locally), the images must be
there already. ``sam local`` runs the functions on the host's own architecture
(``devkit.deploy.build --local-arch``), as ``make invoke-*``/``make start-api`` do; the deploy build
stays arm64 and its wheels are checked. Containers reach the dev issuer through the docker
bridge's gateway address, so the issuer listens there too; the token's ``iss`` stays
http://127.0.0.1:PORT/ and JWKS_URI points at host.docker.internal.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devkit.local.issuer import DevIssuer, IssuerServer
from tests.e2e.conftest import http
from tests.support import EVENTS, ROOT, SAM, free_port, load_event

pytestmark = [pytest.mark.docker, pytest.mark.slow]
HOST_ARCH = "arm64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64"
ENV = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1", "SAM": str(SAM)}
LOCAL_FLAGS = [*shlex.split(os.environ.get("SAM_LOCAL_FLAGS", "")), "--add-host", "host.docker.internal:host-gateway"]
LOCAL_TEMPLATE = ROOT / ".aws-sam" / "local" / "build" / "template.yaml"
IMAGES = {
    f"public.ecr.aws/lambda/python:3.13-{HOST_ARCH}",
    f"public.ecr.aws/sam/build-python3.13:latest-{HOST_ARCH}",
    "public.ecr.aws/sam/build-python3.13:latest-arm64",
}
EM_AARCH64, EM_X86_64 = 183, 62


def run(*argv: str | Path, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, cwd=ROOT, env={**ENV, **env}, timeout=timeout
    )


def _docker_problem() -> str | None:
    if shutil.which("docker") is None:
        return "no docker client on PATH"
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        return "no Docker engine reachable"
    if "--skip-pull-image" in LOCAL_FLAGS:
        for image in sorted(IMAGES):
            if subprocess.run(["docker", "image", "inspect", image], capture_output=True, check=False).returncode:
                return f"image {image} missing and SAM_LOCAL_FLAGS forbids pulling it"
    return None


def _bridge_gateway() -> str:
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "docker0"], capture_output=True, text=True, check=False)
    fields = out.stdout.split()
    if "inet" not in fields:
        pytest.skip("no docker0 bridge address for containers to reach the host")
    return fields[fields.index("inet") + 1].split("/")[0]


def elf_machine(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[18:20], "little")


@pytest.fixture(scope="module")
def docker() -> None:
    problem = _docker_problem()
    if problem:
        pytest.skip(problem)


@pytest.fixture(scope="module")
def local_build(docker: None) -> Path:
    result = run(
        sys.executable, "-m", "devkit.deploy.build", "--local-arch", HOST_ARCH, BUILD_MODE="container", timeout=1200
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return LOCAL_TEMPLATE


@pytest.fixture(scope="module")
def deploy_build(docker: None) -> Path:
    """What make build/make deploy produce: the template's arm64, in the arm64 build image."""
    result = run(sys.executable, "-m", "devkit.deploy.build", BUILD_MODE="container", timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return ROOT / ".aws-sam" / "build"


def test_the_deploy_build_ships_arm64_wheels_and_the_local_build_the_hosts(deploy_build, local_build):
    (deployed,) = (deploy_build / "AuthorizerFunction").glob("cryptography/hazmat/bindings/_rust*.so")
    (local,) = (local_build.parent / "AuthorizerFunction").glob("cryptography/hazmat/bindings/_rust*.so")
    assert elf_machine(deployed) == EM_AARCH64
    assert elf_machine(local) == (EM_AARCH64 if HOST_ARCH == "arm64" else EM_X86_64)
    assert "arm64" in (ROOT / "template.yaml").read_text().split("Architectures:")[1].splitlines()[0]


@pytest.fixture(scope="module")
def issuer_on_host(docker: None) -> Iterator[DevIssuer]:
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


def invoke(
    template: Path, function: str, event: Any, env_file: Path, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """What make invoke-* runs: sam local invoke, through the wrapper that fails on a failed function."""
    event_path = tmp_path / "event.json"
    event_path.write_text(json.dumps(event))
    sam_invoke: list[str | Path] = [SAM, "local", "invoke", function, "-t", template, "-e", event_path]
    sam_invoke += ["--env-vars", env_file]
    return run(sys.executable, "-m", "devkit.deploy.invoke", "--", *sam_invoke, *LOCAL_FLAGS)


def answer(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_sam_local_invoke_authorizer_allows_a_fresh_dev_token(local_build, issuer_on_host, env_file, tmp_path):
    event = load_event("authorizer-v2-valid.json", token=issuer_on_host.mint(scopes=["read:test"]))
    assert answer(invoke(local_build, "AuthorizerFunction", event, env_file, tmp_path)) == {
        "isAuthorized": True,
        "context": {"sub": "dev-client@clients", "scope": "read:test", "clientId": "dev-client"},
    }


@pytest.mark.parametrize("name", ["authorizer-v2-malformed.json", "authorizer-v2-missing-header.json"])
def test_sam_local_invoke_authorizer_denies_bad_events(local_build, env_file, tmp_path, name):
    result = invoke(local_build, "AuthorizerFunction", load_event(name), env_file, tmp_path)
    assert answer(result) == {"isAuthorized": False}


@pytest.mark.parametrize("name", ["test-route-jwt.json", "test-route-lambda.json", "test-route-health.json"])
def test_sam_local_invoke_test_route_events(local_build, env_file, tmp_path, name):
    reply = answer(invoke(local_build, "TestRouteFunction", load_event(name), env_file, tmp_path))
    assert reply["statusCode"] == 200
    assert json.loads(reply["body"])["route"] == load_event(name)["routeKey"]


def test_a_function_that_fails_makes_the_invoke_fail(local_build, env_file, tmp_path):
    # SAM CLI itself exits 0 here and prints Lambda's error JSON; make invoke-* must not.
    result = invoke(local_build, "TestRouteFunction", [], env_file, tmp_path)
    assert result.returncode == 1
    assert "error: the function failed: AttributeError" in result.stderr


def test_bare_sam_local_invoke_gets_its_settings_from_samconfig(deploy_build, tmp_path):
    # As the README shows it: no -t, no --env-vars. Without samconfig.toml's local_invoke
    # section the authorizer cannot start (AUDIENCE is required) and SAM CLI prints its error.
    result = run(
        SAM,
        "local",
        "invoke",
        "AuthorizerFunction",
        "-e",
        "events/authorizer-v2-malformed.json",
        *shlex.split(os.environ.get("SAM_LOCAL_FLAGS", "")),
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"isAuthorized": False}, result.stderr[-2000:]


def _start_api(argv: list[str], log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = log_path.open("w")
    process = subprocess.Popen([*argv, "--port", str(port)], cwd=ROOT, env=ENV, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.5)
    if process.poll() is not None or time.monotonic() >= deadline:
        process.kill()
        pytest.fail("sam local start-api did not start: " + log_path.read_text()[-2000:])
    return process, f"http://127.0.0.1:{port}"


def _stop_api(process: subprocess.Popen[bytes]) -> None:
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


@pytest.fixture(scope="module")
def start_api(local_build: Path, env_file: Path) -> Iterator[str]:
    argv = [str(SAM), "local", "start-api", "-t", str(local_build), "--env-vars", str(env_file), *LOCAL_FLAGS]
    process, url = _start_api(argv, env_file.parent / "start-api.log")
    yield url
    _stop_api(process)


def test_start_api_lambda_route_200_with_a_good_token(start_api, issuer_on_host):
    reply = http(start_api + "/lambda/test", issuer_on_host.mint(scopes=["read:test"]))
    assert reply.status == 200
    assert reply.json()["context"]["sub"] == "dev-client@clients"


def test_start_api_lambda_route_401_without_a_token(start_api):
    assert http(start_api + "/lambda/test").status == 401


@pytest.mark.parametrize("variant", ["bad_signature", "expired", "wrong_audience"])
def test_start_api_lambda_route_403_on_a_bad_token_with_sam_cli_s_own_message(start_api, issuer_on_host, variant):
    reply = http(start_api + "/lambda/test", issuer_on_host.mint(variant=variant))
    # AWS says {"message":"Forbidden"}; SAM CLI's wording differs (docs/local-vs-aws.md).
    assert (reply.status, reply.json()) == (403, {"message": "User is not authorized to access this resource"})


def test_start_api_health_is_public(start_api):
    assert http(start_api + "/health").status == 200


def test_start_api_does_not_check_jwt_routes_which_is_why_make_local_exists(start_api):
    # SAM CLI skips JWT authorizers: the JWT route is served without any token check.
    reply = http(start_api + "/test")
    assert reply.status == 200
    assert reply.json()["authorizer"] is None


def test_bare_sam_local_start_api_gets_its_settings_from_samconfig(deploy_build, tmp_path):
    # The malformed token reaches the authorizer, which must start (settings from samconfig.toml)
    # to deny it: 403. Without them its init fails, and SAM CLI answers 502.
    argv = [str(SAM), "local", "start-api", *shlex.split(os.environ.get("SAM_LOCAL_FLAGS", ""))]
    process, url = _start_api(argv, tmp_path / "bare-start-api.log")
    try:
        malformed = load_event("authorizer-v2-malformed.json")["headers"]["authorization"]
        reply = http(url + "/lambda/test", headers={"Authorization": malformed})
        assert reply.status == 403, (tmp_path / "bare-start-api.log").read_text()[-2000:]
        assert http(url + "/health").status == 200
    finally:
        _stop_api(process)
