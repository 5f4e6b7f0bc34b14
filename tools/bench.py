"""``make bench``: the Lambda authorizer against the physical floor, in one run on one machine.

Shared machines are noisy, so every figure is a median (and p99) over several rounds and is
reported as a ratio to a floor measured in the same run:

- warm decisions: the handler end to end (event in, response out, its decision log record
  included) and the decision itself (``decide``: token checks, verified-claims cache, scope
  rules) vs a bare ``cryptography`` RSA-2048 PKCS#1 v1.5 SHA-256 verify of the same tokens;
- cold start: importing the authorizer vs ``import jwt``, each in fresh interpreters; process
  start to the first decision (discovery + JWKS over loopback) vs a process that imports jwt;
- the local gateway over loopback per route type; the deployment package of each function.

The goals of issue 5 are checked here, not in timed unit tests; the exit status is non-zero
when one is missed, so CI-style use can gate on it.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import http.client
import io
import json
import logging
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from devloop import DEFAULT_AUDIENCE as AUDIENCE
from devloop.issuer import DevIssuer, IssuerServer
from devloop.serve import LocalStack

ROOT = Path(__file__).resolve().parents[1]
AUTHORIZER = ROOT / "src" / "authorizer"
EVENT = json.loads((ROOT / "events" / "authorizer-v2-valid.json").read_text())
JWKS_PATH = "/.well-known/jwks.json"


@dataclass
class Row:
    name: str
    median: float
    p99: float | None
    unit: str
    ratio: float | None = None
    goal: str = ""
    met: bool | None = None


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def per_call_us(call: Callable[[Any], Any], inputs: Iterable[Any]) -> list[float]:
    """Wall time of each call in microseconds (the timer's own cost is in every figure alike)."""
    clock = time.perf_counter_ns
    samples = []
    for item in inputs:
        started = clock()
        call(item)
        samples.append((clock() - started) / 1000)
    return samples


def v2_event(token: str) -> dict[str, Any]:
    event = json.loads(json.dumps(EVENT))
    event["headers"]["authorization"] = f"Bearer {token}"
    event["identitySource"] = [f"Bearer {token}", event["routeKey"]]
    return event


def authorizer_env(issuer: DevIssuer) -> dict[str, str]:
    return {**os.environ, "ISSUER": issuer.issuer, "AUDIENCE": AUDIENCE, "PYTHONPATH": str(AUTHORIZER)}


# ---------------------------------------------------------------------------- warm path
def warm(issuer: DevIssuer, server: IssuerServer, rounds: int, per_round: int, profile: bool) -> list[Row]:
    os.environ.update(ISSUER=issuer.issuer, AUDIENCE=AUDIENCE)
    import app  # the authorizer, configured from the environment like a Lambda container

    public_key = issuer.key.public_key()
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
    print(f"minting {rounds * per_round} unique tokens ...", file=sys.stderr, flush=True)
    token_rounds = [[issuer.mint(scopes=["read:test"]) for _ in range(per_round)] for _ in range(rounds)]
    first = app.lambda_handler(v2_event(issuer.mint()), None)  # fetches discovery + JWKS once
    if not first["isAuthorized"]:
        raise SystemExit("bench: the authorizer denied a valid token; check ISSUER/AUDIENCE")
    jwks_before = server.requests[JWKS_PATH]

    floor: list[float] = []
    unique: list[float] = []
    repeated: list[float] = []
    repeated_decide: list[float] = []
    decisions = 1
    answers: list[bool] = []

    def handle(event: dict[str, Any]) -> None:
        answers.append(app.lambda_handler(event, None)["isAuthorized"])

    def decide(header: str) -> None:
        answers.append(app.decide(header, "GET /lambda/test").allowed)

    for tokens in token_rounds:
        signed = []
        for token in tokens:
            head, body, sig = token.split(".")
            signed.append((f"{head}.{body}".encode(), _b64(sig)))
        floor += per_call_us(lambda s: public_key.verify(s[1], s[0], pkcs1, sha256), signed)
        unique += per_call_us(handle, [v2_event(t) for t in tokens])
        repeated += per_call_us(handle, [v2_event(tokens[0])] * per_round)
        repeated_decide += per_call_us(decide, [f"Bearer {tokens[0]}"] * per_round)
        decisions += 3 * per_round
    if not all(answers):
        raise SystemExit("bench: a valid token was denied; the figures would mean nothing")
    jwks_fetches = server.requests[JWKS_PATH] - jwks_before + 1

    if profile:
        _profile(app, [v2_event(issuer.mint(scopes=["read:test"])) for _ in range(per_round)])

    base = statistics.median(floor)
    rows = [
        Row("floor: RSA-2048 PKCS#1 v1.5 SHA-256 verify", base, percentile(floor, 0.99), "µs", 1.0),
        _ratio_row("handler end to end, unique valid tokens (keys cached)", unique, base, 4.0),
        _ratio_row("decision, one repeated token (verified-claims cache hit)", repeated_decide, base, 0.3),
        _ratio_row("  handler end to end, same token (+ event, response, log record)", repeated, base, None),
    ]
    rows.append(Row(f"JWKS fetches for {decisions} decisions", jwks_fetches, None, "", None, "= 1", jwks_fetches == 1))
    rows.append(_log_emission_row(app, v2_event(token_rounds[0][0]), base))
    return rows


def _ratio_row(name: str, samples: list[float], base: float, goal: float | None) -> Row:
    median = statistics.median(samples)
    ratio = median / base
    if goal is None:
        return Row(name, median, percentile(samples, 0.99), "µs", ratio)
    return Row(name, median, percentile(samples, 0.99), "µs", ratio, f"≤ {goal}x", ratio <= goal)


def _log_emission_row(app: Any, event: dict[str, Any], base: float) -> Row:
    """What writing the decision line costs once a handler formats it (Lambda's runtime does)."""
    root = logging.getLogger()
    sink = logging.StreamHandler(io.StringIO())
    sink.setFormatter(logging.Formatter('{"time":"%(asctime)s","level":"%(levelname)s","message":"%(message)s"}'))
    root.addHandler(sink)
    try:
        samples = [s for _ in range(5) for s in per_call_us(lambda e: app.lambda_handler(e, None), [event] * 2000)]
    finally:
        root.removeHandler(sink)
    median = statistics.median(samples)
    return Row(
        "  same, with a plain-text log handler writing the line", median, percentile(samples, 0.99), "µs", median / base
    )


def _profile(app: Any, events: list[dict[str, Any]]) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for event in events:
        app.lambda_handler(event, None)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(14)
    print(f"\nprofile of {len(events)} unique-token decisions (by own time):", file=sys.stderr)
    print(out.getvalue(), file=sys.stderr)


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


# ---------------------------------------------------------------------------- cold start
IMPORT_PROBE = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
FIRST_DECISION = """
import json, sys
import app
token = sys.stdin.readline().strip()
event = {"version": "2.0", "routeKey": "GET /lambda/test", "headers": {"authorization": "Bearer " + token}}
print(json.dumps(app.lambda_handler(event, None)))
"""


def _run_ms(argv: list[str], env: dict[str, str], cwd: Path, stdin: str = "") -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, input=stdin, capture_output=True, text=True, check=False)
    elapsed = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv[:3])} failed: {done.stderr.strip().splitlines()[-1:]}")
    return elapsed, done.stdout


def cold(issuer: DevIssuer, runs: int) -> list[Row]:
    env = authorizer_env(issuer)
    python = sys.executable
    with tempfile.TemporaryDirectory() as scratch:
        # As deployed: our modules without .pyc (the code directory is read-only in Lambda),
        # dependencies with the .pyc pip wrote when it installed them.
        plain = Path(scratch) / "authorizer"
        imports: dict[str, list[float]] = {"jwt": [], "app": [], "app_no_pyc": []}
        first: list[float] = []
        floor_process: list[float] = []
        for module in ("jwt", "app"):  # let both write their .pyc before anything is timed
            _run_ms([python, "-c", IMPORT_PROBE.format(module=module)], env, AUTHORIZER)
        for run in range(runs):
            # Alternate which goes first, so neither always runs on the other's warm caches.
            for module in ("jwt", "app") if run % 2 else ("app", "jwt"):
                _, out = _run_ms([python, "-c", IMPORT_PROBE.format(module=module)], env, AUTHORIZER)
                imports[module].append(float(out) * 1000)
            shutil.rmtree(plain, ignore_errors=True)
            plain.mkdir()
            for source in AUTHORIZER.glob("*.py"):
                shutil.copy(source, plain)
            no_pyc_env = {**env, "PYTHONPATH": str(plain)}
            _, out = _run_ms([python, "-B", "-c", IMPORT_PROBE.format(module="app")], no_pyc_env, plain)
            imports["app_no_pyc"].append(float(out) * 1000)
            elapsed, _ = _run_ms([python, "-c", "import jwt"], env, AUTHORIZER)
            floor_process.append(elapsed)
            token = issuer.mint(scopes=["read:test"])
            elapsed, out = _run_ms([python, "-c", FIRST_DECISION], env, AUTHORIZER, stdin=token + "\n")
            if not json.loads(out)["isAuthorized"]:
                raise SystemExit("bench: the first decision in a fresh process was a deny")
            first.append(elapsed)
    jwt_ms = statistics.median(imports["jwt"])
    app_ms = statistics.median(imports["app"])
    floor_ms = statistics.median(floor_process)
    first_ms = statistics.median(first)
    no_pyc = statistics.median(imports["app_no_pyc"])
    return [
        Row(f"import jwt (fresh interpreter, median of {runs})", jwt_ms, percentile(imports["jwt"], 0.99), "ms", 1.0),
        Row("import the authorizer (app)", app_ms, None, "ms", app_ms / jwt_ms, "≤ 1.1x", app_ms / jwt_ms <= 1.1),
        Row("  same, our modules without .pyc (as deployed)", no_pyc, None, "ms", no_pyc / jwt_ms),
        Row("process start → exit, python -c 'import jwt'", floor_ms, None, "ms", 1.0),
        Row("process start → first decision (discovery + JWKS)", first_ms, None, "ms", first_ms / floor_ms),
    ]


# ---------------------------------------------------------------------------- local gateway
def gateway(requests_per_route: int) -> list[Row]:
    # The functions' workers log every decision to stderr; keep the report readable.
    saved_stderr = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
    try:
        return _gateway(requests_per_route)
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)


def _gateway(requests_per_route: int) -> list[Row]:
    stack = LocalStack(ROOT / "template.yaml").start()
    rows = []
    try:
        host, port = "127.0.0.1", stack.api_server.port
        token = stack.dev_issuer.mint(scopes=["read:test"])
        fresh = [stack.dev_issuer.mint(scopes=["read:test"]) for _ in range(requests_per_route)]
        cases: list[tuple[str, str, Callable[[int], str | None]]] = [
            ("public route (/health)", "/health", lambda i: None),
            ("built-in JWT authorizer emulation (/test)", "/test", lambda i: token),
            ("Lambda authorizer, cached answer (/lambda/test)", "/lambda/test", lambda i: token),
            ("Lambda authorizer, new token each request", "/lambda/test", lambda i: fresh[i]),
        ]
        for name, path, token_for in cases:
            connection = http.client.HTTPConnection(host, port, timeout=30)
            samples: list[float] = []
            started = time.perf_counter()
            for i in range(requests_per_route):
                headers = {} if token_for(i) is None else {"Authorization": f"Bearer {token_for(i)}"}
                t0 = time.perf_counter_ns()
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read()
                samples.append((time.perf_counter_ns() - t0) / 1e6)
                if response.status != 200:
                    raise SystemExit(f"bench: {path} answered {response.status}")
            rps = requests_per_route / (time.perf_counter() - started)
            connection.close()
            p50 = statistics.median(samples)
            goal = "p50 < 5 ms" if "new token" in name else ""
            rows.append(
                Row(
                    f"{name}: {rps:,.0f} req/s",
                    p50,
                    percentile(samples, 0.99),
                    "ms",
                    None,
                    goal,
                    p50 < 5 if goal else None,
                )
            )
    finally:
        stack.close()
    return rows


# ---------------------------------------------------------------------------- package size
def package_sizes() -> list[Row]:
    rows = []
    for function, source in (("AuthorizerFunction", "authorizer"), ("TestRouteFunction", "test_route")):
        with tempfile.TemporaryDirectory() as scratch:
            # What sam build puts in the artifact: the code plus pip's install of requirements.txt.
            where = Path(scratch) / function
            if not _pip_target(ROOT / "src" / source, where):
                rows.append(Row(f"{function} package: n/a (pip could not fetch the wheels)", 0, None, ""))
                continue
            unzipped, zipped = _sizes(where)
        rows.append(Row(f"{function} package (arm64, cp313 wheels), zipped", zipped / 1e3, None, "kB"))
        rows.append(Row(f"{function} package, unzipped (limit 250 MB)", unzipped / 1e3, None, "kB"))
    return rows


def _pip_target(source: Path, target: Path) -> bool:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    requirements = source / "requirements.txt"
    if not requirements.read_text().strip() or all(
        line.startswith("#") or not line.strip() for line in requirements.read_text().splitlines()
    ):
        return True
    argv = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), "-r", str(requirements)]
    argv += ["--platform", "manylinux2014_aarch64", "--implementation", "cp", "--python-version", "3.13"]
    argv += ["--only-binary=:all:", "--no-deps"]
    return subprocess.run(argv, capture_output=True, check=False).returncode == 0


def _sizes(directory: Path) -> tuple[int, int]:
    buffer = io.BytesIO()
    unzipped = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                unzipped += path.stat().st_size
                archive.write(path, path.relative_to(directory))
    return unzipped, len(buffer.getvalue())


# ---------------------------------------------------------------------------- report
def render(sections: list[tuple[str, list[Row]]]) -> str:
    lines = ["| measurement | median | p99 | x floor | goal |", "|---|---|---|---|---|"]
    for title, rows in sections:
        lines.append(f"| **{title}** | | | | |")
        for row in rows:
            p99 = "" if row.p99 is None else f"{row.p99:,.1f} {row.unit}"
            ratio = "" if row.ratio is None else f"{row.ratio:.2f}x"
            goal = "" if not row.goal else f"{row.goal} {'✅' if row.met else '❌'}"
            median = f"{row.median:,.1f} {row.unit}".strip() if row.unit else f"{row.median:g}"
            lines.append(f"| {row.name} | {median} | {p99} | {ratio} | {goal} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of warm measurements (default 5)")
    parser.add_argument("--per-round", type=int, default=2000, help="decisions per round and kind (default 2000)")
    parser.add_argument("--cold-runs", type=int, default=15, help="fresh interpreters per cold figure (min 15)")
    parser.add_argument("--gateway-requests", type=int, default=500, help="requests per route type")
    parser.add_argument("--profile", action="store_true", help="also print a profile of unique-token decisions")
    parser.add_argument(
        "--only", action="append", choices=["warm", "cold", "gateway", "packages"], help="run only these parts"
    )
    args = parser.parse_args(argv)
    parts = set(args.only or ["warm", "cold", "gateway", "packages"])
    if args.cold_runs < 15 or args.rounds < 1 or args.per_round < 100:
        parser.error("use at least 15 cold runs, 1 round and 100 decisions per round")

    logging.getLogger("authorizer").propagate = True
    issuer = DevIssuer(default_audience=AUDIENCE)
    server = issuer.serve().start()
    sections = []
    try:
        if "warm" in parts:
            sections.append(
                ("Warm decisions (in process)", warm(issuer, server, args.rounds, args.per_round, args.profile))
            )
        if "cold" in parts:
            sections.append(("Cold start (fresh processes)", cold(issuer, args.cold_runs)))
    finally:
        server.stop()
    if "gateway" in parts:
        sections.append(("Local gateway over loopback (sequential, keep-alive)", gateway(args.gateway_requests)))
    if "packages" in parts:
        sections.append(("Deployment packages", package_sizes()))
    print(render(sections))
    missed = [row.name for _, rows in sections for row in rows if row.met is False]
    if missed:
        print(f"\ngoals missed: {'; '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
